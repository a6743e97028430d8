"""Bookings through the API: windows, working days, capacity, duplicates, withdrawal, moves,
cancellation, roles and site scoping; and capacity under 30 concurrent requests."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.db import connection

from schedules.models import Booking, ScheduledEvent, SiteDay, TreatmentPlan
from schedules.services.bookings import booking_cancel, booking_create, booking_move
from schedules.services.closures import site_closure_create
from schedules.services.plans import treatment_plan_create
from tests.schedules.conftest import NOW, SCRT_START
from trialsite import services as registry
from trialsite.models import Participant, Site

D = dt.date
URL = "/api/v1/bookings/"


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    # The doors read the clock: Monday 2 March 2026 in Shanghai.
    with time_machine.travel(NOW, tick=False):
        yield


def _c(plan: TreatmentPlan, phase: str = "neoadjuvant", number: int = 1) -> ScheduledEvent:
    return ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase=phase, number=number)


def _book(client: Any, event: ScheduledEvent, day: dt.date, time: str = "09:00", **extra: Any) -> Any:
    return client.post(URL, {"event": event.pk, "date": day.isoformat(), "time": time, **extra}, format="json")


def test_book_a_cycle_day1(plan: TreatmentPlan, api: Any, api_client_user: Any) -> None:
    c1 = _c(plan)
    day = c1.planned_date + dt.timedelta(days=1)  # Wed 18 Mar, inside the 7–14-day window
    response = _book(api(api_client_user), c1, day, "08:30")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["date"] == day.isoformat() and body["uses_infusion_chair"] is True
    assert body["start"] == f"{day.isoformat()}T08:30:00+08:00"
    c1.refresh_from_db()
    assert c1.status == "booked" and c1.planned_date == day and c1.ics_sequence == 1
    # Cycle 2 now follows the booked day 1.
    assert _c(plan, number=2).target_date == day + dt.timedelta(days=21)
    assert SiteDay.objects.get(site=plan.participant.site, date=day).infusions == 1


@pytest.mark.parametrize(
    ("day", "status", "code"),
    [
        (D(2026, 3, 21), 422, "not_working_day"),  # Saturday
        (D(2026, 3, 27), 422, "outside_window"),  # window 17–24 March
        (D(2026, 2, 27), 422, "date_in_past"),
    ],
)
def test_refusals(plan: TreatmentPlan, api: Any, api_client_user: Any, day: dt.date, status: int, code: str) -> None:
    response = _book(api(api_client_user), _c(plan), day)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert not Booking.objects.exists()


def test_already_booked_is_409(plan: TreatmentPlan, api: Any, api_client_user: Any) -> None:
    client = api(api_client_user)
    c1 = _c(plan)
    assert _book(client, c1, c1.planned_date).status_code == 201
    response = _book(client, c1, c1.planned_date + dt.timedelta(days=1))
    assert (response.status_code, response.json()["code"]) == (409, "already_booked")


def test_capacity_full_is_409(plan: TreatmentPlan, api: Any, api_client_user: Any, site: Site) -> None:
    Site.objects.filter(pk=site.pk).update(infusion_chairs_per_day=1)
    client = api(api_client_user)
    day = _c(plan).planned_date
    assert _book(client, _c(plan), day).status_code == 201
    other = _other_plan(plan, api_client_user)
    response = _book(client, _c(other), day)
    assert (response.status_code, response.json()["code"]) == (409, "capacity_full")


def _other_plan(plan: TreatmentPlan, user: Any) -> TreatmentPlan:
    from tests.factories import ParticipantFactory
    from tests.schedules.conftest import randomize

    p = randomize(ParticipantFactory(trial=plan.participant.trial, site=plan.participant.site))
    return treatment_plan_create(participant=p, scrt_start_date=SCRT_START, by=None, now=NOW)


def test_withdrawn_participant_is_409(plan: TreatmentPlan, api: Any, api_client_user: Any, nurse: Any) -> None:
    registry.participant_withdraw(participant=plan.participant, reason="moved away", by=nurse, now=NOW)
    response = _book(api(api_client_user), _c(plan), _c(plan).planned_date)
    assert (response.status_code, response.json()["code"]) == (409, "participant_withdrawn")


def test_investigator_books_outside_the_window_with_a_deviation(
    plan: TreatmentPlan, api: Any, investigator: Any, nurse: Any
) -> None:
    c1 = _c(plan)
    late = D(2026, 3, 27)
    # A nurse cannot, even with a reason.
    refused = _book(api(nurse), c1, late, deviation_reason="patient travelling")
    assert (refused.status_code, refused.json()["code"]) == (422, "outside_window")
    response = _book(api(investigator), c1, late, deviation_reason="patient travelling")
    assert response.status_code == 201
    booking = Booking.objects.get()
    assert booking.deviation_reason == "patient travelling" and booking.deviation_recorded_by == investigator


def test_move_rechecks_and_moves_the_chair(plan: TreatmentPlan, api: Any, api_client_user: Any, site: Site) -> None:
    client = api(api_client_user)
    c1 = _c(plan)
    first = _book(client, c1, c1.planned_date).json()
    # Saturday refused, booking unchanged.
    bad = client.patch(f"{URL}{first['id']}/", {"date": "2026-03-21"}, format="json")
    assert bad.status_code == 422
    moved = client.patch(f"{URL}{first['id']}/", {"date": "2026-03-19", "time": "13:00"}, format="json")
    assert moved.status_code == 200, moved.json()
    assert moved.json()["date"] == "2026-03-19" and moved.json()["time"] == "13:00:00"
    assert SiteDay.objects.get(site=site, date=c1.planned_date).infusions == 0
    assert SiteDay.objects.get(site=site, date=D(2026, 3, 19)).infusions == 1
    c1.refresh_from_db()
    assert c1.planned_date == D(2026, 3, 19) and c1.ics_sequence == 2


def test_cancel_frees_the_chair_and_keeps_the_row(
    plan: TreatmentPlan, api: Any, api_client_user: Any, site: Site
) -> None:
    client = api(api_client_user)
    c1 = _c(plan)
    original = c1.planned_date
    first = _book(client, c1, original + dt.timedelta(days=2)).json()
    assert client.delete(f"{URL}{first['id']}/").status_code == 204
    booking = Booking.objects.get()
    assert booking.status == "cancelled"
    assert SiteDay.objects.get(site=site, date=original + dt.timedelta(days=2)).infusions == 0
    c1.refresh_from_db()
    # The event falls back to its protocol date.
    assert c1.status == "planned" and c1.planned_date == original


def test_roles_and_site_scoping(
    plan: TreatmentPlan, api: Any, pharmacist: Any, other_nurse: Any, api_client_user: Any, make_user: Any
) -> None:
    c1 = _c(plan)
    assert _book(api(pharmacist), c1, c1.planned_date).status_code == 403
    # Another site's event does not exist for this nurse.
    assert _book(api(other_nurse), c1, c1.planned_date).status_code == 404
    created = _book(api(api_client_user), c1, c1.planned_date).json()
    assert api(other_nurse).get(f"{URL}{created['id']}/").status_code == 404
    assert api(other_nurse).get(URL).json()["count"] == 0
    assert api(pharmacist).get(URL).json()["count"] == 1
    assert api(None).get(URL).status_code in (401, 403)


def test_schedule_endpoint_and_plan_creation(
    randomized: Participant, api: Any, nurse: Any, api_client_user: Any
) -> None:
    url = f"/api/v1/participants/{randomized.pk}/schedule/"
    assert api(nurse).get(url).json()["plan"] is None
    assert api(api_client_user).post(url, {"scrt_start_date": "2026-03-04"}, format="json").status_code == 403
    refused = api(nurse).post(url, {"scrt_start_date": "2026-09-28"}, format="json")
    assert refused.status_code == 422 and refused.json()["next_start_date"] == "2026-10-08"
    created = api(nurse).post(url, {"scrt_start_date": "2026-03-04"}, format="json")
    assert created.status_code == 201
    events = api(api_client_user).get(url).json()["events"]
    assert len(events) == 37
    c1 = next(e for e in events if e["kind"] == "cycle_day1")
    assert c1["details"]["day1_drugs"] == ["oxaliplatin", "serplulimab"] and c1["booking"] is None


def test_delay_through_the_api(plan: TreatmentPlan, api: Any, nurse: Any, api_client_user: Any) -> None:
    c2 = _c(plan, number=2)
    url = f"/api/v1/schedule-events/{c2.pk}/delay/"
    assert api(api_client_user).post(url, {"reason": "x"}, format="json").status_code == 403
    response = api(nurse).post(url, {"reason": "platelets 80"}, format="json")
    assert response.status_code == 200
    assert response.json()["planned_date"] == (c2.planned_date + dt.timedelta(days=7)).isoformat()


@pytest.mark.django_db(transaction=True)
def test_capacity_holds_under_30_concurrent_bookings(
    trial: Any, site: Site, make_user: Callable[..., Any], api: Any
) -> None:
    # given 30 participants whose cycle 1 day-1 windows all include Wed 18 March, 10 chairs
    from tests.factories import ParticipantFactory
    from tests.schedules.conftest import randomize

    Site.objects.filter(pk=site.pk).update(infusion_chairs_per_day=10)
    user = make_user("api_client", [site])
    events = []
    for _ in range(30):
        p = randomize(ParticipantFactory(trial=trial, site=site))
        plan = treatment_plan_create(participant=p, scrt_start_date=SCRT_START, by=None, now=NOW)
        events.append(_c(plan))
    day = D(2026, 3, 18)
    results: list[int] = []
    barrier = threading.Barrier(30)

    def book(event: ScheduledEvent) -> None:
        try:
            barrier.wait()
            response = _book(api(user), event, day)
            results.append(response.status_code)
        finally:
            connection.close()

    # when they are all booked at the same moment
    threads = [threading.Thread(target=book, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then exactly 10 succeed and 20 are told the day is full
    assert sorted(results) == [201] * 10 + [409] * 20
    assert Booking.objects.filter(date=day, status="active").count() == 10
    assert SiteDay.objects.get(site=site, date=day).infusions == 10


def test_a_site_closure_refuses_bookings_that_day(
    plan: TreatmentPlan, api: Any, api_client_user: Any, nurse: Any
) -> None:
    c1 = _c(plan)
    site_closure_create(site=plan.participant.site, date=c1.planned_date, reason="inspection", by=nurse)
    response = _book(api(api_client_user), c1, c1.planned_date)
    assert (response.status_code, response.json()["code"]) == (422, "not_working_day")


def test_spring_festival_make_up_saturday_is_bookable(make_randomized: Any, api: Any, investigator: Any) -> None:
    # Sat 14 Feb 2026 is an official make-up working day (State Council notice for 2026), so an
    # investigator can book it (outside the window here: with a recorded deviation); Sun 15 Feb is not.
    p = make_randomized()
    with time_machine.travel(dt.datetime(2026, 1, 5, 1, tzinfo=dt.UTC), tick=False):
        plan = treatment_plan_create(
            participant=p, scrt_start_date=D(2026, 1, 5), by=None, now=NOW.replace(month=1, day=5)
        )
        client = api(investigator)
        c1 = _c(plan)
        ok = _book(client, c1, D(2026, 2, 14), deviation_reason="before the holiday")
        assert ok.status_code == 201, ok.json()
        event = _c(plan, number=2)
        sunday = _book(client, event, D(2026, 2, 15), deviation_reason="x")
        assert (sunday.status_code, sunday.json()["code"]) == (422, "not_working_day")


def test_booking_queries_do_not_grow_with_the_plan_or_its_reminders(
    plan: TreatmentPlan, api: Any, api_client_user: Any, django_assert_max_num_queries: Any
) -> None:
    # 37 events and their reminder rows; a booking re-plans the whole calendar in a fixed number
    # of statements and re-syncs the reminders of the events it changed only. Counted inside the
    # test's transaction (the service's atomic block and the booking's insert each add a
    # SAVEPOINT and a RELEASE): the token with the caller's roles and sites, the event; locks of
    # participant and event, the duplicate check, the site's closures and national notices; the
    # booking and its history row; the plan's events, the event and its history row, rules,
    # closures and notices; the
    # reminders (participant, plan, rules, the events, their rows); the chair (site, day row,
    # count); the response's site; the service's own permission check (trialsite.roles.require:
    # the user's and the groups' permissions, once per request).
    client = api(api_client_user)
    c1 = _c(plan)
    with django_assert_max_num_queries(30):
        created = _book(client, c1, c1.planned_date)  # nothing else moves
    assert created.status_code == 201
    with django_assert_max_num_queries(23):
        assert client.delete(f"{URL}{created.json()['id']}/").status_code == 204
    # A day later: 30 events move (one bulk update and one history insert), their reminders are
    # re-made (one cancel, one insert), and dosing looks for the sheet of each of the 8 cycles
    # whose day 1 moved (3 statements each).
    with django_assert_max_num_queries(30 + 4 + 8 * 3):
        created = _book(client, c1, c1.planned_date + dt.timedelta(days=1))
    assert created.status_code == 201
    with django_assert_max_num_queries(23 + 4 + 8 * 3):
        assert client.delete(f"{URL}{created.json()['id']}/").status_code == 204


@pytest.mark.django_db(transaction=True)
def test_bookings_lock_the_site_day_last_and_never_the_site_or_protocol(
    trial: Any, site: Site, make_user: Callable[..., Any]
) -> None:
    """Every booking of a site and day queues on its SiteDay row, so a booking, move or
    cancellation must not hold it while it re-plans and re-syncs reminders; and the rows all
    participants share (their site, the protocol version) must not be locked at all. Probed
    from another connection when plan_changed is sent (the reminders' sync runs in its
    receiver): those rows can still be locked there without waiting."""
    import psycopg

    from tests.factories import ParticipantFactory
    from tests.schedules.conftest import randomize
    from trialsite.signals import plan_changed

    nurse = make_user("research_nurse", [site])
    plans = [
        treatment_plan_create(
            participant=randomize(ParticipantFactory(trial=trial, site=site)),
            scrt_start_date=SCRT_START,
            by=None,
            now=NOW,
        )
        for _ in range(2)
    ]
    day, later = D(2026, 3, 18), D(2026, 3, 19)
    booking_create(event=_c(plans[0]), date=day, time=dt.time(9), by=nurse, today=NOW.date())
    SiteDay.objects.get_or_create(site=site, date=later, defaults={"chairs": site.infusion_chairs_per_day})
    days = list(SiteDay.objects.filter(site=site, date__in=[day, later]).values_list("pk", flat=True))
    shared = {
        "site days": ("SELECT 1 FROM schedules_siteday WHERE id = ANY(%s) FOR UPDATE NOWAIT", [days]),
        # a foreign-key check (a booking or reminder inserted for another participant) takes KEY SHARE
        "site": ("SELECT 1 FROM trialsite_site WHERE id = %s FOR KEY SHARE NOWAIT", [site.pk]),
        "protocol": (
            "SELECT 1 FROM trialsite_protocolversion WHERE id = %s FOR UPDATE NOWAIT",
            [plans[1].participant.protocol_version_id],
        ),
    }
    db = connection.settings_dict
    seen: list[list[str]] = []

    def probe(sender: Any, **kwargs: Any) -> None:
        locked = []
        with psycopg.connect(
            dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"]
        ) as other:
            for name, (sql, params) in shared.items():
                try:
                    with other.transaction():
                        other.execute(sql, params)
                except psycopg.errors.LockNotAvailable:
                    locked.append(name)
        seen.append(locked)

    plan_changed.connect(probe, weak=False, dispatch_uid="test-probe-shared-rows")
    try:
        booked = booking_create(event=_c(plans[1]), date=day, time=dt.time(10), by=nurse, today=NOW.date())
        moved = booking_move(booking=booked, date=later, by=nurse, today=NOW.date())
        booking_cancel(booking=moved, by=nurse, now=NOW)
    finally:
        plan_changed.disconnect(dispatch_uid="test-probe-shared-rows")

    assert seen == [[], [], []]  # create, move, cancel: nothing shared was locked yet
    assert SiteDay.objects.get(site=site, date=day).infusions == 1  # plans[0]'s booking
    assert SiteDay.objects.get(site=site, date=later).infusions == 0
