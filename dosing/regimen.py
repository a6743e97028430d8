"""Reading a protocol definition's drugs, regimens, phases and dosing settings into typed values.
No database access: the definition is the parsed YAML (ProtocolVersion.definition)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dosing.calculations import drug_doses, modifications, regimen_doses
from trialsite import renal

DEFAULTS: dict[str, Any] = {
    "bsa_formula": "mosteller",
    "bsa_cap_m2": None,
    "measurement_max_age_days": 7,
    "lab_window_days": 3,
    "prepare_days_before_day1": 7,
}


@dataclass(frozen=True)
class DosingSettings:
    bsa_formula: str
    bsa_cap_m2: Decimal | None
    measurement_max_age_days: int
    lab_window_days: int
    weight_rule: regimen_doses.WeightRule
    crcl_weight_basis: str
    prepare_days_before_day1: int
    renal_rules: tuple[modifications.RenalRule, ...]
    day1_minimums: dict[str, Decimal]


def dosing_settings(definition: Mapping[str, Any]) -> DosingSettings:
    data = {**DEFAULTS, **(definition.get("dosing") or {})}
    criteria = (definition.get("schedule") or {}).get("day1_criteria") or {}
    minimums = {}
    if "anc_min" in criteria:
        minimums["anc"] = Decimal(str(criteria["anc_min"]))
    if "platelets_min" in criteria:
        minimums["platelets"] = Decimal(str(criteria["platelets_min"]))
    lab_window = (definition.get("schedule") or {}).get("pre_cycle_labs", {}).get("days_before_day1")
    return DosingSettings(
        bsa_formula=str(data["bsa_formula"]),
        bsa_cap_m2=Decimal(str(data["bsa_cap_m2"])) if data.get("bsa_cap_m2") is not None else None,
        measurement_max_age_days=int(data["measurement_max_age_days"]),
        lab_window_days=int(data.get("lab_window_days", lab_window or 3)),
        weight_rule=_weight_rule(data),
        crcl_weight_basis=renal.protocol_weight_basis(definition),  # the screening reads the same
        prepare_days_before_day1=int(data["prepare_days_before_day1"]),
        renal_rules=_renal_rules(data),
        day1_minimums=minimums,
    )


def _weight_rule(data: Mapping[str, Any]) -> regimen_doses.WeightRule:
    if "weight_change" in data:
        return regimen_doses.WeightRule.from_definition(data["weight_change"])
    # A version loaded before `weight_change` existed: its threshold, and (as it was then) the
    # doses always recalculated with this cycle's weight.
    return regimen_doses.WeightRule(Decimal(str(data.get("weight_change_recalculate_pct", 10))), False)


def _renal_rules(data: Mapping[str, Any]) -> tuple[modifications.RenalRule, ...]:
    if "renal_rules" in data:
        return tuple(modifications.RenalRule.from_definition(r) for r in data["renal_rules"])
    # A version loaded before `renal_rules` existed (`renal: {<drug>_contraindicated_below_ml_min,
    # moderate_band_ml_min, …}`): the same limits as rules, the moderate band decided by an
    # investigator (never silently), so participants on that version are never dosed without one.
    old = data.get("renal") or {}
    out = []
    for key, value in old.items():
        if key.endswith("_contraindicated_below_ml_min"):
            drug = key.removesuffix("_contraindicated_below_ml_min")
            out.append(
                modifications.RenalRule(drug, modifications.RENAL_CONTRAINDICATED, below_ml_min=Decimal(str(value)))
            )
            if "moderate_band_ml_min" in old:
                low, high = (Decimal(str(x)) for x in old["moderate_band_ml_min"])
                out.append(
                    modifications.RenalRule(drug, modifications.RENAL_INVESTIGATOR, min_ml_min=low, max_ml_min=high)
                )
    return tuple(out)


def systemic_phases(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [p for p in definition.get("phases", []) if p.get("kind") == "systemic"]


def cycle_seq(definition: Mapping[str, Any], phase: str, cycle_number: int) -> int:
    """The cycle's place across the systemic phases (neoadjuvant 1–4 → 1–4, adjuvant 1–4 → 5–8);
    raises KeyError for an unknown phase and ValueError for a cycle beyond the phase's count."""
    offset = 0
    for spec in systemic_phases(definition):
        cycles = int(spec.get("cycles", 1))
        if spec["code"] == phase:
            if not 1 <= cycle_number <= cycles:
                raise ValueError(f"{phase} has cycles 1–{cycles}")
            return offset + cycle_number
        offset += cycles
    raise KeyError(phase)


def phase_spec(definition: Mapping[str, Any], phase: str) -> dict[str, Any]:
    for spec in systemic_phases(definition):
        if spec["code"] == phase:
            return spec
    raise KeyError(phase)


def drug_specs(definition: Mapping[str, Any], arm: str, phase: str) -> list[drug_doses.DrugSpec]:
    """The drugs of `arm` in `phase` (protocol `regimens`), in the regimen's order."""
    codes = (definition.get("regimens") or {}).get(arm, {}).get(phase, [])
    return [drug_doses.DrugSpec.from_definition(code, definition["drugs"][code]) for code in codes]


def drug_spec(definition: Mapping[str, Any], code: str) -> drug_doses.DrugSpec:
    return drug_doses.DrugSpec.from_definition(code, definition["drugs"][code])
