"""A dose sheet's document, assembled from plain data: the participant, this cycle's
measurements and labs, the dosing records and the previous sheets' figures in, the content
(the JSON the sheet stores and fingerprints) and its indexed columns out. Pure Python (no
Django, no database): services.document reads the rows and calls `assemble`, and a test can
call it with hand-made inputs.

The phrases stored in the content are English (the content is fingerprinted and must not
depend on the reader); dosing.wording shows them in the reader's language."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dosing import regimen, tables
from dosing.calculations import drug_doses, formulas, modifications, regimen_doses
from dosing.calculations.formulas import _
from trialsite import renal
from trialsite.phrases import Phrase, code, phrase

MODIFICATION_REASON = _("%(action)s: %(toxicity)s grade %(grade)s in %(phase)s cycle %(cycle)s (%(rule)s); %(reason)s")
MODIFICATION_REASON_GIVEN = _(
    "given at %(level)s after %(toxicity)s grade %(grade)s in %(phase)s cycle %(cycle)s (%(rule)s); %(reason)s"
)
SOURCE_BSA = _("BSA")
SOURCE_CRCL = _("CrCl")
SOURCE_DOSE_BANDS = _("%(drug)s dose bands")
SOURCE_TOXICITY_TABLE = _("%(drug)s toxicity table")
SOURCE_ROUNDING = _("%(drug)s rounding")
DAY1_OFF_PLAN = _("Day 1 %(day1)s is not the cycle's planned day 1 (%(planned)s): %(reason)s")
WEIGHT_BASIS_KEPT = _(
    "Weight changed %(pct)s %% since the previous cycle's dose basis (%(prev)s kg → %(now)s kg), less than "
    "%(threshold)s %%: doses keep the previous basis (%(prev)s kg, BSA %(bsa)s m²)."
)
WEIGHT_RECALCULATED = _(
    "Weight changed %(pct)s %% since the previous cycle's dose basis (%(prev)s kg → %(now)s kg), "
    "%(threshold)s %% or more: doses recalculated with %(now)s kg (BSA %(bsa)s m²)."
)
CREATININE_MISSING = _("No serum creatinine: the creatinine clearance cannot be checked.")
CREATININE_OLD = _("Creatinine from %(date)s, older than the %(n)s-day lab window.")
DAY1_CRITERIA_NOT_MET = _("Day-1 criteria not met: delay the cycle (no release).")
BAND_TABLE_UNCHECKED = _("The %(drug)s reduced-dose columns have not yet been checked against the printed label.")


def cumulative_drug(definition: Mapping[str, Any]) -> str | None:
    """The drug whose cumulative dose the sheet totals (the protocol's `cumulative_dose: true`,
    e.g. for a cumulative toxicity), or None: the sheet then has no cumulative section."""
    return next((c for c, d in (definition.get("drugs") or {}).items() if d.get("cumulative_dose")), None)


def jsonable(value: Any) -> Any:
    """Decimals become JSON numbers (int when whole), dates ISO strings; recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class ParticipantFacts:
    """What the sheet prints about the participant and their trial."""

    id: int
    screening_number: str
    randomization_number: int | None
    full_name: str
    sex: str
    birth_date: dt.date
    site: str
    trial: str
    protocol_version: str
    arm: str


@dataclass(frozen=True)
class Measured:
    """A height, weight or lab result as the sheet uses it (its row id goes in `inputs`)."""

    id: int
    value: Decimal
    on: dt.date


@dataclass(frozen=True)
class ModificationRecord:
    """A recorded dose modification (dosing.models.DoseModification) as plain data."""

    drug: str
    phase: str
    cycle_number: int
    cycle_seq: int
    toxicity_term: str
    ctcae_grade: int
    appearance: int
    action: str
    new_level: int
    level_label: str
    rule: Phrase  # which rule decided (calculations.modifications)
    reason: str
    decided_by: int | None
    decided_at: dt.datetime


@dataclass(frozen=True)
class RenalDecisionRecord:
    id: int
    drug: str
    band: str
    decision: str
    level: int | None


