"""A regimen's doses for one person and one cycle: the dose basis (weight change), every drug's
dose with the renal rules and the investigator's decisions applied, and the day-1 criteria.
Pure Python (no Django)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dosing.calculations.drug_doses import DrugSpec, drug_dose, level_label
from dosing.calculations.formulas import (
    D,
    Warning,
    _,
    bmi,
    bsa,
    check_measurements,
    creatinine_clearance,
    format_number,
    weight_change_pct,
)
from dosing.calculations.modifications import (
    DECISION_REDUCE,
    DECISION_WITHHOLD,
    RENAL_CONTRAINDICATED,
    RENAL_REDUCE,
    RenalDecisionInput,
    RenalRule,
    renal_rule_for,
)
from trialsite.phrases import Phrase, phrase

# Phrases stored in a sheet's content (see formulas: in English, shown by dosing.wording).
REASON_STANDARD = _("standard dose")
REASON_RENAL_WITHHELD = _("withheld: investigator's renal decision")
REASON_RENAL = _("renal function (CrCl %(crcl)s mL/min)")
REASON_RENAL_REDUCED = _("reduced by the investigator's renal decision (CrCl %(crcl)s mL/min)")
REASON_RENAL_CONFIRMED = _("full dose confirmed by the investigator (CrCl %(crcl)s mL/min)")
LAB_BELOW_MINIMUM = _("below the minimum")
LAB_NOT_IN_WINDOW = _("no result in the lab window")

# --- A regimen's doses for one person and one cycle -------------------------------------------

GIVE = "give"
WITHHELD = "withheld"
DISCONTINUED = "discontinued"
CONTRAINDICATED = "contraindicated"
AWAITING_DECISION = "awaiting_decision"  # an investigator's renal decision is needed first


@dataclass(frozen=True)
class WeightRule:
    """`dosing.weight_change` of the protocol: a change of `recalculate_at_pct` % or more against
    the weight the previous cycle's doses used forces recalculation; below it the previous
    cycle's dose basis (weight and BSA) is kept when `keep_previous_basis_below` (formulas.md,
    dose-error guards)."""

    recalculate_at_pct: Decimal = Decimal(10)
    keep_previous_basis_below: bool = True
    source: str = ""

    @classmethod
    def from_definition(cls, data: Mapping[str, Any] | None) -> WeightRule:
        data = data or {}
        return cls(
            recalculate_at_pct=D(str(data.get("recalculate_at_pct", 10))),
            keep_previous_basis_below=bool(data.get("keep_previous_basis_below", True)),
            source=str(data.get("source", "")).strip(),
        )


BASIS_MEASURED = "measured"  # no previous cycle: this cycle's weight and BSA
BASIS_KEPT = "kept"  # change below the threshold: the previous cycle's weight and BSA
BASIS_RECALCULATED = "recalculated"  # change at or above the threshold: this cycle's


@dataclass(frozen=True)
class DoseBasis:
    """The weight and BSA a sheet's doses use, and why (BASIS_*)."""

    weight_kg: Decimal
    bsa_m2: Decimal
    rule: str
    change_pct: Decimal | None = None


def dose_basis(
    *,
    weight_kg: Decimal,
    bsa_m2: Decimal,
    previous: tuple[Decimal, Decimal] | None,
    rule: WeightRule,
) -> DoseBasis:
    """This cycle's dose basis from its measured `weight_kg` and `bsa_m2` and the previous
    cycle's basis `previous` (weight, BSA), if any. The change is compared rounded to 1 decimal
    (weight_change_pct): −9.9 % keeps the basis, −10.0 % recalculates."""
    if previous is None:
        return DoseBasis(weight_kg, bsa_m2, BASIS_MEASURED)
    change = weight_change_pct(previous[0], weight_kg)
    if abs(change) >= rule.recalculate_at_pct or not rule.keep_previous_basis_below:
        return DoseBasis(weight_kg, bsa_m2, BASIS_RECALCULATED, change)
    return DoseBasis(previous[0], previous[1], BASIS_KEPT, change)


@dataclass
class RegimenResult:
    bsa_m2: Decimal
    bsa_formula: str
    bmi: Decimal
    creatinine_clearance_ml_min: Decimal | None
    doses: list[dict[str, Any]]
    warnings: list[Warning]
    blockers: list[Warning]  # reasons the sheet cannot be released


