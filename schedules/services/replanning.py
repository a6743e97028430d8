"""Making a plan's rows follow the protocol's arithmetic (schedules/calendar.py) from the dates
people fixed: build, re-plan (audited), tell dosing about moved cycles and everyone about a
changed plan (plan_changed). Shared by plans, actual dates, bookings and closures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from schedules import calendar, selectors
from schedules.error_codes import ScheduleErrorCode
from schedules.models import (
    EventKind,
    EventStatus,
    PlanStatus,
    ScheduledEvent,
    TreatmentPlan,
)
from schedules.services.locks import lock_events
from trialsite import roles
from trialsite.error_codes import CommonErrorCode
from trialsite.errors import Conflict, RuleViolation
from trialsite.models import Participant
from trialsite.signals import cycle_rescheduled, plan_changed

EVENT_FIELDS = [
    "order",
    "target_date",
    "window_start",
    "window_end",
    "planned_date",
    "original_planned_date",
    "details",
    "ics_sequence",
]


def check_active(participant: Participant, plan: TreatmentPlan | None = None) -> None:
    if participant.is_off_study or (plan is not None and plan.status == PlanStatus.STOPPED):
        raise Conflict(
            _("Participant %(p)s has been withdrawn; their calendar is closed.") % {"p": participant},
            code=CommonErrorCode.PARTICIPANT_WITHDRAWN,
        )


def refuse_start(exc: calendar.ScrtStartRefused) -> RuleViolation:
    next_start = exc.next_start.isoformat() if exc.next_start else None
    if exc.reason == "not_working_day":
        message = _("The SCRT start date is not a working day at the site.")
    else:
        message = _("Starting then, the SCRT fractions cannot be given within the protocol's maximum overall time.")
    if next_start:
        message += " " + _("The next start date that works is %(d)s.") % {"d": next_start}
    return RuleViolation(
        message,
        code=ScheduleErrorCode.SCRT_START_REFUSED,
        errors={"scrt_start_date": [message]},
        extra={"next_start_date": next_start, "reason": exc.reason},
    )


def build_events(
    plan: TreatmentPlan, participant: Participant, fixed: dict[calendar.EventKey, calendar.Fixed]
) -> list[Any]:
    rules = selectors.schedule_rules(participant.protocol_version_id)
    cal = selectors.working_calendar(participant.site, calendar.plan_years(plan.scrt_start_date, rules))
    try:
        return calendar.build_plan(rules, arm=plan.arm, scrt_start=plan.scrt_start_date, cal=cal, fixed=fixed)
    except calendar.ScrtStartRefused as exc:
        raise refuse_start(exc) from exc


def fixed_dates(events: Iterable[ScheduledEvent]) -> dict[calendar.EventKey, calendar.Fixed]:
    """What people fixed: actual dates, delays (recentred) and bookings."""
    fixed: dict[calendar.EventKey, calendar.Fixed] = {}
    for event in events:
        if event.actual_date is not None:
            fixed[event.key] = calendar.Fixed(event.actual_date)
        elif event.delayed:
            fixed[event.key] = calendar.Fixed(event.planned_date, recentre=True)
        elif event.status == EventStatus.BOOKED:
            fixed[event.key] = calendar.Fixed(event.planned_date)
    return fixed


def check_scrt_overall_time(
    plan: TreatmentPlan, participant: Participant, *, deviation_reason: str, by: User | None
) -> bool:
    """After a fraction was delayed or re-dated (and the plan re-made from it): refuse when the
    fractions no longer fit the protocol's maximum overall time (5 × 5 Gy within 8 calendar days,
    protocol `schedule.scrt.max_overall_days`), unless an investigator records a protocol
    deviation. Returns True when the date stands as a recorded deviation."""
    rules = selectors.schedule_rules(participant.protocol_version_id)
    dates = [
        e.date
        for e in ScheduledEvent.objects.filter(plan=plan, kind=EventKind.SCRT_FRACTION).exclude(
            status=EventStatus.CANCELLED
        )
    ]
    days = calendar.scrt_overall_days(dates)
    if days <= rules.scrt_max_overall_days:
        return False
    message = _(
        "The SCRT fractions would take %(n)s calendar days, more than the protocol's maximum overall time of "
        "%(max)s days; only an investigator can allow it, recording a protocol deviation with a reason."
    ) % {"n": days, "max": rules.scrt_max_overall_days}
    if not deviation_reason.strip():
        raise RuleViolation(
            message,
            code=ScheduleErrorCode.SCRT_OVERALL_TIME_EXCEEDED,
            errors={"deviation_reason": [message]},
            extra={"overall_days": days, "max_overall_days": rules.scrt_max_overall_days},
        )
    if not roles.may(by, roles.DEVIATION_ROLES):
        only = _("Only an investigator can record a protocol deviation.")
        raise RuleViolation(
            only, code=ScheduleErrorCode.SCRT_OVERALL_TIME_EXCEEDED, errors={"deviation_reason": [only]}
        )
    return True


def send_plan_changed(participant: Participant, events: Iterable[int] | None = None) -> None:
    """Tell the reminders (and anyone else) that this participant's events or bookings changed;
    sent once at the end of each service, inside its transaction. `events`: the ids of the only
    events that changed (a booking and what its re-plan moved), None for the whole plan."""
    plan_changed.send(
        sender=TreatmentPlan, participant=participant, events=None if events is None else sorted(set(events))
    )


def cycle_dates(events: Iterable[ScheduledEvent]) -> dict[calendar.EventKey, dt.date]:
    return {e.key: e.date for e in events if e.kind == EventKind.CYCLE_DAY1 and e.status != EventStatus.CANCELLED}


def replan(
    plan: TreatmentPlan,
    participant: Participant,
    *,
    previous: dict[calendar.EventKey, dt.date],
    events: list[ScheduledEvent] | None = None,
    remade: bool = False,
    by: User | None = None,
    reason: str | None = None,
) -> set[int]:
    """Recompute every event from the fixed dates, save what changed (audited), bump the
    iCalendar SEQUENCE of moved events and tell dosing about every cycle whose day 1 moved.
    `events`: the plan's events as the caller locked and changed them (read here otherwise).
    `by` and `reason` go to the history rows of what moved (None: written by the system).
    Returns the ids of the events it changed or added."""
    if events is None:
        events = lock_events(plan)
    by_key = {e.key: e for e in events}
    built = build_events(plan, participant, fixed_dates(events))
    changed: list[ScheduledEvent] = []
    new: list[ScheduledEvent] = []
    for item in built:
        event = by_key.get(item.key)
        if event is None:
            new.append(new_event(plan, participant, item))
            continue
        if event.status == EventStatus.CANCELLED:
            continue
        # A done event keeps the date it was planned for: its actual date is a separate fact.
        planned = event.planned_date if event.actual_date is not None else item.planned
        moved = event.planned_date != planned
        values = {
            "order": item.order,
            "target_date": item.target,
            "window_start": item.window_start,
            "window_end": item.window_end,
            "planned_date": planned,
            "details": dict(item.details),
        }
        if remade:
            values["original_planned_date"] = planned
        if any(getattr(event, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(event, k, v)
            if moved:
                event.ics_sequence += 1
            changed.append(event)
    if changed:
        bulk_update_with_history(
            changed, ScheduledEvent, EVENT_FIELDS, batch_size=500, default_user=by, default_change_reason=reason
        )
    if new:
        bulk_create_with_history(new, ScheduledEvent, batch_size=500, default_user=by, default_change_reason=reason)
    _send_rescheduled(participant, previous, cycle_dates([*events, *new]))
    return {e.pk for e in changed} | {e.pk for e in new}


def _send_rescheduled(
    participant: Participant, before: dict[calendar.EventKey, dt.date], after: dict[calendar.EventKey, dt.date]
) -> None:
    for key, day1 in after.items():  # in protocol order
        if key in before and before[key] != day1:
            cycle_rescheduled.send(
                sender=ScheduledEvent, participant=participant, phase=key.phase, cycle_number=key.number, day1=day1
            )


def new_event(plan: TreatmentPlan, participant: Participant, item: calendar.PlannedEvent) -> ScheduledEvent:
    return ScheduledEvent(
        plan=plan,
        participant=participant,
        site_id=participant.site_id,
        kind=item.key.kind,
        phase=item.key.phase,
        number=item.key.number,
        order=item.order,
        target_date=item.target,
        window_start=item.window_start,
        window_end=item.window_end,
        planned_date=item.planned,
        original_planned_date=item.planned,
        details=dict(item.details),
    )
