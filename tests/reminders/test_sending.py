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

from reminders import services as rs
from reminders.models import Reminder, ReminderRule
from schedules.models import TreatmentPlan
from tests.schedules.conftest import NOW
from trialsite.models import Participant
from trialsite.transports import OutgoingMessage, PermanentTransportError, TemporaryTransportError


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
    return rs.reminders_send(reminder_ids=[pk], now=lambda: at, get_transport=lambda channel: transport)[pk]


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
    assert rs.reminder_resend(by=None, reminders_=[row], now=later) == 1
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
    from schedules.services.plans import treatment_plan_create

    participants = [make_randomized() for _ in range(3)]
    for p in participants:
        treatment_plan_create(participant=p, scrt_start_date=dt.date(2026, 3, 4), by=nurse, now=NOW)
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


# --- Batches ---------------------------------------------------------------------------------


class KeyedTransport(FakeTransport):
    """Raises the given error for the message of one reminder (by idempotency key), once."""

    def __init__(self, errors: dict[str, Exception] | None = None, on_send: Any = None) -> None:
        super().__init__()
        self.by_key = dict(errors or {})
        self.on_send = on_send
        self.calls = 0

    def send(self, message: OutgoingMessage) -> str:
        self.calls += 1
        if self.on_send:
            self.on_send(self.calls)
        if message.idempotency_key in self.by_key:
            raise self.by_key.pop(message.idempotency_key)
        return super().send(message)


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def _due_batch(plan: TreatmentPlan, n: int) -> tuple[list[Reminder], dt.datetime]:
    """n of the plan's pending rows, due now and claimed by the dispatcher (queued)."""
    rows = list(Reminder.objects.filter(participant=plan.participant, status="pending").order_by("send_at", "id")[:n])
    at = rows[0].send_at
    Reminder.objects.filter(pk__in=[r.pk for r in rows]).update(due_at=at, expires_at=at + dt.timedelta(hours=6))
    assert sorted(_dispatch(at)[1]) == sorted(r.pk for r in rows)
    return rows, at


def _statuses(rows: list[Reminder]) -> list[str]:
    by_pk = dict(Reminder.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", "status"))
    return [by_pk[r.pk] for r in rows]


def test_a_batch_is_claimed_and_read_in_two_queries_and_each_row_settles_alone(
    plan: TreatmentPlan, django_assert_num_queries: Any
) -> None:
    rows, at = _due_batch(plan, 6)
    transport = KeyedTransport(
        {
            rows[2].idempotency_key: PermanentTransportError("550 no such number"),
            rows[4].idempotency_key: TemporaryTransportError("451 try later"),
        }
    )

    # claim (UPDATE … RETURNING) + one joined read + one outcome write per row
    with django_assert_num_queries(2 + len(rows)):
        outcomes = rs.reminders_send(
            reminder_ids=[r.pk for r in rows], now=lambda: at, get_transport=lambda channel: transport
        )

    assert [outcomes[r.pk].status for r in rows] == ["sent", "sent", "failed", "sent", "retry", "sent"]
    assert _statuses(rows) == ["sent", "sent", "failed", "sent", "pending", "sent"]
    assert [m.idempotency_key for m in transport.sent] == [rows[i].idempotency_key for i in (0, 1, 3, 5)]
    retried = Reminder.objects.get(pk=rows[4].pk)
    assert (retried.attempts, retried.due_at, retried.lease_until) == (1, at + dt.timedelta(seconds=60), None)
    assert Reminder.objects.get(pk=rows[5].pk).provider_message_id == "id-4"

    # The same task message delivered again: nothing is claimed, nothing sent.
    with django_assert_num_queries(1):
        again = rs.reminders_send(
            reminder_ids=[r.pk for r in rows], now=lambda: at, get_transport=lambda channel: transport
        )
    assert {o.status for o in again.values()} == {"skipped"} and transport.calls == 6
    # Only the retried row comes back, after its backoff.
    assert _dispatch(at + dt.timedelta(seconds=60))[1] == [rows[4].pk]


def test_a_slow_batch_puts_the_rows_it_did_not_reach_back_to_pending(plan: TreatmentPlan) -> None:
    rows, at = _due_batch(plan, 4)
    clock = Clock(at)

    def slow(call: int) -> None:
        clock.at += rs.SEND_BUDGET  # the first send takes the whole budget

    transport = KeyedTransport(on_send=slow)
    outcomes = rs.reminders_send(reminder_ids=[r.pk for r in rows], now=clock, get_transport=lambda c: transport)

    assert [outcomes[r.pk].status for r in rows] == ["sent", "pending", "pending", "pending"]
    assert transport.calls == 1
    left = Reminder.objects.filter(pk__in=[r.pk for r in rows[1:]])
    assert {(r.status, r.attempts, r.lease_until) for r in left} == {("pending", 0, None)}
    assert sorted(_dispatch(clock.at)[1]) == sorted(r.pk for r in rows[1:])  # the next tick takes them


def test_a_batch_reads_its_rows_again_before_sending_when_its_copy_is_old(plan: TreatmentPlan) -> None:
    rows, at = _due_batch(plan, 3)
    clock = Clock(at)

    def opt_out_while_sending(call: int) -> None:
        if call == 1:
            Participant.objects.filter(pk=plan.participant_id).update(reminders_by_sms=False)
            clock.at += rs.RECHECK_AFTER

    transport = KeyedTransport(on_send=opt_out_while_sending)
    rs.reminders_send(reminder_ids=[r.pk for r in rows], now=clock, get_transport=lambda c: transport)

    assert _statuses(rows) == ["sent", "cancelled", "cancelled"]
    assert len(transport.sent) == 1
    assert Reminder.objects.get(pk=rows[1].pk).cancel_reason == "participant opted out of SMS"


def test_a_row_that_cannot_be_rendered_fails_alone(plan: TreatmentPlan) -> None:
    rows = list(Reminder.objects.filter(participant=plan.participant, status="pending").order_by("send_at", "id")[:40])
    broken = rows[0]
    others = [r for r in rows if r.rule_id != broken.rule_id][:3]
    batch = [others[0], broken, *others[1:]]
    Reminder.objects.filter(pk__in=[r.pk for r in batch]).update(due_at=NOW, expires_at=NOW + dt.timedelta(hours=6))
    assert sorted(_dispatch(NOW)[1]) == sorted(r.pk for r in batch)
    ReminderRule.objects.filter(pk=broken.rule_id).update(template="no_such_template")
    transport = KeyedTransport()

    rs.reminders_send(reminder_ids=[r.pk for r in batch], now=lambda: NOW, get_transport=lambda c: transport)

    statuses = _statuses(batch)
    assert statuses[1] == "failed" and statuses.count("sent") == len(batch) - 1
    assert "could not render" in Reminder.objects.get(pk=batch[1].pk).last_error
    assert len(transport.sent) == len(batch) - 1
