"""Chain heads published outside the database (issue 12 §4): after each allocation commits, its
head goes to the export file and, by a Celery task, to the statisticians' email; a failure to
publish is loud but cannot undo the allocation."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from randomization import heads
from randomization import services as rs
from randomization.models import Allocation, RandomizationScheme
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import signed
from tests.support.smtp import SmtpSink
from tests.support.worker import Worker, wait_for
from trialsite.models import StaffProfile


def test_parse_head() -> None:
    assert heads.parse_head("12:" + "AB" * 32) == (12, "ab" * 32)
    for bad in ("12", "0:" + "a" * 64, "12:" + "a" * 63, "x:" + "a" * 64, "12:" + "g" * 64):
        with pytest.raises(ValueError, match="expected N:HASH"):
            heads.parse_head(bad)


@pytest.mark.django_db
def test_the_head_email_goes_to_each_statistician_in_their_language_and_names_no_arm(
    make_user: Callable[..., User], site: Any
) -> None:
    english = make_user("statistician", [site], username="stat_en")
    chinese = make_user("statistician", [site], username="stat_zh")
    quiet = make_user("statistician", [site], username="stat_no_email")
    nurse = make_user("research_nurse", [site], username="nurse_x")
    for user, address in ((english, "en@example.org"), (chinese, "zh@example.org"), (nurse, "nurse@example.org")):
        user.email = address
        user.save()
    StaffProfile.objects.create(user=chinese, language="zh-hans")
    assert quiet.email == ""
    sent: list[dict[str, str]] = []

    def send(**message: str) -> str:
        sent.append(message)
        return "id"

    count = heads.notify_statisticians(
        registry_id="NCT06850103", sequence=7, entry_hash="c" * 64, allocated_at=NOW.isoformat(), send=send
    )
    assert count == 2 and [m["to"] for m in sent] == ["en@example.org", "zh@example.org"]
    head = "7:" + "c" * 64
    for message in sent:
        assert head in message["body"] and f"--head {head}" in message["body"]
        assert "experimental" not in message["body"] and "control" not in message["body"]
    assert sent[0]["subject"] == "NCT06850103: allocation #7 recorded"
    assert "随机化" in sent[1]["subject"] or "分配" in sent[1]["subject"]
    assert sent[0]["key"] != sent[1]["key"]


@pytest.mark.django_db
def test_a_head_that_cannot_be_written_is_logged_and_the_allocation_stands(
    scheme: RandomizationScheme,
    make_eligible: ParticipantMaker,
    nurse: User,
    settings: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.ALLOCATION_HEAD_FILE = blocker / "allocation-heads.jsonl"
    with caplog.at_level(logging.CRITICAL), django_capture_on_commit_callbacks(execute=True):
        allocation = rs.participant_randomize(
            participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    assert Allocation.objects.filter(pk=allocation.pk).exists()
    assert any(
        r.levelname == "CRITICAL" and f"chain head 1:{allocation.entry_hash}" in r.getMessage() for r in caplog.records
    )


# --- With the real parts: a worker on Redis and an SMTP server ---------------------------------


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def worker(django_db_setup: Any, django_db_blocker: Any, sink: SmtpSink) -> Iterator[Worker]:
    w = Worker(name="chain-heads", queues="default", EMAIL_URL=sink.url).start()
    yield w
    w.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_each_committed_allocation_is_published_to_the_file_and_the_statisticians(
    worker: Worker,
    sink: SmtpSink,
    scheme: RandomizationScheme,
    statistician: User,
    make_eligible: ParticipantMaker,
    nurse: User,
    settings: Any,
) -> None:
    statistician.email = "statistician@example.org"
    statistician.save()
    sink.clear()
    done = [
        rs.participant_randomize(
            participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
        for _ in range(2)
    ]
    # the export file: one line per allocation, written on commit
    lines = [json.loads(line) for line in Path(settings.ALLOCATION_HEAD_FILE).read_text().splitlines()]
    assert [line["head"] for line in lines] == [f"{a.sequence}:{a.entry_hash}" for a in done]
    # the statistician's email, sent by the worker
    wait_for(lambda: len(sink.received) == 2, timeout=60, message="two chain-head emails")
    messages = sorted(sink.received, key=lambda m: m.subject)
    assert [m.rcpt_tos for m in messages] == [["statistician@example.org"]] * 2
    for allocation, message in zip(done, messages, strict=True):
        assert f"allocation #{allocation.sequence} recorded" in message.subject
        assert f"{allocation.sequence}:{allocation.entry_hash}" in message.body
        assert allocation.arm not in message.body
