"""Verification of a trial's allocation record (read-only; used by `verify_randomization`).

Checks, in this order, and stops at the first problem: every activated scheme's commitment
matches its (decrypted) seed and configuration; sequence numbers run 1..N without gaps; each
entry's keyed hash (which commits to every field: participant, arm, factors, time, user, …) and
its link to the previous entry; the replay of every allocation from the seed (arm, draws,
minimization scores); the chain heads published earlier (the record must still reach each one and
agree with it); the allocation-state row against the end of the record and its replayed state (a
null state is a failure); and the participant's copy of arm, number and time, and the screening
assessment, against the entry."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from randomization import heads, keyring, methods, services
from randomization.models import Allocation, AllocationState, RandomizationScheme, SchemeStatus, ScreeningAssessment
from trialsite.models import Participant, Trial


@dataclass(frozen=True)
class Report:
    allocations: int
    schemes: int
    problem: str | None
    head: str  # the record's current head, N:HASH ("0:" + genesis for an empty record)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def line(self, registry_id: str, *, published: int = 0) -> str:
        """What `verify_randomization` prints, also carried by the allocation record's exports."""
        if not self.ok:
            return f"{registry_id}: MISMATCH: {self.problem}"
        return (
            f"{registry_id}: OK — {self.allocations} allocations replayed from the seed under "
            f"{self.schemes} activated scheme(s); commitments, keyed hash chain and {published} published "
            f"head(s) verified. Current head: {self.head}"
        )


def verify_trial(trial: Trial, *, published: Iterable[tuple[int, str]] = ()) -> Report:
    """Verify the whole record; `published` are chain heads (number, hash) seen outside the
    database earlier (an email, the export file), which the record must still reach and match."""
    schemes = {
        s.pk: s
        for s in RandomizationScheme.objects.filter(trial=trial)
        .exclude(status=SchemeStatus.DRAFT)
        .select_related("secret")
        .order_by("version")
    }
    allocations = list(Allocation.objects.filter(trial=trial).order_by("sequence"))

    last = allocations[-1] if allocations else None
    head = heads.head_text(last.sequence, last.entry_hash) if last else heads.head_text(0, services.GENESIS_HASH)

    def report(problem: str | None) -> Report:
        return Report(len(allocations), len(schemes), problem, head)

    seeds: dict[int, bytes] = {}
    for scheme in schemes.values():
        try:
            seeds[scheme.pk] = scheme.secret.seed()
            config = methods.Config.from_canonical(scheme.config)
        except (RandomizationScheme.secret.RelatedObjectDoesNotExist, LookupError, ValueError) as exc:
            return report(f"scheme v{scheme.version}: unusable seed or configuration ({exc})")
        if methods.commitment(seeds[scheme.pk], config) != scheme.commitment:
            return report(f"scheme v{scheme.version}: the commitment does not match the seed and configuration")

    prev_hash = services.GENESIS_HASH
    records = []
    for expected, allocation in enumerate(allocations, start=1):
        where = f"allocation #{allocation.sequence} (participant {allocation.participant_id})"
        if allocation.sequence != expected:
            return report(f"{where}: expected randomization number {expected} (gap or duplicate)")
        under = schemes.get(allocation.scheme_id)
        if under is None:
            return report(f"{where}: made under a scheme that was never activated")
        if allocation.prev_hash != prev_hash:
            return report(f"{where}: the link to the previous entry is broken")
        try:
            computed = services.entry_hash(allocation, registry_id=trial.registry_id, scheme_version=under.version)
        except keyring.KeyringError as exc:
            return report(f"{where}: hashed with a chain {exc}")
        if computed != allocation.entry_hash:
            return report(f"{where}: the entry's keyed hash does not match its content (altered row)")
        prev_hash = allocation.entry_hash
        config = methods.Config.from_canonical(under.config)
        if allocation.method != config.method:
            return report(f"{where}: method {allocation.method!r} differs from the scheme's {config.method!r}")
        records.append(
            methods.Recorded(
                position=allocation.sequence,
                factors=allocation.factors,
                arm=allocation.arm,
                config=config,
                draws=allocation.draws,
                details=allocation.details,
                seed=seeds[under.pk],
            )
        )
    replayed = None
    if records:
        try:
            replayed = methods.replay(b"unused", records, config=records[0].config)
        except methods.ReplayMismatch as exc:
            return report(f"allocation #{exc.position}: replay mismatch: {exc}")
    problem = _check_published(allocations, published) or _check_state_row(trial, schemes, allocations, replayed)
    if problem:
        return report(problem)

    by_participant = {a.participant_id: a for a in allocations}
    randomized = list(Participant.objects.filter(trial=trial).exclude(randomization_number=None).order_by("pk"))
    for participant in randomized:
        entry = by_participant.get(participant.pk)
        if entry is None:
            return report(
                f"participant {participant.pk}: has randomization number {participant.randomization_number} "
                "but no allocation record"
            )
        if (participant.arm, participant.randomization_number, participant.randomized_at) != (
            entry.arm,
            entry.sequence,
            entry.allocated_at,
        ):
            return report(f"participant {participant.pk}: arm/number/time differ from allocation #{entry.sequence}")
    randomized_ids = {p.pk for p in randomized}
    for allocation in allocations:
        if allocation.participant_id not in randomized_ids:
            return report(f"allocation #{allocation.sequence}: the participant shows no randomization number")
    assessment_ids = [a.assessment_id for a in allocations if a.assessment_id is not None]
    assessed = dict(ScreeningAssessment.objects.filter(pk__in=assessment_ids).values_list("pk", "participant_id"))
    for allocation in allocations:
        if allocation.assessment_id is not None and assessed.get(allocation.assessment_id) != allocation.participant_id:
            return report(f"allocation #{allocation.sequence}: its screening assessment is not its participant's")
    return report(None)


