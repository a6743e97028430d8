"""`manage.py load_national_calendar FILE.yaml`: record a government's calendar notice for one
year (schedules/calendars/CN-2026.yaml shows the format). It overrides the `holidays` package
for that year, and every plan of the country's sites is re-checked by a Celery task."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from schedules.models import NationalDayKind
from schedules.services.closures import national_calendar_load
from trialsite.errors import ApplicationError


def read_notice(path: Path) -> dict[str, Any]:
    """The notice in `path` as keyword arguments of national_calendar_load."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from exc
    try:
        year = int(data["year"])
        days: list[tuple[dt.date, str, str]] = []
        for period in data.get("days_off", []):
            day, last = _date(period["from"]), _date(period["to"])
            if last < day:
                raise CommandError(f"{path}: the period {day} – {last} ends before it starts.")
            while day <= last:
                days.append((day, NationalDayKind.HOLIDAY, str(period.get("name", ""))))
                day += dt.timedelta(days=1)
        for working in data.get("working_days", []):
            days.append((_date(working["date"]), NationalDayKind.WORKING, str(working.get("name", ""))))
        published = data.get("published_on")
        return {
            "country": str(data.get("country", "CN")),
            "year": year,
            "source": str(data["source"]),
            "source_url": str(data.get("source_url", "")),
            "published_on": _date(published) if published else None,
            "days": days,
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise CommandError(f"{path}: missing or invalid {exc}") from exc


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


class Command(BaseCommand):
    help = "Load a national calendar notice (holidays and make-up working days) for one year."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        notice = read_notice(options["path"])
        try:
            loaded = national_calendar_load(**notice, by=None)
        except ApplicationError as exc:
            raise CommandError(f"{exc.detail} {exc.errors}") from exc
        self.stdout.write(f"{loaded}: {loaded.days.count()} days loaded; plans are being re-checked.")
