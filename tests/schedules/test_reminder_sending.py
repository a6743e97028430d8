"""Dispatcher and send service in process (fake transports): claims, re-checks, retries with
backoff, permanent failures, expiry, duplicate task deliveries, concurrent dispatchers."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

import pytest
import time_machine
from django.db import connection

from schedules import reminder_services as rs
from schedules.models import Reminder, TreatmentPlan
from schedules.transports import OutgoingMessage, PermanentTransportError, TemporaryTransportError
from tests.schedules.conftest import NOW
from trialsite.models import Participant


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


class FakeTransport:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> str:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message)
        return f"id-{len(self.sent)}"


def _first(plan: TreatmentPlan) -> Reminder:
    return Reminder.objects.filter(participant=plan.participant, status="pending").order_by("send_at", "id").first()  # type: ignore[return-value]


def _dispatch(at: dt.datetime) -> tuple[rs.DispatchResult, list[int]]:
    published: list[int] = []

    def enqueue(ids: Sequence[int]) -> int:
        published.extend(ids)
        return len(ids)

    return rs.reminders_dispatch(now=at, enqueue=enqueue), published


def _send(pk: int, transport: FakeTransport, at: dt.datetime) -> rs.SendOutcome:
    return rs.reminder_send(reminder_id=pk, now=lambda: at, get_transport=lambda channel: transport)


def test_due_rows_are_claimed_once_and_sent_once(plan: TreatmentPlan) -> None:
    row = _first(plan)
    result, ids = _dispatch(row.send_at)
    assert ids == [row.pk] and result.claimed == 1
    assert _dispatch(row.send_at)[1] == []  # a second dispatcher run finds nothing new

    transport = FakeTransport()
    assert _send(row.pk, transport, row.send_at).status == "sent"
    assert _send(row.pk, transport, row.send_at).status == "skipped"  # the task delivered twice

    row.refresh_from_db()
    assert row.status == "sent" and row.provider_message_id == "id-1" and row.attempts == 1
    [message] = transport.sent
    assert message.to == plan.participant.phone and message.idempotency_key == row.idempotency_key
    assert "短程放疗第1次" in message.body  # the factory participant reads Chinese (the default)


def test_language_follows_the_participant(plan: TreatmentPlan) -> None:
    Participant.objects.filter(pk=plan.participant_id).update(preferred_language="zh-hans")
    row = _first(plan)
    _dispatch(row.send_at)
    transport = FakeTransport()
    _send(row.pk, transport, row.send_at)
    assert "提醒您" in transport.sent[0].body and "2026年3月4日" in transport.sent[0].body


def test_temporary_errors_back_off_then_fail_at_the_limit(plan: TreatmentPlan) -> None:
    row = _first(plan)
    Reminder.objects.filter(pk=row.pk).update(max_attempts=3)
    at = row.send_at
    transport = FakeTransport(*(TemporaryTransportError("451 try later") for _ in range(3)))

    for attempt, wait in [(1, 60), (2, 120)]:
        assert _dispatch(at)[1] == [row.pk]
        assert _send(row.pk, transport, at).status == "retry"
        row.refresh_from_db()
        assert (row.status, row.attempts, row.due_at - at) == ("pending", attempt, dt.timedelta(seconds=wait))
        assert _dispatch(at + dt.timedelta(seconds=wait - 1))[1] == []  # not before the backoff
        at += dt.timedelta(seconds=wait)

    _dispatch(at)
    assert _send(row.pk, transport, at).status == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and "451" in row.last_error
    assert _dispatch(at + dt.timedelta(hours=1))[1] == []


def test_a_permanent_error_fails_at_once_and_resend_brings_it_back(plan: TreatmentPlan) -> None:
    row = _first(plan)
    _dispatch(row.send_at)
    assert _send(row.pk, FakeTransport(PermanentTransportError("550 no such user")), row.send_at).status == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 1)

    later = row.send_at + dt.timedelta(hours=1)
    assert rs.reminder_resend(reminders_=[row], now=later) == 1
    assert _dispatch(later)[1] == [row.pk]
    assert _send(row.pk, FakeTransport(), later).status == "sent"


def test_too_late_is_expired_never_sent(plan: TreatmentPlan) -> None:
    row = _first(plan)
    result, ids = _dispatch(row.expires_at)
    assert ids == [] and result.expired >= 1
    row.refresh_from_db()
    assert row.status == "expired"


def test_a_row_cancelled_after_the_claim_is_not_sent(plan: TreatmentPlan, nurse: Any) -> None:
    from trialsite import services as registry

    row = _first(plan)
    _dispatch(row.send_at)
    # Withdrawal races the queued task: the sync cancels the queued row, the task finds nothing.
    registry.participant_withdraw(participant=plan.participant, reason="consent withdrawn", by=nurse, now=NOW)
    transport = FakeTransport()
    assert _send(row.pk, transport, row.send_at).status == "skipped"
    assert transport.sent == []


def test_a_lost_message_or_a_dead_worker_is_taken_back_after_the_lease(plan: TreatmentPlan) -> None:
    row = _first(plan)
    _dispatch(row.send_at)
    # The send task claimed it and died (no outcome recorded).
    Reminder.objects.filter(pk=row.pk).update(status="sending", lease_until=row.send_at + rs.SEND_LEASE)

    assert _dispatch(row.send_at + rs.SEND_LEASE - dt.timedelta(seconds=1))[1] == []
    assert _dispatch(row.send_at + rs.SEND_LEASE + dt.timedelta(seconds=1))[1] == [row.pk]


def test_a_broker_failure_puts_the_rows_back(plan: TreatmentPlan) -> None:
    row = _first(plan)

    def broken(ids: Sequence[int]) -> int:
        return 0

    result = rs.reminders_dispatch(now=row.send_at, enqueue=broken)
    assert (result.claimed, result.enqueued, result.released) == (1, 0, 1)
    row.refresh_from_db()
    assert row.status == "pending"


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_never_claim_the_same_row(make_randomized: Any, nurse: Any) -> None:
    from schedules import services

    participants = [make_randomized() for _ in range(3)]
    for p in participants:
        services.treatment_plan_create(participant=p, scrt_start_date=dt.date(2026, 3, 4), by=nurse, now=NOW)
    Reminder.objects.update(due_at=NOW)
    total = Reminder.objects.filter(status="pending").count()
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        try:
            barrier.wait()
            while ids := rs.reminders_claim_due(now=NOW, limit=7):
                claimed[i].extend(ids)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not set(claimed[0]) & set(claimed[1])
    assert len(claimed[0]) + len(claimed[1]) == total > 20
