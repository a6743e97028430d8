"""Creatinine clearance (Cockcroft–Gault) and the weight it is computed with: one definition
for the screening (randomization/eligibility) and the dose sheets (dosing), so a participant's
CrCl is the same number at screening and on cycle 1. Pure Python, no Django.

The weight basis is the protocol's `dosing.crcl_weight_basis` (actual, ideal or adjusted;
shared/reference/formulas.md): both apps read it through `protocol_weight_basis`."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

D = Decimal
CREATININE_UMOL_PER_MG_DL = D("88.4")
WEIGHT_BASES = ("actual", "ideal", "adjusted")
SOURCE = "Cockcroft & Gault, Nephron 1976;16:31"


def _one_decimal(value: Decimal) -> Decimal:
    return value.quantize(D("0.1"), rounding=ROUND_HALF_UP)


def protocol_weight_basis(definition: Mapping[str, Any]) -> str:
    """The weight basis of a protocol definition (`dosing.crcl_weight_basis`, default actual)."""
    return str((definition.get("dosing") or {}).get("crcl_weight_basis") or "actual")


def ideal_body_weight(height_cm: Decimal, sex: str) -> Decimal:
    """Devine (Drug Intell Clin Pharm 1974;8:650): 50 kg (men) or 45.5 kg (women) + 2.3 kg per
    inch over 5 feet. Under 5 feet the formula is used as is (it then subtracts)."""
    inches = height_cm / D("2.54")
    base = D("50") if sex == "male" else D("45.5")
    return _one_decimal(base + D("2.3") * (inches - 60))


def weight_on_basis(weight_kg: Decimal, height_cm: Decimal | None, sex: str, basis: str = "actual") -> Decimal:
    """The weight Cockcroft–Gault uses: actual (default, formulas.md), ideal (Devine, never more
    than the actual weight), or adjusted (IBW + 0.4 × (actual − IBW), when actual > IBW).
    `height_cm` is needed for ideal and adjusted only."""
    if basis == "actual":
        return weight_kg
    if basis not in WEIGHT_BASES:
        raise ValueError(f"unknown weight basis {basis!r}")
    if height_cm is None:
        raise ValueError(f"the {basis} weight needs a height")
    ibw = ideal_body_weight(height_cm, sex)
    if basis == "ideal":
        return min(ibw, weight_kg)
    return weight_kg if weight_kg <= ibw else _one_decimal(ibw + D("0.4") * (weight_kg - ibw))


def creatinine_mg_dl(*, umol_l: Decimal | None = None, mg_dl: Decimal | None = None) -> Decimal:
    """Serum creatinine in mg/dL from either unit (µmol/L ÷ 88.4)."""
    if mg_dl is not None:
        return D(mg_dl)
    if umol_l is None:
        raise ValueError("a serum creatinine is needed")
    return D(umol_l) / CREATININE_UMOL_PER_MG_DL


def cockcroft_gault(*, age_years: int, weight_kg: Decimal, sex: str, creatinine_mg_dl: Decimal) -> Decimal:
    """Cockcroft–Gault (Nephron 1976;16:31), mL/min, 1 decimal half up:
    (140 − age) × weight / (72 × SCr mg/dL), × 0.85 for women. The rounded value is the one
    shown and compared with the eligibility and renal thresholds. `weight_kg` is the weight on
    the protocol's basis (weight_on_basis)."""
    if creatinine_mg_dl <= 0:
        raise ValueError("creatinine must be positive")
    value = D(140 - age_years) * D(weight_kg) / (D(72) * D(creatinine_mg_dl))
    if sex == "female":
        value *= D("0.85")
    return _one_decimal(value)
