"""The schedules' background jobs (trialsite.jobs): re-checking plans after the working calendar
changed (a national notice, a site closure or make-up working day)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_noop

from trialsite import jobs
from trialsite.models import Site

PLANS_RECHECK = "plans_recheck"


def _site_ids(params: Mapping[str, Any]) -> list[int] | None:
    if params.get("site_ids") is not None:
        return [int(pk) for pk in params["site_ids"]]
    if params.get("country"):
        return list(Site.objects.filter(country=params["country"]).values_list("pk", flat=True))
    return None


def _plans(params: Mapping[str, Any]) -> list[int]:
    from schedules import selectors

    return selectors.plans_to_recheck(
        site_ids=_site_ids(params),
        date_from=dt.date.fromisoformat(params["date_from"]),
        date_to=dt.date.fromisoformat(params["date_to"]),
    )


def _recheck(plan_id: int, params: Mapping[str, Any], now: dt.datetime) -> None:
    from schedules.services.plans import treatment_plan_recheck

    treatment_plan_recheck(plan_id=plan_id, now=now)


def plans_recheck_start(
    *,
    date_from: dt.date,
    date_to: dt.date,
    now: dt.datetime,
    site_ids: list[int] | None = None,
    country: str | None = None,
) -> Any:
    """Queue the re-check of every plan with an open event around the changed days (the system
    acts: whoever changed the calendar was checked by the service that changed it)."""
    params: dict[str, Any] = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
    if site_ids is not None:
        params["site_ids"] = sorted(site_ids)
    if country is not None:
        params["country"] = country
    return jobs.job_start(kind=PLANS_RECHECK, params=params, by=None, now=now)


jobs.register(
    PLANS_RECHECK,
    label=gettext_noop("Re-check treatment plans against the changed working calendar"),
    items=_plans,
    handle=_recheck,
)
