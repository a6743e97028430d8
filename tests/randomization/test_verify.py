"""verify_randomization: a clean record verifies; tampering (with the trigger bypassed as the
database superuser) is found and named."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection

from randomization import services as rs
from randomization.models import Allocation, AllocationState, RandomizationScheme
from tests.randomization.conftest import NOW, ParticipantMaker
from trialsite.models import Site, Trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, investigator: User, site: Site, other_site: Site
) -> list[Allocation]:
    out = []
    for i in range(8):
        participant = make_eligible(site=(site, other_site)[i % 2], ecog=i % 2, liver_only_metastases=i % 3 == 0)
        out.append(rs.participant_randomize(participant=participant, by=investigator, now=NOW))
    return out


def _bypass_trigger(sql: str, params: list[object]) -> None:
    # As the database superuser: replica mode skips ordinary triggers (the tampering an attacker
    # with full database access could do; only the hash chain and the replay can catch it).
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(sql, params)
        cur.execute("SET LOCAL session_replication_role = origin")


def verify(capsys: pytest.CaptureFixture[str]) -> str:
    call_command("verify_randomization", "--trial", "NCT06850103")
    return capsys.readouterr().out


def test_clean_record_verifies(record: list[Allocation], capsys: pytest.CaptureFixture[str]) -> None:
    assert "OK — 8 allocations" in verify(capsys)


def test_flipped_arm_is_found(record: list[Allocation], capsys: pytest.CaptureFixture[str]) -> None:
    target = record[2]
    other = "control" if target.arm == "experimental" else "experimental"
    _bypass_trigger("UPDATE randomization_allocation SET arm = %s WHERE id = %s", [other, target.pk])
    with pytest.raises(CommandError, match=r"allocation #3 .*hash does not match"):
        verify(capsys)


def test_rehashed_forgery_fails_the_replay(record: list[Allocation], capsys: pytest.CaptureFixture[str]) -> None:
    # A forger who also recomputes every hash after the altered row still cannot match the seed.
    target = record[4]
    target.arm = "control" if target.arm == "experimental" else "experimental"
    prev = target.prev_hash
    for allocation in record[4:]:
        allocation.prev_hash = prev
        allocation.entry_hash = rs.entry_hash(allocation, registry_id="NCT06850103", scheme_version=1)
        _bypass_trigger(
            "UPDATE randomization_allocation SET arm = %s, prev_hash = %s, entry_hash = %s WHERE id = %s",
            [allocation.arm, allocation.prev_hash, allocation.entry_hash, allocation.pk],
        )
        prev = allocation.entry_hash
    with pytest.raises(CommandError, match=r"allocation #5: replay mismatch"):
        verify(capsys)


def test_deleted_row_is_a_gap(record: list[Allocation], capsys: pytest.CaptureFixture[str]) -> None:
    _bypass_trigger("DELETE FROM randomization_allocation WHERE id = %s", [record[5].pk])
    with pytest.raises(CommandError, match=r"expected randomization number 6"):
        verify(capsys)


def test_deleted_last_row_leaves_the_state_row_ahead(
    record: list[Allocation], capsys: pytest.CaptureFixture[str]
) -> None:
    _bypass_trigger("DELETE FROM randomization_allocation WHERE id = %s", [record[-1].pk])
    with pytest.raises(CommandError, match=r"allocation-state row is at #8, the record at #7"):
        verify(capsys)


def test_altered_state_row_is_found_before_it_biases_an_allocation(
    record: list[Allocation], trial: Trial, capsys: pytest.CaptureFixture[str]
) -> None:
    # e.g. an open block rewritten, or the counts nudged so that minimization favours one arm
    row = AllocationState.objects.get(trial=trial)
    state = dict(row.state)
    state["totals"] = [state["totals"][0] + 3, state["totals"][1]]
    AllocationState.objects.filter(trial=trial).update(state=state)
    with pytest.raises(CommandError, match="stored allocation state differs from the replay"):
        verify(capsys)
    # a state left to be replayed (after an amendment) is not a problem
    AllocationState.objects.filter(trial=trial).update(state=None)
    assert "OK — 8 allocations" in verify(capsys)


def test_changed_commitment_is_found(
    record: list[Allocation], scheme: RandomizationScheme, capsys: pytest.CaptureFixture[str]
) -> None:
    _bypass_trigger("UPDATE randomization_randomizationscheme SET commitment = %s WHERE id = %s", ["0" * 64, scheme.pk])
    with pytest.raises(CommandError, match="commitment does not match"):
        verify(capsys)


def test_unknown_trial(db: object) -> None:
    with pytest.raises(CommandError, match="Unknown trial"):
        call_command("verify_randomization", "--trial", "NCT00000000")


def test_record_spanning_an_amendment_verifies(
    record: list[Allocation],
    scheme: RandomizationScheme,
    statistician: User,
    make_eligible: ParticipantMaker,
    investigator: User,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given 8 allocations under v1 (minimization), an amended v2 with permuted blocks and a new seed
    draft = rs.scheme_create(trial=scheme.trial, by=statistician, overrides={"method": "blocks"}, reason="amendment")
    v2 = rs.scheme_activate(scheme=draft, by=statistician, now=NOW)
    # when 6 more are randomized under v2 (the state is rebuilt across both schemes)
    more = [rs.participant_randomize(participant=make_eligible(), by=investigator, now=NOW) for _ in range(6)]
    # then the sequence continues, v2's allocations use blocks, and the whole record verifies
    assert [a.sequence for a in more] == list(range(9, 15))
    assert {a.method for a in more} == {"blocks"} and {a.scheme_id for a in more} == {v2.pk}
    assert "OK — 14 allocations" in verify(capsys)
    assert "2 activated scheme(s)" in verify(capsys)
