"""A real SMTP server on loopback (aiosmtpd) that records what it receives (and over which client
connection), and can be told to answer 4xx (temporary) or 5xx (permanent) to the next N messages
or to one message by its Message-ID."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    peer: Any = None  # the client's (host, port): one per SMTP session

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        body = self.message.get_body(preferencelist=("plain", "html"))
        return str(body.get_content()) if body is not None else ""


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)  # e.g. ["451 4.3.0 try later"]
    fail_ids: dict[str, list[str]] = field(default_factory=dict)  # Message-ID → the next replies
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.fail_next:
                return self.fail_next.pop(0)
            message = message_from_bytes(envelope.content, policy=policy.default)
            replies = self.fail_ids.get(str(message["Message-ID"]))
            if replies:
                return replies.pop(0)
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, session.peer)  # type: ignore[arg-type]
            )
        return "250 OK"


def _free_port() -> int:
    # aiosmtpd's controller checks readiness by connecting to its port, so it needs a real number.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    def __init__(self) -> None:
        self.handler = _Handler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=_free_port())

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def fail(self, *replies: str) -> None:
        """Answer the next messages with these replies instead of 250."""
        with self.handler.lock:
            self.handler.fail_next.extend(replies)

    def fail_message(self, message_id: str, *replies: str) -> None:
        """Answer the message with this Message-ID with these replies (in turn) instead of 250."""
        with self.handler.lock:
            self.handler.fail_ids.setdefault(message_id, []).extend(replies)

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.received.clear()
            self.handler.fail_next.clear()
            self.handler.fail_ids.clear()