@dataclass(frozen=True)
class PreviousSheet:
    """The latest earlier cycle's sheet (not void): its dose basis."""

    cycle_seq: int
    weight_kg: Decimal
    bsa_m2: Decimal


@dataclass(frozen=True)
class SheetInputs:
    participant: ParticipantFacts
    definition: Mapping[str, Any]
    phase: str
    cycle_number: int
    cycle_seq: int
    day1: dt.date
    height: Measured
    weight: Measured
    labs: Mapping[str, Measured]
    modifications: Sequence[ModificationRecord] = ()
    renal_decisions: Sequence[RenalDecisionRecord] = ()
    previous: PreviousSheet | None = None
    # The cumulative drug's released doses of earlier cycles (mg, mg/m²; cumulative_drug).
    prior_cumulative: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0))
    day1_off_plan: Mapping[str, str] | None = field(default=None)


def modification_levels(
    definition: Mapping[str, Any], mods: Sequence[ModificationRecord], seq: int
) -> tuple[dict[str, tuple[int, bool]], dict[str, Phrase]]:
    """Each drug's (level, withheld) for cycle `seq` from the participant's modifications (in
    decision order), and the reason the sheet prints for a changed level."""
    levels: dict[str, tuple[int, bool]] = {}
    reasons: dict[str, Phrase] = {}
    for drug in {m.drug for m in mods}:
        spec = regimen.drug_spec(definition, drug)
        own = [m for m in mods if m.drug == drug]
        levels[drug] = modifications.effective_levels(
            spec, [(m.cycle_seq, m.new_level, m.action) for m in own], cycle_seq=seq
        )
        deciding = [m for m in own if m.cycle_seq < seq and m.action != modifications.MAINTAIN]
        if deciding:
            last = deciding[-1]
            params: dict[str, Any] = {
                "toxicity": last.toxicity_term,
                "grade": last.ctcae_grade,
                "phase": code("phase", last.phase),
                "cycle": last.cycle_number,
                "rule": last.rule,  # a stored phrase (DoseModification.rule)
                "reason": last.reason,
            }
            level, withheld = levels[drug]
            if withheld or level >= len(spec.levels):
                reasons[drug] = phrase(MODIFICATION_REASON, action=code("modification_action", last.action), **params)
            else:
                # Given this cycle (an interruption within a cycle resumes at the next level): the
                # reason names the level, never the past cycle's "interrupt / withhold".
                reasons[drug] = phrase(
                    MODIFICATION_REASON_GIVEN, level=code("dose_level", drug_doses.level_label(spec, level)), **params
                )
    return levels, reasons


def _history(mods: Sequence[ModificationRecord], seq: int) -> list[dict[str, Any]]:
    return [
        {
            "drug": m.drug,
            "phase": m.phase,
            "cycle_number": m.cycle_number,
            "toxicity_term": m.toxicity_term,
            "ctcae_grade": m.ctcae_grade,
            "appearance": m.appearance,
            "action": m.action,
            "dose_from_next_cycle": m.level_label,
            "decided_by": m.decided_by,
            "decided_at": m.decided_at.isoformat(),
            "reason": m.reason,
        }
        for m in mods
        if m.cycle_seq < seq
    ]


def _sources(
    drugs: Sequence[drug_doses.DrugSpec], bsa_formula: str, warnings: list[formulas.Warning]
) -> list[dict[str, Any]]:
    """The literature behind the sheet's numbers; an unchecked band table adds a warning."""
    sources: list[dict[str, Any]] = [
        {"what": phrase(SOURCE_BSA), "source": formulas.BSA_FORMULA_SOURCES[bsa_formula]},
        {"what": phrase(SOURCE_CRCL), "source": renal.SOURCE},
    ]
    for spec in drugs:
        if spec.band_table:
            table = tables.BAND_TABLES[spec.band_table]
            drug = code("drug", spec.code)
            sources.append({"what": phrase(SOURCE_DOSE_BANDS, drug=drug), "source": table.source})
            if not table.checked_against_label:
                warnings.append(formulas.Warning("band_table_unchecked", BAND_TABLE_UNCHECKED, {"drug": spec.name}))
        if spec.toxicity_table:
            toxicity = tables.TOXICITY_TABLES[spec.toxicity_table]
            sources.append(
                {"what": phrase(SOURCE_TOXICITY_TABLE, drug=code("drug", spec.code)), "source": toxicity.source}
            )
        if spec.rounding_source:
            what = phrase(SOURCE_ROUNDING, drug=code("drug", spec.code))
            sources.append({"what": what, "source": spec.rounding_source})
    return sources