def _check_published(allocations: list[Allocation], published: Iterable[tuple[int, str]]) -> str | None:
    """Each published head must still be in the record: a record shorter than a head lost its
    tail; a different hash at that number means the entries up to it were rewritten."""
    for sequence, entry_hash in published:
        if sequence > len(allocations):
            return (
                f"the published chain head #{sequence} is beyond the record, which ends at #{len(allocations)} "
                "(allocations deleted?)"
            )
        if allocations[sequence - 1].entry_hash != entry_hash:
            return f"allocation #{sequence} does not match the published chain head {sequence}:{entry_hash}"
    return None


def _check_state_row(
    trial: Trial,
    schemes: dict[int, RandomizationScheme],
    allocations: list[Allocation],
    replayed: methods.State | None,
) -> str | None:
    """The allocation-state row the next randomization starts from must be where the record
    ends: same number, same last hash, the active scheme, and exactly the replayed state. A
    tampered state would bias future allocations before any of them could fail the replay."""
    row = AllocationState.objects.filter(trial=trial).first()
    if row is None:
        return None if not schemes else "the allocation-state row is missing although a scheme was activated"
    last = allocations[-1] if allocations else None
    if (row.sequence, row.last_hash) != ((last.sequence, last.entry_hash) if last else (0, services.GENESIS_HASH)):
        return f"the allocation-state row is at #{row.sequence}, the record at #{last.sequence if last else 0}"
    active = next((s for s in schemes.values() if s.status == SchemeStatus.ACTIVE), None)
    if active is None or row.scheme_id != active.pk:
        return "the allocation-state row does not point at the active scheme"
    if row.state is None:
        return "the allocation-state row holds no state (null: the services never write one; altered state row)"
    config = methods.Config.from_canonical(active.config)
    expected = replayed if replayed is not None else methods.State(config=config)
    if expected.config != config:
        expected = expected.with_config(config)
    if row.state != expected.as_data():
        return "the stored allocation state differs from the replay of the record (altered state row)"
    return None
