"""Site closures (and local make-up working days) and national calendar notices; each re-checks the
plans it touches in a background job (schedules.jobs)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from schedules.error_codes import ScheduleErrorCode
from schedules.jobs import plans_recheck_start
from schedules.models import (
    NationalCalendarDay,
    NationalCalendarYear,
    SiteClosure,
    SiteDayKind,
)
from trialsite import roles
from trialsite.errors import Conflict, InvalidInput, NotPermitted
from trialsite.models import Site, TrialJob


@transaction.atomic
def site_closure_create(
    *,
    site: Site,
    date: dt.date,
    reason: str,
    by: User | None,
    kind: str = SiteDayKind.CLOSED,
    now: dt.datetime | None = None,
) -> SiteClosure:
    """Close a site for a day, or (kind "working") open it on a day the national calendar has
    off (a local make-up working day). Bookings that day are refused (or allowed) from now on,
    and the site's plans are re-checked against the changed calendar (treatment_plan_recheck):
    unbooked events move to a working day; booked events on a closed day are left for a person
    to move and are listed by site_calendar_conflicts."""
    roles.require(by, "schedules.add_siteclosure", site=site.pk)
    closure = SiteClosure(site=site, date=date, kind=kind, reason=reason.strip())
    closure.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            closure.save()
    except IntegrityError as exc:
        raise Conflict(_("The site already has an entry for that day."), code=ScheduleErrorCode.ALREADY_CLOSED) from exc
    # The plans around that day are re-checked by a background job after commit (schedules.jobs;
    # closure.job): at a full site that is hundreds of plans. A plan that cannot be re-made (an
    # SCRT start not yet given that is now a closed day) does not stop the closure: the job lists
    # it among its refusals for a person to re-plan.
    closure.job = plans_recheck_start(date_from=date, date_to=date, now=now or timezone.now(), site_ids=[site.pk])
    return closure


@transaction.atomic
def national_calendar_load(
    *,
    country: str,
    year: int,
    source: str,
    days: Iterable[tuple[dt.date, str, str]],
    by: User | None,
    source_url: str = "",
    published_on: dt.date | None = None,
) -> NationalCalendarYear:
    """Record a government's calendar notice for one year (its days off and its weekend days
    that become working days), replacing what was recorded for that year; from then on it
    overrides the `holidays` package for that year. Every plan of the country's sites is
    re-checked against it by a Celery task after commit. Administrators only."""
    if by is not None and not by.is_superuser:
        raise NotPermitted(_("Only an administrator records the national calendar."))
    notice, _created = NationalCalendarYear.objects.select_for_update().get_or_create(
        country=country, year=year, defaults={"source": source.strip()}
    )
    notice.source = source.strip()
    notice.source_url = source_url
    notice.published_on = published_on
    notice.loaded_by = by
    notice.full_clean(validate_constraints=False, validate_unique=False)
    notice.save()
    rows = [NationalCalendarDay(calendar_year=notice, date=d, kind=k, name=n) for d, k, n in days]
    errors: dict[str, list[str]] = {}
    seen: set[dt.date] = set()
    for row in rows:
        try:
            row.full_clean(exclude=["calendar_year"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            errors.setdefault(str(row.date), []).extend(exc.messages)
        if row.date in seen:
            errors.setdefault(str(row.date), []).append(str(_("The date is listed twice.")))
        seen.add(row.date)
    if errors:
        raise InvalidInput(
            _("The notice has invalid days."), errors={"days": [f"{d}: {' '.join(m)}" for d, m in errors.items()]}
        )
    notice.days.all().delete()
    bulk_create_with_history(rows, NationalCalendarDay, default_user=by)
    national_calendar_changed(notice)
    return notice


def national_calendar_changed(notice: NationalCalendarYear, *, now: dt.datetime | None = None) -> TrialJob:
    """Re-check every plan of the notice's country with an open event in that year against it:
    a background job, started after commit (trial-wide work)."""
    return plans_recheck_start(
        date_from=dt.date(notice.year, 1, 1),
        date_to=dt.date(notice.year, 12, 31),
        now=now or timezone.now(),
        country=notice.country,
    )


@transaction.atomic
def site_closure_update_reason(*, closure: SiteClosure, reason: str, by: User | None) -> SiteClosure:
    """Correct the reason of a closure (its site and day are fixed once made)."""
    roles.require(by, "schedules.change_siteclosure", site=closure.site_id)
    closure = SiteClosure.objects.select_for_update().get(pk=closure.pk)
    closure.reason = reason.strip()
    closure.full_clean(validate_unique=False, validate_constraints=False)
    closure.save(update_fields=["reason"])
    return closure
