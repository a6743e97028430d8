"""Treatment plans: creation, re-making, delays, actual dates, withdrawal, the cycle_visits
interface and the cycle_rescheduled signal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from randomization import services as rs
from schedules import selectors
from schedules.models import Booking, EventKind, EventStatus, ScheduledEvent, TreatmentPlan
from schedules.services.actual_dates import event_record_actual
from schedules.services.bookings import booking_create
from schedules.services.closures import site_closure_create
from schedules.services.plans import event_delay, treatment_plan_create
from tests.factories import ParticipantFactory
from tests.schedules.conftest import NOW, SCRT_START
from trialsite import services as registry
from trialsite.errors import Conflict, InvalidInput, NotFound, NotPermitted, RuleViolation
from trialsite.models import Participant
from trialsite.signals import cycle_rescheduled

D = dt.date


@pytest.fixture
def rescheduled() -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def record(sender: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    cycle_rescheduled.connect(record, dispatch_uid="test-record")
    yield calls
    cycle_rescheduled.disconnect(dispatch_uid="test-record")


def _event(plan: TreatmentPlan, kind: str, phase: str = "", number: int = 1) -> ScheduledEvent:
    return ScheduledEvent.objects.get(plan=plan, kind=kind, phase=phase, number=number)


def test_plan_has_every_event_of_the_protocol(plan: TreatmentPlan) -> None:
    counts = {k: ScheduledEvent.objects.filter(plan=plan, kind=k).count() for k in EventKind.values}
    assert counts == {
        "scrt_fraction": 5,
        "pre_cycle_labs": 8,
        "cycle_day1": 8,
        "restaging": 1,
        "surgery": 1,
        "follow_up": 14,
    }
    fractions = list(
        ScheduledEvent.objects.filter(plan=plan, kind="scrt_fraction").values_list("planned_date", flat=True)
    )
    # Wed 4 – Tue 10 March 2026, over one weekend.
    assert fractions == [D(2026, 3, 4), D(2026, 3, 5), D(2026, 3, 6), D(2026, 3, 9), D(2026, 3, 10)]
    assert plan.history.count() == 1
    assert ScheduledEvent.history.filter(plan_id=plan.pk).count() == 37


def test_cycle_visits_is_the_dosing_interface(plan: TreatmentPlan, make_randomized: Any, nurse: Any) -> None:
    other = make_randomized(arm="control")
    treatment_plan_create(participant=other, scrt_start_date=D(2026, 3, 9), by=nurse, now=NOW)

    visits = selectors.cycle_visits(participant_ids=[plan.participant_id])
    assert [(v.phase, v.cycle_number) for v in visits] == [("neoadjuvant", n) for n in range(1, 5)] + [
        ("adjuvant", n) for n in range(1, 5)
    ]
    assert visits[0].day1 == D(2026, 3, 17) and visits[0].status == "planned"
    assert visits[0].site_id == plan.participant.site_id
    window = selectors.cycle_visits(day1_from=D(2026, 3, 17), day1_to=D(2026, 3, 24))
    assert {v.participant_id for v in window} == {plan.participant_id, other.pk}
    assert all(D(2026, 3, 17) <= v.day1 <= D(2026, 3, 24) for v in window)
    assert selectors.cycle_visits(site_ids=[999999]) == []


def test_start_on_a_holiday_is_refused_with_the_next_start(randomized: Participant, nurse: Any) -> None:
    with pytest.raises(RuleViolation) as info:
        treatment_plan_create(participant=randomized, scrt_start_date=D(2026, 9, 28), by=nurse, now=NOW)
    assert info.value.code == "scrt_start_refused"
    assert info.value.extra["next_start_date"] == "2026-10-08"
    assert not TreatmentPlan.objects.exists()


def test_only_randomized_participants_get_a_plan(trial: Any, site: Any, nurse: Any) -> None:
    participant = ParticipantFactory(trial=trial, site=site)
    with pytest.raises(RuleViolation):
        treatment_plan_create(participant=participant, scrt_start_date=SCRT_START, by=nurse, now=NOW)


def test_roles_and_sites(randomized: Participant, other_nurse: Any, pharmacist: Any) -> None:
    with pytest.raises(NotPermitted):
        treatment_plan_create(participant=randomized, scrt_start_date=SCRT_START, by=pharmacist, now=NOW)
    with pytest.raises(NotFound):
        treatment_plan_create(participant=randomized, scrt_start_date=SCRT_START, by=other_nurse, now=NOW)


def test_start_in_the_past_is_refused(randomized: Participant, nurse: Any) -> None:
    with pytest.raises(InvalidInput):
        treatment_plan_create(participant=randomized, scrt_start_date=D(2026, 2, 27), by=nurse, now=NOW)


def test_remaking_keeps_uids_and_bumps_sequence(plan: TreatmentPlan, nurse: Any, rescheduled: list[Any]) -> None:
    c1 = _event(plan, "cycle_day1", "neoadjuvant", 1)
    treatment_plan_create(participant=plan.participant, scrt_start_date=D(2026, 3, 11), by=nurse, now=NOW)
    moved = _event(plan, "cycle_day1", "neoadjuvant", 1)
    assert moved.uid == c1.uid
    assert moved.planned_date == c1.planned_date + dt.timedelta(days=7)
    assert moved.ics_sequence == c1.ics_sequence + 1
    assert ScheduledEvent.objects.filter(plan=plan).count() == 37
    assert {(c["phase"], c["cycle_number"]) for c in rescheduled} >= {("neoadjuvant", 1), ("adjuvant", 4)}


def test_plan_is_made_at_randomization_when_a_start_date_is_given(randomized: Participant, nurse: Any) -> None:
    # randomize's direct call (the plan maker schedules registers with the randomization app)
    rs._make_plan(participant=randomized, scrt_start_date=SCRT_START, by=nurse, now=NOW)
    assert TreatmentPlan.objects.filter(participant=randomized).exists()
    assert TreatmentPlan.objects.get(participant=randomized).created_by_id == nurse.pk


def test_delay_shifts_the_cycle_and_what_follows(plan: TreatmentPlan, nurse: Any, rescheduled: list[Any]) -> None:
    c2 = _event(plan, "cycle_day1", "neoadjuvant", 2)
    c3 = _event(plan, "cycle_day1", "neoadjuvant", 3)
    c1 = _event(plan, "cycle_day1", "neoadjuvant", 1)

    delayed = event_delay(event=c2, reason="ANC 1.1", by=nurse, now=NOW)

    # The protocol's default delay: 1 week, on a working day.
    assert delayed.planned_date == c2.planned_date + dt.timedelta(days=7)
    assert delayed.delayed and delayed.delay_reason == "ANC 1.1"
    assert (delayed.window_start, delayed.window_end) == (
        delayed.planned_date - dt.timedelta(3),
        delayed.planned_date + dt.timedelta(3),
    )
    c3_after = _event(plan, "cycle_day1", "neoadjuvant", 3)
    assert c3_after.target_date == delayed.planned_date + dt.timedelta(21)
    assert c3_after.planned_date > c3.planned_date and c3_after.ics_sequence == c3.ics_sequence + 1
    assert _event(plan, "cycle_day1", "neoadjuvant", 1).planned_date == c1.planned_date
    # Planned dates are audited: the old date is in the history.
    assert c2.planned_date in set(ScheduledEvent.history.filter(id=c2.pk).values_list("planned_date", flat=True))
    assert {"phase": "neoadjuvant", "cycle_number": 2, "day1": delayed.planned_date}.items() <= next(
        c for c in rescheduled if c["cycle_number"] == 2 and c["phase"] == "neoadjuvant"
    ).items()
    assert any(c["phase"] == "adjuvant" for c in rescheduled)


def test_delay_to_a_non_working_day_is_refused(plan: TreatmentPlan, nurse: Any) -> None:
    c2 = _event(plan, "cycle_day1", "neoadjuvant", 2)
    saturday = c2.planned_date + dt.timedelta(days=(5 - c2.planned_date.weekday()) % 7 or 7)
    with pytest.raises(RuleViolation):
        event_delay(event=c2, reason="request", by=nurse, now=NOW, new_date=saturday)


def test_actual_date_restarts_the_rhythm(plan: TreatmentPlan, nurse: Any, rescheduled: list[Any]) -> None:
    c1 = _event(plan, "cycle_day1", "neoadjuvant", 1)
    later = dt.datetime(2026, 3, 20, 2, 0, tzinfo=dt.UTC)
    actual = c1.planned_date + dt.timedelta(days=2)
    done = event_record_actual(event=c1, actual_date=actual, by=nurse, today=later.date(), confirm=True)
    assert done.status == EventStatus.DONE and done.actual_date == actual
    assert _event(plan, "cycle_day1", "neoadjuvant", 2).target_date == actual + dt.timedelta(21)
    assert rescheduled[0]["cycle_number"] == 1 and rescheduled[0]["day1"] == actual
    plan.participant.refresh_from_db()
    assert plan.participant.status == "on_treatment"
    # Once treatment started, the plan is not re-made from scratch.
    with pytest.raises(Conflict):
        treatment_plan_create(participant=plan.participant, scrt_start_date=D(2026, 3, 25), by=nurse, now=later)


def test_withdrawal_cancels_future_events_and_bookings(plan: TreatmentPlan, nurse: Any, api_client_user: Any) -> None:
    c1 = _event(plan, "cycle_day1", "neoadjuvant", 1)
    booking = booking_create(event=c1, date=c1.planned_date, time=dt.time(9, 0), by=api_client_user, today=NOW.date())
    event_record_actual(
        event=_event(plan, "scrt_fraction", "scrt", 1),
        actual_date=D(2026, 3, 4),
        by=nurse,
        today=D(2026, 3, 5),
        confirm=True,
    )

    registry.participant_withdraw(participant=plan.participant, reason="consent withdrawn", by=nurse, now=NOW)

    plan.refresh_from_db()
    assert plan.status == "stopped"
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    statuses = set(ScheduledEvent.objects.filter(plan=plan).values_list("status", flat=True))
    assert statuses == {"done", "cancelled"}
    assert _event(plan, "scrt_fraction", "scrt", 1).status == "done"
    assert all(v.status == "cancelled" for v in selectors.cycle_visits(participant_ids=[plan.participant_id]))
    assert not Booking.objects.filter(status="active").exists()


def test_site_closure_is_not_a_working_day(plan: TreatmentPlan, nurse: Any, site: Any) -> None:
    site_closure_create(site=site, date=D(2026, 3, 18), reason="move", by=nurse)
    cal = selectors.working_calendar(site, [2026])
    assert not cal.is_working_day(D(2026, 3, 18))
    with pytest.raises(Conflict):
        site_closure_create(site=site, date=D(2026, 3, 18), reason="again", by=nurse)


def test_make_randomized_helper_fixture(make_randomized: Callable[..., Participant]) -> None:
    assert make_randomized(arm="control").arm == "control"


def test_plan_changed_is_sent_once_per_service(randomized: Participant, nurse: Any) -> None:
    from trialsite.signals import plan_changed

    seen: list[int] = []

    def record(sender: Any, participant: Participant, **kwargs: Any) -> None:
        seen.append(participant.pk)

    plan_changed.connect(record, dispatch_uid="test-plan-changed")
    try:
        plan = treatment_plan_create(participant=randomized, scrt_start_date=SCRT_START, by=nurse, now=NOW)
        event_delay(event=_event(plan, "cycle_day1", "neoadjuvant", 1), reason="holiday", by=nurse, now=NOW)
    finally:
        plan_changed.disconnect(dispatch_uid="test-plan-changed")
    assert seen == [randomized.pk, randomized.pk]
