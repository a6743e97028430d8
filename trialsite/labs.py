"""The lab catalogue: analytes, their canonical units and unit conversions. No Django models.

Values are stored in the canonical unit so that rules compare like with like; a value entered in
another accepted unit is converted once, on entry, by :func:`to_canonical`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Analyte:
    code: str
    label: str
    unit: str
    # Other accepted units and the factor that multiplies a value in that unit into `unit`.
    conversions: dict[str, Decimal] = field(default_factory=dict)
    # Whether the site's upper limit of normal applies (rules written as ×ULN).
    uses_uln: bool = False


# Creatinine: 1 mg/dL = 88.4 µmol/L (formulas.md, Cockcroft–Gault). Bilirubin: 1 mg/dL = 17.1 µmol/L.
# Haemoglobin: 1 g/dL = 10 g/L. Albumin: 1 g/dL = 10 g/L.
ANALYTES: dict[str, Analyte] = {
    a.code: a
    for a in [
        Analyte("anc", "Absolute neutrophil count", "10^9/L"),
        Analyte("platelets", "Platelet count", "10^9/L"),
        Analyte("hemoglobin", "Haemoglobin", "g/dL", {"g/L": Decimal("0.1")}),
        Analyte("total_bilirubin", "Total bilirubin", "umol/L", {"mg/dL": Decimal("17.1")}, uses_uln=True),
        Analyte("alt", "Alanine aminotransferase", "U/L", uses_uln=True),
        Analyte("ast", "Aspartate aminotransferase", "U/L", uses_uln=True),
        Analyte("albumin", "Serum albumin", "g/L", {"g/dL": Decimal("10")}),
        Analyte("creatinine", "Serum creatinine", "umol/L", {"mg/dL": Decimal("88.4")}, uses_uln=True),
        # Dipstick grades as numbers: negative 0, trace 0.5, 1+ 1, 2+ 2, 3+ 3, 4+ 4.
        Analyte("urine_protein_dipstick", "Urine protein (dipstick grade)", "grade"),
        Analyte("urine_protein_24h", "Urine protein (24 h)", "g/24h", {"mg/24h": Decimal("0.001")}),
        Analyte("inr", "International normalised ratio", "ratio"),
        Analyte("aptt", "Activated partial thromboplastin time", "s", uses_uln=True),
    ]
}

ANALYTE_CHOICES = [(a.code, a.label) for a in ANALYTES.values()]


class UnknownUnit(ValueError):
    pass


def to_canonical(analyte: str, value: Decimal, unit: str) -> Decimal:
    """Convert `value` given in `unit` into the analyte's canonical unit."""
    spec = ANALYTES[analyte]
    if unit == spec.unit:
        return value
    try:
        return value * spec.conversions[unit]
    except KeyError:
        accepted = ", ".join([spec.unit, *spec.conversions])
        raise UnknownUnit(f"{unit!r} is not a unit for {spec.label}; use one of: {accepted}.") from None


def accepted_units(analyte: str) -> list[str]:
    spec = ANALYTES[analyte]
    return [spec.unit, *spec.conversions]
