"""Recording the day an event happened: the preview every door confirms (what moves, what rests on
a corrected date), and the write."""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from schedules import calendar, dependants
from schedules.error_codes import ScheduleErrorCode
from schedules.models import (
    EventKind,
    EventStatus,
    ScheduledEvent,
    TreatmentPlan,
)
from schedules.services.locks import lock_event
from schedules.services.replanning import (
    build_events,
    check_active,
    cycle_dates,
    fixed_dates,
    replan,
    send_plan_changed,
)
from trialsite import roles
from trialsite.errors import Conflict, InvalidInput, NotPermitted
from trialsite.models import Participant, ParticipantStatus
from trialsite.services import participant_set_status

# The correction reason is the history row's change reason (simple-history's 100-character field).
CORRECTION_REASON_MAX = 100


@dataclasses.dataclass(frozen=True)
class Move:
    """An event whose planned date a change would move."""

    event: ScheduledEvent
    before: dt.date
    after: dt.date


@dataclasses.dataclass(frozen=True)
class ActualDatePreview:
    """What recording (or correcting) an actual date would do, computed from the data: the events
    it moves, whether it starts treatment, whether it corrects a date already recorded, and what
    depends on the old date (then only an investigator may correct it)."""

    event: ScheduledEvent
    actual_date: dt.date
    moves: list[Move]
    starts_treatment: bool
    correction: bool
    dependants: list[str]

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.moves) or self.starts_treatment or self.correction


def _actual_moves(
    plan: TreatmentPlan, participant: Participant, events: list[ScheduledEvent], event: ScheduledEvent, day: dt.date
) -> list[Move]:
    """The open events whose planned date would change if `event` happened on `day` (pure
    arithmetic on the plan, nothing saved)."""
    fixed = fixed_dates(e for e in events if e.pk != event.pk)
    fixed[event.key] = calendar.Fixed(day)
    built = {item.key: item for item in build_events(plan, participant, fixed)}
    moves = []
    for other in events:
        item = built.get(other.key)
        if other.pk == event.pk or item is None or not other.is_open or item.planned == other.planned_date:
            continue
        moves.append(Move(other, other.planned_date, item.planned))
    return sorted(moves, key=lambda m: m.event.order)


def _actual_dependants(participant: Participant, events: list[ScheduledEvent], event: ScheduledEvent) -> list[str]:
    """What rests on `event`'s recorded date: later events already given, and released dose
    sheets of cycles from this event on (their day 1 came from it; the apps above answer through
    schedules/dependants.py). Described in the reader's language; empty when nothing does."""
    later = [e for e in events if e.order > event.order]
    found = [
        _("%(event)s was given on %(d)s") % {"event": e.label, "d": e.actual_date.isoformat()}
        for e in later
        if e.actual_date is not None
    ]
    cycles = [e for e in [event, *later] if e.kind == EventKind.CYCLE_DAY1]
    return found + dependants.describe(participant_id=participant.pk, cycles=cycles)


def _actual_preview(
    participant: Participant, event: ScheduledEvent, actual_date: dt.date, *, today: dt.date
) -> ActualDatePreview:
    if actual_date > today:
        message = _("The actual date cannot be in the future.")
        raise InvalidInput(message, errors={"actual_date": [message]})
    if event.status == EventStatus.CANCELLED:
        raise Conflict(_("The event was cancelled."), code=ScheduleErrorCode.EVENT_CLOSED)
    events = list(ScheduledEvent.objects.filter(plan=event.plan).order_by("order"))
    correction = event.actual_date is not None
    return ActualDatePreview(
        event=event,
        actual_date=actual_date,
        moves=_actual_moves(event.plan, participant, events, event, actual_date),
        starts_treatment=participant.status == ParticipantStatus.RANDOMIZED,
        correction=correction,
        dependants=_actual_dependants(participant, events, event) if correction else [],
    )


def event_record_actual_preview(
    *, event: ScheduledEvent, actual_date: dt.date, by: User | None, today: dt.date
) -> ActualDatePreview:
    """What event_record_actual would do with these arguments (a read: nothing is saved), for
    the confirmation step of every door."""
    event = ScheduledEvent.objects.select_related("plan", "participant__site").get(pk=event.pk)
    roles.require(by, "schedules.change_scheduledevent", site=event.participant.site_id)
    check_active(event.participant, event.plan)
    return _actual_preview(event.participant, event, actual_date, today=today)


@transaction.atomic
def event_record_actual(
    *,
    event: ScheduledEvent,
    actual_date: dt.date,
    by: User | None,
    today: dt.date,
    confirm: bool = False,
    reason: str = "",
) -> ScheduledEvent:
    """Record the day an event happened; what follows is re-planned from it.

    Deliberate: when the date moves later events, starts treatment or corrects a recorded date,
    nothing is saved unless `confirm` is true (Conflict "confirmation_required" lists the moves,
    for the door to show). Correctable: a recorded date can be changed with a `reason` (kept in
    the event's history); while nothing rests on it (a later event given, a released dose sheet)
    the nurse can, afterwards only an investigator."""
    roles.require(by, "schedules.change_scheduledevent")
    participant, event = lock_event(event, by, perm="schedules.change_scheduledevent")
    check_active(participant, event.plan)
    if event.actual_date == actual_date:
        return event  # already recorded so: nothing to do (a repeated submit)
    preview = _actual_preview(participant, event, actual_date, today=today)
    if preview.correction:
        if not reason.strip():
            message = _("Give the reason for correcting the actual date.")
            raise InvalidInput(message, errors={"reason": [message]})
        if len(reason.strip()) > CORRECTION_REASON_MAX:
            message = _("At most %(n)s characters.") % {"n": CORRECTION_REASON_MAX}
            raise InvalidInput(message, errors={"reason": [message]})
        if preview.dependants and not roles.may(by, roles.DEVIATION_ROLES):
            message = _("Only an investigator can correct this actual date now: %(what)s.") % {
                "what": "; ".join(preview.dependants)
            }
            raise NotPermitted(message, code=ScheduleErrorCode.ACTUAL_DATE_DEPENDED_ON)
    if preview.needs_confirmation and not confirm:
        raise Conflict(
            _("Confirm the actual date: it moves %(n)s later events.") % {"n": len(preview.moves)},
            code=ScheduleErrorCode.CONFIRMATION_REQUIRED,
            extra={
                "moves": [
                    {
                        "event": m.event.pk,
                        "label": m.event.label,
                        "from": m.before.isoformat(),
                        "to": m.after.isoformat(),
                    }
                    for m in preview.moves
                ],
                "starts_treatment": preview.starts_treatment,
                "correction": preview.correction,
            },
        )
    previous = cycle_dates(ScheduledEvent.objects.filter(plan=event.plan))
    event.ics_sequence += 1
    event.actual_date = actual_date
    event.status = EventStatus.DONE
    if preview.correction:
        event._change_reason = reason.strip()  # type: ignore[attr-defined]  # kept as typed in the history row
    event._history_user = by  # type: ignore[attr-defined]  # whoever acted, also outside a request
    event.save()
    if participant.status == ParticipantStatus.RANDOMIZED:
        participant_set_status(participant=participant, status=ParticipantStatus.ON_TREATMENT, by=by)
    replan(event.plan, participant, previous=previous, by=by, reason=reason.strip() or None)
    send_plan_changed(participant)
    event.refresh_from_db()
    return event
