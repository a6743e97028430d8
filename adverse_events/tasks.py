"""Celery tasks of the toxicity log: send an SAE's alerts (enqueued after the SAE's commit), and
the sweep that sends what a dead broker or worker left behind (beat, every 5 minutes)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import shared_task
from kombu.exceptions import OperationalError as KombuOperationalError

from adverse_events import notify, services
from trialsite import clock

log = logging.getLogger(__name__)


def enqueue_alerts(alert_ids: Sequence[int]) -> None:
    """Publish a send per alert (called from transaction.on_commit). A broker that is down is not
    the nurse's error: the rows stay pending and the sweep sends them."""
    for pk in alert_ids:
        try:
            sae_alert_send.apply_async(args=[pk], retry=False)
        except (KombuOperationalError, OSError, ConnectionError) as exc:
            log.warning("SAE alert %s not enqueued (the sweep will send it): %s", pk, exc)


@shared_task(name="adverse_events.tasks.sae_alert_send", bind=True, ignore_result=True, acks_late=True, max_retries=10)
def sae_alert_send(self: object, alert_id: int) -> str:
    """Send one SAE alert; a temporary transport failure retries with backoff (the row is pending
    again, so a retry that never comes is picked up by the sweep)."""
    try:
        status = services.sae_alert_send(alert_id=alert_id, now=clock.now)
    except notify.TemporaryError as exc:
        retries = getattr(getattr(self, "request", None), "retries", 0) or 0
        raise self.retry(exc=exc, countdown=min(600, 30 * 2**retries)) from exc  # type: ignore[attr-defined]
    log.info("SAE alert %s: %s", alert_id, status)
    return status


@shared_task(name="adverse_events.tasks.sae_alerts_sweep", ignore_result=True)
def sae_alerts_sweep() -> int:
    """Every 5 minutes (beat): enqueue the alerts still pending."""
    ids = services.sae_alerts_due(now=clock.now())
    enqueue_alerts(ids)
    return len(ids)
