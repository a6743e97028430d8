"""A stateless dose calculation (POST /api/v1/dose-calculations/): a person's standard doses,
with the registry's plausibility checks, nothing stored."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from dosing import document, regimen
from dosing.calculations import formulas, regimen_doses
from dosing.services.document import calculation_error
from trialsite import labs, plausibility
from trialsite.errors import InvalidInput

CREATININE_FIELDS = {"umol/L": "serum_creatinine_umol_l", "mg/dL": "serum_creatinine_mg_dl"}


def _check_plausible(height_cm: Decimal, weight_kg: Decimal, creatinine: Mapping[str, Decimal | None]) -> None:
    """The registry's plausibility rules, as for a recorded height, weight or creatinine (400
    naming the likely mistake): 1.9 "µmol/L" is a creatinine in mg/dL (a CrCl of 3360 mL/min)."""
    plausibility.check(
        {
            "height_cm": plausibility.measurement_implausibility("height", height_cm),
            "weight_kg": plausibility.measurement_implausibility("weight", weight_kg),
            **{
                CREATININE_FIELDS[unit]: labs.implausibility("creatinine", value, unit)
                for unit, value in creatinine.items()
                if value is not None
            },
        }
    )
    plausibility.check({"height_cm": plausibility.swap_message(height_cm, weight_kg)})


def dose_calculation_preview(
    *,
    definition: Mapping[str, Any],
    arm: str,
    height_cm: Decimal,
    weight_kg: Decimal,
    sex: str,
    age_years: int,
    serum_creatinine_umol_l: Decimal | None = None,
    serum_creatinine_mg_dl: Decimal | None = None,
    bsa_formula: str | None = None,
    phase: str | None = None,
) -> dict[str, Any]:
    """Standard doses of `arm` for a person (PRODUCT.md §6, POST /api/v1/dose-calculations/).
    Nothing is stored; the protocol's first systemic phase unless `phase` is given."""
    _check_plausible(height_cm, weight_kg, {"umol/L": serum_creatinine_umol_l, "mg/dL": serum_creatinine_mg_dl})
    arms = [a["code"] for a in definition.get("arms", [])]
    if arm not in arms:
        raise InvalidInput(
            _("Unknown arm %(arm)s.") % {"arm": arm},
            errors={"arm": [_("Use one of: %(arms)s.") % {"arms": ", ".join(arms)}]},
        )
    phases = [p["code"] for p in regimen.systemic_phases(definition)]
    phase = phase or (phases[0] if phases else "")
    if phase not in phases:
        raise InvalidInput(_("Unknown phase."), errors={"phase": [_("Use one of: %(p)s.") % {"p": ", ".join(phases)}]})
    cfg = regimen.dosing_settings(definition)
    formula = bsa_formula or cfg.bsa_formula
    try:
        result = regimen_doses.regimen_doses(
            regimen.drug_specs(definition, arm, phase),
            height_cm=height_cm,
            weight_kg=weight_kg,
            sex=sex,
            age_years=age_years,
            serum_creatinine_umol_l=serum_creatinine_umol_l,
            serum_creatinine_mg_dl=serum_creatinine_mg_dl,
            bsa_formula=formula,
            bsa_cap_m2=cfg.bsa_cap_m2,
            crcl_weight_basis=cfg.crcl_weight_basis,
            renal_rules=cfg.renal_rules,
        )
    except formulas.CalculationError as exc:
        raise calculation_error(exc) from exc
    messages = [w.as_dict() for w in [*result.warnings, *result.blockers]]
    return document.jsonable(
        {
            "arm": arm,
            "phase": phase,
            "bsa_m2": result.bsa_m2,
            "bsa_formula": formula,
            "bmi": result.bmi,
            "creatinine_clearance_ml_min": result.creatinine_clearance_ml_min,
            "doses": result.doses,
            "warnings": [
                {"code": m["code"], "message": _(m["template"]) % m["params"] if m["params"] else _(m["template"])}
                for m in messages
            ],
        }
    )
