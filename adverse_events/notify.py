"""The one way the toxicity log sends a message: through the reminder transports (email over
SMTP, SMS through the gateway). Today they live in schedules/transports.py; when they move to
the reminders app, only this module is re-pointed."""

from __future__ import annotations

from collections.abc import Callable

from trialsite.transports import OutgoingMessage, PermanentTransportError, TemporaryTransportError, get_transport

TemporaryError = TemporaryTransportError
PermanentError = PermanentTransportError
# (channel, address, subject, body, idempotency key) → the provider's message id
Sender = Callable[[str, str, str, str, str], str]


def send(channel: str, to: str, subject: str, body: str, key: str) -> str:
    """Send one message on `channel` ("email" or "sms"); raises TemporaryError (retry later) or
    PermanentError (give up). `key` is stable per message, so a provider can drop a duplicate."""
    return get_transport(channel).send(OutgoingMessage(to=to, subject=subject, body=body, idempotency_key=key))
