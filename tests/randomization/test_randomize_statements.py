"""randomize's hot path: it locks only the participant's row before the trial's state row, and
stays a fixed, small number of statements however long the trial's record is."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from randomization import services as rs
from randomization.models import RandomizationScheme
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import signed


def _other_connection() -> psycopg.Connection[Any]:
    db = settings.DATABASES["default"]
    params = {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"], "port": db["PORT"]}
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


@pytest.mark.django_db(transaction=True)
def test_the_participant_lock_locks_the_participant_row_and_not_its_trial(make_eligible: ParticipantMaker) -> None:
    participant = make_eligible()
    seen: dict[str, str] = {}

    def probe() -> None:
        with _other_connection() as other:
            for table, pk in (("trialsite_participant", participant.pk), ("trialsite_trial", participant.trial_id)):
                try:
                    other.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [pk])  # noqa: S608
                    seen[table] = "free"
                except psycopg.errors.LockNotAvailable:
                    seen[table] = "locked"

    with transaction.atomic():
        locked = rs._participant_lock(participant.pk)
        assert (locked.trial.registry_id, locked.site.code) == ("NCT06850103", participant.site.code)
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
    assert seen == {"trialsite_participant": "locked", "trialsite_trial": "free"}


@pytest.mark.django_db
def test_randomize_is_a_fixed_handful_of_statements(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User
) -> None:
    # given a process that has randomized once (its scheme and protocol window are cached)
    rs.participant_randomize(
        participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
    )
    counts, signing = [], []
    for _ in range(2):
        participant = make_eligible()
        signature = signed(nurse, "randomize", at=NOW)
        with CaptureQueriesContext(connection) as queries:
            rs.participant_randomize(participant=participant, by=nurse, now=NOW, signature=signature)
        sql = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
        counts.append([q for q in sql if "trialsite_signature" not in q])
        signing.append([q for q in sql if "trialsite_signature" in q])
    statements = counts[-1]
    # the signature: locked once, then marked used for the allocation
    assert [len(s) for s in signing] == [2, 2] and "FOR UPDATE" in signing[-1][0], signing[-1]
    # lock the participant (with trial and site), its latest screening, lock the state row, then
    # write the allocation, the state, the participant and its history row: nothing else,
    # however many allocations the trial already has
    assert len(counts[0]) == len(statements) == 7, statements
    assert "FOR UPDATE OF" in statements[0] and "randomization_screeningassessment" in statements[1]
    assert "randomization_allocationstate" in statements[2] and "FOR UPDATE" in statements[2]
