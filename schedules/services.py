"""Writes of the schedules app: making and re-making treatment plans, delays and actual dates,
stopping a plan, bookings, site closures and calendar-feed keys.

Lock order, everywhere: the participant first; then that participant's plan, events, bookings
and reminder rows, which are only ever locked under the participant's lock (the reminders'
dispatcher skips locked rows; the expiry and the send claim are single statements that hold no
other lock), so their order among themselves cannot make two transactions wait for each other in
a cycle; the site-day rows last of all, in (site, date) order. A site-day row (one site's
infusion chairs on one day) is shared by every booking of that site and day, so it is taken just
before commit — after the re-plan and the reminders' sync — and held for as little as possible.
Withdrawal (trialsite.services.participant_withdraw) locks the participant first too, so a
booking racing a withdrawal waits and then sees the withdrawn status."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from schedules import calendar, selectors
from schedules.models import (
    Booking,
    BookingStatus,
    CalendarFeed,
    EventKind,
    EventStatus,
    NationalCalendarDay,
    NationalCalendarYear,
    PlanStatus,
    ScheduledEvent,
    SiteClosure,
    SiteDay,
    SiteDayKind,
    TreatmentPlan,
)
from trialsite import roles
from trialsite.errors import Conflict, InvalidInput, NotPermitted, RuleViolation
from trialsite.models import RANDOMIZED_STATUSES, Participant, ParticipantStatus, Site
from trialsite.selectors import user_site_ids
from trialsite.services import participant_set_status
from trialsite.signals import cycle_rescheduled, plan_changed

CALENDAR_EDITORS = (roles.RESEARCH_NURSE, roles.INVESTIGATOR)
BOOKERS = (roles.RESEARCH_NURSE, roles.INVESTIGATOR, roles.API_CLIENT)
BOOKING_RELATIONS = ["event", "participant", "site", "created_by", "deviation_recorded_by"]
# The correction reason is the history row's change reason (simple-history's 100-character field).
CORRECTION_REASON_MAX = 100
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


# --- Checks --------------------------------------------------------------------------------


def _lock_participant(participant_id: int) -> Participant:
    # of=("self",): without it PostgreSQL's FOR UPDATE also locks the joined protocol-version and
    # site rows, so every booking of the trial queued on the one protocol-version row for its
    # whole transaction, and inserts referencing the site (bookings, reminders) waited on the
    # site row (their foreign-key checks take a KEY SHARE lock on it).
    return (
        Participant.objects.select_for_update(of=("self",))
        .select_related("protocol_version", "site")
        .get(pk=participant_id)
    )


def _check_active(participant: Participant, plan: TreatmentPlan | None = None) -> None:
    if participant.is_off_study or (plan is not None and plan.status == PlanStatus.STOPPED):
        raise Conflict(
            _("Participant %(p)s has been withdrawn; their calendar is closed.") % {"p": participant},
            code="participant_withdrawn",
        )


# --- Plans ---------------------------------------------------------------------------------


def _refuse_start(exc: calendar.ScrtStartRefused) -> RuleViolation:
    next_start = exc.next_start.isoformat() if exc.next_start else None
    if exc.reason == "not_working_day":
        message = _("The SCRT start date is not a working day at the site.")
    else:
        message = _("Starting then, the SCRT fractions cannot be given within the protocol's maximum overall time.")
    if next_start:
        message += " " + _("The next start date that works is %(d)s.") % {"d": next_start}
    return RuleViolation(
        message,
        code="scrt_start_refused",
        errors={"scrt_start_date": [message]},
        extra={"next_start_date": next_start, "reason": exc.reason},
    )


def _build(plan: TreatmentPlan, participant: Participant, fixed: dict[calendar.EventKey, calendar.Fixed]) -> list[Any]:
    rules = selectors.schedule_rules(participant.protocol_version_id)
    cal = selectors.working_calendar(participant.site, calendar.plan_years(plan.scrt_start_date, rules))
    try:
        return calendar.build_plan(rules, arm=plan.arm, scrt_start=plan.scrt_start_date, cal=cal, fixed=fixed)
    except calendar.ScrtStartRefused as exc:
        raise _refuse_start(exc) from exc


def _fixed_dates(events: Iterable[ScheduledEvent]) -> dict[calendar.EventKey, calendar.Fixed]:
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


def _check_scrt_overall_time(
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
            code="scrt_overall_time_exceeded",
            errors={"deviation_reason": [message]},
            extra={"overall_days": days, "max_overall_days": rules.scrt_max_overall_days},
        )
    if not roles.may(by, roles.DEVIATION_ROLES):
        only = _("Only an investigator can record a protocol deviation.")
        raise RuleViolation(only, code="scrt_overall_time_exceeded", errors={"deviation_reason": [only]})
    return True


def _changed(participant: Participant, events: Iterable[int] | None = None) -> None:
    """Tell the reminders (and anyone else) that this participant's events or bookings changed;
    sent once at the end of each service, inside its transaction. `events`: the ids of the only
    events that changed (a booking and what its re-plan moved), None for the whole plan."""
    plan_changed.send(
        sender=TreatmentPlan, participant=participant, events=None if events is None else sorted(set(events))
    )


def _cycle_dates(events: Iterable[ScheduledEvent]) -> dict[calendar.EventKey, dt.date]:
    return {e.key: e.date for e in events if e.kind == EventKind.CYCLE_DAY1 and e.status != EventStatus.CANCELLED}


def _lock_events(plan: TreatmentPlan) -> list[ScheduledEvent]:
    return list(ScheduledEvent.objects.select_for_update().filter(plan=plan).order_by("order"))


def _replan(
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
        events = _lock_events(plan)
    by_key = {e.key: e for e in events}
    built = _build(plan, participant, _fixed_dates(events))
    changed: list[ScheduledEvent] = []
    new: list[ScheduledEvent] = []
    for item in built:
        event = by_key.get(item.key)
        if event is None:
            new.append(_new_event(plan, participant, item))
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
    _send_rescheduled(participant, previous, _cycle_dates([*events, *new]))
    return {e.pk for e in changed} | {e.pk for e in new}


def _send_rescheduled(
    participant: Participant, before: dict[calendar.EventKey, dt.date], after: dict[calendar.EventKey, dt.date]
) -> None:
    for key, day1 in after.items():  # in protocol order
        if key in before and before[key] != day1:
            cycle_rescheduled.send(
                sender=ScheduledEvent, participant=participant, phase=key.phase, cycle_number=key.number, day1=day1
            )


def _new_event(plan: TreatmentPlan, participant: Participant, item: calendar.PlannedEvent) -> ScheduledEvent:
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


@transaction.atomic
def treatment_plan_create(
    *, participant: Participant, scrt_start_date: dt.date, by: User | None, now: dt.datetime
) -> TreatmentPlan:
    """Make the participant's plan from their protocol version, arm and SCRT start date, or
    re-make it with a new start date while treatment has not started (bookings are cancelled)."""
    roles.require(by, "schedules.add_treatmentplan")
    today = timezone.localdate(now)
    participant = _lock_participant(participant.pk)
    roles.require(by, "schedules.add_treatmentplan", site=participant.site_id)
    _check_active(participant)
    if participant.status not in RANDOMIZED_STATUSES or not participant.arm:
        raise RuleViolation(_("Only a randomized participant has a treatment plan."), code="not_randomized")
    if scrt_start_date < today:
        message = _("The SCRT start date cannot be in the past.")
        raise InvalidInput(message, errors={"scrt_start_date": [message]})
    plan = TreatmentPlan.objects.select_for_update().filter(participant=participant).first()
    if plan is None:
        plan = TreatmentPlan(
            participant=participant, arm=participant.arm, scrt_start_date=scrt_start_date, created_by=by
        )
        built = _build(plan, participant, {})
        plan.full_clean()
        plan.save()
        bulk_create_with_history([_new_event(plan, participant, item) for item in built], ScheduledEvent)
        _changed(participant)
        return plan
    if plan.status == PlanStatus.STOPPED:
        raise Conflict(_("The plan was stopped."), code="participant_withdrawn")
    events = list(ScheduledEvent.objects.select_for_update().filter(plan=plan))
    if any(e.actual_date for e in events):
        raise Conflict(
            _("Treatment has started: move single events (delay, booking) instead of re-making the plan."),
            code="treatment_started",
        )
    previous = _cycle_dates(events)
    cancelled = list(Booking.objects.select_for_update().filter(event__plan=plan, status=BookingStatus.ACTIVE))
    for booking in cancelled:
        _cancel_booking(booking, reason=gettext_noop("plan re-made"), now=now)
    ScheduledEvent.objects.filter(plan=plan).update(
        status=EventStatus.PLANNED, delayed=False, delay_reason="", deviation_reason="", deviation_recorded_by=None
    )
    plan.scrt_start_date = scrt_start_date
    plan.save(update_fields=["scrt_start_date", "updated_at"])
    _replan(plan, participant, previous=previous, remade=True)
    _changed(participant)
    _release_chairs(cancelled)
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
def treatment_plans_create_bulk(
    *, starts: Mapping[int, dt.date], now: dt.datetime, by: User | None = None, batch_size: int = 5000
) -> tuple[int, dict[int, str]]:
    """Make the plans of many participants at once (data migration, load tests): the same
    calendar arithmetic as treatment_plan_create, with rules and holiday calendars computed once
    per protocol version and site, and rows inserted in bulk (with their history rows).

    `starts` maps participant ids to SCRT start dates. Participants that are not randomized,
    withdrawn or already planned are skipped; refused start dates are returned as
    {participant_id: message}. Returns (plans created, refusals)."""
    roles.require(by, "schedules.add_treatmentplan")  # and only the user's sites' participants, below
    today = timezone.localdate(now)
    participants = list(
        Participant.objects.select_for_update(of=("self",))
        .filter(pk__in=list(starts), status__in=RANDOMIZED_STATUSES)
        .exclude(arm="")
        .exclude(pk__in=TreatmentPlan.objects.values("participant_id"))
        .select_related("site")
        .order_by("pk")
    )
    if by is not None and not by.is_superuser:
        allowed = user_site_ids(by)
        participants = [p for p in participants if p.site_id in allowed]
    calendars: dict[tuple[int, tuple[int, ...]], calendar.WorkingCalendar] = {}
    rules_by_version: dict[int, calendar.ScheduleRules] = {}
    refused: dict[int, str] = {}
    plans: list[TreatmentPlan] = []
    built_by_plan: list[tuple[Participant, list[calendar.PlannedEvent]]] = []
    for participant in participants:
        start = starts[participant.pk]
        if start < today:
            refused[participant.pk] = str(_("The SCRT start date cannot be in the past."))
            continue
        rules = rules_by_version.get(participant.protocol_version_id)
        if rules is None:
            rules = rules_by_version[participant.protocol_version_id] = selectors.schedule_rules(
                participant.protocol_version_id
            )
        years = tuple(calendar.plan_years(start, rules))
        cal = calendars.get((participant.site_id, years))
        if cal is None:
            cal = calendars[(participant.site_id, years)] = selectors.working_calendar(participant.site, years)
        try:
            built = calendar.build_plan(rules, arm=participant.arm, scrt_start=start, cal=cal)
        except calendar.ScrtStartRefused as exc:
            refused[participant.pk] = _refuse_start(exc).detail
            continue
        plans.append(TreatmentPlan(participant=participant, arm=participant.arm, scrt_start_date=start, created_by=by))
        built_by_plan.append((participant, built))
    bulk_create_with_history(plans, TreatmentPlan, batch_size=batch_size, default_user=by)
    _insert_events_with_history(plans, built_by_plan, now=now, by=by, batch_size=batch_size)
    for participant, _built in built_by_plan:
        _changed(participant)
    return len(plans), refused


def _insert_events_with_history(
    plans: list[TreatmentPlan],
    built_by_plan: list[tuple[Participant, list[calendar.PlannedEvent]]],
    *,
    now: dt.datetime,
    by: User | None,
    batch_size: int,
) -> None:
    """Insert the plans' events and their "created" history rows. On PostgreSQL with COPY from
    plain tuples (an order of magnitude faster than model instances and INSERT for ~37 rows per
    plan × thousands of plans), with ids reserved from the table's sequence so that each history
    row points at its event; elsewhere (the embedded SQLite of `make run`) through
    simple-history's bulk_create_with_history."""
    pairs = [
        (plan, participant, item)
        for plan, (participant, built) in zip(plans, built_by_plan, strict=True)
        for item in built
    ]
    if connection.vendor != "postgresql":
        events = [_new_event(plan, participant, item) for plan, participant, item in pairs]
        bulk_create_with_history(events, ScheduledEvent, batch_size=batch_size, default_user=by)
        return
    if not pairs:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [ScheduledEvent._meta.db_table, len(pairs)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    columns = [
        "id", "plan_id", "participant_id", "site_id", "kind", "phase", "number", "order", "target_date",
        "window_start", "window_end", "planned_date", "original_planned_date", "actual_date", "status",
        "delayed", "delay_reason", "deviation_reason", "details", "uid", "ics_sequence", "updated_at",
    ]  # fmt: skip
    history = ScheduledEvent.history.model
    history_columns = [*columns, "history_date", "history_change_reason", "history_type", "history_user_id"]
    # COPY's text format, written by hand: psycopg's per-row formatting was the bottleneck. Codes
    # (kind, phase) match the schema's ^[a-z][a-z0-9_]*$ and dates are ISO; only the JSON needs
    # COPY escaping (it contains backslashes: \uXXXX escapes).
    stamp = now.isoformat()
    user = str(by.pk) if by is not None else r"\N"
    lines: list[str] = []
    history_lines: list[str] = []
    for pk, (plan, participant, item) in zip(ids, pairs, strict=True):
        details = _copy_escape(json.dumps(item.details)) if item.details else "{}"
        row = (
            f"{pk}\t{plan.pk}\t{participant.pk}\t{participant.site_id}\t{item.key.kind}\t{item.key.phase}\t"
            f"{item.key.number}\t{item.order}\t{item.target}\t{item.window_start}\t{item.window_end}\t"
            f"{item.planned}\t{item.planned}\t\\N\tplanned\tf\t\t\t{details}\t{uuid.uuid4()}\t0\t{stamp}"
        )
        lines.append(row + "\n")
        history_lines.append(f"{row}\t{stamp}\t\\N\t+\t{user}\n")
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, cols, data in (
            (ScheduledEvent._meta.db_table, columns, lines),
            (history._meta.db_table, history_columns, history_lines),
        ):
            with cursor.cursor.copy(f"COPY {q(table)} ({', '.join(map(q, cols))}) FROM STDIN") as copy:
                for start in range(0, len(data), batch_size):
                    copy.write("".join(data[start : start + batch_size]))


def _copy_escape(text: str) -> str:
    """Escape a value for PostgreSQL's COPY text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _lock_event(event: ScheduledEvent, by: User | None, *, perm: str) -> tuple[Participant, ScheduledEvent]:
    participant = _lock_participant(event.participant_id)
    roles.require(by, perm, site=participant.site_id)  # another site's: 404
    event = ScheduledEvent.objects.select_for_update(of=("self",)).select_related("plan").get(pk=event.pk)
    return participant, event


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
    participant, event = _lock_event(event, by, perm="schedules.change_scheduledevent")
    _check_active(participant, event.plan)
    if not event.is_open:
        raise Conflict(_("Only a planned or booked event can be delayed."), code="event_closed")
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
        raise RuleViolation(message, code="not_working_day", errors={"new_date": [message]})
    events = list(ScheduledEvent.objects.select_for_update().filter(plan=event.plan))
    previous = _cycle_dates(events)
    # Everything after the delayed event shifts, so their bookings no longer hold.
    later = [e.pk for e in events if e.order >= event.order and e.is_open]
    cancelled = list(Booking.objects.select_for_update().filter(event_id__in=later, status=BookingStatus.ACTIVE))
    for booking in cancelled:
        _cancel_booking(booking, reason=gettext_noop("rescheduled after a delay"), now=now)
    ScheduledEvent.objects.filter(pk__in=later, status=EventStatus.BOOKED).update(status=EventStatus.PLANNED)
    event.refresh_from_db()
    event.planned_date = new_date
    event.delayed = True
    event.delay_reason = reason.strip()[:200]
    event.ics_sequence += 1
    event.full_clean(validate_constraints=False)
    event.save()
    _replan(event.plan, participant, previous=previous)
    if event.kind == EventKind.SCRT_FRACTION and _check_scrt_overall_time(
        event.plan, participant, deviation_reason=deviation_reason, by=by
    ):
        ScheduledEvent.objects.filter(pk=event.pk).update(
            deviation_reason=deviation_reason.strip(), deviation_recorded_by=by
        )
    _changed(participant)
    _release_chairs(cancelled)
    event.refresh_from_db()
    return event


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
    fixed = _fixed_dates(e for e in events if e.pk != event.pk)
    fixed[event.key] = calendar.Fixed(day)
    built = {item.key: item for item in _build(plan, participant, fixed)}
    moves = []
    for other in events:
        item = built.get(other.key)
        if other.pk == event.pk or item is None or not other.is_open or item.planned == other.planned_date:
            continue
        moves.append(Move(other, other.planned_date, item.planned))
    return sorted(moves, key=lambda m: m.event.order)


def _actual_dependants(participant: Participant, events: list[ScheduledEvent], event: ScheduledEvent) -> list[str]:
    """What rests on `event`'s recorded date: later events already given, and released dose
    sheets of cycles from this event on (their day 1 came from it). Described in the reader's
    language; empty when nothing does."""
    from dosing.selectors import released_cycles  # dosing is the floor above (as in digests.py)

    later = [e for e in events if e.order > event.order]
    found = [
        _("%(event)s was given on %(d)s") % {"event": e.label, "d": e.actual_date.isoformat()}
        for e in later
        if e.actual_date is not None
    ]
    released = released_cycles(participant_id=participant.pk)
    found += [
        _("the dose sheet of %(event)s is released") % {"event": e.label}
        for e in [event, *later]
        if e.kind == EventKind.CYCLE_DAY1 and (e.phase, e.number) in released
    ]
    return found


def _actual_preview(
    participant: Participant, event: ScheduledEvent, actual_date: dt.date, *, today: dt.date
) -> ActualDatePreview:
    if actual_date > today:
        message = _("The actual date cannot be in the future.")
        raise InvalidInput(message, errors={"actual_date": [message]})
    if event.status == EventStatus.CANCELLED:
        raise Conflict(_("The event was cancelled."), code="event_closed")
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
    _check_active(event.participant, event.plan)
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
    participant, event = _lock_event(event, by, perm="schedules.change_scheduledevent")
    _check_active(participant, event.plan)
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
            raise NotPermitted(message, code="actual_date_depended_on")
    if preview.needs_confirmation and not confirm:
        raise Conflict(
            _("Confirm the actual date: it moves %(n)s later events.") % {"n": len(preview.moves)},
            code="confirmation_required",
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
    previous = _cycle_dates(ScheduledEvent.objects.filter(plan=event.plan))
    event.ics_sequence += 1
    event.actual_date = actual_date
    event.status = EventStatus.DONE
    if preview.correction:
        event._change_reason = reason.strip()  # type: ignore[attr-defined]  # kept as typed in the history row
    event._history_user = by  # type: ignore[attr-defined]  # whoever acted, also outside a request
    event.save()
    if participant.status == ParticipantStatus.RANDOMIZED:
        participant_set_status(participant=participant, status=ParticipantStatus.ON_TREATMENT, by=by)
    _replan(event.plan, participant, previous=previous, by=by, reason=reason.strip() or None)
    _changed(participant)
    event.refresh_from_db()
    return event


@transaction.atomic
def treatment_plan_stop(
    *, participant: Participant, reason: str, by: User | None, now: dt.datetime
) -> TreatmentPlan | None:
    """Stop a plan (withdrawal, death): open events and their bookings are cancelled; what
    happened stays. Returns None when the participant had no plan."""
    participant = _lock_participant(participant.pk)
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
        _cancel_booking(booking, reason=reason, now=now)
    for event in open_events:
        event.status = EventStatus.CANCELLED
        event.ics_sequence += 1
    bulk_update_with_history(open_events, ScheduledEvent, ["status", "ics_sequence"])
    plan.status = PlanStatus.STOPPED
    plan.stopped_on = timezone.localdate(now)
    plan.stop_reason = reason[:200]
    plan.save()
    _changed(participant)
    _release_chairs(cancelled)
    return plan


# --- Bookings ------------------------------------------------------------------------------


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
        raise RuleViolation(message, code="date_in_past", errors={"date": [message]})
    site = participant.site
    if not site.is_open_at(time):
        message = _("%(t)s is outside the opening hours of %(site)s (%(a)s – %(b)s).") % {
            "t": time.strftime("%H:%M"),
            "site": site.code,
            "a": site.opening_time.strftime("%H:%M"),
            "b": site.closing_time.strftime("%H:%M"),
        }
        raise RuleViolation(message, code="outside_opening_hours", errors={"time": [message]})
    cal = selectors.working_calendar(participant.site, range(day.year, day.year + 1))
    if not cal.is_working_day(day):
        message = _("%(d)s is not a working day at %(site)s.") % {"d": day.isoformat(), "site": participant.site.code}
        raise RuleViolation(message, code="not_working_day", errors={"date": [message]})
    if event.window_start <= day <= event.window_end:
        return False
    if event.kind == EventKind.SCRT_FRACTION:
        # A fraction's rule is the maximum overall time of all five, checked once the plan is
        # re-made from this date (_check_scrt_overall_time), not a window of its own.
        return False
    if calendar.plan_choice_outside_window(event.details, day):
        # The window has no working day and the plan itself chose this nearest one.
        return False
    if not deviation_reason.strip():
        message = _(
            "%(d)s is outside the protocol window %(a)s – %(b)s; only an investigator can book it, "
            "recording a protocol deviation with a reason."
        ) % {"d": day.isoformat(), "a": event.window_start.isoformat(), "b": event.window_end.isoformat()}
        raise RuleViolation(message, code="outside_window", errors={"date": [message]})
    if not roles.may(by, roles.DEVIATION_ROLES):
        message = _("Only an investigator can record a protocol deviation.")
        raise RuleViolation(message, code="outside_window", errors={"deviation_reason": [message]})
    return True


def _take_chair(site: Site, day: dt.date) -> None:
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
            code="capacity_full",
            errors={"date": [_("No infusion chair left on this day.")]},
        )


def _release_chair(site_id: int, day: dt.date) -> None:
    SiteDay.objects.filter(site_id=site_id, date=day, infusions__gt=0).update(infusions=F("infusions") - 1)


def _release_chairs(bookings: Iterable[Booking]) -> None:
    """Give back the infusion chairs of cancelled bookings: the site-day rows are locked in
    (site, date) order and last in the transaction (see the lock order at the top)."""
    for site_id, day in sorted((b.site_id, b.date) for b in bookings if b.uses_infusion_chair):
        _release_chair(site_id, day)


def _cancel_booking(booking: Booking, *, reason: str, now: dt.datetime) -> None:
    """Mark a booking cancelled; the caller gives its chair back with _release_chairs, last."""
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    booking.cancel_reason = reason[:200]
    booking.save()


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
    participant, event = _lock_event(event, by, perm="schedules.add_booking")
    _check_active(participant, event.plan)
    if event.status == EventStatus.BOOKED or Booking.objects.filter(event=event, status=BookingStatus.ACTIVE).exists():
        raise Conflict(_("This event is already booked; move the booking instead."), code="already_booked")
    if not event.is_open:
        raise Conflict(_("This event is done or cancelled."), code="event_closed")
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
        raise Conflict(_("This event is already booked."), code="already_booked") from exc
    touched = _set_event_date(event, participant, date, status=EventStatus.BOOKED)
    _check_fraction_booking(booking, event, participant, deviation_reason=deviation_reason, by=by)
    _changed(participant, touched)
    if uses_chair:
        # Last, so that the site-day row (every booking of that site and day queues on it) is
        # held only from here to commit, not during the re-plan and the reminders' sync. A full
        # day raises Conflict and the whole booking rolls back.
        _take_chair(participant.site, date)
    return booking


def _check_fraction_booking(
    booking: Booking, event: ScheduledEvent, participant: Participant, *, deviation_reason: str, by: User | None
) -> None:
    """A booked SCRT fraction (and the fractions the re-plan moved after it) must still fit the
    maximum overall time, or carry an investigator's recorded deviation."""
    if event.kind != EventKind.SCRT_FRACTION:
        return
    if _check_scrt_overall_time(event.plan, participant, deviation_reason=deviation_reason, by=by):
        booking.deviation_reason = deviation_reason.strip()
        booking.deviation_recorded_by = by
        booking.save(update_fields=["deviation_reason", "deviation_recorded_by"])


def _set_event_date(event: ScheduledEvent, participant: Participant, day: dt.date, *, status: str) -> set[int]:
    """Book (or re-book) `event` on `day` and re-plan what follows; returns the ids of the
    events that changed (this one and those the re-plan moved)."""
    events = _lock_events(event.plan)
    previous = _cycle_dates(events)
    if event.planned_date != day or event.status != status:
        event.ics_sequence += 1  # moved, or an all-day tentative event became a timed booking
    event.planned_date = day
    event.status = status
    event.save()
    events = [event if e.pk == event.pk else e for e in events]
    return {event.pk} | _replan(event.plan, participant, previous=previous, events=events)


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
    participant, event = _lock_event(booking.event, by, perm="schedules.change_booking")
    booking = Booking.objects.select_for_update().get(pk=booking.pk)
    _check_active(participant, event.plan)
    if booking.status != BookingStatus.ACTIVE:
        raise Conflict(_("This booking was cancelled."), code="booking_cancelled")
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
    _changed(participant, touched)
    if booking.uses_infusion_chair and new_date != old_date:
        # Last (see the lock order at the top), and both days in date order so that two
        # opposite moves cannot deadlock. A full new day rolls the whole move back.
        for day in sorted({old_date, new_date}):
            SiteDay.objects.bulk_create(
                [SiteDay(site_id=booking.site_id, date=day, chairs=participant.site.infusion_chairs_per_day)],
                ignore_conflicts=True,
            )
            SiteDay.objects.select_for_update().get(site_id=booking.site_id, date=day)
        _take_chair(participant.site, new_date)
        _release_chair(booking.site_id, old_date)
    return booking


@transaction.atomic
def booking_cancel(*, booking: Booking, by: User | None, reason: str = "", now: dt.datetime) -> Booking:
    roles.require(by, "schedules.change_booking")
    participant, event = _lock_event(booking.event, by, perm="schedules.change_booking")
    booking = Booking.objects.select_for_update().get(pk=booking.pk)
    if booking.status != BookingStatus.ACTIVE:
        return booking
    _cancel_booking(booking, reason=reason or gettext_noop("cancelled"), now=now)
    touched = {event.pk}
    if event.status == EventStatus.BOOKED:
        events = _lock_events(event.plan)
        previous = _cycle_dates(events)
        event.status = EventStatus.PLANNED
        event.ics_sequence += 1
        event.save()
        # Without the booking the event falls back to its protocol date.
        events = [event if e.pk == event.pk else e for e in events]
        touched |= _replan(event.plan, participant, previous=previous, events=events)
    _changed(participant, touched)
    _release_chairs([booking])  # last: the site-day row is held only from here to commit
    return booking


# --- Closures and feeds --------------------------------------------------------------------


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
        raise Conflict(_("The site already has an entry for that day."), code="already_closed") from exc
    # One site and one day: few plans, re-checked here (a national notice is a Celery task). A
    # plan that cannot be re-made (an SCRT start not yet given that is now a closed day) does not
    # stop the closure: it is reported (closure.recheck.refused) for a person to re-plan.
    closure.recheck = plans_recheck(site_ids=[site.pk], date_from=date, date_to=date, now=now or timezone.now())
    return closure


@dataclass
class RecheckResult:
    plans: int = 0
    moved: int = 0
    refused: dict[int, str] = field(default_factory=dict)  # plan id → why it could not be re-made


@transaction.atomic
def treatment_plan_recheck(*, plan_id: int, now: dt.datetime) -> set[int]:
    """Re-make a plan from what people fixed (actual dates, delays, bookings) against today's
    working calendar, after the calendar changed (a closure, a site make-up working day, a
    national notice). Returns the ids of the events that moved. The system acts (no `by`)."""
    plan = TreatmentPlan.objects.get(pk=plan_id)
    participant = _lock_participant(plan.participant_id)
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan_id)
    if participant.is_off_study or plan.status == PlanStatus.STOPPED:
        return set()
    events = _lock_events(plan)
    changed = _replan(plan, participant, previous=_cycle_dates(events), events=events)
    if changed:
        _changed(participant, changed)
    return changed


