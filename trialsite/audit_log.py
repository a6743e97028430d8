"""The trial-wide audit log for investigators (and statisticians): every change the history
tables hold (participants, measurements, labs, screening, plans, bookings, dose sheets, …) and,
for the statistician only, the allocation record, newest first, filtered by site, participant,
user, record type and date, in the reader's language and the site's time zone.

The tables are found from the models (trialsite.audit.history_models), so a model that gains
history is in the log without a change here. A page reads each table's newest rows before a
cursor and merges them: a fixed number of queries per page whatever the size of the trial."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, Q
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from trialsite import roles, signatures
from trialsite.audit import history_models
from trialsite.history import changes, person, zone_for
from trialsite.models import Signature
from trialsite.selectors import user_site_ids

PAGE_SIZE = 25
PERMISSION = "trialsite.view_audit_log"
ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass(frozen=True)
class Filters:
    site_id: int | None = None
    participant_id: int | None = None
    user_id: int | None = None
    model: str | None = None  # "app_label.modelname" of the tracked model
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    before: dt.datetime | None = None  # the cursor: entries strictly older


@dataclass
class Entry:
    at: dt.datetime
    at_local: str
    time_zone: str
    model: str
    model_label: str
    object_id: Any
    object_text: str
    site: str
    participant: str
    user: str
    action: str
    reason: str
    changes: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    """A record with no history table that belongs in the log (the allocation record, which is
    append-only), registered by its app at ready: `rows(filters, sites, page_size, zone)` gives
    the newest (time, row) pairs, `entry(row)` the Entry."""

    key: str
    label: Callable[[], str]
    permission: str
    rows: Callable[[Filters, frozenset[int] | None, int, ZoneInfo], list[tuple[dt.datetime, Any]]]
    entry: Callable[[Any], Entry]


_SOURCES: dict[str, Source] = {}


def register_source(source: Source) -> None:
    _SOURCES[source.key] = source


def _readable_sources(user: User) -> list[Source]:
    return [s for s in _SOURCES.values() if user.is_superuser or user.has_perm(s.permission)]


def day_start(day: dt.date) -> dt.datetime:
    """The start of a reader's day (the project's zone, Asia/Shanghai), for date filters."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=_zone(None))


def _site_path(model: type[Model]) -> str | None:
    """How a tracked model's rows reach their site ("site", "participant__site"), or None for
    trial-wide records (the trial, sites' settings, rules, schemes)."""
    for name, path in (("site", "site_id"), ("participant", "participant__site_id")):
        try:
            model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        return path
    return None


def tracked_models(user: User) -> dict[str, type[Model]]:
    """'app_label.modelname' → the history model, for the models `user` may read in the log."""
    out: dict[str, type[Model]] = {}
    for history in history_models():
        base = history.instance_type  # type: ignore[attr-defined]
        out[base._meta.label_lower] = history
    return out


def entry_models(user: User) -> list[tuple[str, str]]:
    """(key, label) of the record types the user can filter by, including the allocation record."""
    rows = [(key, str(capfirst(m.instance_type._meta.verbose_name))) for key, m in tracked_models(user).items()]  # type: ignore[attr-defined]
    rows += [(source.key, source.label()) for source in _readable_sources(user)]
    return sorted(rows, key=lambda r: r[1])


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (KeyError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def _day_bounds(filters: Filters) -> Q:
    """Dates are the reader's days in the project's zone (Asia/Shanghai)."""
    zone = _zone(None)
    q = Q()
    if filters.date_from:
        q &= Q(history_date__gte=dt.datetime.combine(filters.date_from, dt.time(0), tzinfo=zone))
    if filters.date_to:
        q &= Q(history_date__lt=dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time(0), tzinfo=zone))
    if filters.before:
        q &= Q(history_date__lt=filters.before)
    return q


def audit_entries(*, user: User, filters: Filters, page_size: int | None = None) -> list[Entry]:
    """The newest `page_size` (default PAGE_SIZE) entries matching `filters` that `user` may read."""
    roles.require(user, PERMISSION)
    page_size = page_size or PAGE_SIZE
    sites = None if user.is_superuser else user_site_ids(user)
    candidates: list[tuple[dt.datetime, Any, str]] = []
    for key, history in tracked_models(user).items():
        if filters.model and filters.model != key:
            continue
        base = history.instance_type  # type: ignore[attr-defined]
        path = _site_path(base)
        qs = history.objects.filter(_day_bounds(filters))  # type: ignore[attr-defined]
        if path is None:
            if filters.site_id or filters.participant_id:
                continue  # trial-wide records belong to no site or participant
        else:
            if sites is not None:
                qs = qs.filter(**{f"{path}__in": list(sites)})
            if filters.site_id:
                qs = qs.filter(**{path: filters.site_id})
        if filters.participant_id:
            if base._meta.label_lower == "trialsite.participant":
                qs = qs.filter(id=filters.participant_id)
            elif path == "participant__site_id":
                qs = qs.filter(participant_id=filters.participant_id)
            else:
                continue
        if filters.user_id:
            qs = qs.filter(history_user_id=filters.user_id)
        related = ["history_user"]
        if path == "participant__site_id":
            related += ["participant__site"]
        elif path == "site_id":
            related += ["site"]
        for row in qs.select_related(*related).order_by("-history_date", "-history_id")[:page_size]:
            candidates.append((row.history_date, row, key))
    for source in _readable_sources(user):
        if filters.model in (None, source.key):
            candidates += [(at, row, source.key) for at, row in source.rows(filters, sites, page_size, _zone(None))]
    candidates.sort(key=lambda c: c[0], reverse=True)
    page = candidates[:page_size]
    # The signatures behind the page's signed acts, whose manifestation the reasons end with.
    reasoned = [row for _at, row, key in page if key not in _SOURCES and row.history_change_reason]
    signed = dict(zip(map(id, reasoned), signatures.history_signatures(reasoned), strict=True))
    return [_entry(row, key, signed.get(id(row), [])) for _at, row, key in page]


def _entry(row: Any, key: str, signed: list[Signature]) -> Entry:
    if key in _SOURCES:
        return _SOURCES[key].entry(row)
    base = row.instance_type
    site: Any = getattr(row, "site", None)
    participant: Any = None
    if site is None and hasattr(row, "participant_id"):
        participant = getattr(row, "participant", None)
        site = getattr(participant, "site", None)
    if base._meta.label_lower == "trialsite.participant":
        participant = row
    zone = _zone(getattr(site, "time_zone", None))
    return Entry(
        at=row.history_date,
        at_local=timezone.localtime(row.history_date, zone).strftime("%Y-%m-%d %H:%M:%S"),
        time_zone=str(zone),
        model=key,
        model_label=str(capfirst(base._meta.verbose_name)),
        object_id=row.id,
        object_text=_object_text(row),
        site=getattr(site, "code", ""),
        participant=getattr(participant, "screening_number", "") or "",
        user=person(row.history_user),
        action={"+": _("created"), "~": _("changed"), "-": _("deleted")}.get(row.history_type, row.history_type),
        reason=_reason(row, signed),
        changes=changes(row, zone) if row.history_type == "~" else [],
    )


def _reason(row: Any, signed: list[Signature]) -> str:
    text = row.history_change_reason or ""
    return signatures.reason_text(text, signed, time_zone=str(zone_for(row))) if text else ""


def _object_text(row: Any) -> str:
    try:
        return str(row.instance)
    except Exception:  # a record whose __str__ needs a relation that no longer exists
        return f"#{row.id}"
