"""The allocation record in the trial-wide audit log (trialsite.audit_log): it has no history
table (it is append-only), so each allocation is one "created" entry, for whoever may read the
record (the statistician). Registered in RandomizationConfig.ready."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from randomization.models import Allocation
from trialsite import audit_log
from trialsite.history import person

KEY = "randomization.allocation"


def _rows(
    filters: audit_log.Filters, sites: frozenset[int] | None, page_size: int, zone: ZoneInfo
) -> list[tuple[dt.datetime, Any]]:
    qs = Allocation.objects.select_related("participant__site", "allocated_by")
    if sites is not None:
        qs = qs.filter(participant__site_id__in=list(sites))
    if filters.site_id:
        qs = qs.filter(participant__site_id=filters.site_id)
    if filters.participant_id:
        qs = qs.filter(participant_id=filters.participant_id)
    if filters.user_id:
        qs = qs.filter(allocated_by_id=filters.user_id)
    if filters.date_from:
        qs = qs.filter(allocated_at__gte=audit_log.day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(allocated_at__lt=audit_log.day_start(filters.date_to + dt.timedelta(days=1)))
    if filters.before:
        qs = qs.filter(allocated_at__lt=filters.before)
    return [(a.allocated_at, a) for a in qs.order_by("-allocated_at")[:page_size]]


def _entry(row: Allocation) -> audit_log.Entry:
    site = row.participant.site
    zone = ZoneInfo(site.time_zone)
    return audit_log.Entry(
        at=row.allocated_at,
        at_local=timezone.localtime(row.allocated_at, zone).strftime("%Y-%m-%d %H:%M:%S"),
        time_zone=str(zone),
        model=KEY,
        model_label=str(capfirst(Allocation._meta.verbose_name)),
        object_id=row.pk,
        object_text=f"R{row.sequence}",
        site=site.code,
        participant=row.participant.screening_number,
        user=person(row.allocated_by),
        action=_("created"),
        reason="",
    )


def register() -> None:
    audit_log.register_source(
        audit_log.Source(
            key=KEY,
            label=lambda: str(capfirst(Allocation._meta.verbose_name)),
            permission="randomization.view_allocation",
            rows=_rows,
            entry=_entry,
        )
    )
