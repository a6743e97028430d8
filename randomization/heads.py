"""Chain heads published outside the database. After each allocation commits, its head
("N:HASH", the randomization number and the entry's keyed hash, which covers every entry before
it) is appended to an append-only export file and emailed to the statisticians. Someone who later
deletes the record's tail and resets the state row cannot reach those copies:
`verify_randomization --head N:HASH` (or `--heads-file`) then finds the record shorter or different.

Both copies are made after commit, so they never announce an allocation that was rolled back; a
failure to make them cannot undo the allocation either, so it is logged loudly instead."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import translation
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as KombuOperationalError

from randomization.models import Allocation
from trialsite import roles

log = logging.getLogger(__name__)

HEAD = re.compile(r"(?P<sequence>[1-9][0-9]{0,8}):(?P<hash>[0-9a-f]{64})")


def head_text(sequence: int, entry_hash: str) -> str:
    return f"{sequence}:{entry_hash}"


def parse_head(text: str) -> tuple[int, str]:
    """ "N:HASH" → (N, HASH); ValueError naming the expected form otherwise."""
    match = HEAD.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a chain head: expected N:HASH (a number, a colon, 64 hex digits)")
    return int(match["sequence"]), match["hash"]


def publish(allocation: Allocation, *, registry_id: str) -> None:
    """Called on commit of a randomization: the export file line, then the email task."""
    line = {
        "trial": registry_id,
        "head": head_text(allocation.sequence, allocation.entry_hash),
        "chain_key_id": allocation.chain_key_id,
        "allocated_at": allocation.allocated_at.astimezone(dt.UTC).isoformat(),
    }
    try:
        append_line(Path(settings.ALLOCATION_HEAD_FILE), line)
    except OSError:
        log.critical(
            "chain head %s of %s NOT written to ALLOCATION_HEAD_FILE %s",
            line["head"],
            registry_id,
            settings.ALLOCATION_HEAD_FILE,
            exc_info=True,
        )
    from randomization.tasks import chain_head_notify

    try:
        chain_head_notify.apply_async(
            args=[registry_id, allocation.sequence, allocation.entry_hash, line["allocated_at"]], retry=False
        )
    except (KombuOperationalError, OSError):  # the broker is down: the file has the head
        log.error("chain head %s of %s: the statisticians' email could not be queued", line["head"], registry_id)


def append_line(path: Path, data: dict[str, Any]) -> None:
    """One JSON line appended (O_APPEND, under an exclusive lock against the other processes) and
    fsync'd before returning, so a head that was announced is on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, encoded)
        os.fsync(fd)
    finally:
        os.close(fd)  # also releases the lock


def read_heads(path: Path, registry_id: str) -> Iterator[tuple[int, str]]:
    """The heads of one trial in an export file, in file order; ValueError for a bad line."""
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
                if data["trial"] == registry_id:
                    yield parse_head(data["head"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}, line {number}: not a chain-head line ({exc})") from exc


def statisticians() -> list[User]:
    return list(
        User.objects.filter(is_active=True, groups__name=roles.STATISTICIAN)
        .exclude(email="")
        .select_related("staff_profile")
        .distinct()
        .order_by("pk")
    )


def notify_statisticians(
    *, registry_id: str, sequence: int, entry_hash: str, allocated_at: str, send: Callable[..., str]
) -> int:
    """Email the head to every active statistician with an address, in their language; returns
    how many were sent. `send(to=, subject=, body=, key=)` raises the transport's errors (the task
    retries temporary ones). The message names no participant and no arm."""
    head = head_text(sequence, entry_hash)
    when = dt.datetime.fromisoformat(allocated_at).astimezone(dt.UTC)
    sent = 0
    for user in statisticians():
        profile = getattr(user, "staff_profile", None)
        with translation.override(getattr(profile, "language", None) or settings.LANGUAGE_CODE):
            subject = _("%(trial)s: allocation #%(number)s recorded") % {"trial": registry_id, "number": sequence}
            body = _(
                "Allocation #%(number)s of %(trial)s was recorded at %(time)s (UTC).\n\n"
                "The allocation record's chain head is now:\n\n    %(head)s\n\n"
                "Keep this message. It covers every allocation up to #%(number)s: the command\n"
                "manage.py verify_randomization --trial %(trial)s --head %(head)s\n"
                "fails if any of them was later altered or deleted."
            ) % {"number": sequence, "trial": registry_id, "time": f"{when:%Y-%m-%d %H:%M:%S}", "head": head}
        send(to=user.email, subject=subject, body=body, key=f"chain-head-{registry_id}-{sequence}-{user.pk}")
        sent += 1
    return sent
