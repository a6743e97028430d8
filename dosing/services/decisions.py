"""The investigators' decisions about doses: a dose modification after a toxicity, and a renal
decision for a creatinine clearance band. Each re-prepares the sheets it changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from adverse_events import selectors as ae_selectors
from adverse_events.models import AdverseEvent
from dosing import document, regimen
from dosing.calculations import drug_doses, formulas, modifications
from dosing.error_codes import DosingErrorCode
from dosing.models import DoseModification, RenalDecision
from dosing.services.document import calculation_error, cycle_seq, modification_records
from dosing.services.sheets import _current, dose_sheets_refresh
from trialsite import roles, signatures
from trialsite.errors import Conflict, InvalidInput, RuleViolation
from trialsite.i18n import drug_name
from trialsite.models import Participant, Signature
from trialsite.phrases import code, phrase

# Why the following sheets were re-prepared (an end reason, a stored phrase; dosing.wording).
END_MODIFICATION = gettext_noop("dose modification: %(drug)s %(action)s (%(toxicity)s grade %(grade)s)")
END_RENAL_DECISION = gettext_noop("renal decision recorded")


@transaction.atomic
def dose_modification_record(
    *,
    participant: Participant,
    drug: str,
    phase: str,
    cycle_number: int,
    toxicity_term: str,
    ctcae_grade: int,
    reason: str,
    by: User,
    now: dt.datetime,
    requested_action: str | None = None,
    adverse_event: AdverseEvent | None = None,
    signature: Signature | None = None,
) -> DoseModification:
    """Record an investigator's modification after a toxicity seen in (phase, cycle_number). The
    action follows the drug's rule (calculations.decide_modification); the following cycles'
    sheets are re-prepared (a released one is superseded). With `adverse_event` (a toxicity of
    the log), its term and grade are the decision's and the appearance is counted from the log
    (adverse_events.selectors.appearance_count), not from earlier decisions. Signed by the
    investigator (`signature`, trialsite.signatures)."""
    roles.require(by, "dosing.add_dosemodification", site=participant.site_id)
    signed = signatures.check(signature, by=by, meaning=signatures.DOSE_MODIFICATION, now=now)
    if adverse_event is not None:
        toxicity_term, ctcae_grade = _from_log(adverse_event, participant, toxicity_term, ctcae_grade)
    participant = (
        Participant.objects.select_for_update(of=("self",)).select_related("protocol_version").get(pk=participant.pk)
    )
    definition = participant.protocol_version.definition
    if drug not in (definition.get("drugs") or {}):
        raise InvalidInput(_("Unknown drug %(drug)s.") % {"drug": drug}, errors={"drug": [_("Unknown drug.")]})
    cycle_seq(definition, phase, cycle_number)
    _require_in_regimen(definition, participant, phase, drug)
    if not reason.strip():
        raise InvalidInput(_("Give the reason for the decision."), errors={"reason": [_("This field is required.")]})
    if not toxicity_term.strip():
        raise InvalidInput(_("Name the toxicity."), errors={"toxicity_term": [_("This field is required.")]})
    seq = cycle_seq(definition, phase, cycle_number)
    spec = regimen.drug_spec(definition, drug)
    previous = list(DoseModification.objects.filter(participant=participant, drug=drug).order_by("cycle_seq", "id"))
    current_level = max((m.new_level for m in previous if m.cycle_seq <= seq), default=0)
    term = toxicity_term.strip()
    if adverse_event is not None:
        appearance = 1 + ae_selectors.appearance_count(
            participant=participant, term=adverse_event.term, grade=adverse_event.grade, drug=drug, before=adverse_event
        )
    else:
        appearance = 1 + sum(
            1 for m in previous if m.toxicity_term.lower() == term.lower() and m.ctcae_grade == ctcae_grade
        )
    try:
        outcome = modifications.decide_modification(
            spec,
            grade=ctcae_grade,
            appearance=appearance,
            current_level=current_level,
            requested_action=requested_action or None,
        )
    except formulas.CalculationError as exc:
        if exc.code == DosingErrorCode.ALREADY_DISCONTINUED:
            raise RuleViolation(str(exc), code=exc.code) from exc
        if exc.code == DosingErrorCode.NOT_REDUCIBLE:
            raise RuleViolation(str(exc), code=exc.code, errors={"requested_action": [str(exc)]}) from exc
        raise calculation_error(exc) from exc
    row = DoseModification(
        participant=participant,
        drug=drug,
        phase=phase,
        cycle_number=cycle_number,
        cycle_seq=seq,
        toxicity_term=term,
        ctcae_grade=ctcae_grade,
        appearance=appearance,
        adverse_event=adverse_event,
        action=outcome.action,
        new_level=outcome.new_level,
        level_label=drug_doses.level_label(spec, outcome.new_level),
        rule=outcome.rule,
        reason=reason.strip(),
        decided_by=by,
        decided_at=now,
    )
    row.full_clean()
    if signed is not None:
        signatures.set_change_reason(row, signed)
    row.save()
    signatures.consume(signed, by=by, meaning=signatures.DOSE_MODIFICATION, target=row, now=now)
    dose_sheets_refresh(
        participant=participant,
        reason=phrase(
            END_MODIFICATION,
            drug=code("drug", drug),
            action=code("modification_action", outcome.action),
            toxicity=term,  # as the investigator typed it, or the log's term
            grade=ctcae_grade,
        ),
        by=None,  # the follow-up of the modification checked above: the system
        now=now,
        min_cycle_seq=seq + 1,
    )
    return row


@transaction.atomic
def renal_decision_record(
    *,
    participant: Participant,
    phase: str,
    cycle_number: int,
    drug: str,
    decision: str,
    reason: str,
    by: User,
    now: dt.datetime,
    reduce_to: Decimal | None = None,
    signature: Signature | None = None,
) -> RenalDecision:
    """Record an investigator's renal decision for one drug of a cycle: confirm the full dose,
    reduce to `reduce_to` (one of the drug's dose levels: 75 for 75 %, 100 for 100 mg/m²) or
    withhold. It must fit the renal rule of the CrCl on the cycle's current sheet (422
    otherwise); the sheet is then re-prepared and reads the decision, so the two agree. Signed
    by the investigator (`signature`, trialsite.signatures)."""
    roles.require(by, "dosing.add_renaldecision", site=participant.site_id)
    signed = signatures.check(signature, by=by, meaning=signatures.RENAL_DECISION, now=now)
    participant = (
        Participant.objects.select_for_update(of=("self",)).select_related("protocol_version").get(pk=participant.pk)
    )
    definition = participant.protocol_version.definition
    seq = cycle_seq(definition, phase, cycle_number)
    if decision not in RenalDecision.Decision.values:
        raise InvalidInput(
            _("Choose confirm, reduce or withhold."), errors={"decision": [_("Choose confirm, reduce or withhold.")]}
        )
    if not reason.strip():
        raise InvalidInput(_("Give the reason for the decision."), errors={"reason": [_("This field is required.")]})
    _require_in_regimen(definition, participant, phase, drug)
    sheet = _current(participant, phase, cycle_number)
    if sheet is None:
        raise RuleViolation(
            _("No current dose sheet for this cycle: prepare it first, then decide on its creatinine clearance."),
            code=DosingErrorCode.NO_CURRENT_SHEET,
        )
    spec = regimen.drug_spec(definition, drug)
    crcl_value = sheet.content.get("creatinine_clearance_ml_min")
    crcl = Decimal(str(crcl_value)) if crcl_value is not None else None
    rule = modifications.renal_rule_for(regimen.dosing_settings(definition).renal_rules, drug, crcl)
    level: int | None = None
    if reduce_to is not None:
        if Decimal(reduce_to) not in spec.levels:
            message = _("%(value)s is not a dose level of %(drug)s (levels: %(levels)s).") % {
                "value": formulas.format_number(reduce_to),
                "drug": drug_name(drug),
                "levels": ", ".join(drug_doses.level_label(spec, i) for i in range(1, len(spec.levels))) or "—",
            }
            raise RuleViolation(
                message, code=DosingErrorCode.RENAL_DECISION_NOT_FITTING, errors={"reduce_to": [message]}
            )
        level = spec.levels.index(Decimal(reduce_to))
    current_level = document.modification_levels(definition, modification_records(participant), seq)[0].get(
        drug, (0, False)
    )[0]
    problem = modifications.renal_decision_problem(
        spec, rule, decision=decision, level=level, current_level=current_level
    )
    if problem is not None:
        fitting = modifications.FITTING_DECISIONS[rule.action] if rule else ()
        message = _(problem) % {
            "drug": drug_name(drug),
            "band": rule.band if rule else "",
            "decisions": ", ".join(str(RenalDecision.Decision(d).label) for d in fitting),
            "level": drug_doses.level_label(spec, current_level),
        }
        field = (
            "reduce_to"
            if decision == modifications.DECISION_REDUCE
            and rule
            and decision in modifications.FITTING_DECISIONS[rule.action]
            else "decision"
        )
        raise RuleViolation(message, code=DosingErrorCode.RENAL_DECISION_NOT_FITTING, errors={field: [message]})
    assert rule is not None and crcl is not None
    row = RenalDecision(
        participant=participant,
        phase=phase,
        cycle_number=cycle_number,
        drug=drug,
        band=rule.band,
        crcl_ml_min=crcl,
        decision=decision,
        level=level,
        level_label=drug_doses.level_label(spec, level) if level is not None else "",
        reason=reason.strip(),
        decided_by=by,
        decided_at=now,
    )
    row.full_clean(validate_constraints=False, validate_unique=False)
    if signed is not None:
        signatures.set_change_reason(row, signed)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:
        raise Conflict(
            _("A renal decision for this drug, cycle and CrCl band is already recorded."),
            code=DosingErrorCode.RENAL_DECISION_EXISTS,
        ) from exc
    signatures.consume(signed, by=by, meaning=signatures.RENAL_DECISION, target=row, now=now)
    dose_sheets_refresh(
        participant=participant, reason=phrase(END_RENAL_DECISION), by=None, now=now, only=(phase, cycle_number)
    )  # by=None: the follow-up of the decision checked above
    return row


def _require_in_regimen(definition: Mapping[str, Any], participant: Participant, phase: str, drug: str) -> None:
    """A decision about a drug the participant's arm does not receive in `phase` is refused (422)."""
    if drug not in (definition.get("drugs") or {}):
        raise InvalidInput(_("Unknown drug %(drug)s.") % {"drug": drug}, errors={"drug": [_("Unknown drug.")]})
    if drug not in [spec.code for spec in regimen.drug_specs(definition, participant.arm, phase)]:
        message = _("The participant's arm does not receive %(drug)s in this phase.") % {"drug": drug_name(drug)}
        raise RuleViolation(message, code=DosingErrorCode.DRUG_NOT_IN_REGIMEN, errors={"drug": [message]})


