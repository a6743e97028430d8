"""verify_randomization: a clean record verifies; tampering (with the triggers bypassed as the
database superuser) is found and named, including the insider rewrites of issue 12 §4: the tail
deleted, participants swapped within a stratum, who and when rewritten, each with the chain
recomputed by someone who does not hold the chain key."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection

from randomization import methods
from randomization import services as rs
from randomization.models import Allocation, AllocationState, RandomizationScheme
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import signed
from trialsite.models import Site, Trial

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _secret_chain_key(settings: Any) -> None:
    # Production's key is not the public development default an attacker could use.
    settings.ALLOCATION_CHAIN_KEY_ID = "k1"
    settings.ALLOCATION_CHAIN_KEYS = {"k1": os.urandom(32)}


@pytest.fixture
def record(
    scheme: RandomizationScheme,
    make_eligible: ParticipantMaker,
    investigator: User,
    site: Site,
    other_site: Site,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> list[Allocation]:
    out = []
    for i in range(8):
        participant = make_eligible(site=(site, other_site)[i % 2], ecog=i % 2, liver_only_metastases=i % 3 == 0)
        # each allocation's head is published on commit (export file, statisticians' email)
        with django_capture_on_commit_callbacks(execute=True):
            out.append(
                rs.participant_randomize(
                    participant=participant,
                    by=investigator,
                    now=NOW,
                    signature=signed(investigator, "randomize", at=NOW),
                )
            )
    return out


def _bypass_trigger(sql: str, params: list[object]) -> None:
    # As the database superuser: replica mode skips ordinary triggers (the tampering an attacker
    # with full database access could do; only the hash chain and the replay can catch it).
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(sql, params)
        cur.execute("SET LOCAL session_replication_role = origin")


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    call_command("verify_randomization", "--trial", "NCT06850103", *args)
    return capsys.readouterr().out


def head(allocation: Allocation) -> str:
    return f"{allocation.sequence}:{allocation.entry_hash}"


def test_clean_record_verifies(record: list[Allocation], capsys: pytest.CaptureFixture[str]) -> None:
    out = verify(capsys)
    assert "OK — 8 allocations" in out and f"Current head: {head(record[-1])}" in out
    # against heads published earlier, as the statistician keeps them
    assert "2 published head(s) verified" in verify(capsys, "--head", head(record[2]), "--head", head(record[-1]))


def test_every_allocation_is_published_to_the_export_file(
    record: list[Allocation], settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.loads(line) for line in Path(settings.ALLOCATION_HEAD_FILE).read_text().splitlines()]
    assert [line["head"] for line in lines] == [head(a) for a in record]
    assert {line["trial"] for line in lines} == {"NCT06850103"} and {line["chain_key_id"] for line in lines} == {"k1"}
    assert "8 published head(s) verified" in verify(capsys, "--heads-file", str(settings.ALLOCATION_HEAD_FILE))


@pytest.mark.parametrize(
    "given, message",
    [
        ("9:" + "a" * 64, r"published chain head #9 is beyond the record, which ends at #8"),
        ("5:" + "a" * 64, r"allocation #5 does not match the published chain head"),
        ("5:xyz", r"--head: '5:xyz' is not a chain head: expected N:HASH"),
    ],
)
def test_a_head_the_record_does_not_reach_or_match_fails(
    record: list[Allocation], capsys: pytest.CaptureFixture[str], given: str, message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        verify(capsys, "--head", given)


def test_flipped_arm_is_found(record: list[Allocation], capsys: pytest.CaptureFixture[str]) -> None:
    target = record[2]
    other = "control" if target.arm == "experimental" else "experimental"
    _bypass_trigger("UPDATE randomization_allocation SET arm = %s WHERE id = %s", [other, target.pk])
    with pytest.raises(CommandError, match=r"allocation #3 .*keyed hash does not match"):
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
    # a null state is a failure too (the services never write one; it used to skip this check)
    AllocationState.objects.filter(trial=trial).update(state=None)
    with pytest.raises(CommandError, match="allocation-state row holds no state"):
        verify(capsys)


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
    more = [
        rs.participant_randomize(
            participant=make_eligible(), by=investigator, now=NOW, signature=signed(investigator, "randomize", at=NOW)
        )
        for _ in range(6)
    ]
    # then the sequence continues, v2's allocations use blocks, and the whole record verifies
    assert [a.sequence for a in more] == list(range(9, 15))
    assert {a.method for a in more} == {"blocks"} and {a.scheme_id for a in more} == {v2.pk}
    assert "OK — 14 allocations" in verify(capsys)
    assert "2 activated scheme(s)" in verify(capsys)


# --- The insider rewrites of issue 12 §4 (as the superuser, triggers off) --------------------------


def _unkeyed_rehash(allocations: list[Allocation], start: int) -> None:
    """What an insider without the chain key can do after rewriting rows: recompute the chain
    from `start` with a plain SHA-256 over the same canonical entry (the old, unkeyed chain)."""
    prev = allocations[start - 1].entry_hash if start else rs.GENESIS_HASH
    for allocation in allocations[start:]:
        allocation.refresh_from_db()
        allocation.prev_hash = prev
        allocation.entry_hash = hashlib.sha256(
            rs.canonical_entry(allocation, registry_id="NCT06850103", scheme_version=1)
        ).hexdigest()
        _bypass_trigger(
            "UPDATE randomization_allocation SET prev_hash = %s, entry_hash = %s WHERE id = %s",
            [allocation.prev_hash, allocation.entry_hash, allocation.pk],
        )
        prev = allocation.entry_hash
    _bypass_trigger(
        "UPDATE randomization_allocationstate SET last_hash = %s WHERE trial_id = %s",
        [prev, allocations[0].trial_id],
    )


def test_deleting_the_tail_is_found_against_a_published_head(
    record: list[Allocation], trial: Trial, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the head published after allocation #8 (the statistician's email, the export file)
    published = head(record[-1])
    # when an insider deletes #8 and resets the state row (to the exact replayed state of #1-7) and the participant
    last, kept = record[-1], record[:-1]
    config = methods.Config.from_canonical(trial.randomization_schemes.get().config)
    state = methods.replay(b"unused", rs.replay_records(trial)[:-1], config=config)
    _bypass_trigger("DELETE FROM randomization_allocation WHERE id = %s", [last.pk])
    _bypass_trigger(
        "UPDATE randomization_allocationstate SET sequence = %s, last_hash = %s, state = %s WHERE trial_id = %s",
        [7, kept[-1].entry_hash, json.dumps(state.as_data()), trial.pk],
    )
    _bypass_trigger(
        "UPDATE trialsite_participant SET status = 'eligible', arm = '', randomization_number = NULL, "
        "randomized_at = NULL WHERE id = %s",
        [last.participant_id],
    )
    # then the database alone looks whole (that is why the head is published), but the head is not reached
    assert "OK — 7 allocations" in verify(capsys)
    with pytest.raises(CommandError, match=r"published chain head #8 is beyond the record, which ends at #7"):
        verify(capsys, "--head", published)
    with pytest.raises(CommandError, match=r"published chain head #8 is beyond the record"):
        verify(capsys, "--heads-file", str(settings.ALLOCATION_HEAD_FILE))


def test_swapping_two_participants_of_a_stratum_is_found(
    record: list[Allocation], capsys: pytest.CaptureFixture[str]
) -> None:
    # given #1 and #7: same site, ECOG and liver-only answer, so the replay cannot tell them apart
    a, b = record[0], record[6]
    assert a.factors == b.factors
    # when an insider swaps their participants (with their assessments and the participants' copies)
    swap = "UPDATE randomization_allocation SET participant_id = %s, assessment_id = %s WHERE id = %s"
    _bypass_trigger(swap, [-1, None, a.pk])
    _bypass_trigger(swap, [a.participant_id, a.assessment_id, b.pk])
    _bypass_trigger(swap, [b.participant_id, b.assessment_id, a.pk])
    _bypass_trigger("UPDATE trialsite_participant SET randomization_number = 1000 WHERE id = %s", [a.participant_id])
    for allocation, participant_id in ((a, b.participant_id), (b, a.participant_id)):
        _bypass_trigger(
            "UPDATE trialsite_participant SET randomization_number = %s, arm = %s, randomized_at = %s WHERE id = %s",
            [allocation.sequence, allocation.arm, allocation.allocated_at, participant_id],
        )
    # and recomputes the chain without the key
    _unkeyed_rehash(record, 0)
    # then the keyed hash of #1 no longer matches
    with pytest.raises(CommandError, match=r"allocation #1 \(participant \d+\): the entry's keyed hash does not match"):
        verify(capsys)


def test_rewriting_who_and_when_is_found(
    record: list[Allocation], statistician: User, capsys: pytest.CaptureFixture[str]
) -> None:
    target = record[2]
    later = target.allocated_at + dt.timedelta(hours=5)
    _bypass_trigger(
        "UPDATE randomization_allocation SET allocated_by_id = %s, allocated_at = %s WHERE id = %s",
        [statistician.pk, later, target.pk],
    )
    _bypass_trigger("UPDATE trialsite_participant SET randomized_at = %s WHERE id = %s", [later, target.participant_id])
    _unkeyed_rehash(record, 2)
    with pytest.raises(CommandError, match=r"allocation #3 .*keyed hash does not match"):
        verify(capsys)


# --- What the keyed hash covers, and key rotation --------------------------------------------------


def test_the_keyed_hash_covers_every_field_of_an_allocation(record: list[Allocation], settings: Any) -> None:
    allocation = record[3]
    covered = set(json.loads(rs.canonical_entry(allocation, registry_id="NCT06850103", scheme_version=1)))
    fields = {f.name for f in Allocation._meta.concrete_fields} - {"id", "entry_hash"}
    # the trial is committed to by its registry id, the scheme by its version, the rest by name
    assert covered == (fields - {"scheme"}) | {"scheme_version"}
    # a key id of the same secret: only the id differs in what is hashed
    settings.ALLOCATION_CHAIN_KEYS = {**settings.ALLOCATION_CHAIN_KEYS, "k2": settings.ALLOCATION_CHAIN_KEYS["k1"]}
    changes: dict[str, dict[str, Any]] = {
        "trial": {"registry_id": "NCT00000000"},
        "scheme": {"scheme_version": 2},
        "participant": {"participant_id": allocation.participant_id + 1},
        "sequence": {"sequence": 99},
        "arm": {"arm": "other"},
        "method": {"method": "blocks"},
        "factors": {"factors": {**allocation.factors, "ecog": "9"}},
        "draws": {"draws": [*allocation.draws, 0.5]},
        "details": {"details": {**allocation.details, "x": 1}},
        "assessment": {"assessment_id": (allocation.assessment_id or 0) + 1},
        "allocated_at": {"allocated_at": allocation.allocated_at + dt.timedelta(microseconds=1)},
        "allocated_by": {"allocated_by_id": allocation.allocated_by_id + 1},
        "prev_hash": {"prev_hash": "f" * 64},
        "chain_key_id": {"chain_key_id": "k2"},
    }
    assert set(changes) == fields
    original = rs.entry_hash(allocation, registry_id="NCT06850103", scheme_version=1)
    for name, change in changes.items():
        copy = Allocation(**{f.attname: getattr(allocation, f.attname) for f in Allocation._meta.concrete_fields})
        registry_id = change.pop("registry_id", "NCT06850103")
        version = change.pop("scheme_version", 1)
        for attname, value in change.items():
            setattr(copy, attname, value)
        assert rs.entry_hash(copy, registry_id=registry_id, scheme_version=version) != original, name


def test_chain_key_rotation_keeps_old_entries_verifiable(
    record: list[Allocation],
    settings: Any,
    make_eligible: ParticipantMaker,
    investigator: User,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given 8 entries under k1; the key is rotated: k2 is current, k1 listed as an old key
    old = settings.ALLOCATION_CHAIN_KEYS["k1"]
    settings.ALLOCATION_CHAIN_KEY_ID = "k2"
    settings.ALLOCATION_CHAIN_KEYS = {"k2": os.urandom(32), "k1": old}
    more = [
        rs.participant_randomize(
            participant=make_eligible(), by=investigator, now=NOW, signature=signed(investigator, "randomize", at=NOW)
        )
        for _ in range(2)
    ]
    assert {a.chain_key_id for a in record} == {"k1"} and {a.chain_key_id for a in more} == {"k2"}
    assert more[0].prev_hash == record[-1].entry_hash  # the chain runs on across the rotation
    assert "OK — 10 allocations" in verify(capsys)
    # an old key that is no longer configured: its entries can no longer be verified
    settings.ALLOCATION_CHAIN_KEYS = {"k2": settings.ALLOCATION_CHAIN_KEYS["k2"]}
    with pytest.raises(CommandError, match=r"allocation #1 .*chain key 'k1' is not configured"):
        verify(capsys)
    # a wrong secret under the right id: every hash fails
    settings.ALLOCATION_CHAIN_KEYS = {"k2": settings.ALLOCATION_CHAIN_KEYS["k2"], "k1": os.urandom(32)}
    with pytest.raises(CommandError, match=r"allocation #1 .*keyed hash does not match"):
        verify(capsys)
