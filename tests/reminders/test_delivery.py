"""Reminders end to end with real parts: a Celery worker process on the real Redis broker, the
test database, and an SMTP server on loopback that records what it receives. Faults: a dead
broker, a worker killed with SIGKILL in the middle of a batch, SMTP 4xx then 2xx, SMTP 5xx.

The dispatcher runs in the test process (it is what beat calls every minute) with a chosen
`now`, so a reminder months ahead can be made due; the worker's send task reads the real clock."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from reminders import services as rs
from reminders.models import Reminder
from reminders.tasks import publish_sends
from schedules.models import ScheduledEvent, TreatmentPlan
from schedules.services.bookings import booking_create, booking_move
from schedules.services.plans import treatment_plan_create
from tests.factories import ParticipantFactory
from tests.schedules.conftest import randomize
from tests.support.smtp import SmtpSink, _Handler
from tests.support.worker import Worker, wait_for
from trialsite import clock
from trialsite import services as registry

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


class SlowHandler(_Handler):
    """Takes `delay` seconds per message, so a worker can be killed while a batch is running."""

    delay: float = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    s = SmtpSink()
    s.handler = SlowHandler()
    s.controller.handler = s.handler
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def worker(django_db_setup: Any, django_db_blocker: Any, sink: SmtpSink) -> Iterator[Worker]:
    w = Worker(name="reminders", queues="reminders", concurrency=2, EMAIL_URL=sink.url).start()
    yield w
    w.stop()


@pytest.fixture(autouse=True)
def _clean_sink(sink: SmtpSink) -> None:
    sink.clear()
    sink.handler.delay = 0.0  # type: ignore[attr-defined]


def _plan(trial: Any, site: Any, nurse: Any, *, start_in_days: int = 10) -> TreatmentPlan:
    """An email-only participant whose plan starts in the (real) future."""
    participant = randomize(
        ParticipantFactory(
            trial=trial,
            site=site,
            reminders_by_sms=False,
            reminders_by_email=True,
            email="p@example.org",
            preferred_language="en",
        )
    )
    now = clock.now()
    start = clock.today() + dt.timedelta(days=start_in_days)
    while start.weekday() >= 5:
        start += dt.timedelta(days=1)
    for _ in range(30):
        try:
            return treatment_plan_create(participant=participant, scrt_start_date=start, by=nurse, now=now)
        except Exception:  # a holiday: try the next day
            start += dt.timedelta(days=1)
    raise AssertionError("no SCRT start date found")


def _dispatch(at: dt.datetime, **kw: Any) -> rs.DispatchResult:
    return rs.reminders_dispatch(now=at, enqueue=lambda ids: publish_sends(ids, **kw))


def _ids(sink: SmtpSink) -> Counter[str]:
    return Counter(str(m.message["Message-ID"]) for m in sink.received)


def _key(row: Reminder) -> str:
    return f"<reminder-{row.idempotency_key}@trialsite>"


def _make_due(rows: list[Reminder]) -> dt.datetime:
    """Make these rows due now (they are otherwise days ahead); returns that moment."""
    now = clock.now()
    Reminder.objects.filter(pk__in=[r.pk for r in rows]).update(due_at=now)
    return now


def test_due_reminders_arrive_exactly_once(worker: Worker, sink: SmtpSink, trial: Any, site: Any, nurse: Any) -> None:
    plan = _plan(trial, site, nurse)
    rows = list(Reminder.objects.filter(participant=plan.participant, status="pending").order_by("send_at")[:4])
    at = _make_due(rows)

    assert _dispatch(at).enqueued == 4
    # A second dispatcher tick and a duplicated task message change nothing.
    assert _dispatch(at).claimed == 0
    publish_sends([rows[0].pk])

    wait_for(lambda: Reminder.objects.filter(pk__in=[r.pk for r in rows], status="sent").count() == 4, timeout=30)
    wait_for(lambda: len(sink.received) >= 4, timeout=10)
    assert _ids(sink) == Counter({_key(r): 1 for r in rows})
    assert all(m.rcpt_tos == ["p@example.org"] for m in sink.received)
    assert (
        not Reminder.objects.filter(participant=plan.participant)
        .exclude(pk__in=[r.pk for r in rows])
        .filter(status="sent")
        .exists()
    )


def test_a_moved_visit_gets_the_new_time_and_a_cancelled_one_nothing(
    worker: Worker, sink: SmtpSink, trial: Any, site: Any, nurse: Any
) -> None:
    moved = _plan(trial, site, nurse)
    cancelled = _plan(trial, site, nurse)
    c1 = ScheduledEvent.objects.get(plan=moved, kind="cycle_day1", phase="neoadjuvant", number=1)
    old_day = c1.planned_date
    booking = booking_create(event=c1, date=old_day, time=dt.time(8, 30), by=nurse, today=clock.today())
    new_day = next(
        d
        for d in (old_day + dt.timedelta(days=i) for i in range(1, 8))
        if c1.window_start <= d <= c1.window_end and d.weekday() < 5
    )
    booking_move(booking=booking, date=new_day, time=dt.time(10, 15), by=nurse, today=clock.today())
    registry.participant_withdraw(
        participant=cancelled.participant, reason="consent withdrawn", by=nurse, now=clock.now()
    )

    live_c1 = list(Reminder.objects.filter(event=c1, rule__template="visit").exclude(status="cancelled"))
    assert {r.event_date for r in live_c1} == {new_day}
    Reminder.objects.filter(participant=cancelled.participant).update(due_at=clock.now())  # cancelled rows too
    at = _make_due(live_c1)

    _dispatch(at)

    wait_for(lambda: len(sink.received) >= len(live_c1), timeout=30)
    bodies = [m.body for m in sink.received]
    assert len(bodies) == 2
    assert all(f"{new_day:%-d %B %Y}" in b and "10:15" in b for b in bodies)
    assert not any(f"{old_day:%-d %B %Y}" in b for b in bodies)
    assert not Reminder.objects.filter(participant=cancelled.participant, status__in=["sent", "queued"]).exists()


def test_a_dead_broker_does_not_lose_reminders(
    worker: Worker, sink: SmtpSink, trial: Any, site: Any, nurse: Any
) -> None:
    # given the broker is down: bookings still work and make their reminder rows
    plan = _plan(trial, site, nurse)
    c1 = ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=1)
    booking_create(event=c1, date=c1.planned_date, time=dt.time(9, 0), by=nurse, today=clock.today())
    rows = list(Reminder.objects.filter(event=c1, status="pending"))
    assert len(rows) == 3
    at = _make_due(rows)

    # when the dispatcher runs, nothing can be enqueued and the rows go back to pending
    down = _dispatch(at, broker_url=DEAD_BROKER)
    assert (down.claimed, down.enqueued, down.released) == (3, 0, 3)
    assert set(Reminder.objects.filter(event=c1).values_list("status", flat=True)) == {"pending"}

    # then once the broker is back, the next run delivers each one once
    assert _dispatch(at + dt.timedelta(minutes=1)).enqueued == 3
    wait_for(lambda: len(sink.received) >= 3, timeout=30)
    wait_for(lambda: Reminder.objects.filter(event=c1, status="sent").count() == 3, timeout=10)
    assert _ids(sink) == Counter({_key(r): 1 for r in rows})


def test_smtp_4xx_then_2xx_delivers_once_after_a_retry(
    worker: Worker, sink: SmtpSink, trial: Any, site: Any, nurse: Any
) -> None:
    plan = _plan(trial, site, nurse)
    row = Reminder.objects.filter(participant=plan.participant, status="pending").order_by("send_at").first()
    assert row is not None
    at = _make_due([row])
    sink.fail("451 4.3.0 Temporary failure, try later")

    _dispatch(at)
    wait_for(lambda: Reminder.objects.filter(pk=row.pk, attempts=1, status="pending").exists(), timeout=30)
    row.refresh_from_db()
    assert "451" in row.last_error and row.due_at > clock.now() + dt.timedelta(seconds=30)
    assert _dispatch(clock.now()).claimed == 0  # not before the backoff

    _dispatch(row.due_at)
    wait_for(lambda: Reminder.objects.filter(pk=row.pk, status="sent").exists(), timeout=30)
    assert _ids(sink) == Counter({_key(row): 1})


def test_smtp_5xx_fails_without_retrying(worker: Worker, sink: SmtpSink, trial: Any, site: Any, nurse: Any) -> None:
    plan = _plan(trial, site, nurse)
    row = Reminder.objects.filter(participant=plan.participant, status="pending").order_by("send_at").first()
    assert row is not None
    at = _make_due([row])
    sink.fail("550 5.1.1 No such user")

    _dispatch(at)
    wait_for(lambda: Reminder.objects.filter(pk=row.pk, status="failed").exists(), timeout=30)
    row.refresh_from_db()
    assert row.attempts == 1 and "550" in row.last_error
    assert _dispatch(at + dt.timedelta(hours=1)).claimed == 0
    assert sink.received == []


# --- Batches: several reminders per send task, one SMTP session per batch ---------------------


def _batch_of(plan: TreatmentPlan, n: int) -> tuple[list[Reminder], dt.datetime]:
    rows = list(Reminder.objects.filter(participant=plan.participant, status="pending").order_by("send_at", "id")[:n])
    assert len(rows) == n
    return rows, _make_due(rows)


def _settled(rows: list[Reminder]) -> dict[int, str]:
    return dict(Reminder.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", "status"))


def test_a_batch_of_20_arrives_exactly_once_over_one_smtp_session(
    worker: Worker, sink: SmtpSink, trial: Any, site: Any, nurse: Any
) -> None:
    plan = _plan(trial, site, nurse)
    rows, at = _batch_of(plan, 20)

    result = _dispatch(at, batch=50)
    assert (result.claimed, result.enqueued) == (20, 20)
    publish_sends([r.pk for r in rows], batch=50)  # the same batch's message delivered twice

    wait_for(lambda: set(_settled(rows).values()) == {"sent"}, timeout=30, message="20 sent")
    wait_for(lambda: len(sink.received) >= 20, timeout=10)
    assert _ids(sink) == Counter({_key(r): 1 for r in rows})
    assert len({m.peer for m in sink.received}) == 1  # one SMTP session for the whole batch
    assert {r.attempts for r in Reminder.objects.filter(pk__in=[r.pk for r in rows])} == {1}


def test_a_5xx_in_a_batch_fails_only_that_row(
    worker: Worker, sink: SmtpSink, trial: Any, site: Any, nurse: Any
) -> None:
    plan = _plan(trial, site, nurse)
    rows, at = _batch_of(plan, 20)
    refused = rows[7]
    sink.fail_message(_key(refused), "550 5.1.1 No such user")

    _dispatch(at, batch=50)

    wait_for(lambda: "queued" not in _settled(rows).values() and "sending" not in _settled(rows).values(), timeout=30)
    statuses = _settled(rows)
    assert statuses.pop(refused.pk) == "failed"
    assert set(statuses.values()) == {"sent"}
    refused.refresh_from_db()
    assert refused.attempts == 1 and "550" in refused.last_error
    wait_for(lambda: len(sink.received) >= 19, timeout=10)
    assert _ids(sink) == Counter({_key(r): 1 for r in rows if r.pk != refused.pk})
    assert _dispatch(at + dt.timedelta(hours=1)).claimed == 0  # never retried


def test_a_4xx_in_a_batch_retries_that_row_alone_and_it_arrives_once(
    worker: Worker, sink: SmtpSink, trial: Any, site: Any, nurse: Any
) -> None:
    plan = _plan(trial, site, nurse)
    rows, at = _batch_of(plan, 20)
    busy = rows[12]
    sink.fail_message(_key(busy), "451 4.3.0 Temporary failure, try later")

    _dispatch(at, batch=50)

    wait_for(lambda: list(_settled(rows).values()).count("sent") == 19, timeout=30, message="the 19 others sent")
    wait_for(lambda: Reminder.objects.filter(pk=busy.pk, status="pending", attempts=1).exists(), timeout=10)
    busy.refresh_from_db()
    assert "451" in busy.last_error and busy.due_at > clock.now() + dt.timedelta(seconds=30)
    assert _dispatch(clock.now()).claimed == 0  # not before its backoff

    assert _dispatch(busy.due_at, batch=50).claimed == 1
    wait_for(lambda: Reminder.objects.filter(pk=busy.pk, status="sent").exists(), timeout=30)
    wait_for(lambda: len(sink.received) >= 20, timeout=10)
    assert _ids(sink) == Counter({_key(r): 1 for r in rows})
    busy.refresh_from_db()
    assert busy.attempts == 2
