"""Bookings of a visit: create, move, cancel, with the protocol window, opening hours, working days
and chair capacity checked by every door."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from schedules import calendar, selectors
from schedules.error_codes import ScheduleErrorCode
from schedules.models import (
    Booking,
    BookingStatus,
    EventKind,
    EventStatus,
    ScheduledEvent,
    SiteDay,
)
from schedules.services.chairs import cancel_booking, release_chair, release_chairs, take_chair
from schedules.services.locks import lock_event, lock_events
from schedules.services.replanning import check_active, check_scrt_overall_time, cycle_dates, replan, send_plan_changed
from trialsite import phrases, roles
from trialsite.errors import Conflict, RuleViolation
from trialsite.models import Participant

BOOKING_RELATIONS = ["event", "participant", "site", "created_by", "deviation_recorded_by"]


def _check_booking_date(
    event: ScheduledEvent,
    participant: Participant,
    day: dt.date,
    *,
    time: dt.time,
    by: User | None,
    today: dt.date,
    deviation_reason: str,
) -> bool:
    """Refuse dates the rules forbid; return True when the date is a recorded protocol deviation."""
    if day < today:
        message = _("The date is in the past.")
        raise RuleViolation(message, code=ScheduleErrorCode.DATE_IN_PAST, errors={"date": [message]})
    site = participant.site
    if not site.is_open_at(time):
        message = _("%(t)s is outside the opening hours of %(site)s (%(a)s – %(b)s).") % {
            "t": time.strftime("%H:%M"),
            "site": site.code,
            "a": site.opening_time.strftime("%H:%M"),
            "b": site.closing_time.strftime("%H:%M"),
        }
        raise RuleViolation(message, code=ScheduleErrorCode.OUTSIDE_OPENING_HOURS, errors={"time": [message]})
    cal = selectors.working_calendar(participant.site, range(day.year, day.year + 1))
    if not cal.is_working_day(day):
        message = _("%(d)s is not a working day at %(site)s.") % {"d": day.isoformat(), "site": participant.site.code}
        raise RuleViolation(message, code=ScheduleErrorCode.NOT_WORKING_DAY, errors={"date": [message]})
    if event.window_start <= day <= event.window_end:
        return False
    if event.kind == EventKind.SCRT_FRACTION:
        # A fraction's rule is the maximum overall time of all five, checked once the plan is
        # re-made from this date (check_scrt_overall_time), not a window of its own.
        return False
    if calendar.plan_choice_outside_window(event.details, day):
        # The window has no working day and the plan itself chose this nearest one.
        return False
    if not deviation_reason.strip():
        message = _(
            "%(d)s is outside the protocol window %(a)s – %(b)s; only an investigator can book it, "
            "recording a protocol deviation with a reason."
        ) % {"d": day.isoformat(), "a": event.window_start.isoformat(), "b": event.window_end.isoformat()}
        raise RuleViolation(message, code=ScheduleErrorCode.OUTSIDE_WINDOW, errors={"date": [message]})
    if not roles.may(by, roles.DEVIATION_ROLES):
        message = _("Only an investigator can record a protocol deviation.")
        raise RuleViolation(message, code=ScheduleErrorCode.OUTSIDE_WINDOW, errors={"deviation_reason": [message]})
    return True


@transaction.atomic
def booking_create(
    *,
    event: ScheduledEvent,
    date: dt.date,
    time: dt.time,
    by: User | None,
    today: dt.date,
    deviation_reason: str = "",
) -> Booking:
    roles.require(by, "schedules.add_booking")
    participant, event = lock_event(event, by, perm="schedules.add_booking")
    check_active(participant, event.plan)
    if event.status == EventStatus.BOOKED or Booking.objects.filter(event=event, status=BookingStatus.ACTIVE).exists():
        raise Conflict(
            _("This event is already booked; move the booking instead."), code=ScheduleErrorCode.ALREADY_BOOKED
        )
    if not event.is_open:
        raise Conflict(_("This event is done or cancelled."), code=ScheduleErrorCode.EVENT_CLOSED)
    deviation = _check_booking_date(
        event, participant, date, time=time, by=by, today=today, deviation_reason=deviation_reason
    )
    uses_chair = event.kind == EventKind.CYCLE_DAY1
    booking = Booking(
        event=event,
        participant=participant,
        site_id=participant.site_id,
        date=date,
        time=time,
        uses_infusion_chair=uses_chair,
        deviation_reason=deviation_reason.strip() if deviation else "",
        deviation_recorded_by=by if deviation else None,
        created_by=by,
    )
    # The related rows were just read (and locked): checking that they exist costs a query each.
    booking.full_clean(exclude=BOOKING_RELATIONS, validate_constraints=False)
    try:
        with transaction.atomic():
            booking.save()
    except IntegrityError as exc:
        raise Conflict(_("This event is already booked."), code=ScheduleErrorCode.ALREADY_BOOKED) from exc
    touched = _set_event_date(event, participant, date, status=EventStatus.BOOKED)
    _check_fraction_booking(booking, event, participant, deviation_reason=deviation_reason, by=by)
    send_plan_changed(participant, touched)
    if uses_chair:
        # Last, so that the site-day row (every booking of that site and day queues on it) is
        # held only from here to commit, not during the re-plan and the reminders' sync. A full
        # day raises Conflict and the whole booking rolls back.
        take_chair(participant.site, date)
    return booking


def _check_fraction_booking(
    booking: Booking, event: ScheduledEvent, participant: Participant, *, deviation_reason: str, by: User | None
) -> None:
    """A booked SCRT fraction (and the fractions the re-plan moved after it) must still fit the
    maximum overall time, or carry an investigator's recorded deviation."""
    if event.kind != EventKind.SCRT_FRACTION:
        return
    if check_scrt_overall_time(event.plan, participant, deviation_reason=deviation_reason, by=by):
        booking.deviation_reason = deviation_reason.strip()
        booking.deviation_recorded_by = by
        booking.save(update_fields=["deviation_reason", "deviation_recorded_by"])


