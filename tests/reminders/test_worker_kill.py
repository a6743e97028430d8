"""A worker killed with SIGKILL in the middle of a batch (send tasks of several reminders each): a
new worker and the dispatcher's leases deliver every reminder; none that was settled is sent
again, and of a killed batch only the message in flight can come twice. (Its own module: no other
worker may consume the queue meanwhile.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection

from reminders import services as rs
from reminders.models import Reminder
from tests.reminders.test_delivery import _clean_sink, _dispatch, _ids, _key, _make_due, _plan, sink
from tests.support.smtp import SmtpSink
from tests.support.worker import Worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["_clean_sink", "sink"]  # fixtures used here


def test_sigkill_mid_batch_loses_nothing_and_doubles_nothing_settled(
    sink: SmtpSink, trial: Any, site: Any, nurse: Any, django_db_blocker: Any
) -> None:
    plans = [_plan(trial, site, nurse) for _ in range(2)]
    rows = list(Reminder.objects.filter(participant__in=[p.participant for p in plans], status="pending")[:30])
    assert len(rows) == 30
    at = _make_due(rows)
    sink.handler.delay = 0.1  # type: ignore[attr-defined]
    # Send tasks of 8 reminders: 4 tasks for 30 rows, so the kill finds rows sent, rows claimed by
    # a running batch and not reached yet (`sending`), and rows of batches not started (`queued`).
    batch = 8
    first = Worker(name="reminders-killed", queues="reminders", concurrency=2, EMAIL_URL=sink.url).start()
    try:
        _dispatch(at, batch=batch)
        wait_for(lambda: len(sink.received) >= 6, timeout=30, message="a few messages before the kill")
    finally:
        first.kill()  # SIGKILL, the whole process group, mid-batch
    at_kill = dict(Reminder.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", "status"))
    assert {"sent", "sending", "queued"} <= set(at_kill.values())
    in_flight = {pk for pk, status in at_kill.items() if status == "sending"}
    assert len(in_flight) <= 2 * batch  # at most one running batch per pool process
    received_before = set(_ids(sink))

    second = Worker(name="reminders-restarted", queues="reminders", concurrency=2, EMAIL_URL=sink.url).start()
    try:
        # The new worker purged the queue (as a fresh deployment might lose it); the rows left
        # queued or sending are taken back once their lease has run out.
        _dispatch(at + rs.QUEUE_LEASE + dt.timedelta(seconds=1), batch=batch)
        wait_for(
            lambda: Reminder.objects.filter(pk__in=[r.pk for r in rows], status="sent").count() == 30,
            timeout=60,
            message="every reminder sent",
        )
    finally:
        second.stop()
    connection.close()

    received = _ids(sink)
    expected = {_key(r): r.pk for r in rows}
    assert set(received) == set(expected)  # none lost
    doubled = {expected[k] for k, n in received.items() if n > 1}
    # Only a message the provider accepted in the instant before the kill can come twice, with
    # the same Message-ID (at-least-once in that window, see reminders.services): at most the one
    # transport call each killed process had in flight, not the rest of its batch.
    assert doubled <= in_flight
    assert len(doubled) <= 2
    assert all(n <= 2 for n in received.values())
    # The claimed rows the batches had not reached were never handed over: they come once.
    not_reached = {pk for pk in in_flight if _key_of(pk, rows) not in received_before}
    assert not_reached and all(received[_key_of(pk, rows)] == 1 for pk in not_reached)


def _key_of(pk: int, rows: list[Reminder]) -> str:
    return next(_key(r) for r in rows if r.pk == pk)
