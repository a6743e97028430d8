"""The secrets outside the database (issue 12 §4 and §8): the seed is encrypted at rest (a dump of
the database reveals no seed), under a key from the environment that can be rotated; the
settings refuse a missing or public key in production."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection

from randomization import services as rs
from randomization.models import RandomizationScheme, SchemeSecret
from randomization.verification import verify_trial
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import signed
from trialsite.models import Trial

pytestmark = pytest.mark.django_db


def _dump(table: str) -> str:
    """The table as a dump has it: every column of every row, as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # noqa: S608 - fixed names
        return "\n".join(row[0] for row in cursor.fetchall())


def _forms(seed: bytes) -> list[str]:
    return [
        seed.hex(),
        seed.hex().upper(),
        base64.b64encode(seed).decode(),
        base64.urlsafe_b64encode(seed).decode().rstrip("="),
        "\\x" + seed.hex(),  # bytea
    ]


def test_the_seed_is_encrypted_at_rest_and_randomization_still_replays(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, trial: Trial
) -> None:
    seed = SchemeSecret.objects.get(scheme=scheme).seed()
    assert len(seed) == 32
    dump = "\n".join(_dump(t) for t in ("randomization_schemesecret", "randomization_randomizationscheme"))
    assert [form for form in _forms(seed) if form in dump] == []
    # the ciphertext is what is stored, with the id of its key
    secret = SchemeSecret.objects.get(scheme=scheme)
    assert secret.key_id == "dev" and len(base64.b64decode(secret.seed_encrypted)) == 12 + 32 + 16
    for _ in range(4):
        rs.participant_randomize(
            participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    assert verify_trial(trial).ok


def test_a_seed_that_does_not_decrypt_fails_verification(
    scheme: RandomizationScheme, statistician: User, trial: Trial, settings: Any
) -> None:
    # a ciphertext moved onto another scheme (the scheme id is bound in as associated data)
    draft = rs.scheme_create(trial=trial, by=statistician, reason="amendment")
    v2 = rs.scheme_activate(scheme=draft, by=statistician, now=NOW)
    first = SchemeSecret.objects.get(scheme=scheme)
    SchemeSecret.objects.filter(scheme=v2).update(seed_encrypted=first.seed_encrypted)
    report = verify_trial(trial)
    assert report.problem is not None and "scheme v2: unusable seed" in report.problem


def test_seed_key_rotation(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, trial: Trial, settings: Any
) -> None:
    rs.participant_randomize(
        participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
    )
    dev = settings.SEED_ENCRYPTION_KEYS["dev"]
    seed = SchemeSecret.objects.get(scheme=scheme).seed()
    # the new key is current, the old one still listed: the seeds are re-encrypted under the new one
    settings.SEED_ENCRYPTION_KEY_ID = "2026b"
    settings.SEED_ENCRYPTION_KEYS = {"2026b": os.urandom(32), "dev": dev}
    call_command("reencrypt_seeds", verbosity=0)
    secret = SchemeSecret.objects.get(scheme=scheme)
    assert secret.key_id == "2026b" and secret.seed() == seed
    # then the old key can go: the record still verifies and randomization goes on
    settings.SEED_ENCRYPTION_KEYS = {"2026b": settings.SEED_ENCRYPTION_KEYS["2026b"]}
    assert verify_trial(trial).ok
    rs._scheme_material.cache_clear()  # a restarted process
    assert (
        rs.participant_randomize(
            participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        ).sequence
        == 2
    )
    assert verify_trial(trial).ok


def test_reencrypt_seeds_without_the_old_key_changes_nothing(scheme: RandomizationScheme, settings: Any) -> None:
    settings.SEED_ENCRYPTION_KEY_ID = "2026b"
    settings.SEED_ENCRYPTION_KEYS = {"2026b": os.urandom(32)}  # the old key was dropped too early
    with pytest.raises(CommandError, match="key 'dev' is not configured"):
        call_command("reencrypt_seeds")
    assert SchemeSecret.objects.get(scheme=scheme).key_id == "dev"
