"""Reminder rows follow the plan: made with the plan, re-made when a visit moves, cancelled when
it is cancelled or the participant withdraws; one row per (event, rule, channel, date)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.db import IntegrityError, transaction

from reminders import services as reminder_services
from reminders.models import Reminder, ReminderRule
from schedules.models import ScheduledEvent, TreatmentPlan
from schedules.services.bookings import booking_cancel, booking_create, booking_move
from schedules.services.plans import treatment_plan_create
from tests.schedules.conftest import NOW, SCRT_START
from trialsite import jobs
from trialsite import services as registry
from trialsite.models import Participant

SHANGHAI_0900 = dt.time(1, 0)  # 09:00 in Shanghai is 01:00 UTC


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _c1(plan: TreatmentPlan) -> ScheduledEvent:
    return ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=1)


def _live(event: ScheduledEvent) -> list[Reminder]:
    return list(Reminder.objects.filter(event=event).exclude(status="cancelled").order_by("send_at", "channel"))


def test_defaults_are_seeded_once_per_trial(plan: TreatmentPlan) -> None:
    rules = ReminderRule.objects.filter(trial=plan.participant.trial)
    assert rules.count() == 11  # 5 kinds of visit × (3 days, 1 day) + capecitabine day 15
    assert reminder_services.reminder_rules_for_trial(trial=plan.participant.trial) == list(rules.order_by("id"))
    assert rules.count() == 11


def test_the_plan_gets_its_reminders_at_nine_in_shanghai(plan: TreatmentPlan) -> None:
    c1 = _c1(plan)

    rows = _live(c1)

    # The participant factory opts in to SMS only (the model's default).
    assert {r.channel for r in rows} == {"sms"}
    moments = [(r.rule.name, r.send_at) for r in rows]
    day = c1.planned_date
    assert moments == [
        ("cycle day 1, 3 days before", dt.datetime.combine(day - dt.timedelta(days=3), SHANGHAI_0900, dt.UTC)),
        ("cycle day 1, 1 day before", dt.datetime.combine(day - dt.timedelta(days=1), SHANGHAI_0900, dt.UTC)),
        (
            "stop capecitabine after the morning dose of day 15",
            dt.datetime.combine(day + dt.timedelta(days=14), dt.time(0, 0), dt.UTC),  # 08:00 Shanghai
        ),
    ]
    scrt = ScheduledEvent.objects.get(plan=plan, kind="scrt_fraction", number=1)
    # SCRT starts Wednesday 4 March: the 3-days-before moment (Sunday 09:00) had passed when the
    # plan was made on Monday, so only the 1-day-before reminder exists; fraction 2 gets none.
    assert [r.rule.days_from_event for r in _live(scrt)] == [-1]
    assert _live(ScheduledEvent.objects.get(plan=plan, kind="scrt_fraction", number=2)) == []


def test_a_moved_visit_cancels_its_pending_reminders_and_gets_new_ones(plan: TreatmentPlan, nurse: Any) -> None:
    c1 = _c1(plan)
    old = {r.pk for r in _live(c1)}
    new_day = c1.planned_date + dt.timedelta(days=1)

    booking_create(event=c1, date=new_day, time=dt.time(8, 30), by=nurse, today=NOW.date())

    assert set(Reminder.objects.filter(pk__in=old).values_list("status", flat=True)) == {"cancelled"}
    assert {r.event_date for r in _live(c1)} == {new_day}
    assert len(_live(c1)) == 3


def test_sync_is_idempotent(plan: TreatmentPlan) -> None:
    before = Reminder.objects.count()
    result = reminder_services.reminders_sync(participant=plan.participant, now=NOW)
    assert result == reminder_services.SyncResult(0, 0, 0)
    assert Reminder.objects.count() == before


def test_withdrawal_cancels_everything_pending(plan: TreatmentPlan, nurse: Any) -> None:
    registry.participant_withdraw(participant=plan.participant, reason="consent withdrawn", by=nurse, now=NOW)

    assert not Reminder.objects.filter(participant=plan.participant).exclude(status="cancelled").exists()


def test_opting_in_to_email_adds_email_reminders_at_the_next_sync(plan: TreatmentPlan) -> None:
    Participant.objects.filter(pk=plan.participant_id).update(reminders_by_email=True, email="p@example.org")

    result = reminder_services.reminders_sync(participant=plan.participant, now=NOW)

    assert result.created == Reminder.objects.filter(channel="sms").exclude(status="cancelled").count()
    assert {r.channel for r in _live(_c1(plan))} == {"sms", "email"}


def test_the_database_refuses_a_second_live_row_for_the_same_visit_date(plan: TreatmentPlan) -> None:
    row = _live(_c1(plan))[0]
    copy = Reminder(
        rule=row.rule,
        event=row.event,
        participant=row.participant,
        site=row.site,
        channel=row.channel,
        event_date=row.event_date,
        send_at=row.send_at,
        due_at=row.due_at,
        expires_at=row.expires_at,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()
    # A cancelled row does not count: the visit moved away and back again gets a live row.
    Reminder.objects.filter(pk=row.pk).update(status="cancelled")
    copy.save()


def test_disabling_a_rule_cancels_its_pending_reminders(plan: TreatmentPlan) -> None:
    rule = ReminderRule.objects.get(trial=plan.participant.trial, name="cycle day 1, 3 days before")
    rule.active = False

    saved = reminder_services.reminder_rule_save(by=None, rule=rule, now=NOW)
    jobs.job_run(saved.job.pk, clock_now=lambda: NOW)  # the background re-sync (reminders.jobs)

    assert not Reminder.objects.filter(rule=rule).exclude(status="cancelled").exists()


@pytest.mark.parametrize("server_tz", ["UTC", "America/Los_Angeles"])
def test_nine_in_shanghai_whatever_the_servers_time_zone(
    randomized: Participant, nurse: Any, settings: Any, server_tz: str
) -> None:
    settings.TIME_ZONE = server_tz
    plan = treatment_plan_create(participant=randomized, scrt_start_date=SCRT_START, by=nurse, now=NOW)

    rows = Reminder.objects.filter(participant=plan.participant, rule__time_of_day=dt.time(9, 0))

    assert rows.exists()
    assert {r.send_at.astimezone(dt.UTC).time() for r in rows} == {SHANGHAI_0900}


def test_reminders_around_the_2026_spring_festival(randomized: Participant, nurse: Any) -> None:
    # 国务院办公厅 2026 holiday notice: Spring Festival off 15–23 February 2026, make-up working
    # days Saturday 14 and Saturday 28 February. SCRT from Monday 5 January puts the first cycles
    # around the festival; no visit is planned on a holiday, and each reminder is 3 and 1
    # calendar days before its visit at 09:00 Beijing time (holidays included).
    jan = dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)
    with time_machine.travel(jan, tick=False):
        plan = treatment_plan_create(participant=randomized, scrt_start_date=dt.date(2026, 1, 5), by=nurse, now=jan)
    festival = {dt.date(2026, 2, 15) + dt.timedelta(days=i) for i in range(9)}
    visits = ScheduledEvent.objects.filter(
        plan=plan, planned_date__gte=dt.date(2026, 2, 1), planned_date__lte=dt.date(2026, 3, 15)
    ).exclude(kind="scrt_fraction")
    assert visits.exists()
    for visit in visits:
        assert visit.planned_date not in festival
        for row in Reminder.objects.filter(event=visit, rule__template="visit"):
            local = row.send_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
            assert local.time() == dt.time(9, 0)
            assert (visit.planned_date - local.date()).days == -row.rule.days_from_event


def _rows_by_event(plan: TreatmentPlan) -> dict[int, set[tuple[int, str, dt.date, str]]]:
    """Every reminder row of the plan (cancelled ones too), by event."""
    rows: dict[int, set[tuple[int, str, dt.date, str]]] = {}
    for r in Reminder.objects.filter(participant=plan.participant):
        rows.setdefault(r.event_id, set()).add((r.pk, r.channel, r.event_date, r.status))
    return rows


def test_a_booking_syncs_only_the_reminders_of_its_event(plan: TreatmentPlan, nurse: Any) -> None:
    # given a preference changed behind the sync's back (a whole-plan sync would now add e-mail
    # reminders to every visit), and cycle 1 booked on its planned date (nothing else moves)
    Participant.objects.filter(pk=plan.participant_id).update(reminders_by_email=True, email="p@example.org")
    c1 = _c1(plan)
    before = _rows_by_event(plan)

    # when
    booking_create(event=c1, date=c1.planned_date, time=dt.time(8, 30), by=nurse, today=NOW.date())

    # then only cycle 1's rows were re-computed; every other event's rows are as they were
    after = _rows_by_event(plan)
    assert {r.channel for r in _live(c1)} == {"sms", "email"}
    assert {k: v for k, v in after.items() if k != c1.pk} == {k: v for k, v in before.items() if k != c1.pk}


def _live_dates_match_events(plan: TreatmentPlan) -> None:
    for r in Reminder.objects.filter(participant=plan.participant).exclude(status="cancelled").select_related("event"):
        assert r.event_date == (r.event.actual_date or r.event.planned_date), (r.event, r.rule.name)


def test_a_moved_booking_re_makes_the_reminders_of_every_event_the_re_plan_moved(
    plan: TreatmentPlan, nurse: Any
) -> None:
    c1 = _c1(plan)
    c2 = ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=2)
    c2_before = c2.planned_date
    old_c2 = set(Reminder.objects.filter(event=c2).exclude(status="cancelled").values_list("pk", flat=True))
    scrt = ScheduledEvent.objects.get(plan=plan, kind="scrt_fraction", number=1)
    scrt_rows = set(Reminder.objects.filter(event=scrt).values_list("pk", "status", "event_date"))

    # when cycle 1 is booked a day later: cycle 2 (and what follows) moves with it
    booking = booking_create(
        event=c1, date=c1.planned_date + dt.timedelta(days=1), time=dt.time(8, 30), by=nurse, today=NOW.date()
    )

    c2.refresh_from_db()
    assert c2.planned_date == c2_before + dt.timedelta(days=1)
    assert set(Reminder.objects.filter(pk__in=old_c2).values_list("status", flat=True)) == {"cancelled"}
    assert {r.event_date for r in _live(c2)} == {c2.planned_date} and len(_live(c2)) == 3
    _live_dates_match_events(plan)
    # the SCRT before cycle 1 did not move: its rows were not touched
    assert set(Reminder.objects.filter(event=scrt).values_list("pk", "status", "event_date")) == scrt_rows

    # when the booking is cancelled every moved visit falls back, and so do their reminders
    booking_cancel(booking=booking, by=nurse, now=NOW)

    c1.refresh_from_db()
    c2.refresh_from_db()
    assert {r.event_date for r in _live(c1)} == {c1.planned_date}
    assert {r.event_date for r in _live(c2)} == {c2.planned_date} and len(_live(c2)) == 3
    _live_dates_match_events(plan)


def test_a_moved_booking_moves_its_reminders(plan: TreatmentPlan, nurse: Any) -> None:
    c1 = _c1(plan)
    booking = booking_create(event=c1, date=c1.planned_date, time=dt.time(8, 30), by=nurse, today=NOW.date())
    old = {r.pk for r in _live(c1)}

    booking_move(booking=booking, date=c1.planned_date + dt.timedelta(days=2), by=nurse, today=NOW.date())

    assert set(Reminder.objects.filter(pk__in=old).values_list("status", flat=True)) == {"cancelled"}
    assert {r.event_date for r in _live(c1)} == {c1.planned_date + dt.timedelta(days=2)}
    _live_dates_match_events(plan)


def test_a_participant_nobody_can_remind_costs_three_statements(plan: TreatmentPlan) -> None:
    """No phone or e-mail (or reminders off) and no rows to cancel: the sync reads no rules or
    events (issue 16: it was most of a bulk plan creation's statements)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    participant = plan.participant
    Reminder.objects.filter(participant=participant).delete()
    Participant.objects.filter(pk=participant.pk).update(
        phone="", email="", reminders_by_sms=False, reminders_by_email=False
    )
    with CaptureQueriesContext(connection) as queries:
        result = reminder_services.reminders_sync(participant=participant, now=NOW)
    assert result == reminder_services.SyncResult(0, 0, 0)
    assert len(queries.captured_queries) <= 3


def test_the_oral_stop_rule_uses_the_neutral_template(plan: TreatmentPlan) -> None:
    # one stop rule per oral drug whose course the protocol gives, with a template naming no drug
    trial = plan.participant.trial
    oral = [c for c, d in trial.definition["drugs"].items() if d.get("last_administration")]
    stops = ReminderRule.objects.filter(trial=trial).exclude(oral_drug="")
    assert [(r.oral_drug, r.template) for r in stops] == [(code, "oral_course_end") for code in oral]
    for language in ("en", "zh-hans"):
        subject, body = reminder_services.render_text(
            "oral_course_end",
            language,
            {"drug": "DRUG", "last_day": 15, "last_time": "TIME", "last_date": dt.date(2026, 3, 19), "site_name": "S"},
        )
        assert "DRUG" in subject and "15" in body
