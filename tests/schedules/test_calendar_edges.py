"""Calendar edges (issue 13): a cycle window with no working day, the SCRT maximum overall time
on delays, national calendar notices and site make-up working days with plans re-checked, kept
original planned dates, and the site's opening hours (issue 12 §3)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from schedules import selectors
from schedules.models import NationalCalendarDay, NationalCalendarYear, ScheduledEvent, TreatmentPlan
from schedules.services.actual_dates import event_record_actual
from schedules.services.bookings import booking_create
from schedules.services.closures import national_calendar_load, site_closure_create
from schedules.services.plans import event_delay, treatment_plan_create
from tests.schedules.conftest import NOW
from trialsite import jobs
from trialsite.errors import NotPermitted, RuleViolation
from trialsite.models import Participant, TrialJob

D = dt.date
BOOKINGS = "/api/v1/bookings/"
CN_2026 = Path(__file__).resolve().parents[2] / "schedules" / "calendars" / "CN-2026.yaml"
JAN_5 = dt.datetime(2026, 1, 5, 1, tzinfo=dt.UTC)  # Monday 5 January 2026, 09:00 in Shanghai


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _ev(plan: TreatmentPlan, kind: str, phase: str, number: int) -> ScheduledEvent:
    return ScheduledEvent.objects.get(plan=plan, kind=kind, phase=phase, number=number)


def _book(client: Any, event: ScheduledEvent, day: dt.date, time: str = "09:00", **extra: Any) -> Any:
    return client.post(BOOKINGS, {"event": event.pk, "date": day.isoformat(), "time": time, **extra}, format="json")


# --- A window with no working day ----------------------------------------------------------


def test_spring_festival_window_is_flagged_and_its_planned_date_bookable(
    randomized: Participant, nurse: Any, api_client_user: Any, api: Any
) -> None:
    # SCRT from Fri 16 Jan 2026 puts neoadjuvant cycle 2's window (16–22 Feb) inside the Spring
    # Festival (15–23 Feb off, State Council notice for 2026): the plan says so, with Sat 14 Feb
    # (a make-up working day) and Tue 24 Feb either side, and plans it on 24 Feb.
    with time_machine.travel(JAN_5, tick=False):
        plan = treatment_plan_create(participant=randomized, scrt_start_date=D(2026, 1, 16), by=nurse, now=JAN_5)
        client = api(api_client_user)
        body = client.get(f"/api/v1/participants/{randomized.pk}/schedule/").json()
        c2 = next(
            e for e in body["events"] if e["kind"] == "cycle_day1" and e["number"] == 2 and e["phase"] == "neoadjuvant"
        )
        assert c2["no_working_day_in_window"] == {
            "before": "2026-02-14",
            "after": "2026-02-24",
            "planned": "2026-02-24",
        }
        assert c2["planned_date"] == "2026-02-24"
        others = [e for e in body["events"] if e["no_working_day_in_window"] and e["id"] != c2["id"]]
        assert others == []

        timeline = _admin(nurse).get(f"/admin/schedules/treatmentplan/participant/{randomized.pk}/timeline/")
        assert "no-working-day" in timeline.content.decode()
        assert "2026-02-14" in timeline.content.decode() or "Feb. 14, 2026" in timeline.content.decode()

        # The API client (not an investigator) books the date the plan chose: no deviation needed.
        event = _ev(plan, "cycle_day1", "neoadjuvant", 2)
        ok = _book(client, event, D(2026, 2, 24))
        assert ok.status_code == 201, ok.json()
        assert ok.json()["deviation_reason"] == ""
        # Another date outside the window still needs an investigator's deviation.
        moved = client.patch(f"{BOOKINGS}{ok.json()['id']}/", {"date": "2026-02-25"}, format="json")
        assert (moved.status_code, moved.json()["code"]) == (422, "outside_window")


def _admin(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


# --- SCRT maximum overall time on a delay ---------------------------------------------------


def _fraction(plan: TreatmentPlan, number: int) -> ScheduledEvent:
    return _ev(plan, "scrt_fraction", "scrt", number)


def test_delaying_a_fraction_to_day_9_is_refused(plan: TreatmentPlan, api: Any, nurse: Any) -> None:
    # Fractions Wed 4 – Tue 10 March 2026. 5 × 5 Gy within 8 calendar days (protocol
    # schedule.scrt.max_overall_days): fraction 5 on Wed 11 March is day 8, Thu 12 March day 9.
    client = api(nurse)
    fifth = _fraction(plan, 5)
    late = client.post(
        f"/api/v1/schedule-events/{fifth.pk}/delay/",
        {"reason": "machine down", "new_date": "2026-03-12"},
        format="json",
    )
    assert (late.status_code, late.json()["code"]) == (422, "scrt_overall_time_exceeded")
    assert (late.json()["overall_days"], late.json()["max_overall_days"]) == (9, 8)
    assert _fraction(plan, 5).planned_date == D(2026, 3, 10)  # nothing changed
    # A nurse cannot record the deviation.
    nurse_dev = client.post(
        f"/api/v1/schedule-events/{fifth.pk}/delay/",
        {"reason": "machine down", "new_date": "2026-03-12", "deviation_reason": "x"},
        format="json",
    )
    assert (nurse_dev.status_code, nurse_dev.json()["code"]) == (422, "scrt_overall_time_exceeded")
    ok = client.post(
        f"/api/v1/schedule-events/{fifth.pk}/delay/",
        {"reason": "machine down", "new_date": "2026-03-11"},
        format="json",
    )
    assert ok.status_code == 200, ok.json()
    assert ok.json()["planned_date"] == "2026-03-11"


def test_delaying_an_early_fraction_shifts_the_rest_past_the_limit(plan: TreatmentPlan, nurse: Any) -> None:
    # Fraction 2 to Mon 9 March: fractions 3–5 follow on 10–12 March, day 9.
    with pytest.raises(RuleViolation) as info:
        event_delay(event=_fraction(plan, 2), reason="fever", new_date=D(2026, 3, 9), by=nurse, now=NOW)
    assert info.value.code == "scrt_overall_time_exceeded"
    assert _fraction(plan, 5).planned_date == D(2026, 3, 10)


def test_an_investigator_records_a_deviation_for_the_overall_time(plan: TreatmentPlan, investigator: Any) -> None:
    event = event_delay(
        event=_fraction(plan, 5),
        reason="machine down",
        new_date=D(2026, 3, 12),
        deviation_reason="linac repair; radiation oncologist approved",
        by=investigator,
        now=NOW,
    )
    assert event.planned_date == D(2026, 3, 12)
    assert event.deviation_reason == "linac repair; radiation oncologist approved"
    assert event.deviation_recorded_by == investigator


# --- Planned dates are kept -----------------------------------------------------------------


def test_delay_and_actual_date_keep_the_original_planned_date(plan: TreatmentPlan, api: Any, nurse: Any) -> None:
    c1, c2 = _ev(plan, "cycle_day1", "neoadjuvant", 1), _ev(plan, "cycle_day1", "neoadjuvant", 2)
    assert (c1.planned_date, c2.planned_date) == (D(2026, 3, 17), D(2026, 4, 7))
    event_delay(event=c1, reason="ANC low", by=nurse, now=NOW)  # one week
    c1.refresh_from_db()
    c2.refresh_from_db()
    assert (c1.original_planned_date, c1.planned_date) == (D(2026, 3, 17), D(2026, 3, 24))
    assert (c2.original_planned_date, c2.planned_date) == (D(2026, 4, 7), D(2026, 4, 14))
    event_record_actual(event=c1, actual_date=D(2026, 3, 25), by=nurse, today=D(2026, 3, 25), confirm=True)
    c1.refresh_from_db()
    assert (c1.original_planned_date, c1.planned_date, c1.actual_date) == (
        D(2026, 3, 17),
        D(2026, 3, 24),
        D(2026, 3, 25),
    )
    body = api(nurse).get(f"/api/v1/participants/{plan.participant_id}/schedule/").json()
    row = next(e for e in body["events"] if e["id"] == c1.pk)
    assert (row["original_planned_date"], row["planned_date"], row["actual_date"]) == (
        "2026-03-17",
        "2026-03-24",
        "2026-03-25",
    )
    page = (
        _admin(nurse)
        .get(f"/admin/schedules/treatmentplan/participant/{plan.participant_id}/timeline/")
        .content.decode()
    )
    assert "Originally planned" in page and page.count('class="original-planned"') == 37


def test_remaking_the_plan_resets_the_original_dates(plan: TreatmentPlan, nurse: Any) -> None:
    treatment_plan_create(participant=plan.participant, scrt_start_date=D(2026, 3, 9), by=nurse, now=NOW)
    c1 = _ev(plan, "cycle_day1", "neoadjuvant", 1)
    assert c1.original_planned_date == c1.planned_date == D(2026, 3, 20)


# --- National calendar notices and site make-up working days --------------------------------


def test_load_the_2026_notice(
    db: Any, site: Any, capsys: pytest.CaptureFixture[str], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("load_national_calendar", str(CN_2026))
    notice = NationalCalendarYear.objects.get(country="CN", year=2026)
    # 3 + 9 + 3 + 5 + 3 + 3 + 7 days off; 6 make-up working days (notice of 4 November 2025).
    assert notice.days.filter(kind="holiday").count() == 33
    assert set(notice.days.filter(kind="working").values_list("date", flat=True)) == {
        D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)
    }  # fmt: skip
    assert len(callbacks) == 1  # the re-check task, after commit
    cal = selectors.working_calendar(site, [2026])
    assert not cal.is_working_day(D(2026, 2, 23)) and cal.is_working_day(D(2026, 2, 28))
    assert cal.is_working_day(D(2026, 2, 24))
    # Loading again replaces the year's days instead of adding to them.
    with django_capture_on_commit_callbacks():
        call_command("load_national_calendar", str(CN_2026))
    assert NationalCalendarDay.objects.count() == 39


def test_a_notice_overrides_the_package_and_replans_by_task(
    plan: TreatmentPlan, site: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    # Synthetic test data (not a real notice): a notice for 2026 that makes Tue 17 March a day
    # off. Cycle 1 (planned 17 March, not booked) moves to Wed 18 March when the task runs.
    # The worker's part, in this process: the job runs when the notice commits.
    monkeypatch.setattr(jobs, "_enqueue", lambda job_id: jobs.job_run(job_id, clock_now=lambda: NOW))
    with django_capture_on_commit_callbacks(execute=True):
        national_calendar_load(
            country="CN", year=2026, source="test notice", days=[(D(2026, 3, 17), "holiday", "test")], by=None
        )
    c1 = _ev(plan, "cycle_day1", "neoadjuvant", 1)
    assert (c1.original_planned_date, c1.planned_date) == (D(2026, 3, 17), D(2026, 3, 18))
    assert c1.ics_sequence == 1
    # The notice replaced the package for 2026: the Spring Festival of the package is gone.
    assert selectors.working_calendar(site, [2026]).is_working_day(D(2026, 2, 17))


def test_notice_refuses_bad_days_and_non_administrators(db: Any, nurse: Any) -> None:
    with pytest.raises(NotPermitted):
        national_calendar_load(country="CN", year=2026, source="x", days=[], by=nurse)
    from trialsite.errors import InvalidInput

    with pytest.raises(InvalidInput):  # a Wednesday cannot be a make-up working day; 2025 is not 2026
        national_calendar_load(
            country="CN",
            year=2026,
            source="x",
            days=[(D(2026, 3, 18), "working", ""), (D(2025, 12, 31), "holiday", "")],
            by=None,
        )
    assert not NationalCalendarYear.objects.exists()


def test_a_closure_replans_unbooked_events_and_lists_bookings(plan: TreatmentPlan, nurse: Any, site: Any) -> None:
    c1 = _ev(plan, "cycle_day1", "neoadjuvant", 1)
    closure = site_closure_create(site=site, date=D(2026, 3, 17), reason="inspection", by=nurse, now=NOW)
    jobs.job_run(closure.job.pk, clock_now=lambda: NOW)  # the background re-check
    c1.refresh_from_db()
    assert (c1.original_planned_date, c1.planned_date) == (D(2026, 3, 17), D(2026, 3, 18))
    # A booked event is not moved silently: the site calendar lists it for a person to move.
    booking = booking_create(event=c1, date=D(2026, 3, 19), time=dt.time(9), by=nurse, today=NOW.date())
    again = site_closure_create(site=site, date=D(2026, 3, 19), reason="power cut", by=nurse, now=NOW)
    jobs.job_run(again.job.pk, clock_now=lambda: NOW)
    assert selectors.booked_on_non_working_days(site, date_from=D(2026, 3, 1), date_to=D(2026, 3, 31)) == [booking]
    c1.refresh_from_db()
    assert c1.planned_date == D(2026, 3, 19)


def test_a_site_make_up_working_day_can_be_booked(plan: TreatmentPlan, api: Any, nurse: Any, site: Any) -> None:
    c1 = _ev(plan, "cycle_day1", "neoadjuvant", 1)  # window 17–24 March
    client = api(nurse)
    saturday = _book(client, c1, D(2026, 3, 21))
    assert (saturday.status_code, saturday.json()["code"]) == (422, "not_working_day")
    site_closure_create(site=site, date=D(2026, 3, 21), kind="working", reason="Saturday clinic", by=nurse)
    assert _book(client, c1, D(2026, 3, 21)).status_code == 201


# --- Opening hours (issue 12 §3) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("time", "status"), [("00:00", 422), ("07:29", 422), ("07:30", 201), ("17:29", 201), ("17:30", 422)]
)
def test_a_booking_outside_the_opening_hours_is_refused(
    plan: TreatmentPlan, api: Any, api_client_user: Any, time: str, status: int
) -> None:
    # The site's default hours, 07:30–17:30 local time.
    c1 = _ev(plan, "cycle_day1", "neoadjuvant", 1)
    response = _book(api(api_client_user), c1, c1.planned_date, time=time)
    assert response.status_code == status, response.json()
    if status == 422:
        assert response.json()["code"] == "outside_opening_hours"
        assert "time" in response.json()["errors"]


def test_moving_a_booking_outside_the_opening_hours_is_refused(
    plan: TreatmentPlan, api: Any, api_client_user: Any
) -> None:
    c1 = _ev(plan, "cycle_day1", "neoadjuvant", 1)
    client = api(api_client_user)
    created = _book(client, c1, c1.planned_date).json()
    moved = client.patch(f"{BOOKINGS}{created['id']}/", {"time": "23:00"}, format="json")
    assert (moved.status_code, moved.json()["code"]) == (422, "outside_opening_hours")


def test_an_administrator_enters_a_notice_in_the_admin(
    admin_client: Client, nurse: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(jobs, "_enqueue", queued.append)
    form = {
        "country": "CN",
        "year": "2026",
        "source": "test entry",
        "source_url": "",
        "published_on": "",
        "days-TOTAL_FORMS": "2",
        "days-INITIAL_FORMS": "0",
        "days-0-date": "2026-03-17",
        "days-0-kind": "holiday",
        "days-0-name": "test",
        "days-1-date": "2026-03-21",
        "days-1-kind": "working",
        "days-1-name": "test",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/schedules/nationalcalendaryear/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert NationalCalendarDay.objects.filter(calendar_year__year=2026).count() == 2
    job = TrialJob.objects.get(pk=queued[0])
    assert (job.kind, job.params) == (
        "plans_recheck",
        {"country": "CN", "date_from": "2026-01-01", "date_to": "2026-12-31"},
    )
    # A make-up working day on a weekday is refused on its row.
    bad = {**form, "year": "2025", "days-0-date": "2025-03-18", "days-1-date": "2025-03-19"}
    page = admin_client.post("/admin/schedules/nationalcalendaryear/add/", bad)
    assert page.status_code == 200 and "Saturday or a Sunday" in page.content.decode()
    # Staff other than administrators do not see it.
    assert _admin(nurse).get("/admin/schedules/nationalcalendaryear/").status_code == 403


def test_a_closure_on_a_start_not_yet_given_is_recorded_and_reported(
    plan: TreatmentPlan, nurse: Any, site: Any
) -> None:
    # SCRT starts Wed 4 March (not given yet); the site closes that day. The closure stands and
    # the plan is reported for re-planning instead of the closure being refused.
    closure = site_closure_create(site=site, date=D(2026, 3, 4), reason="power cut", by=nurse, now=NOW)
    assert closure.pk is not None
    jobs.job_run(closure.job.pk, clock_now=lambda: NOW)  # the background re-check
    closure.job.refresh_from_db()
    assert [r["item"] for r in closure.job.refusals] == [plan.pk]
    assert "2026-03-05" in closure.job.refusals[0]["message"]  # the next start that works


def test_a_site_closes_after_it_opens(site: Any) -> None:
    from django.core.exceptions import ValidationError

    site.opening_time, site.closing_time = dt.time(18), dt.time(8)
    with pytest.raises(ValidationError):
        site.full_clean()


def test_re_dating_a_fraction_by_booking_rechecks_the_overall_time(
    plan: TreatmentPlan, api: Any, nurse: Any, investigator: Any
) -> None:
    # Fractions Wed 4 – Tue 10 March. Fraction 5 booked on Wed 11 March is day 8: allowed.
    client = api(nurse)
    fifth = _fraction(plan, 5)
    ok = _book(client, fifth, D(2026, 3, 11))
    assert ok.status_code == 201, ok.json()
    assert ok.json()["deviation_reason"] == ""
    # Moved to Thu 12 March, day 9: refused, and nothing changed.
    late = client.patch(f"{BOOKINGS}{ok.json()['id']}/", {"date": "2026-03-12"}, format="json")
    assert (late.status_code, late.json()["code"]) == (422, "scrt_overall_time_exceeded")
    assert _fraction(plan, 5).planned_date == D(2026, 3, 11)
    # An investigator records the deviation.
    allowed = api(investigator).patch(
        f"{BOOKINGS}{ok.json()['id']}/", {"date": "2026-03-12", "deviation_reason": "linac repair"}, format="json"
    )
    assert allowed.status_code == 200, allowed.json()
    assert allowed.json()["deviation_reason"] == "linac repair"
    # While the fractions run past day 8, any further re-date needs its own deviation too.
    second = _book(client, _fraction(plan, 2), D(2026, 3, 6))
    assert (second.status_code, second.json()["code"]) == (422, "scrt_overall_time_exceeded")
