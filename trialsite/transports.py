"""How a reminder leaves the building: email through Django's email backend (SMTP in production),
SMS through a pluggable transport (an HTTP gateway in production, a file or the console in
development). A transport returns the provider's message id, or raises a TemporaryTransportError
(retry later) or a PermanentTransportError (give up and mark the reminder failed).

A transport may also be a context manager: inside `with transport:` the email transport keeps
one SMTP session open for all its sends (the batch send task); outside, each send has its own."""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend

log = logging.getLogger(__name__)


class TransportError(Exception):
    permanent = False


class TemporaryTransportError(TransportError):
    """The provider may accept the message later (4xx SMTP reply, 5xx/429 HTTP, network down)."""


class PermanentTransportError(TransportError):
    """The provider will never accept this message (5xx SMTP reply, 4xx HTTP, bad address)."""

    permanent = True


@dataclass(frozen=True)
class OutgoingMessage:
    to: str  # an email address or an E.164-ish phone number
    subject: str
    body: str
    # Stable per reminder: the provider can drop a duplicate of a retried send.
    idempotency_key: str


class Transport(Protocol):
    channel: str

    def send(self, message: OutgoingMessage) -> str: ...


class EmailTransport:
    """Email through Django's email backend (SMTP in production). Each message gets its own
    connection, unless the transport is used as a context manager: then one connection is opened
    at the first send and reused until the block ends (a batch of reminders: one SMTP session
    instead of one per message). After any error on a message the session is dropped and the next
    message opens a new one: smtplib resets a refused transaction (RSET), but whether a broken
    session can still be used is not knowable, and a wrong guess would fail the next row."""

    channel = "email"

    def __init__(self) -> None:
        self._shared: BaseEmailBackend | None = None

    def __enter__(self) -> EmailTransport:
        self._shared = get_connection(fail_silently=False)
        return self

    def __exit__(self, *exc_info: object) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            _close_quietly(shared)

    def send(self, message: OutgoingMessage) -> str:
        message_id = f"<reminder-{message.idempotency_key}@trialsite>"
        shared = self._shared
        try:
            if shared is not None:
                # Open (or keep) the batch's session here, so that send_messages below does not
                # treat it as its own and close it after the message.
                shared.open()
            email = EmailMessage(
                subject=message.subject,
                body=message.body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[message.to],
                headers={"Message-ID": message_id},
                connection=shared or get_connection(fail_silently=False),
            )
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            self._drop()
            codes = [code for code, _ in exc.recipients.values()]
            raise _smtp_error(min(codes), f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise _smtp_error(exc.smtp_code, f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TemporaryTransportError(f"SMTP unavailable: {exc.__class__.__name__}: {exc}") from exc
        return message_id

    def _drop(self) -> None:
        if self._shared is not None:
            _close_quietly(self._shared)


def _close_quietly(connection: BaseEmailBackend) -> None:
    # QUIT on a session the server already dropped fails; every message's outcome is known by then.
    try:
        connection.close()
    except (smtplib.SMTPException, OSError) as exc:
        log.info("closing the SMTP session: %s", exc)


def _smtp_error(code: int, text: str) -> TransportError:
    # RFC 5321: 4yz is a transient negative completion, 5yz a permanent one.
    return PermanentTransportError(text) if 500 <= code < 600 else TemporaryTransportError(text)


class HttpSmsTransport:
    """POSTs {"to", "text", "idempotency_key"} as JSON with a bearer token; expects a JSON answer
    with "id". 2xx: sent; 408/425/429 and 5xx: temporary; other 4xx: permanent."""

    channel = "sms"

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float | None = None) -> None:
        self.url = url or settings.SMS_GATEWAY_URL
        self.token = token if token is not None else settings.SMS_GATEWAY_TOKEN
        self.timeout = timeout or settings.SMS_GATEWAY_TIMEOUT

    def send(self, message: OutgoingMessage) -> str:
        payload = json.dumps(
            {"to": message.to, "text": message.body, "idempotency_key": message.idempotency_key}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is the configured gateway
            self.url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.token}",
                "Idempotency-Key": message.idempotency_key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code in (408, 425, 429) or exc.code >= 500:
                raise TemporaryTransportError(f"SMS gateway answered {exc.code}") from exc
            raise PermanentTransportError(f"SMS gateway refused the message: {exc.code}") from exc
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            raise TemporaryTransportError(f"SMS gateway unreachable: {exc}") from exc
        try:
            return str(json.loads(body)["id"])
        except (ValueError, KeyError, TypeError):
            # Accepted (2xx) but unreadable: the message left; record that the id is unknown.
            return f"unknown-{uuid.uuid5(uuid.NAMESPACE_URL, message.idempotency_key)}"


class FileSmsTransport:
    """Development: one JSON line per message in var/sms-outbox.jsonl."""

    channel = "sms"

    def __init__(self, path: str | None = None) -> None:
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, message: OutgoingMessage) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(
                json.dumps({"to": message.to, "text": message.body, "key": message.idempotency_key}, ensure_ascii=False)
                + "\n"
            )
        return f"file-{message.idempotency_key}"


class ConsoleSmsTransport:
    channel = "sms"

    def send(self, message: OutgoingMessage) -> str:
        print(f"[sms to {message.to}] {message.body}")
        return f"console-{message.idempotency_key}"


def get_transport(channel: str) -> Transport:
    if channel == "email":
        return EmailTransport()
    if channel == "sms":
        backend = settings.SMS_BACKEND
        if backend == "http":
            return HttpSmsTransport()
        if backend == "console":
            return ConsoleSmsTransport()
        return FileSmsTransport()
    raise ValueError(f"unknown channel {channel!r}")
