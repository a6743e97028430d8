"""Celery tasks of the reminders: the dispatcher (beat, every minute), the send of a batch of
reminders, and the staff morning digests. Tasks read the clock, call services, and own their
retries (the send's retries are rows with a later due time, see reminders.services)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence

from celery import shared_task
from django.conf import settings
from kombu.exceptions import OperationalError as KombuOperationalError

from reminders import digests, services
from reminders.models import ReminderStatus
from trialsite import clock
from trialsite.transports import get_transport

log = logging.getLogger(__name__)

SEND_TASK = "reminders.tasks.reminder_send_batch"


def _chunks(ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def publish_sends(ids: Sequence[int], *, broker_url: str | None = None, batch: int | None = None) -> int:
    """Publish send tasks of up to `batch` ids each (REMINDER_SEND_BATCH), in order, on one broker
    connection; return how many ids were published (always a prefix of `ids`). A broker that is
    down (or goes down half-way) is not an error here: the rows that were not published go back
    to pending and the next dispatcher run publishes them."""
    from trialsite.celery import app

    size = batch or settings.REMINDER_SEND_BATCH
    published = 0
    try:
        with app.connection_for_write(broker_url) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            with conn.Producer() as producer:
                for chunk in _chunks(ids, size):
                    reminder_send_batch.apply_async(args=[list(chunk)], producer=producer, retry=False)
                    published += len(chunk)
    except (KombuOperationalError, OSError, ConnectionError) as exc:
        log.warning("broker unavailable after %s of %s reminders: %s", published, len(ids), exc)
    return published


@shared_task(name="reminders.tasks.reminder_dispatch", ignore_result=True)
def reminder_dispatch(broker_url: str | None = None) -> dict[str, int]:
    """Every minute (beat): expire what is too late, claim what is due, enqueue its sends."""
    result = services.reminders_dispatch(now=clock.now(), enqueue=lambda ids: publish_sends(ids, broker_url=broker_url))
    if result.claimed or result.expired:
        log.info("reminders: %s", result)
    return vars(result)


@shared_task(name="reminders.tasks.reminder_send_batch", ignore_result=True, acks_late=True)
def reminder_send_batch(reminder_ids: list[int]) -> dict[str, int]:
    """Send the queued reminders among these ids (see services.reminders_send)."""
    outcomes = services.reminders_send(reminder_ids=reminder_ids, now=clock.now, get_transport=get_transport)
    counts = Counter(o.status for o in outcomes.values())
    for pk, outcome in outcomes.items():
        if outcome.status not in (ReminderStatus.SENT, "skipped"):
            log.info("reminder %s: %s %s", pk, outcome.status, outcome.detail)
    log.info("reminders sent in a batch of %s: %s", len(reminder_ids), dict(counts))
    return dict(counts)


@shared_task(name="reminders.tasks.reminder_digests", ignore_result=True)
def reminder_digests() -> dict[str, int]:
    """Every 15 minutes (beat): each site's staff morning digests, once its local time passed
    07:00, once per staff member, kind and local day."""
    return digests.digests_send_due(now=clock.now(), get_transport=get_transport)
