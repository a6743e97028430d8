"""Transports against real local peers: an SMTP server and an HTTP gateway on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.smtp import SmtpSink
from trialsite.transports import (
    EmailTransport,
    FileSmsTransport,
    HttpSmsTransport,
    OutgoingMessage,
    PermanentTransportError,
    TemporaryTransportError,
    get_transport,
)

MESSAGE = OutgoingMessage(
    to="patient@example.org", subject="复诊提醒", body="您好，请于3月5日来院。", idempotency_key="r-42-email"
)


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield sink
    sink.stop()


def test_email_reaches_the_smtp_server(smtp: SmtpSink) -> None:
    message_id = EmailTransport().send(MESSAGE)

    assert message_id == "<reminder-r-42-email@trialsite>"
    [got] = smtp.received
    assert got.rcpt_tos == ["patient@example.org"]
    assert got.message["Message-ID"] == message_id
    assert got.subject == "复诊提醒"
    assert "3月5日" in got.body


def test_a_4xx_reply_is_temporary_and_a_5xx_permanent(smtp: SmtpSink) -> None:
    smtp.fail("451 4.3.0 Try again later", "550 5.1.1 No such user")

    with pytest.raises(TemporaryTransportError):
        EmailTransport().send(MESSAGE)
    with pytest.raises(PermanentTransportError):
        EmailTransport().send(MESSAGE)
    assert smtp.received == []
    EmailTransport().send(MESSAGE)
    assert len(smtp.received) == 1


def test_inside_a_with_block_the_messages_share_one_smtp_session(smtp: SmtpSink) -> None:
    messages = [
        OutgoingMessage(to=f"p{i}@example.org", subject="s", body="b", idempotency_key=f"r-{i}") for i in range(4)
    ]
    smtp.fail_message("<reminder-r-1@trialsite>", "550 5.1.1 No such user")

    with EmailTransport() as transport:
        transport.send(messages[0])
        with pytest.raises(PermanentTransportError):
            transport.send(messages[1])
        transport.send(messages[2])
        transport.send(messages[3])

    assert [m.rcpt_tos for m in smtp.received] == [["p0@example.org"], ["p2@example.org"], ["p3@example.org"]]
    # One session until the refusal; the one after it (a fresh session) carries the rest.
    peers = [m.peer for m in smtp.received]
    assert peers[1] == peers[2] and peers[0] != peers[1]
    # Outside a with block each message has its own session, as before.
    EmailTransport().send(messages[0])
    EmailTransport().send(messages[0])
    assert len({m.peer for m in smtp.received}) == 4


def test_an_unreachable_smtp_server_is_temporary(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    with pytest.raises(TemporaryTransportError):
        EmailTransport().send(MESSAGE)
    with EmailTransport() as transport, pytest.raises(TemporaryTransportError):
        transport.send(MESSAGE)


class _Gateway(BaseHTTPRequestHandler):
    replies: list[tuple[int, bytes]] = []
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.seen.append({"body": json.loads(self.rfile.read(length)), "headers": dict(self.headers)})
        status, body = self.replies.pop(0) if self.replies else (200, b'{"id": "gw-1"}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, type[_Gateway]]]:
    _Gateway.replies, _Gateway.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/sms", _Gateway
    server.shutdown()
    server.server_close()


def test_http_sms_gateway_sends_with_token_and_idempotency_key(gateway: tuple[str, type[_Gateway]]) -> None:
    url, handler = gateway
    sms = OutgoingMessage(to="+8613800000000", subject="", body="明天请来院化疗", idempotency_key="r-7-sms")

    assert HttpSmsTransport(url=url, token="s3cret").send(sms) == "gw-1"

    [request] = handler.seen
    assert request["body"] == {"to": "+8613800000000", "text": "明天请来院化疗", "idempotency_key": "r-7-sms"}
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["headers"]["Idempotency-Key"] == "r-7-sms"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, TemporaryTransportError),
        (429, TemporaryTransportError),
        (400, PermanentTransportError),
        (401, PermanentTransportError),
    ],
)
def test_http_sms_gateway_errors_are_classified(
    gateway: tuple[str, type[_Gateway]], status: int, error: type[Exception]
) -> None:
    url, handler = gateway
    handler.replies = [(status, b'{"error": "x"}')]
    with pytest.raises(error):
        HttpSmsTransport(url=url, token="t").send(MESSAGE)


def test_an_unreachable_sms_gateway_is_temporary() -> None:
    with pytest.raises(TemporaryTransportError):
        HttpSmsTransport(url="http://127.0.0.1:1/sms", token="t", timeout=2).send(MESSAGE)


def test_development_sms_goes_to_a_file(tmp_path: Path, settings: Any) -> None:
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    transport = get_transport("sms")
    assert isinstance(transport, FileSmsTransport)

    transport.send(MESSAGE)

    [line] = (tmp_path / "sms.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {"to": "patient@example.org", "text": "您好，请于3月5日来院。", "key": "r-42-email"}
