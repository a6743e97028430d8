"""A booking's hold on an infusion chair: taken last in the transaction by one conditional UPDATE,
given back last in (site, date) order (the lock order in schedules/services/__init__.py), and
the cancellation of a booking whose chair is given back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import F
from django.utils.translation import gettext as _

from schedules.error_codes import ScheduleErrorCode
from schedules.models import (
    Booking,
    BookingStatus,
    SiteDay,
)
from trialsite import phrases
from trialsite.errors import Conflict
from trialsite.models import Site


def take_chair(site: Site, day: dt.date) -> None:
    """Take one infusion chair at `site` on `day`, or refuse with 409 when all are taken.

    The (site, day) row is created if missing (INSERT … ON CONFLICT DO NOTHING), then counted up
    by one conditional UPDATE, which locks it: concurrent bookings for that day wait for each
    other there and each sees the count the one before committed, so exactly
    `infusion_chairs_per_day` of them get through. One statement holds the lock instead of a
    locking read plus a write."""
    chairs = Site.objects.values_list("infusion_chairs_per_day", flat=True).get(pk=site.pk)
    SiteDay.objects.bulk_create([SiteDay(site=site, date=day, chairs=chairs)], ignore_conflicts=True)
    taken = SiteDay.objects.filter(site=site, date=day, infusions__lt=chairs).update(
        infusions=F("infusions") + 1, chairs=chairs
    )
    if not taken:
        raise Conflict(
            _("All %(n)s infusion chairs at %(site)s are booked on %(d)s.")
            % {"n": chairs, "site": site.code, "d": day.isoformat()},
            code=ScheduleErrorCode.CAPACITY_FULL,
            errors={"date": [_("No infusion chair left on this day.")]},
        )


def release_chair(site_id: int, day: dt.date) -> None:
    SiteDay.objects.filter(site_id=site_id, date=day, infusions__gt=0).update(infusions=F("infusions") - 1)


def release_chairs(bookings: Iterable[Booking]) -> None:
    """Give back the infusion chairs of cancelled bookings: the site-day rows are locked in
    (site, date) order and last in the transaction (see the lock order at the top)."""
    for site_id, day in sorted((b.site_id, b.date) for b in bookings if b.uses_infusion_chair):
        release_chair(site_id, day)


def cancel_booking(booking: Booking, *, reason: phrases.Phrase, now: dt.datetime) -> None:
    """Mark a booking cancelled; the caller gives its chair back with release_chairs, last."""
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    booking.cancel_reason = reason
    booking.save()
