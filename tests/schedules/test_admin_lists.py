"""Admin lists and the participant's page make the same number of queries whatever the number of
rows (issue 16: every row decoded the protocol definition through an implicit select_related,
and the reminder list read each event's participant again)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from schedules.services.bookings import booking_create
from schedules.services.plans import treatment_plan_create
from tests.factories import record_labs
from tests.schedules.conftest import NOW, SCRT_START
from trialsite import services as registry
from trialsite.models import Participant

LISTS = [
    "/admin/schedules/scheduledevent/",
    "/admin/schedules/booking/",
    "/admin/reminders/reminder/",
    "/admin/schedules/treatmentplan/",
    "/admin/trialsite/participant/",
    "/admin/trialsite/measurement/",
    "/admin/trialsite/labresult/",
]


def _queries(client: Client, url: str) -> int:
    client.get(url)  # warm-up: per-process caches
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200, url
    return len(queries.captured_queries)


def _planned_and_booked(make_randomized: Callable[..., Participant], nurse: User) -> None:
    participant = make_randomized()
    participant.email, participant.reminders_by_email = "p@example.org", True
    participant.save(update_fields=["email", "reminders_by_email"])
    plan = treatment_plan_create(participant=participant, scrt_start_date=SCRT_START, by=nurse, now=NOW)
    event = plan.events.filter(kind="cycle_day1").order_by("order").first()
    assert event is not None
    booking_create(event=event, date=event.planned_date, time=dt.time(9), by=nurse, today=NOW.date())
    on = NOW.date()
    record_labs(participant, {"anc": "3.2", "platelets": "210", "creatinine": "80"}, on=on)
    registry.measurement_record(participant=participant, kind="weight", value="68", measured_on=on, by=None, today=on)


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def test_list_queries_do_not_grow_with_rows(make_randomized: Callable[..., Participant], nurse: User) -> None:
    superuser = User.objects.create_superuser("chief", "chief@example.org", "pw-for-tests-1")
    client = Client()
    client.force_login(superuser)
    # given one participant with a plan, a booking, reminders, labs and a weight
    _planned_and_booked(make_randomized, nurse)
    one = {url: _queries(client, url) for url in LISTS}
    # when there are three of them
    for _ in range(2):
        _planned_and_booked(make_randomized, nurse)
    three = {url: _queries(client, url) for url in LISTS}
    # then every list makes the same number of queries, a handful (a query per row would be
    # dozens: the events and reminders of one plan fill more than a page)
    assert three == one
    assert max(three.values()) <= 12, three


def test_the_participant_page_does_not_grow_with_its_rows(
    make_randomized: Callable[..., Participant], nurse: User
) -> None:
    superuser = User.objects.create_superuser("chief", "chief@example.org", "pw-for-tests-1")
    client = Client()
    client.force_login(superuser)
    participant = make_randomized()
    url = f"/admin/trialsite/participant/{participant.pk}/change/"
    on = NOW.date()

    def one_cycle(day: dt.date) -> None:
        record_labs(participant, {"anc": "3.2", "platelets": "210", "creatinine": "80"}, on=day)
        registry.measurement_record(
            participant=participant, kind="weight", value="68", measured_on=day, by=nurse, today=day
        )

    one_cycle(on)
    before = _queries(client, url)
    for days in range(1, 6):
        one_cycle(on - dt.timedelta(days=days))
    # Five more cycles of labs and weights (20 rows): the page's query count stays.
    assert _queries(client, url) == before


def test_the_reminder_list_sorts_reminders_alone_and_never_scans_them_for_its_filters(
    make_randomized: Callable[..., Participant], nurse: User
) -> None:
    # The page's rows are chosen on the reminder table alone (joined first, PostgreSQL joined every
    # reminder of the user's sites before sorting them), and the channel and event-kind filters
    # read their choices from the code and the rules, not a DISTINCT over every reminder (issue 16).
    _planned_and_booked(make_randomized, nurse)
    client = Client()
    client.force_login(nurse)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/reminders/reminder/")
    assert page.status_code == 200
    on_reminders = [q["sql"] for q in queries.captured_queries if 'FROM "reminders_reminder"' in q["sql"]]
    assert not any("DISTINCT" in sql for sql in on_reminders), on_reminders
    listing = [sql for sql in on_reminders if "ORDER BY" in sql]
    assert len(listing) == 1 and " JOIN " not in listing[0], listing
