"""Celery tasks of the reminders: the dispatcher (beat, every minute), one send per reminder, and
the staff morning digests. Tasks read the clock once, call services, and own their retries (the
send's retries are rows with a later due time, see reminder_services)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import shared_task
from kombu.exceptions import OperationalError as KombuOperationalError

from schedules import reminder_services
from schedules.transports import get_transport
from trialsite import clock

log = logging.getLogger(__name__)

SEND_TASK = "schedules.tasks.reminder_send"


def publish_sends(ids: Sequence[int], *, broker_url: str | None = None) -> int:
    """Publish one send task per id on one broker connection; return how many were published.
    A broker that is down (or goes down half-way) is not an error here: the rows that were not
    published go back to pending and the next dispatcher run publishes them."""
    from trialsite.celery import app

    published = 0
    try:
        with app.connection_for_write(broker_url) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            with conn.Producer() as producer:
                for pk in ids:
                    reminder_send.apply_async(args=[pk], producer=producer, retry=False)
                    published += 1
    except (KombuOperationalError, OSError, ConnectionError) as exc:
        log.warning("broker unavailable after %s of %s reminders: %s", published, len(ids), exc)
    return published


@shared_task(name="schedules.tasks.reminder_dispatch", ignore_result=True)
def reminder_dispatch(broker_url: str | None = None) -> dict[str, int]:
    """Every minute (beat): expire what is too late, claim what is due, enqueue its sends."""
    result = reminder_services.reminders_dispatch(
        now=clock.now(), enqueue=lambda ids: publish_sends(ids, broker_url=broker_url)
    )
    if result.claimed or result.expired:
        log.info("reminders: %s", result)
    return vars(result)


@shared_task(name="schedules.tasks.reminder_send", ignore_result=True, acks_late=True)
def reminder_send(reminder_id: int) -> dict[str, Any]:
    outcome = reminder_services.reminder_send(reminder_id=reminder_id, now=clock.now, get_transport=get_transport)
    log.info("reminder %s: %s %s", reminder_id, outcome.status, outcome.detail)
    return {"status": outcome.status, "detail": outcome.detail}


@shared_task(name="schedules.tasks.reminder_digests", ignore_result=True)
def reminder_digests() -> dict[str, int]:
    """Every 15 minutes (beat): each site's staff morning digests, once its local time passed
    07:00, once per staff member, kind and local day."""
    from schedules import digests

    return digests.digests_send_due(now=clock.now(), get_transport=get_transport)
