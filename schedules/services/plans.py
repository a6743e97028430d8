"""Writes of a participant's treatment plan: make or re-make it, delay an event, stop it, and
re-check plans after the working calendar changed."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from schedules import selectors
from schedules.error_codes import ScheduleErrorCode
from schedules.models import (
    Booking,
    BookingStatus,
    EventKind,
    EventStatus,
    PlanStatus,
    ScheduledEvent,
    TreatmentPlan,
)
from schedules.services.chairs import cancel_booking, release_chairs
from schedules.services.locks import lock_event, lock_events, lock_participant
from schedules.services.replanning import (
    build_events,
    check_active,
    check_scrt_overall_time,
    cycle_dates,
    new_event,
    replan,
    send_plan_changed,
)
from trialsite import phrases, roles
from trialsite.error_codes import CommonErrorCode
from trialsite.errors import Conflict, InvalidInput, RuleViolation
from trialsite.models import RANDOMIZED_STATUSES, Participant


@transaction.atomic
def treatment_plan_create(
    *, participant: Participant, scrt_start_date: dt.date, by: User | None, now: dt.datetime
) -> TreatmentPlan:
    """Make the participant's plan from their protocol version, arm and SCRT start date, or
    re-make it with a new start date while treatment has not started (bookings are cancelled)."""
    roles.require(by, "schedules.add_treatmentplan")
    today = timezone.localdate(now)
    participant = lock_participant(participant.pk)
    roles.require(by, "schedules.add_treatmentplan", site=participant.site_id)
    check_active(participant)
    if participant.status not in RANDOMIZED_STATUSES or not participant.arm:
        raise RuleViolation(
            _("Only a randomized participant has a treatment plan."), code=ScheduleErrorCode.NOT_RANDOMIZED
        )
    if scrt_start_date < today:
        message = _("The SCRT start date cannot be in the past.")
        raise InvalidInput(message, errors={"scrt_start_date": [message]})
    plan = TreatmentPlan.objects.select_for_update().filter(participant=participant).first()
    if plan is None:
        plan = TreatmentPlan(
            participant=participant, arm=participant.arm, scrt_start_date=scrt_start_date, created_by=by
        )
        built = build_events(plan, participant, {})
        plan.full_clean()
        plan.save()
        bulk_create_with_history([new_event(plan, participant, item) for item in built], ScheduledEvent)
        send_plan_changed(participant)
        return plan
    if plan.status == PlanStatus.STOPPED:
        raise Conflict(_("The plan was stopped."), code=CommonErrorCode.PARTICIPANT_WITHDRAWN)
    events = list(ScheduledEvent.objects.select_for_update().filter(plan=plan))
    if any(e.actual_date for e in events):
        raise Conflict(
            _("Treatment has started: move single events (delay, booking) instead of re-making the plan."),
            code=ScheduleErrorCode.TREATMENT_STARTED,
        )
    previous = cycle_dates(events)
    cancelled = list(Booking.objects.select_for_update().filter(event__plan=plan, status=BookingStatus.ACTIVE))
    for booking in cancelled:
        cancel_booking(booking, reason=phrases.phrase(gettext_noop("plan re-made")), now=now)
    ScheduledEvent.objects.filter(plan=plan).update(
        status=EventStatus.PLANNED, delayed=False, delay_reason="", deviation_reason="", deviation_recorded_by=None
    )
    plan.scrt_start_date = scrt_start_date
    plan.save(update_fields=["scrt_start_date", "updated_at"])
    replan(plan, participant, previous=previous, remade=True)
    send_plan_changed(participant)
    release_chairs(cancelled)
    return plan


def treatment_plan_at_randomization(
    *, participant: Participant, scrt_start_date: dt.date, by: User | None, now: dt.datetime
) -> TreatmentPlan:
    """The plan randomize makes when the nurse gives a start date (randomization's plan maker,
    registered in SchedulesConfig.ready), inside the randomize transaction: a refused date
    refuses the randomization. Made as the system, since whoever may randomize may start the
    calendar; the plan still names who randomized."""
    plan = treatment_plan_create(participant=participant, scrt_start_date=scrt_start_date, by=None, now=now)
    if by is not None and plan.created_by_id is None:
        plan.created_by = by
        plan.save(update_fields=["created_by"])
    return plan


@transaction.atomic
def event_delay(
    *,
    event: ScheduledEvent,
    reason: str,
    by: User | None,
    now: dt.datetime,
    new_date: dt.date | None = None,
    deviation_reason: str = "",
) -> ScheduledEvent:
    """Delay an event (day-1 criteria not met, patient request, holiday): it moves to `new_date`
    (default: the protocol's delay, e.g. 1 week, moved to a working day), and everything after it
    shifts. Its booking, and the bookings of events that shift, are cancelled. A delayed SCRT
    fraction that breaks the maximum overall time needs an investigator's `deviation_reason`."""
    roles.require(by, "schedules.change_scheduledevent")
    if not reason.strip():
        raise InvalidInput(_("Give the reason for the delay."), errors={"reason": [_("This field is required.")]})
    today = timezone.localdate(now)
    participant, event = lock_event(event, by, perm="schedules.change_scheduledevent")
    check_active(participant, event.plan)
    if not event.is_open:
        raise Conflict(_("Only a planned or booked event can be delayed."), code=ScheduleErrorCode.EVENT_CLOSED)
    rules = selectors.schedule_rules(participant.protocol_version_id)
    cal = selectors.working_calendar(participant.site, range(event.planned_date.year, event.planned_date.year + 2))
    if new_date is None:
        new_date = cal.next_working_day(event.planned_date + dt.timedelta(days=rules.delay_days))
    if new_date <= event.planned_date or new_date < today:
        message = _("The new date must be after the planned date (%(d)s) and not in the past.") % {
            "d": event.planned_date.isoformat()
        }
        raise InvalidInput(message, errors={"new_date": [message]})
    if not cal.is_working_day(new_date):
        message = _("%(d)s is not a working day at the site.") % {"d": new_date.isoformat()}
        raise RuleViolation(message, code=ScheduleErrorCode.NOT_WORKING_DAY, errors={"new_date": [message]})
    events = list(ScheduledEvent.objects.select_for_update().filter(plan=event.plan))
    previous = cycle_dates(events)
    # Everything after the delayed event shifts, so their bookings no longer hold.
    later = [e.pk for e in events if e.order >= event.order and e.is_open]
    cancelled = list(Booking.objects.select_for_update().filter(event_id__in=later, status=BookingStatus.ACTIVE))
    for booking in cancelled:
        cancel_booking(booking, reason=phrases.phrase(gettext_noop("rescheduled after a delay")), now=now)
    ScheduledEvent.objects.filter(pk__in=later, status=EventStatus.BOOKED).update(status=EventStatus.PLANNED)
    event.refresh_from_db()
    event.planned_date = new_date
    event.delayed = True
    event.delay_reason = reason.strip()[:200]
    event.ics_sequence += 1
    event.full_clean(validate_constraints=False)
    event.save()
    replan(event.plan, participant, previous=previous)
    if event.kind == EventKind.SCRT_FRACTION and check_scrt_overall_time(
        event.plan, participant, deviation_reason=deviation_reason, by=by
    ):
        ScheduledEvent.objects.filter(pk=event.pk).update(
            deviation_reason=deviation_reason.strip(), deviation_recorded_by=by
        )
    send_plan_changed(participant)
    release_chairs(cancelled)
    event.refresh_from_db()
    return event


@transaction.atomic
def treatment_plan_recheck(*, plan_id: int, now: dt.datetime) -> set[int]:
    """Re-make a plan from what people fixed (actual dates, delays, bookings) against today's
    working calendar, after the calendar changed (a closure, a site make-up working day, a
    national notice). Returns the ids of the events that moved. The system acts (no `by`)."""
    plan = TreatmentPlan.objects.get(pk=plan_id)
    participant = lock_participant(plan.participant_id)
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan_id)
    if participant.is_off_study or plan.status == PlanStatus.STOPPED:
        return set()
    events = lock_events(plan)
    changed = replan(plan, participant, previous=cycle_dates(events), events=events)
    if changed:
        send_plan_changed(participant, changed)
    return changed