def regimen_doses(
    drugs: Sequence[DrugSpec],
    *,
    height_cm: Decimal,
    weight_kg: Decimal,
    sex: str,
    age_years: int,
    serum_creatinine_umol_l: Decimal | None = None,
    serum_creatinine_mg_dl: Decimal | None = None,
    bsa_formula: str = "mosteller",
    bsa_cap_m2: Decimal | None = None,
    crcl_weight_basis: str = "actual",
    renal_rules: Sequence[RenalRule] = (),
    levels: Mapping[str, tuple[int, bool]] | None = None,
    level_reasons: Mapping[str, Phrase] | None = None,
    renal_decisions: Mapping[str, Sequence[RenalDecisionInput]] | None = None,
    basis: DoseBasis | None = None,
) -> RegimenResult:
    """Every drug's dose for one person and one cycle.

    `levels` maps a drug to (dose level, withheld this cycle) from its modifications (default:
    standard, given). `renal_rules` are the protocol's; `renal_decisions` the investigator's
    recorded decisions by drug (one applies only to the band it was made for). A drug in a
    contraindicated band is never given: without a recorded withholding the sheet cannot be
    released; a drug in an "investigator decides" band has no dose until the decision is recorded.
    `basis` is the weight and BSA the doses use (dose_basis: kept from the previous cycle below
    the weight-change threshold); by default the measured ones. CrCl always uses the measured
    weight (renal function is this cycle's)."""
    warnings = check_measurements(height_cm, weight_kg)
    blockers: list[Warning] = []
    bsa_m2 = basis.bsa_m2 if basis is not None else bsa(height_cm, weight_kg, bsa_formula)
    dose_weight = basis.weight_kg if basis is not None else weight_kg
    crcl: Decimal | None = None
    if serum_creatinine_umol_l is not None or serum_creatinine_mg_dl is not None:
        crcl = creatinine_clearance(
            age_years=age_years,
            weight_kg=weight_kg,
            height_cm=height_cm,
            weight_basis=crcl_weight_basis,
            sex=sex,
            serum_creatinine_umol_l=serum_creatinine_umol_l,
            serum_creatinine_mg_dl=serum_creatinine_mg_dl,
        )
    if bsa_cap_m2 is not None and bsa_m2 > bsa_cap_m2:
        warnings.append(
            Warning(
                "bsa_capped",
                _("BSA %(bsa)s m² capped at %(cap)s m² by the trial's setting."),
                {"bsa": format_number(bsa_m2), "cap": format_number(bsa_cap_m2)},
            )
        )
    levels = levels or {}
    level_reasons = level_reasons or {}
    renal_decisions = renal_decisions or {}
    doses: list[dict[str, Any]] = []
    for spec in drugs:
        level, withheld = levels.get(spec.code, (0, False))
        entry: dict[str, Any] = {
            "drug": spec.code,
            "name": spec.name,
            "name_zh": spec.name_zh,
            "route": spec.route,
            "basis": spec.basis,
            "days": list(spec.days),
            "frequency": spec.frequency,
            "administrations_per_cycle": spec.administrations_per_cycle,
            **({"course": dict(spec.course)} if spec.course else {}),
            "level": level,
            "level_label": level_label(spec, min(level, len(spec.levels))),
            "level_reason": level_reasons.get(spec.code, phrase(REASON_STANDARD) if level == 0 else ""),
            "status": GIVE,
        }
        if level >= len(spec.levels):
            entry.update(status=DISCONTINUED, dose_mg=None)
            doses.append(entry)
            continue
        rule = renal_rule_for(renal_rules, spec.code, crcl)
        effective_level = level
        if rule is not None and crcl is not None:
            effective_level = _apply_renal_rule(
                spec, rule, crcl, entry, level, renal_decisions.get(spec.code, ()), warnings, blockers
            )
        if withheld and entry["status"] == GIVE:
            entry["status"] = WITHHELD
        result = drug_dose(spec, level=effective_level, bsa_m2=bsa_m2, weight_kg=dose_weight, bsa_cap_m2=bsa_cap_m2)
        entry.update(
            level=effective_level,
            level_label=result.level_label,
            dose_mg=result.dose_mg if entry["status"] == GIVE else None,
            calculated_dose_mg=result.calculated_mg,
            dose_per_unit=result.dose_per_unit,
            planned_dose_mg=result.dose_mg,
            rounding=result.rounding,
            capped=result.capped,
            multiplied_by=result.multiplier,
        )
        if result.tablets is not None:
            given = entry["status"] == GIVE
            entry["bsa_band"] = result.bsa_band
            entry["tablets"] = {str(k): v for k, v in result.tablets.items()} if given else None
            entry["tablets_per_cycle"] = (
                {str(k): v for k, v in (result.tablets_per_cycle or {}).items()} if given else None
            )
            entry["table"] = spec.band_table
        doses.append(entry)
    return RegimenResult(
        bsa_m2=bsa_m2,
        bsa_formula=bsa_formula,
        bmi=bmi(height_cm, weight_kg),
        creatinine_clearance_ml_min=crcl,
        doses=doses,
        warnings=warnings,
        blockers=blockers,
    )


