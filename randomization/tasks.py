"""Celery tasks of the randomization app: the statisticians' chain-head email, queued on commit
of each allocation (randomization/heads.py)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from randomization import heads
from trialsite.transports import OutgoingMessage, TemporaryTransportError, get_transport


@shared_task(name="randomization.tasks.chain_head_notify", bind=True, ignore_result=True, acks_late=True, max_retries=8)
def chain_head_notify(self: Any, registry_id: str, sequence: int, entry_hash: str, allocated_at: str) -> int:
    """Email the head to the statisticians. The head comes with the task, as it was at commit:
    it is not read back from the database, which is what it must be checked against. A
    temporary SMTP error retries the whole message after 1, 2, 4 … minutes (the same Message-ID,
    so a statistician who already has it gets it deduplicated by their mail system at worst)."""
    transport = get_transport("email")

    def send(*, to: str, subject: str, body: str, key: str) -> str:
        return transport.send(OutgoingMessage(to, subject, body, key))

    try:
        return heads.notify_statisticians(
            registry_id=registry_id, sequence=sequence, entry_hash=entry_hash, allocated_at=allocated_at, send=send
        )
    except TemporaryTransportError as exc:
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc
