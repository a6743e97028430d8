"""Dose-arithmetic formulas: rounding, the measurement checks, body-surface area and creatinine
clearance, and the calculations' error and warning types. Pure Python (no Django): every input
is an argument and every amount is a Decimal.

Sources: shared/reference/formulas.md (each function's docstring names the paper). Cockcroft–Gault
and the weight basis are trialsite/renal.py's, shared with the screening."""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dosing.error_codes import DosingErrorCode
from trialsite import ranges, renal

D = Decimal
# 28 significant digits are plenty for BSA and doses; powers with fractional exponents are
# computed in a local context so that the caller's context is never changed.
_CTX = decimal.Context(prec=28, rounding=ROUND_HALF_UP)

BSA_FORMULAS: tuple[str, ...] = ("mosteller", "dubois", "haycock", "gehan_george", "boyd")
BSA_FORMULA_SOURCES: dict[str, str] = {
    "mosteller": "Mosteller, N Engl J Med 1987;317:1098",
    "dubois": "DuBois & DuBois, Arch Intern Med 1916;17:863",
    "haycock": "Haycock et al., J Pediatr 1978;93:62",
    "gehan_george": "Gehan & George, Cancer Chemother Rep 1970;54:225",
    "boyd": "Boyd, The Growth of the Surface Area of the Human Body, 1935",
}

# Height and weight bounds and the swap check (formulas.md, dose-error guards) are the registry's
# (trialsite/ranges.py): one definition; outside them the value is refused. The BMI band only warns.
BMI_WARN_RANGE = (D(16), D(45))


def _(message: str) -> str:
    """Marks a message for translation (xgettext keyword `_`); the Django layer translates it."""
    return message


# Phrases stored in a sheet's content (in English: the content is fingerprinted and must not


class CalculationError(ValueError):
    """An input the calculation refuses (the services turn it into a 400 InvalidInput)."""

    def __init__(
        self, message: str, *, field: str, code: str = DosingErrorCode.INVALID, params: Mapping[str, Any] | None = None
    ):
        super().__init__(message % dict(params or {}) if params else message)
        self.template = message
        self.params = dict(params or {})
        self.field = field
        self.code = code


@dataclass(frozen=True)
class Warning:
    """A message for the sheet: `template % params` (the template is translatable)."""

    code: str
    template: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.template % self.params if self.params else self.template

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.text, "template": self.template, "params": self.params}


# --- Rounding ------------------------------------------------------------------------------


def round_half_up(value: Decimal, places: int) -> Decimal:
    """Round half up to `places` decimals (BSA, CrCl and doses use this one function)."""
    return value.quantize(D(1).scaleb(-places), rounding=ROUND_HALF_UP)