@transaction.atomic
def treatment_plan_stop(
    *, participant: Participant, reason: phrases.Phrase, by: User | None, now: dt.datetime
) -> TreatmentPlan | None:
    """Stop a plan (withdrawal, death): open events and their bookings are cancelled; what
    happened stays. Returns None when the participant had no plan."""
    participant = lock_participant(participant.pk)
    roles.require(by, "schedules.change_treatmentplan", site=participant.site_id)
    plan = TreatmentPlan.objects.select_for_update().filter(participant=participant).first()
    if plan is None or plan.status == PlanStatus.STOPPED:
        return plan
    open_events = list(
        ScheduledEvent.objects.select_for_update().filter(
            plan=plan, status__in=[EventStatus.PLANNED, EventStatus.BOOKED]
        )
    )
    cancelled = list(Booking.objects.select_for_update().filter(event__plan=plan, status=BookingStatus.ACTIVE))
    for booking in cancelled:
        cancel_booking(booking, reason=reason, now=now)
    for event in open_events:
        event.status = EventStatus.CANCELLED
        event.ics_sequence += 1
    bulk_update_with_history(open_events, ScheduledEvent, ["status", "ics_sequence"])
    plan.status = PlanStatus.STOPPED
    plan.stopped_on = timezone.localdate(now)
    plan.stop_reason = reason
    plan.save()
    send_plan_changed(participant)
    release_chairs(cancelled)
    return plan