def _set_event_date(event: ScheduledEvent, participant: Participant, day: dt.date, *, status: str) -> set[int]:
    """Book (or re-book) `event` on `day` and re-plan what follows; returns the ids of the
    events that changed (this one and those the re-plan moved)."""
    events = lock_events(event.plan)
    previous = cycle_dates(events)
    if event.planned_date != day or event.status != status:
        event.ics_sequence += 1  # moved, or an all-day tentative event became a timed booking
    event.planned_date = day
    event.status = status
    event.save()
    events = [event if e.pk == event.pk else e for e in events]
    return {event.pk} | replan(event.plan, participant, previous=previous, events=events)


@transaction.atomic
def booking_move(
    *,
    booking: Booking,
    by: User | None,
    today: dt.date,
    date: dt.date | None = None,
    time: dt.time | None = None,
    deviation_reason: str = "",
) -> Booking:
    """Move a booking; every rule is checked again for the new date."""
    roles.require(by, "schedules.change_booking")
    participant, event = lock_event(booking.event, by, perm="schedules.change_booking")
    booking = Booking.objects.select_for_update().get(pk=booking.pk)
    check_active(participant, event.plan)
    if booking.status != BookingStatus.ACTIVE:
        raise Conflict(_("This booking was cancelled."), code=ScheduleErrorCode.BOOKING_CANCELLED)
    new_date = date or booking.date
    new_time = time or booking.time
    deviation = _check_booking_date(
        event,
        participant,
        new_date,
        time=new_time,
        by=by,
        today=today,
        deviation_reason=deviation_reason or booking.deviation_reason,
    )
    old_date = booking.date
    booking.date = new_date
    booking.time = new_time
    if deviation:
        booking.deviation_reason = (deviation_reason or booking.deviation_reason).strip()
        booking.deviation_recorded_by = by if deviation_reason else booking.deviation_recorded_by
    else:
        booking.deviation_reason = ""
        booking.deviation_recorded_by = None
    booking.full_clean(exclude=BOOKING_RELATIONS, validate_constraints=False)
    booking.save()
    if event.planned_date != new_date:
        touched = _set_event_date(event, participant, new_date, status=EventStatus.BOOKED)
        _check_fraction_booking(
            booking, event, participant, deviation_reason=deviation_reason or booking.deviation_reason, by=by
        )
    else:
        event.ics_sequence += 1  # the time changed: calendar clients must update
        event.save(update_fields=["ics_sequence", "updated_at"])
        touched = {event.pk}
    send_plan_changed(participant, touched)
    if booking.uses_infusion_chair and new_date != old_date:
        # Last (see the lock order at the top), and both days in date order so that two
        # opposite moves cannot deadlock. A full new day rolls the whole move back.
        for day in sorted({old_date, new_date}):
            SiteDay.objects.bulk_create(
                [SiteDay(site_id=booking.site_id, date=day, chairs=participant.site.infusion_chairs_per_day)],
                ignore_conflicts=True,
            )
            SiteDay.objects.select_for_update().get(site_id=booking.site_id, date=day)
        take_chair(participant.site, new_date)
        release_chair(booking.site_id, old_date)
    return booking


@transaction.atomic
def booking_cancel(*, booking: Booking, by: User | None, reason: str = "", now: dt.datetime) -> Booking:
    roles.require(by, "schedules.change_booking")
    participant, event = lock_event(booking.event, by, perm="schedules.change_booking")
    booking = Booking.objects.select_for_update().get(pk=booking.pk)
    if booking.status != BookingStatus.ACTIVE:
        return booking
    cancel_booking(
        booking,
        reason=phrases.typed(reason.strip()) if reason.strip() else phrases.phrase(gettext_noop("cancelled")),
        now=now,
    )
    touched = {event.pk}
    if event.status == EventStatus.BOOKED:
        events = lock_events(event.plan)
        previous = cycle_dates(events)
        event.status = EventStatus.PLANNED
        event.ics_sequence += 1
        event.save()
        # Without the booking the event falls back to its protocol date.
        events = [event if e.pk == event.pk else e for e in events]
        touched |= replan(event.plan, participant, previous=previous, events=events)
    send_plan_changed(participant, touched)
    release_chairs([booking])  # last: the site-day row is held only from here to commit
    return booking