def _apply_renal_rule(
    spec: DrugSpec,
    rule: RenalRule,
    crcl: Decimal,
    entry: dict[str, Any],
    level: int,
    decisions: Sequence[RenalDecisionInput],
    warnings: list[Warning],
    blockers: list[Warning],
) -> int:
    """Apply one renal rule to a drug's sheet entry (status, reason, warnings, blockers) and
    return the level the drug is dosed at. A decision made for another band does not count."""
    decision = next((d for d in decisions if d.band == rule.band), None)
    params = {"crcl": format_number(crcl), "band": rule.band, "drug": spec.name}
    entry["renal"] = {
        "band": rule.band,
        "action": rule.action,
        "source": rule.source,
        "decision": decision.decision if decision else None,
    }
    if rule.action == RENAL_REDUCE:
        target = spec.levels.index(rule.to_level) if rule.to_level in spec.levels else len(spec.levels) - 1
        warnings.append(
            Warning(
                "renal_reduced",
                _("CrCl %(crcl)s mL/min is in the %(band)s mL/min band: %(drug)s reduced to %(level)s."),
                {**params, "level": level_label(spec, target)},
            )
        )
        if target > level:
            entry["level_reason"] = phrase(REASON_RENAL, crcl=format_number(crcl))
        return max(level, target)
    if rule.action == RENAL_CONTRAINDICATED:
        warnings.append(
            Warning(
                "renal_contraindication",
                _("CrCl %(crcl)s mL/min is in the %(band)s mL/min band: %(drug)s is contraindicated."),
                params,
            )
        )
    else:
        warnings.append(
            Warning(
                "renal_investigator",
                _(
                    "CrCl %(crcl)s mL/min is in the %(band)s mL/min band: an investigator decides the %(drug)s "
                    "dose (full dose, reduced or withheld)."
                ),
                params,
            )
        )
    if decision is None:
        blockers.append(
            Warning(
                "renal_decision_required",
                _("An investigator must decide on %(drug)s (CrCl %(crcl)s mL/min) before release."),
                params,
            )
        )
        entry["status"] = CONTRAINDICATED if rule.action == RENAL_CONTRAINDICATED else AWAITING_DECISION
        return level
    if decision.decision == DECISION_WITHHOLD or rule.action == RENAL_CONTRAINDICATED:
        entry["status"] = WITHHELD
        entry["level_reason"] = phrase(REASON_RENAL_WITHHELD)
        return level
    if decision.decision == DECISION_REDUCE and decision.level is not None and decision.level > level:
        entry["level_reason"] = phrase(REASON_RENAL_REDUCED, crcl=format_number(crcl))
        return decision.level
    if level == 0:
        entry["level_reason"] = phrase(REASON_RENAL_CONFIRMED, crcl=format_number(crcl))
    return level


def day1_criteria(
    *,
    labs: Mapping[str, tuple[Decimal, Any]],
    day1: Any,
    window_days: int,
    minimums: Mapping[str, Decimal],
) -> tuple[bool, list[dict[str, Any]]]:
    """Check day-1 treatment criteria (protocol `schedule.day1_criteria`: ANC ≥ 1.5×10⁹/L,
    platelets ≥ 100×10⁹/L) against `labs` {analyte: (value, collected_on)} — the latest values.
    A value collected more than `window_days` before `day1` (or after it) does not count."""
    rows: list[dict[str, Any]] = []
    met = True
    for analyte, minimum in minimums.items():
        value, collected_on = labs.get(analyte, (None, None))
        in_window = collected_on is not None and 0 <= (day1 - collected_on).days <= window_days
        ok = in_window and value is not None and value >= minimum
        met = met and ok
        rows.append(
            {
                "analyte": analyte,
                "value": value if in_window else None,
                "collected_on": collected_on.isoformat() if in_window and collected_on else None,
                "minimum": minimum,
                "met": ok,
                "reason": "" if ok else phrase(LAB_BELOW_MINIMUM if in_window else LAB_NOT_IN_WINDOW),
            }
        )
    return met, rows