def round_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Nearest multiple of `step`, halves up (e.g. 252.5 mg → 255 mg for a 5 mg step)."""
    return (value / step).quantize(D(1), rounding=ROUND_HALF_UP) * step


def format_number(value: Decimal | int | None) -> str:
    """ISMP style: a leading zero (0.5), no trailing zero (5, not 5.0)."""
    if value is None:
        return "—"
    text = format(D(value).normalize(), "f")
    return text


# --- Measurements --------------------------------------------------------------------------


def check_measurements(height_cm: Decimal, weight_kg: Decimal) -> list[Warning]:
    """Refuse implausible or transposed height/weight; return warnings for unusual BMI."""
    low, high = ranges.HEIGHT_CM.low, ranges.HEIGHT_CM.high
    if not low <= height_cm <= high:
        raise CalculationError(
            _("Height must be between %(low)s and %(high)s cm (got %(value)s)."),
            field="height_cm",
            code=DosingErrorCode.HEIGHT_OUT_OF_RANGE,
            params={"low": str(low), "high": str(high), "value": format_number(height_cm)},
        )
    low, high = ranges.WEIGHT_KG.low, ranges.WEIGHT_KG.high
    if not low <= weight_kg <= high:
        raise CalculationError(
            _("Weight must be between %(low)s and %(high)s kg (got %(value)s)."),
            field="weight_kg",
            code=DosingErrorCode.WEIGHT_OUT_OF_RANGE,
            params={"low": str(low), "high": str(high), "value": format_number(weight_kg)},
        )
    body_mass_index = bmi(height_cm, weight_kg)
    if ranges.looks_swapped(height_cm, weight_kg):
        raise CalculationError(
            _(
                "Height %(height)s cm and weight %(weight)s kg give a BMI of %(bmi)s: "
                "they look swapped. Check and enter them again."
            ),
            field="height_cm",
            code=DosingErrorCode.HEIGHT_WEIGHT_SWAPPED,
            params={
                "height": format_number(height_cm),
                "weight": format_number(weight_kg),
                "bmi": format_number(body_mass_index),
            },
        )
    out: list[Warning] = []
    if not BMI_WARN_RANGE[0] <= body_mass_index <= BMI_WARN_RANGE[1]:
        out.append(
            Warning(
                "bmi_unusual",
                _("BMI %(bmi)s is outside %(low)s–%(high)s: check height and weight."),
                {"bmi": format_number(body_mass_index), "low": "16", "high": "45"},
            )
        )
    return out


# Body-mass index, kg/m², 1 decimal: the registry's swap check uses the same function.
bmi = ranges.bmi

# --- Body-surface area ----------------------------------------------------------------------


def _pow(base: Decimal, exponent: Decimal) -> Decimal:
    return _CTX.power(base, exponent)


def bsa_unrounded(height_cm: Decimal, weight_kg: Decimal, formula: str = "mosteller") -> Decimal:
    """BSA in m² by `formula` (formulas.md):

    - Mosteller (N Engl J Med 1987;317:1098): √(H·W / 3600)
    - DuBois & DuBois (Arch Intern Med 1916;17:863): 0.007184 · H^0.725 · W^0.425
    - Haycock (J Pediatr 1978;93:62): 0.024265 · H^0.3964 · W^0.5378
    - Gehan & George (Cancer Chemother Rep 1970;54:225): 0.0235 · H^0.42246 · W^0.51456
    - Boyd (1935): 0.0003207 · H^0.3 · Wg^(0.7285 − 0.0188 · log10 Wg), Wg in grams
    """
    h, w = D(height_cm), D(weight_kg)
    if formula == "mosteller":
        return _CTX.sqrt(h * w / 3600)
    if formula == "dubois":
        return D("0.007184") * _pow(h, D("0.725")) * _pow(w, D("0.425"))
    if formula == "haycock":
        return D("0.024265") * _pow(h, D("0.3964")) * _pow(w, D("0.5378"))
    if formula == "gehan_george":
        return D("0.0235") * _pow(h, D("0.42246")) * _pow(w, D("0.51456"))
    if formula == "boyd":
        grams = w * 1000
        exponent = D("0.7285") - D("0.0188") * _CTX.log10(grams)
        return D("0.0003207") * _pow(h, D("0.3")) * _pow(grams, exponent)
    raise CalculationError(
        _("Unknown BSA formula %(formula)s; use one of %(known)s."),
        field="bsa_formula",
        code=DosingErrorCode.UNKNOWN_BSA_FORMULA,
        params={"formula": formula, "known": ", ".join(BSA_FORMULAS)},
    )


def bsa(height_cm: Decimal, weight_kg: Decimal, formula: str = "mosteller") -> Decimal:
    """BSA rounded to 2 decimals, half up: the value shown, banded and multiplied (formulas.md)."""
    return round_half_up(bsa_unrounded(height_cm, weight_kg, formula), 2)


# --- Renal function -------------------------------------------------------------------------


def creatinine_clearance(
    *,
    age_years: int,
    weight_kg: Decimal,
    sex: str,
    serum_creatinine_umol_l: Decimal | None = None,
    serum_creatinine_mg_dl: Decimal | None = None,
    height_cm: Decimal | None = None,
    weight_basis: str = "actual",
) -> Decimal:
    """Cockcroft–Gault CrCl in mL/min (trialsite.renal: the screening's formula too) with the
    weight on the protocol's `weight_basis`, after refusing what a sheet must not compute with:
    no creatinine or two, a non-positive one, an age outside 18–120."""
    if (serum_creatinine_umol_l is None) == (serum_creatinine_mg_dl is None):
        raise CalculationError(
            _("Give the serum creatinine in µmol/L or in mg/dL (one of them)."),
            field="serum_creatinine_umol_l",
            code=DosingErrorCode.CREATININE_REQUIRED,
        )
    scr = renal.creatinine_mg_dl(umol_l=serum_creatinine_umol_l, mg_dl=serum_creatinine_mg_dl)
    if scr <= 0:
        raise CalculationError(
            _("Serum creatinine must be positive."), field="serum_creatinine", code=DosingErrorCode.CREATININE
        )
    if not 18 <= age_years <= 120:
        raise CalculationError(
            _("Age must be between 18 and 120 years."), field="age_years", code=DosingErrorCode.AGE_OUT_OF_RANGE
        )
    if weight_basis not in renal.WEIGHT_BASES:
        raise CalculationError(
            _("Unknown weight basis %(basis)s."), field="weight_basis", params={"basis": weight_basis}
        )
    weight = renal.weight_on_basis(D(weight_kg), height_cm, sex, weight_basis)
    return renal.cockcroft_gault(age_years=age_years, weight_kg=weight, sex=sex, creatinine_mg_dl=scr)


def weight_change_pct(previous_kg: Decimal, current_kg: Decimal) -> Decimal:
    """Change against the weight used for the previous cycle's sheet, %, 1 decimal."""
    return round_half_up((current_kg - previous_kg) * 100 / previous_kg, 1)
