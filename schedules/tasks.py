"""Celery tasks of the schedules: re-checking plans after a national calendar notice. The
reminders' tasks are in reminders/tasks.py."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task

from schedules.services.plans import plans_recheck
from trialsite import clock
from trialsite.models import Site

log = logging.getLogger(__name__)


@shared_task(name="schedules.tasks.national_calendar_recheck", ignore_result=True)
def national_calendar_recheck(country: str, year: int) -> dict[str, int]:
    """After a national calendar notice was recorded: re-check every plan of the country's sites
    with an open event in that year (one plan per transaction)."""
    site_ids = list(Site.objects.filter(country=country).values_list("pk", flat=True))
    result = plans_recheck(
        site_ids=site_ids, date_from=dt.date(year, 1, 1), date_to=dt.date(year, 12, 31), now=clock.now()
    )
    if result.refused:
        log.warning("national calendar %s %s: plans that could not be re-made: %s", country, year, result.refused)
    return {"plans": result.plans, "moved": result.moved, "refused": len(result.refused)}