def assemble(inputs: SheetInputs) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sheet's content (JSON-ready) and its indexed columns for one cycle. Raises
    formulas.CalculationError for an input the calculations refuse."""
    p = inputs.participant
    definition = inputs.definition
    seq, day1 = inputs.cycle_seq, inputs.day1
    cfg = regimen.dosing_settings(definition)
    drugs = regimen.drug_specs(definition, p.arm, inputs.phase)
    height, weight = inputs.height, inputs.weight
    creatinine = inputs.labs.get("creatinine")
    levels, reasons = modification_levels(definition, inputs.modifications, seq)
    decisions: dict[str, list[modifications.RenalDecisionInput]] = {}
    for decided in inputs.renal_decisions:
        decisions.setdefault(decided.drug, []).append(
            modifications.RenalDecisionInput(decided.band, decided.decision, decided.level)
        )

    # Dose basis (protocol `dosing.weight_change`): against the weight the previous cycle's doses
    # used, a change below the threshold keeps that cycle's weight and BSA; at or above it the
    # doses are recalculated with this cycle's. The sheet says which and shows both.
    previous = inputs.previous
    formulas.check_measurements(height.value, weight.value)
    measured_bsa = formulas.bsa(height.value, weight.value, cfg.bsa_formula)
    basis = regimen_doses.dose_basis(
        weight_kg=weight.value,
        bsa_m2=measured_bsa,
        previous=(previous.weight_kg, previous.bsa_m2) if previous else None,
        rule=cfg.weight_rule,
    )
    result = regimen_doses.regimen_doses(
        drugs,
        height_cm=height.value,
        weight_kg=weight.value,
        sex=p.sex,
        age_years=age_on(p.birth_date, day1),
        serum_creatinine_umol_l=creatinine.value if creatinine else None,
        bsa_formula=cfg.bsa_formula,
        bsa_cap_m2=cfg.bsa_cap_m2,
        crcl_weight_basis=cfg.crcl_weight_basis,
        renal_rules=cfg.renal_rules,
        levels=levels,
        level_reasons=reasons,
        renal_decisions=decisions,
        basis=basis,
    )
    warnings = list(result.warnings)
    blockers = list(result.blockers)
    if inputs.day1_off_plan:
        warnings.append(formulas.Warning("day1_not_planned", DAY1_OFF_PLAN, dict(inputs.day1_off_plan)))
    if creatinine is None:
        blockers.append(formulas.Warning("creatinine_missing", CREATININE_MISSING))
    elif (day1 - creatinine.on).days > cfg.lab_window_days:
        warnings.append(
            formulas.Warning(
                "creatinine_old", CREATININE_OLD, {"date": creatinine.on.isoformat(), "n": cfg.lab_window_days}
            )
        )

    met, criteria_rows = regimen_doses.day1_criteria(
        labs={a: (r.value, r.on) for a, r in inputs.labs.items()},
        day1=day1,
        window_days=cfg.lab_window_days,
        minimums=cfg.day1_minimums,
    )
    if not met:
        blockers.append(formulas.Warning("day1_criteria_not_met", DAY1_CRITERIA_NOT_MET))

    if previous is not None:
        params = {
            "pct": formulas.format_number(basis.change_pct),
            "prev": formulas.format_number(previous.weight_kg),
            "now": formulas.format_number(weight.value),
            "threshold": formulas.format_number(cfg.weight_rule.recalculate_at_pct),
            "bsa": formulas.format_number(basis.bsa_m2),
        }
        if basis.rule == regimen_doses.BASIS_KEPT:
            warnings.append(formulas.Warning("weight_basis_kept", WEIGHT_BASIS_KEPT, params))
        elif basis.change_pct is not None and abs(basis.change_pct) >= cfg.weight_rule.recalculate_at_pct:
            warnings.append(formulas.Warning("weight_change_recalculated", WEIGHT_RECALCULATED, params))

    # Cumulative dose of the protocol's cumulative drug: released sheets of earlier cycles plus this one.
    prior_mg, prior_mg_m2 = inputs.prior_cumulative
    tracked = cumulative_drug(definition)
    cumulative = next((d for d in result.doses if tracked and d["drug"] == tracked), None)
    this_mg = cumulative["dose_mg"] if cumulative and cumulative.get("dose_mg") is not None else None
    this_mg_m2 = cumulative["dose_per_unit"] if this_mg is not None and cumulative else None
    sources = _sources(drugs, cfg.bsa_formula, warnings)

    phase_def = regimen.phase_spec(definition, inputs.phase)
    arms = {a["code"]: a for a in definition.get("arms", [])}
    content: dict[str, Any] = {
        "participant": {
            "id": p.id,
            "screening_number": p.screening_number,
            "randomization_number": p.randomization_number,
            "full_name": p.full_name,
            "sex": p.sex,
            "birth_date": p.birth_date,
            "age_years": age_on(p.birth_date, day1),
            "site": p.site,
        },
        "trial": p.trial,
        "protocol_version": p.protocol_version,
        "arm": p.arm,
        "arm_name": arms.get(p.arm, {}).get("name", p.arm),
        "phase": inputs.phase,
        "phase_name": phase_def.get("name", inputs.phase),
        "phase_name_zh": phase_def.get("name_zh", ""),
        "cycle_number": inputs.cycle_number,
        "cycle_seq": seq,
        "day1": day1,
        "height_cm": height.value,
        "height_measured_on": height.on,
        "weight_kg": weight.value,
        "weight_measured_on": weight.on,
        "weight_change_pct": basis.change_pct,
        "bmi": result.bmi,
        # The BSA the doses use (the dose basis); the one measured this cycle beside it.
        "bsa_m2": result.bsa_m2,
        "measured_bsa_m2": measured_bsa,
        "dose_basis": {
            "weight_kg": basis.weight_kg,
            "bsa_m2": basis.bsa_m2,
            "rule": basis.rule,
            "change_pct": basis.change_pct,
            "threshold_pct": cfg.weight_rule.recalculate_at_pct,
            "previous_cycle_seq": previous.cycle_seq if previous else None,
        },
        "bsa_formula": cfg.bsa_formula,
        "creatinine_umol_l": creatinine.value if creatinine else None,
        "creatinine_collected_on": creatinine.on if creatinine else None,
        "creatinine_clearance_ml_min": result.creatinine_clearance_ml_min,
        "day1_labs": criteria_rows,
        "day1_criteria_met": met,
        "decision": "treat" if met else "delay",
        "doses": result.doses,
        "modifications": _history(inputs.modifications, seq),
        # Warnings are stored in English with their template and parameters (the fingerprint never
        # depends on the request's language); selectors.translate_messages shows them to a reader.
        "warnings": [w.as_dict() for w in warnings],
        "blockers": [w.as_dict() for w in blockers],
        "sources": sources,
        "inputs": {
            "height_id": height.id,
            "weight_id": weight.id,
            "lab_ids": sorted(r.id for a, r in inputs.labs.items() if a == "creatinine" or a in cfg.day1_minimums),
            "renal_decision_ids": sorted(r.id for r in inputs.renal_decisions),
        },
    }
    if tracked is not None:
        content["cumulative"] = {
            "drug": tracked,
            "prior_mg": prior_mg,
            "prior_mg_m2": prior_mg_m2,
            "total_mg": prior_mg + (this_mg or 0),
            "total_mg_m2": prior_mg_m2 + (this_mg_m2 or 0),
        }
    columns = {
        "cycle_seq": seq,
        # The weight the doses use: the next cycle's weight change is measured against it.
        "weight_kg": basis.weight_kg,
        "cumulative_drug_mg": this_mg,
        "cumulative_drug_mg_m2": this_mg_m2,
        "releasable": not blockers,
    }
    return jsonable(content), columns
