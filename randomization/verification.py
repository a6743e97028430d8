"""Verification of a trial's allocation record (read-only; used by `verify_randomization`).

Checks, in this order, and stops at the first problem: every activated scheme's commitment
matches its seed and configuration; sequence numbers run 1..N without gaps; each entry's hash
and its link to the previous entry; the replay of every allocation from the seed (arm, draws,
minimization scores); the allocation-state row against the end of the record and its replayed
state; and the participant's copy of arm and number."""

from __future__ import annotations

from dataclasses import dataclass

from randomization import methods, services
from randomization.models import Allocation, AllocationState, RandomizationScheme, SchemeStatus
from trialsite.models import Participant, Trial


@dataclass(frozen=True)
class Report:
    allocations: int
    schemes: int
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_trial(trial: Trial) -> Report:
    schemes = {
        s.pk: s
        for s in RandomizationScheme.objects.filter(trial=trial)
        .exclude(status=SchemeStatus.DRAFT)
        .select_related("secret")
        .order_by("version")
    }
    allocations = list(Allocation.objects.filter(trial=trial).order_by("sequence"))

    def report(problem: str | None) -> Report:
        return Report(len(allocations), len(schemes), problem)

    for scheme in schemes.values():
        try:
            seed = bytes.fromhex(scheme.secret.seed_hex)
            config = methods.Config.from_canonical(scheme.config)
        except (RandomizationScheme.secret.RelatedObjectDoesNotExist, ValueError, KeyError) as exc:
            return report(f"scheme v{scheme.version}: unusable seed or configuration ({exc})")
        if methods.commitment(seed, config) != scheme.commitment:
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
        computed = services.entry_hash(allocation, registry_id=trial.registry_id, scheme_version=under.version)
        if computed != allocation.entry_hash:
            return report(f"{where}: the entry's hash does not match its content (altered row)")
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
                seed=bytes.fromhex(under.secret.seed_hex),
            )
        )
    replayed = None
    if records:
        try:
            replayed = methods.replay(b"unused", records, config=records[0].config)
        except methods.ReplayMismatch as exc:
            return report(f"allocation #{exc.position}: replay mismatch: {exc}")
    problem = _check_state_row(trial, schemes, allocations, replayed)
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
        if (participant.arm, participant.randomization_number) != (entry.arm, entry.sequence):
            return report(f"participant {participant.pk}: arm/number differ from allocation #{entry.sequence}")
    randomized_ids = {p.pk for p in randomized}
    for allocation in allocations:
        if allocation.participant_id not in randomized_ids:
            return report(f"allocation #{allocation.sequence}: the participant shows no randomization number")
    return report(None)


def _check_state_row(
    trial: Trial,
    schemes: dict[int, RandomizationScheme],
    allocations: list[Allocation],
    replayed: methods.State | None,
) -> str | None:
    """The allocation-state row the next randomization starts from must be where the record
    ends: same number, same last hash, the active scheme, and (unless it is left to be replayed)
    exactly the replayed state. A tampered state would bias future allocations before any of
    them could fail the replay."""
    row = AllocationState.objects.filter(trial=trial).first()
    if row is None:
        return None if not schemes else "the allocation-state row is missing although a scheme was activated"
    last = allocations[-1] if allocations else None
    if (row.sequence, row.last_hash) != ((last.sequence, last.entry_hash) if last else (0, services.GENESIS_HASH)):
        return f"the allocation-state row is at #{row.sequence}, the record at #{last.sequence if last else 0}"
    active = next((s for s in schemes.values() if s.status == SchemeStatus.ACTIVE), None)
    if active is None or row.scheme_id != active.pk:
        return "the allocation-state row does not point at the active scheme"
    if row.state is not None:
        config = methods.Config.from_canonical(active.config)
        expected = replayed if replayed is not None else methods.State(config=config)
        if expected.config != config:
            expected = expected.with_config(config)
        if row.state != expected.as_data():
            return "the stored allocation state differs from the replay of the record (altered state row)"
    return None