def _from_log(event: AdverseEvent, participant: Participant, term: str, grade: int) -> tuple[str, int]:
    """The term and grade of a toxicity of the log, refusing one of another participant or a
    typed term or grade that contradicts it."""
    if event.participant_id != participant.pk:
        message = _("This toxicity was recorded for another participant.")
        raise InvalidInput(message, errors={"adverse_event": [message]})
    if term.strip() and term.strip().lower() != event.term.term.lower():
        message = _("The log records %(term)s for this toxicity.") % {"term": event.term.term}
        raise InvalidInput(message, errors={"toxicity_term": [message]})
    if grade and grade != event.grade:
        message = _("The log records grade %(grade)s for this toxicity.") % {"grade": event.grade}
        raise InvalidInput(message, errors={"ctcae_grade": [message]})
    return event.term.term, event.grade


def dose_modification_proposal(*, adverse_event: AdverseEvent, drug: str, by: User) -> dict[str, Any]:
    """What the protocol's table proposes for this toxicity of the log and drug (a read): the
    fields the investigator's form starts from, the appearance counted from the log, and the
    action and dose level the rule gives. The investigator confirms it or overrides it with a
    reason (requested_action)."""
    participant = adverse_event.participant
    roles.require(by, "dosing.add_dosemodification", site=participant.site_id)
    definition = participant.protocol_version.definition
    if drug not in (definition.get("drugs") or {}):
        raise InvalidInput(_("Unknown drug %(drug)s.") % {"drug": drug}, errors={"drug": [_("Unknown drug.")]})
    basis = ae_selectors.modification_basis(adverse_event, drug=drug)
    spec = regimen.drug_spec(definition, drug)
    seq = (
        cycle_seq(definition, adverse_event.phase, adverse_event.cycle_number)
        if adverse_event.phase and adverse_event.cycle_number
        else None
    )
    previous = DoseModification.objects.filter(participant=participant, drug=drug)
    current_level = max((m.new_level for m in previous if seq is None or m.cycle_seq <= seq), default=0)
    try:
        outcome = modifications.decide_modification(
            spec, grade=adverse_event.grade, appearance=basis["appearance"], current_level=current_level
        )
    except formulas.CalculationError as exc:
        return {**basis, "proposal": None, "proposal_refused": str(exc)}
    return {
        **basis,
        "proposal": {
            "action": outcome.action,
            "new_level": outcome.new_level,
            "level_label": drug_doses.level_label(spec, outcome.new_level),
            "rule": outcome.rule,
        },
    }