def plans_recheck(
    *, site_ids: Iterable[int] | None, date_from: dt.date, date_to: dt.date, now: dt.datetime
) -> RecheckResult:
    """Re-check every active plan with an open event around the changed days, one plan per
    transaction (a trial-wide re-check must not hold every participant's lock at once)."""
    result = RecheckResult()
    for plan_id in selectors.plans_to_recheck(site_ids=site_ids, date_from=date_from, date_to=date_to):
        result.plans += 1
        try:
            result.moved += len(treatment_plan_recheck(plan_id=plan_id, now=now))
        except RuleViolation as exc:  # e.g. a not yet started plan whose SCRT start became a holiday
            result.refused[plan_id] = exc.detail
    return result


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


def national_calendar_changed(notice: NationalCalendarYear) -> None:
    """After commit, re-check every plan of the notice's country against it (a Celery task:
    trial-wide work)."""
    from schedules import tasks

    transaction.on_commit(lambda: tasks.national_calendar_recheck.delay(notice.country, notice.year))


@transaction.atomic
def site_closure_update_reason(*, closure: SiteClosure, reason: str, by: User | None) -> SiteClosure:
    """Correct the reason of a closure (its site and day are fixed once made)."""
    roles.require(by, "schedules.change_siteclosure", site=closure.site_id)
    closure = SiteClosure.objects.select_for_update().get(pk=closure.pk)
    closure.reason = reason.strip()
    closure.full_clean(validate_unique=False, validate_constraints=False)
    closure.save(update_fields=["reason"])
    return closure


@transaction.atomic
def calendar_feed_create(*, user: User, now: dt.datetime) -> CalendarFeed:
    """A new secret feed URL for `user`; their older keys are revoked (one live URL per user)."""
    CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    return CalendarFeed.objects.create(user=user)


@transaction.atomic
def calendar_feed_revoke(*, feed: CalendarFeed, now: dt.datetime) -> CalendarFeed:
    if feed.revoked_at is None:
        feed.revoked_at = now
        feed.save(update_fields=["revoked_at"])
    return feed
