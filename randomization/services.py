"""Writes of the randomization app: screening assessments, schemes and their activation, and
`participant_randomize`, the one door to an allocation (API, admin and benchmarks call it)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from randomization import eligibility as el
from randomization import heads, keyring, methods
from randomization.error_codes import RandomizationErrorCode
from randomization.models import (
    GENESIS_HASH,
    Allocation,
    AllocationState,
    EligibilityOutcome,
    RandomizationScheme,
    SchemeSecret,
    SchemeStatus,
    ScreeningAssessment,
)
from trialsite import clock, numbers, plausibility, renal, roles, selectors, services, signatures
from trialsite.error_codes import CommonErrorCode
from trialsite.errors import Conflict, InvalidInput, RuleViolation
from trialsite.models import Participant, ParticipantStatus, ProtocolVersion, Signature, Trial

DEFAULT_SCREENING_WINDOW_DAYS = 28


# --- Eligibility ---------------------------------------------------------------------------


# Screening numbers (ECOG, distances in cm, counts of sites and lesions): below 10⁶, 3 decimals.
FINDING_DIGITS, FINDING_PLACES = 9, 3


def _clean_findings(definition: dict[str, Any], findings: dict[str, Any]) -> dict[str, Any]:
    """Keep the fields the protocol's rules and stratification factors read, typed; refuse the
    rest (a typo must not silently become a missing value)."""
    kinds = assessment_fields(definition)
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for name, value in findings.items():
        kind = kinds.get(name)
        if kind is None:
            errors[name] = [_("Not a field of this protocol's screening assessment.")]
            continue
        if value is None or value == "":
            continue
        if kind == "boolean":
            if not isinstance(value, bool):
                errors[name] = [_("Answer yes or no.")]
                continue
            out[name] = value
        else:
            # Bounded before anything converts it: int("1e999999999") would build a
            # billion-digit integer and stall the worker (issue 12 §3).
            try:
                number = numbers.parse_decimal(value, max_digits=FINDING_DIGITS, decimal_places=FINDING_PLACES)
            except numbers.NumberError as exc:
                errors[name] = [str(exc)]
                continue
            if number < 0:
                errors[name] = [_("Enter a number of 0 or more.")]
                continue
            out[name] = int(number) if number == number.to_integral_value() else float(number)
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)
    return out


def assessment_fields(definition: dict[str, Any]) -> dict[str, str]:
    """Fields a nurse records: the rule fields (minus computed ones) and the non-site
    stratification factors ("boolean" or "number"; ECOG is a number, liver-only a yes/no)."""
    kinds = {
        name: kind
        for name, kind in el.rule_fields(definition.get("eligibility", {})).items()
        if name not in el.COMPUTED_FIELDS
    }
    for factor in definition.get("randomization", {}).get("factors", []):
        code = factor["code"]
        if code != "site" and code not in kinds:
            levels = factor.get("levels") or []
            kinds[code] = "boolean" if sorted(levels) == ["no", "yes"] else "number"
    return kinds


def screening_window_days(definition: dict[str, Any]) -> int:
    return int(definition.get("eligibility", {}).get("screening_window_days", DEFAULT_SCREENING_WINDOW_DAYS))


def _screening_crcl(
    participant: Participant, age: int | None, creatinine: el.Lab | None, *, assessed_on: dt.date, oldest: dt.date
) -> tuple[Decimal | None, Decimal | None]:
    """The weight used and the Cockcroft–Gault CrCl at screening: the same formula and the same
    weight basis (the protocol's `dosing.crcl_weight_basis`) as the dose sheets, so a participant
    is not eligible on one CrCl and dosed on another. (None, None) when an input is missing or
    out of the screening window; an ideal or adjusted basis also needs a height."""
    basis = renal.protocol_weight_basis(participant.protocol_version.definition)
    rows = {
        kind: selectors.latest_measurement(participant, kind, on_or_before=assessed_on)
        for kind in (("weight",) if basis == "actual" else ("weight", "height"))
    }
    current = {kind: row.value for kind, row in rows.items() if row is not None and row.measured_on >= oldest}
    if "weight" not in current:
        return None, None
    if age is None or creatinine is None or creatinine.value <= 0 or len(current) < len(rows):
        return current["weight"], None
    weight = renal.weight_on_basis(current["weight"], current.get("height"), participant.sex, basis)
    crcl = renal.cockcroft_gault(
        age_years=age,
        weight_kg=weight,
        sex=participant.sex,
        creatinine_mg_dl=renal.creatinine_mg_dl(umol_l=creatinine.value),
    )
    return weight, crcl


@transaction.atomic
def screening_assessment_record(
    *,
    participant: Participant,
    assessed_on: dt.date,
    findings: dict[str, Any],
    by: User | None,
    today: dt.date,
) -> ScreeningAssessment:
    """Record a screening: compute age at consent and Cockcroft–Gault CrCl, read the latest labs
    (within the screening window), evaluate every criterion, and set the participant eligible or
    ineligible. Earlier assessments are kept."""
    roles.require(by, "randomization.add_screeningassessment", site=participant.site_id)
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("protocol_version", "site")
        .get(pk=participant.pk)
    )
    if participant.is_off_study:
        raise Conflict(
            _("Screening is closed for a withdrawn participant."), code=CommonErrorCode.PARTICIPANT_WITHDRAWN
        )
    if participant.is_randomized:
        raise RuleViolation(
            _("Screening is closed for a randomized participant."), code=RandomizationErrorCode.SCREENING_CLOSED
        )
    # Before the date arithmetic below: year 1 minus the screening window overflowed (a 500).
    assessed = plausibility.participant_date_error(
        "assessed_on", assessed_on, participant, today=today, after_consent=True
    )
    plausibility.check({"assessed_on": assessed})
    definition = participant.protocol_version.definition
    clean = _clean_findings(definition, findings)
    window = screening_window_days(definition)
    oldest = assessed_on - dt.timedelta(days=window)

    fields: dict[str, Any] = dict(clean)
    age = None
    if participant.consent_date is not None:
        age = el.age_in_years(participant.birth_date, participant.consent_date)
        fields["age_years"] = age
    latest = selectors.latest_labs(participant, on_or_before=assessed_on)
    labs = {code: el.Lab(row.value, row.uln) for code, row in latest.items() if row.collected_on >= oldest}
    weight, crcl = _screening_crcl(participant, age, labs.get("creatinine"), assessed_on=assessed_on, oldest=oldest)
    if crcl is not None:
        fields["creatinine_clearance_ml_min"] = crcl
    result = el.evaluate(definition.get("eligibility", {}), fields, labs)

    assessment = ScreeningAssessment(
        participant=participant,
        assessed_on=assessed_on,
        findings=clean,
        age_years=age,
        weight_kg=weight,
        creatinine_clearance_ml_min=crcl,
        labs={
            code: {
                "value": str(row.value),
                "uln": None if row.uln is None else str(row.uln),
                "unit": row.unit,
                "collected_on": row.collected_on.isoformat(),
            }
            for code, row in latest.items()
            if code in labs
        },
        outcome=result.outcome,
        criteria=[c.as_dict() for c in result.criteria],
        assessed_by=by,
    )
    services._full_clean(assessment)
    assessment.save()
    target: str | None = None
    if result.outcome == EligibilityOutcome.ELIGIBLE:
        target = ParticipantStatus.ELIGIBLE
    elif result.outcome == EligibilityOutcome.NOT_ELIGIBLE or participant.status == ParticipantStatus.ELIGIBLE:
        # "Not assessable" is never eligible: an eligible participant whose re-screening lacks data
        # is no longer eligible until a complete assessment says so.
        target = ParticipantStatus.INELIGIBLE
    if target is not None and participant.status != target:
        services.participant_set_status(participant=participant, status=target, by=by)
    return assessment


def criterion_reason(criterion: dict[str, Any], language: str | None = None) -> str:
    """One failed or missing criterion, in the user's language."""
    language = language or get_language() or "en"
    text = criterion["text_zh"] if language.lower().startswith("zh") else criterion["text"]
    if criterion["status"] == el.NOT_ASSESSABLE:
        return _("%(criterion)s: not assessable (missing data)") % {"criterion": text}
    values = ", ".join(
        f"{f.get('field') or f.get('analyte')} = {f.get('value')}" for f in criterion.get("facts", []) if "value" in f
    )
    return _("%(criterion)s: not met (%(values)s)") % {"criterion": text, "values": values}


def eligibility_reasons(assessment: ScreeningAssessment | None, *, today: dt.date) -> list[str]:
    """Why a participant may not be randomized on `today` (empty: eligible)."""
    if assessment is None:
        return [_("No screening assessment within the screening window.")]
    if assessment.outcome == EligibilityOutcome.ELIGIBLE:
        return []  # every criterion met (and the criteria column need not be loaded)
    reasons = [criterion_reason(c) for c in assessment.criteria if c["status"] != el.MET]
    if assessment.outcome != EligibilityOutcome.ELIGIBLE and not reasons:
        reasons = [_("The latest screening assessment is not eligible.")]
    return reasons


def latest_assessment(participant: Participant, *, today: dt.date) -> ScreeningAssessment | None:
    """The latest assessment that still counts: assessments older than the protocol's screening
    window before `today` (the randomization day) do not."""
    window = _protocol_screening_window(participant.protocol_version_id)
    return (
        ScreeningAssessment.objects.filter(
            participant_id=participant.pk, assessed_on__range=(today - dt.timedelta(days=window), today)
        )
        .defer("criteria", "labs")  # large; loaded only if a reason needs them
        .order_by("-assessed_on", "-id")
        .first()
    )


# A loaded protocol version is never changed, so its screening window can be cached per
# process (randomize then never decodes the whole definition).
@functools.cache
def _protocol_screening_window(protocol_version_id: int) -> int:
    definition = ProtocolVersion.objects.values_list("definition", flat=True).get(pk=protocol_version_id)
    return screening_window_days(definition)


# --- Schemes -------------------------------------------------------------------------------


@transaction.atomic
def scheme_create(
    *, trial: Trial, by: User | None, overrides: dict[str, Any] | None = None, reason: str = ""
) -> RandomizationScheme:
    """A draft scheme from the trial's protocol definition, with the statistician's overrides
    (method, p, imbalance, block sizes, efron_p, factors)."""
    roles.require(by, "randomization.add_randomizationscheme")  # the statistician's
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    try:
        config = methods.Config.from_definition(trial.definition, **_config_overrides(overrides or {}))
    except (methods.ConfigurationError, TypeError, ValueError) as exc:
        raise InvalidInput(str(exc), errors={"config": [str(exc)]}) from exc
    last = RandomizationScheme.objects.filter(trial=trial).order_by("-version").first()
    scheme = RandomizationScheme(
        trial=trial,
        version=(last.version + 1) if last else 1,
        config=config.canonical(),
        reason=reason,
        created_by=by,
    )
    services._full_clean(scheme, validate_constraints=False)
    scheme.save()
    return scheme


def _config_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in ("method", "imbalance"):
            out[key] = str(value)
        elif key in ("p", "efron_p"):
            out[key] = float(value)
        elif key == "block_sizes":
            out[key] = tuple(int(v) for v in value)
        elif key == "factors":
            out[key] = tuple(
                methods.Factor(f["code"], float(f.get("weight", 1)), tuple(f["levels"]) if f.get("levels") else None)
                for f in value
            )
        else:
            raise InvalidInput(_("Unknown setting %(k)s.") % {"k": key}, errors={key: [_("Unknown setting.")]})
    return out


# Kept in the history row's change reason (simple-history's 100 characters).
ACTIVATION_REASON_MAX = 100


@transaction.atomic
def scheme_activate(
    *, scheme: RandomizationScheme, by: User | None, now: dt.datetime, reason: str = ""
) -> RandomizationScheme:
    """Create the secret seed, publish the commitment, freeze the configuration. A previously
    active scheme of the trial becomes superseded (allocations continue under the new one).
    `reason` (why now: go-live, amendment) is kept as typed in the scheme's history."""
    roles.require(by, "randomization.activate_scheme")  # the statistician's
    if len(reason.strip()) > ACTIVATION_REASON_MAX:
        message = _("At most %(n)s characters.") % {"n": ACTIVATION_REASON_MAX}
        raise InvalidInput(message, errors={"reason": [message]})
    # Lock order: the trial's schemes by primary key, then its allocation-state row (randomize
    # locks only the latter).
    locked = list(RandomizationScheme.objects.select_for_update().filter(trial_id=scheme.trial_id).order_by("pk"))
    scheme = next(s for s in locked if s.pk == scheme.pk)
    if scheme.status != SchemeStatus.DRAFT:
        raise Conflict(_("This scheme has already been activated."), code=RandomizationErrorCode.SCHEME_ALREADY_ACTIVE)
    config = methods.Config.from_canonical(scheme.config)
    seed = secrets.token_bytes(32)
    for other in locked:
        if other.status == SchemeStatus.ACTIVE:
            other.status = SchemeStatus.SUPERSEDED
            other.save(update_fields=["status"])
    key_id, sealed = keyring.seed_encrypt(seed, scheme_id=scheme.pk)
    SchemeSecret.objects.create(scheme=scheme, key_id=key_id, seed_encrypted=sealed)
    scheme.commitment = methods.commitment(seed, config)
    scheme.status = SchemeStatus.ACTIVE
    scheme.activated_at = now
    scheme.activated_by = by
    scheme._change_reason = reason.strip() or None  # type: ignore[attr-defined]  # simple-history
    scheme.save(update_fields=["commitment", "status", "activated_at", "activated_by"])
    # The trial's allocation-state row (randomize's lock) follows the active scheme. A first
    # scheme starts from the empty state; after an amendment the state is replayed from the
    # record here, under these locks (counts carry over, open blocks do not:
    # methods.State.with_config), so the row never holds a null state.
    row = AllocationState.objects.select_for_update().filter(trial_id=scheme.trial_id).first()
    if row is None:
        AllocationState.objects.create(
            trial_id=scheme.trial_id,
            scheme=scheme,
            sequence=0,
            last_hash=GENESIS_HASH,
            state=methods.State(config=config).as_data(),
            updated_at=now,
        )
    else:
        row.scheme = scheme
        row.state = _replayed_state(scheme.trial, config, row.sequence).as_data()
        row.updated_at = now
        row.save(update_fields=["scheme", "state", "updated_at"])
    return scheme


# --- Randomization -------------------------------------------------------------------------


def canonical_entry(allocation: Allocation, *, registry_id: str, scheme_version: int) -> bytes:
    """The bytes an allocation's hash covers: every field of the entry (the trial by registry id,
    the scheme by version), the previous entry's hash and the id of the key it is hashed with.
    tests/randomization/test_verify.py holds this to every field of the model."""
    data = {
        "trial": registry_id,
        "scheme_version": scheme_version,
        "sequence": allocation.sequence,
        "participant": allocation.participant_id,
        "arm": allocation.arm,
        "method": allocation.method,
        "factors": allocation.factors,
        "draws": allocation.draws,
        "details": allocation.details,
        "assessment": allocation.assessment_id,
        "allocated_at": allocation.allocated_at.astimezone(dt.UTC).isoformat(),
        "allocated_by": allocation.allocated_by_id,
        "prev_hash": allocation.prev_hash,
        "chain_key_id": allocation.chain_key_id,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(allocation: Allocation, *, registry_id: str, scheme_version: int) -> str:
    """HMAC-SHA-256 of the entry under its chain key (keyring.KeyringError if that key is not
    configured): without the key, a rewritten entry cannot be given a matching hash."""
    return keyring.chain_hmac(
        allocation.chain_key_id, canonical_entry(allocation, registry_id=registry_id, scheme_version=scheme_version)
    )


def replay_records(trial: Trial) -> list[methods.Recorded]:
    """The trial's allocation record as the pure replay sees it (seeds included: internal use)."""
    activated = RandomizationScheme.objects.filter(trial=trial).exclude(status=SchemeStatus.DRAFT)
    activated = activated.select_related("secret")
    schemes = {s.pk: (methods.Config.from_canonical(s.config), s.secret.seed()) for s in activated}
    out = []
    for a in Allocation.objects.filter(trial=trial).order_by("sequence"):
        config, seed = schemes[a.scheme_id]
        out.append(
            methods.Recorded(
                position=a.sequence,
                factors=a.factors,
                arm=a.arm,
                config=config,
                draws=a.draws,
                details=a.details,
                seed=seed,
            )
        )
    return out


@functools.cache
def _scheme_material(scheme_id: int) -> tuple[int, methods.Config, bytes]:
    """An activated scheme's version, configuration and seed. They never change once activated
    (a trigger freezes them), so each process reads them once."""
    scheme = RandomizationScheme.objects.select_related("secret").get(pk=scheme_id)
    return scheme.version, methods.Config.from_canonical(scheme.config), scheme.secret.seed()


def _record_corrupt() -> RuleViolation:
    # The record no longer agrees with itself: refuse to add to it (verify_randomization names
    # the row).
    return RuleViolation(
        _("The allocation record failed its integrity check; randomization is suspended."),
        code=RandomizationErrorCode.ALLOCATION_RECORD_CORRUPT,
    )


def _state_from_row(trial: Trial, config: methods.Config, sequence: int, data: Any) -> methods.State:
    """The allocation state stored with the lock row; replayed from the record when it holds
    something unusable. A null state is never written (an amendment stores the replayed one), so
    it means the row was tampered with: randomization is suspended, as verification fails."""
    if data is None:
        raise _record_corrupt()
    try:
        return methods.State.from_data(config, data)
    except methods.ConfigurationError:
        return _replayed_state(trial, config, sequence)  # the record is the truth


def _replayed_state(trial: Trial, config: methods.Config, sequence: int) -> methods.State:
    """The state that replaying the trial's whole record gives, under `config`."""
    records = replay_records(trial)
    if len(records) != sequence:
        raise _record_corrupt()
    try:
        state = methods.replay(b"unused", records, config=records[0].config if records else config)
    except methods.ReplayMismatch as exc:
        raise _record_corrupt() from exc
    return state if state.config == config else state.with_config(config)


@transaction.atomic
def participant_randomize(
    *,
    participant: Participant,
    by: User,
    now: dt.datetime,
    scrt_start_date: dt.date | None = None,
    signature: Signature | None = None,
) -> Allocation:
    """Allocate an eligible, consented participant, exactly once, then make the treatment plan
    when a start date is given (a refused date refuses the randomization: one transaction).

    Locks, always in this order: the participant row (so a double click randomizes once; the
    eligibility checks run under it), then the trial's allocation-state row (serialises the
    trial's allocations, so two nurses never share an allocation state or a sequence number).
    The database backs both rules: unique constraints on (trial, sequence) and on the
    participant, and a trigger that refuses an allocation which does not continue the chain
    (number n + 1 after n, linked by hash).

    Signed by the person who randomizes (`signature`, trialsite.signatures): used for the
    allocation, its manifestation in the participant's history row."""
    roles.require(by, "randomization.randomize_participant", site=participant.site_id)
    signed = signatures.check(signature, by=by, meaning=signatures.RANDOMIZE, now=now)
    participant = _participant_lock(participant.pk)
    _check_randomizable(participant)
    # "Today" at the participant's site: the screening window is counted in local days.
    today = clock.local_date(now, participant.site.time_zone)
    assessment = _check_eligible(participant, today=today)
    allocation = _allocate(participant, assessment, by=by, now=now, signature=signed)
    if scrt_start_date is not None:
        _make_plan(participant=participant, scrt_start_date=scrt_start_date, by=by, now=now)
    # The new chain head leaves the database once the allocation is committed (export file and
    # the statisticians' email), so that a later deletion of the record's tail is found.
    registry_id = participant.trial.registry_id
    transaction.on_commit(functools.partial(heads.publish, allocation, registry_id=registry_id))
    return allocation


def _participant_lock(pk: int) -> Participant:
    # FOR UPDATE OF the participant only: its trial and site are read, not locked (every
    # booking and randomization of the trial reads them).
    return Participant.objects.select_for_update(of=("self",)).select_related("trial", "site").get(pk=pk)


def _check_randomizable(participant: Participant) -> None:
    # The participant's copy is written in the same transaction as the allocation (and the
    # unique constraint on Allocation.participant backs it), so it answers "already randomized".
    if participant.randomization_number is not None:
        raise Conflict(
            _("This participant is already randomized (number %(n)s).") % {"n": participant.randomization_number},
            code=RandomizationErrorCode.ALREADY_RANDOMIZED,
            extra={"randomization_number": participant.randomization_number},
        )
    if participant.is_off_study:
        raise Conflict(_("A withdrawn participant cannot be randomized."), code=CommonErrorCode.PARTICIPANT_WITHDRAWN)


def _check_eligible(participant: Participant, *, today: dt.date) -> ScreeningAssessment:
    """The latest screening that counts, if it and the participant allow randomization today."""
    problems: dict[str, list[str]] = {}
    if participant.consent_date is None:
        problems["consent_date"] = [_("Consent has not been recorded.")]
    assessment = latest_assessment(participant, today=today)
    reasons = eligibility_reasons(assessment, today=today)
    if reasons:
        problems["eligibility"] = reasons
    elif participant.status != ParticipantStatus.ELIGIBLE:
        problems["status"] = [_("The participant is not marked eligible.")]
    if problems:
        raise RuleViolation(
            _("The participant cannot be randomized: %(reasons)s")
            % {"reasons": "; ".join(m for msgs in problems.values() for m in msgs)},
            code=RandomizationErrorCode.NOT_ELIGIBLE,
            errors=problems,
        )
    assert assessment is not None  # no reasons without one
    return assessment


def _allocate(
    participant: Participant,
    assessment: ScreeningAssessment,
    *,
    by: User,
    now: dt.datetime,
    signature: Signature | None = None,
) -> Allocation:
    """The serialised part: lock the trial's allocation-state row, allocate from the state it
    holds, write the allocation, the new state and the participant's randomized fields (with its
    history row, by `by`). Under READ COMMITTED the locked row comes back in its latest committed
    version, so the previous holder's allocation is always seen."""
    trial = participant.trial
    try:
        row = AllocationState.objects.select_for_update().get(pk=trial.pk)
    except AllocationState.DoesNotExist:
        raise RuleViolation(
            _("Randomization has not been activated for this trial."),
            code=RandomizationErrorCode.RANDOMIZATION_NOT_ACTIVE,
        ) from None
    cap = trial.target_enrollment  # read with the participant row, after any committed raise
    if row.sequence >= cap:
        raise RuleViolation(
            _("The target enrollment (%(n)s) has been reached; only the statistician can raise it.") % {"n": cap},
            code=RandomizationErrorCode.ENROLLMENT_CAP_REACHED,
        )
    scheme_version, config, seed = _scheme_material(row.scheme_id)
    state = _state_from_row(trial, config, row.sequence, row.state)
    factor_levels = el.stratification_levels(
        [f.code for f in config.factors], assessment.findings, participant.site.code
    )
    try:
        levels = methods.check_factors(config, factor_levels)
    except methods.ConfigurationError as exc:
        raise RuleViolation(
            _("A stratification factor is missing from the screening assessment: %(e)s") % {"e": exc},
            code=RandomizationErrorCode.STRATIFICATION_MISSING,
            errors={"eligibility": [str(exc)]},
        ) from exc
    sequence = row.sequence + 1
    draws = methods.HmacDraws(seed, sequence)
    decision = methods.allocate(state, levels, draws)
    allocation = Allocation(
        trial=trial,
        scheme_id=row.scheme_id,
        participant=participant,
        sequence=sequence,
        arm=decision.arm,
        method=config.method,
        factors=levels,
        draws=draws.used,
        details=decision.details,
        assessment=assessment,
        allocated_at=now,
        allocated_by=by,
        prev_hash=row.last_hash,
        chain_key_id=keyring.chain_key_id(),
    )
    allocation.entry_hash = entry_hash(allocation, registry_id=trial.registry_id, scheme_version=scheme_version)
    try:
        # No savepoint: a violation aborts the whole randomization anyway.
        allocation.save(force_insert=True)
    except IntegrityError as exc:
        # Only reachable if the locks above were bypassed or the lock row disagrees with the
        # record: the constraints are the last word, and the whole randomization is undone.
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or ""
        if "participant" in constraint:
            raise Conflict(
                _("This participant is already randomized."), code=RandomizationErrorCode.ALREADY_RANDOMIZED
            ) from exc
        raise _record_corrupt() from exc
    AllocationState.objects.filter(trial_id=trial.pk).update(
        sequence=sequence, last_hash=allocation.entry_hash, state=state.as_data(), updated_at=now
    )
    signatures.consume(signature, by=by, meaning=signatures.RANDOMIZE, target=allocation, now=now)
    if signature is not None:
        signatures.set_change_reason(participant, signature)  # the history nurses read
    participant.status = ParticipantStatus.RANDOMIZED
    participant.arm = decision.arm
    participant.randomization_number = sequence
    participant.randomized_at = now
    participant._history_user = by  # type: ignore[attr-defined]  # simple-history: who, and when
    participant._history_date = now  # type: ignore[attr-defined]
    participant.save(update_fields=["status", "arm", "randomization_number", "randomized_at"])
    return allocation


# --- The treatment plan at randomization ---------------------------------------------------

# The plan belongs to schedules, a floor above this app, so randomize cannot import it:
# schedules hands its plan-making call in at start-up (SchedulesConfig.ready) and randomize calls
# it directly, inside its transaction, so a refused start date (a holiday) refuses the
# randomization. One callee whose refusal is the caller's answer: a hook, not a signal.
PlanMaker = Callable[..., object]
_plan_maker: PlanMaker | None = None


def plan_maker_register(maker: PlanMaker) -> None:
    """Called once by schedules: `maker(participant=, scrt_start_date=, by=, now=)`."""
    global _plan_maker
    _plan_maker = maker


def _make_plan(*, participant: Participant, scrt_start_date: dt.date, by: User, now: dt.datetime) -> None:
    if _plan_maker is None:
        raise ImproperlyConfigured("No treatment-plan maker registered (is the schedules app installed?)")
    _plan_maker(participant=participant, scrt_start_date=scrt_start_date, by=by, now=now)
