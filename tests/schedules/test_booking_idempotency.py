"""Bookings take an Idempotency-Key as randomize does (issue 12 §8): a booking committed whose
answer was lost is retried to the same answer, not to `409 already_booked`."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import time_machine
from django.db import connection

from schedules.models import Booking, ScheduledEvent, SiteDay, TreatmentPlan
from tests.schedules.conftest import NOW
from trialsite.models import IdempotencyRecord, Site

URL = "/api/v1/bookings/"


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _c1(plan: TreatmentPlan) -> ScheduledEvent:
    return ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=1)


def _book(client: Any, event: ScheduledEvent, day: dt.date, key: str | None, time: str = "09:00") -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(URL, {"event": event.pk, "date": day.isoformat(), "time": time}, format="json", **headers)


def test_a_booking_whose_answer_was_lost_is_retried_to_the_same_answer(
    plan: TreatmentPlan, api: Any, api_client_user: Any, site: Site
) -> None:
    client = api(api_client_user)
    c1 = _c1(plan)
    # given: the booking committed, but the hospital system never read the answer
    lost = _book(client, c1, c1.planned_date, "his-7f3a")
    assert lost.status_code == 201
    # when: it sends the same request again with the same key
    retry = _book(client, c1, c1.planned_date, "his-7f3a")
    # then: the same 201 and body, marked as a replay; one booking, one chair
    assert retry.status_code == 201, retry.json()
    assert retry.json() == lost.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Booking.objects.count() == 1
    assert SiteDay.objects.get(site=site, date=c1.planned_date).infusions == 1


def test_without_a_key_the_retry_is_told_already_booked(plan: TreatmentPlan, api: Any, api_client_user: Any) -> None:
    client = api(api_client_user)
    c1 = _c1(plan)
    assert _book(client, c1, c1.planned_date, None).status_code == 201
    again = _book(client, c1, c1.planned_date, None)
    assert (again.status_code, again.json()["code"]) == (409, "already_booked")


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    plan: TreatmentPlan, api: Any, api_client_user: Any
) -> None:
    client = api(api_client_user)
    c1 = _c1(plan)
    first = _book(client, c1, c1.planned_date, "k-1").json()
    other = _book(client, c1, c1.planned_date, "k-1", time="14:00")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in other.json()["errors"]
    assert Booking.objects.get().time == dt.time(9, 0) and Booking.objects.get().pk == first["id"]
    # ...and on another endpoint (the key of the booking reused to cancel it)
    cancel = client.delete(f"{URL}{first['id']}/", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (cancel.status_code, cancel.json()["code"]) == (422, "idempotency_key_reused")
    assert Booking.objects.get().status == "active"


def test_a_move_is_replayed_not_repeated(plan: TreatmentPlan, api: Any, api_client_user: Any, site: Site) -> None:
    client = api(api_client_user)
    c1 = _c1(plan)
    booking = _book(client, c1, c1.planned_date, None).json()
    url = f"{URL}{booking['id']}/"
    moved = client.patch(url, {"date": "2026-03-19", "time": "13:00"}, format="json", HTTP_IDEMPOTENCY_KEY="mv-1")
    assert moved.status_code == 200, moved.json()
    c1.refresh_from_db()
    sequence = c1.ics_sequence
    again = client.patch(url, {"date": "2026-03-19", "time": "13:00"}, format="json", HTTP_IDEMPOTENCY_KEY="mv-1")
    assert (again.status_code, again.json()) == (200, moved.json())
    assert again["Idempotent-Replayed"] == "true"
    c1.refresh_from_db()
    assert c1.ics_sequence == sequence  # not moved a second time (calendars not re-sent)
    assert SiteDay.objects.get(site=site, date=dt.date(2026, 3, 19)).infusions == 1


def test_a_cancel_is_replayed(plan: TreatmentPlan, api: Any, api_client_user: Any) -> None:
    client = api(api_client_user)
    c1 = _c1(plan)
    booking = _book(client, c1, c1.planned_date, None).json()
    url = f"{URL}{booking['id']}/"
    assert client.delete(url, HTTP_IDEMPOTENCY_KEY="cx-1").status_code == 204
    again = client.delete(url, HTTP_IDEMPOTENCY_KEY="cx-1")
    assert again.status_code == 204 and again["Idempotent-Replayed"] == "true"
    assert Booking.objects.get().status == "cancelled"


def test_keys_belong_to_their_client(
    plan: TreatmentPlan, api: Any, api_client_user: Any, make_user: Any, site: Site
) -> None:
    c1 = _c1(plan)
    assert _book(api(api_client_user), c1, c1.planned_date, "shared").status_code == 201
    # another client's request with the same key is its own request: it books (and is refused) afresh
    other = _book(api(make_user("api_client", [site])), c1, c1.planned_date, "shared")
    assert (other.status_code, other.json()["code"]) == (409, "already_booked")


def test_a_refused_request_is_not_remembered(plan: TreatmentPlan, api: Any, api_client_user: Any) -> None:
    client = api(api_client_user)
    c1 = _c1(plan)
    saturday = dt.date(2026, 3, 21)
    assert _book(client, c1, saturday, "k-sat").status_code == 422
    assert not IdempotencyRecord.objects.exists()


def test_an_overlong_key_is_refused(plan: TreatmentPlan, api: Any, api_client_user: Any) -> None:
    c1 = _c1(plan)
    response = _book(api(api_client_user), c1, c1.planned_date, "k" * 201)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]
    assert not Booking.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_key_sent_concurrently_books_once_and_answers_alike(
    plan: TreatmentPlan, api: Any, api_client_user: Any, site: Site
) -> None:
    c1 = _c1(plan)
    answers: list[tuple[int, Any]] = []
    barrier = threading.Barrier(6)

    def book() -> None:
        try:
            barrier.wait(timeout=10)
            response = _book(api(api_client_user), c1, c1.planned_date, "burst")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=book) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in answers] == [201] * 6, answers
    assert all(body == answers[0][1] for _, body in answers)
    assert Booking.objects.count() == 1
    assert SiteDay.objects.get(site=site, date=c1.planned_date).infusions == 1
