"""The lab catalogue: analytes, their canonical units and unit conversions. No Django models.

Values are stored in the canonical unit so that rules compare like with like; a value entered in
another accepted unit is converted once, on entry, by :func:`to_canonical`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Analyte:
    code: str
    label: str | Promise  # in the reader's language (str() of it)
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
        Analyte("anc", _("Absolute neutrophil count"), "10^9/L"),
        Analyte("platelets", _("Platelet count"), "10^9/L"),
        Analyte("hemoglobin", _("Haemoglobin"), "g/dL", {"g/L": Decimal("0.1")}),
        Analyte("total_bilirubin", _("Total bilirubin"), "umol/L", {"mg/dL": Decimal("17.1")}, uses_uln=True),
        Analyte("alt", _("Alanine aminotransferase"), "U/L", uses_uln=True),
        Analyte("ast", _("Aspartate aminotransferase"), "U/L", uses_uln=True),
        Analyte("albumin", _("Serum albumin"), "g/L", {"g/dL": Decimal("10")}),
        Analyte("creatinine", _("Serum creatinine"), "umol/L", {"mg/dL": Decimal("88.4")}, uses_uln=True),
        # Dipstick grades as numbers: negative 0, trace 0.5, 1+ 1, 2+ 2, 3+ 3, 4+ 4.
        Analyte("urine_protein_dipstick", _("Urine protein (dipstick grade)"), "grade"),
        Analyte("urine_protein_24h", _("Urine protein (24 h)"), "g/24h", {"mg/24h": Decimal("0.001")}),
        Analyte("inr", _("International normalised ratio"), "ratio"),
        Analyte("aptt", _("Activated partial thromboplastin time"), "s", uses_uln=True),
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
        accepted = ", ".join(accepted_units(analyte))
        raise UnknownUnit(
            gettext("'%(unit)s' is not a unit for %(analyte)s; use one of: %(accepted)s.")
            % {"unit": unit, "analyte": spec.label, "accepted": accepted}
        ) from None


# Canonical units that are words rather than symbols.
UNIT_NAMES = {"grade": pgettext_lazy("lab unit", "grade"), "ratio": pgettext_lazy("lab unit", "ratio")}


def unit_label(unit: str) -> str:
    return str(UNIT_NAMES.get(unit, unit))


def analyte_label(code: str) -> str:
    """The analyte's name in the active language (the code itself for an unknown analyte)."""
    spec = ANALYTES.get(code)
    return str(spec.label) if spec else code


def accepted_units(analyte: str) -> list[str]:
    spec = ANALYTES[analyte]
    return [spec.unit, *spec.conversions]
