"""The lab catalogue: analytes, their canonical units, unit conversions and plausibility ranges.
No Django models.

Values are stored in the canonical unit so that rules compare like with like; a value entered in
another accepted unit is converted once, on entry, by :func:`to_canonical`. A value outside the
analyte's plausible range is refused (:func:`implausibility`), with the accepted unit in which it
would have been plausible named as the likely mistake (issue 13: 90 "g/dL" haemoglobin was 90 g/L).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal

from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

D = Decimal


@dataclass(frozen=True)
class Analyte:
    code: str
    label: str | Promise  # in the reader's language (str() of it)
    unit: str
    # The lowest and highest value, in `unit`, that a living adult can have (see PLAUSIBILITY).
    plausible: tuple[Decimal, Decimal]
    # Other accepted units and the factor that multiplies a value in that unit into `unit`.
    conversions: dict[str, Decimal] = field(default_factory=dict)
    # Whether the site's upper limit of normal applies (rules written as ×ULN).
    uses_uln: bool = False


# PLAUSIBILITY. The ranges are not reference ranges: they hold every value seen in a living adult
# and refuse what can't be true, most often a value reported in another unit. Each is the adult
# reference interval of Kratz A et al., "Laboratory reference values", N Engl J Med
# 2004;351:1548–63 (MGH; conventional and SI units), widened beyond the grade-4 (life-threatening)
# limits of the NCI Common Terminology Criteria for Adverse Events v5.0 (2017), so that every
# grade-4 value is still accepted:
# - ANC: reference 1.8–7.7 ×10⁹/L; CTCAE grade 4 < 0.5; leukemoid reactions reach 50–100 ×10⁹/L.
#   A count per µL (1200 /µL = 1.2 ×10⁹/L) is 1000 times the count in ×10⁹/L.
# - Platelets: reference 150–400 ×10⁹/L; grade 4 < 25; extreme thrombocytosis > 1000 ×10⁹/L.
# - Haemoglobin: reference 12.0–17.5 g/dL; grade 3 < 8.0 g/dL; below 2 g/dL or above 25 g/dL is
#   not survivable (polycythaemia stays below ~24 g/dL). 1 g/dL = 10 g/L.
# - Total bilirubin: reference 5.1–17 µmol/L (0.3–1.0 mg/dL); grade 4 > 10 × ULN (~210 µmol/L);
#   the range ends at 1000 µmol/L (58 mg/dL). 1 mg/dL = 17.1 µmol/L.
# - ALT, AST: reference 7–41 / 12–38 U/L; grade 4 > 20 × ULN (~800 U/L); ischaemic and toxic
#   hepatitis exceed 10,000 U/L; the range ends at 20,000 U/L.
# - Albumin: reference 40–50 g/L; grade 3 < 20 g/L; range 5–70 g/L. 1 g/dL = 10 g/L.
# - Creatinine: reference 53–106 µmol/L (0.6–1.2 mg/dL); grade 4 > 6 × ULN (~620 µmol/L); end-stage
#   renal failure reaches ~2000 µmol/L; range 15–2500 µmol/L. 1 mg/dL = 88.4 µmol/L (formulas.md).
# - Urine protein: dipstick grades 0–4; 24 h reference < 0.15 g, nephrotic range > 3.5 g, range
#   0–50 g/24 h.
# - INR: reference 0.8–1.2, over-anticoagulation reaches 10–20; range 0.5–25.
# - aPTT: reference 26–39 s; heparin and factor deficiencies give > 100 s; range 10–300 s.
PER_UL = D("0.001")  # 1 cell/µL = 10⁶/L = 0.001 ×10⁹/L
ANALYTES: dict[str, Analyte] = {
    a.code: a
    for a in [
        Analyte("anc", _("Absolute neutrophil count"), "10^9/L", (D(0), D(100)), {"/uL": PER_UL}),
        Analyte("platelets", _("Platelet count"), "10^9/L", (D(0), D(2000)), {"/uL": PER_UL}),
        Analyte("hemoglobin", _("Haemoglobin"), "g/dL", (D(2), D(25)), {"g/L": D("0.1")}),
        Analyte(
            "total_bilirubin",
            _("Total bilirubin"),
            "umol/L",
            (D(0), D(1000)),
            {"mg/dL": D("17.1")},
            uses_uln=True,
        ),
        Analyte("alt", _("Alanine aminotransferase"), "U/L", (D(0), D(20000)), uses_uln=True),
        Analyte("ast", _("Aspartate aminotransferase"), "U/L", (D(0), D(20000)), uses_uln=True),
        Analyte("albumin", _("Serum albumin"), "g/L", (D(5), D(70)), {"g/dL": D(10)}),
        Analyte("creatinine", _("Serum creatinine"), "umol/L", (D(15), D(2500)), {"mg/dL": D("88.4")}, uses_uln=True),
        # Dipstick grades as numbers: negative 0, trace 0.5, 1+ 1, 2+ 2, 3+ 3, 4+ 4.
        Analyte("urine_protein_dipstick", _("Urine protein (dipstick grade)"), "grade", (D(0), D(4))),
        Analyte("urine_protein_24h", _("Urine protein (24 h)"), "g/24h", (D(0), D(50)), {"mg/24h": D("0.001")}),
        Analyte("inr", _("International normalised ratio"), "ratio", (D("0.5"), D(25))),
        Analyte("aptt", _("Activated partial thromboplastin time"), "s", (D(10), D(300)), uses_uln=True),
    ]
}

ANALYTE_CHOICES = [(a.code, a.label) for a in ANALYTES.values()]


class UnknownUnit(ValueError):
    pass


def accepted_units(analyte: str) -> list[str]:
    spec = ANALYTES[analyte]
    return [spec.unit, *spec.conversions]


# --- Unit spellings ---------------------------------------------------------------------------

# Units as the screen shows them; the stored codes stay ASCII ("umol/L" is today's spelling).
UNIT_LABELS = {
    "grade": pgettext_lazy("lab unit", "grade"),
    "ratio": pgettext_lazy("lab unit", "ratio"),
    "umol/L": "µmol/L",
    "10^9/L": "×10⁹/L",
    "/uL": "/µL",
}
# Where the symbol alone may not be clear, a suggestion says what the unit is.
UNIT_DESCRIPTIONS = {"/uL": _("/µL (cells per microlitre)")}

UNITS: list[str] = sorted({u for a in ANALYTES for u in accepted_units(a)}, key=str.lower)
UNIT_CHOICES = [(u, u) for u in UNITS]

# One spelling per unit: "µ" (U+00B5, micro sign) and "μ" (U+03BC, Greek mu, what Chinese input
# methods type) and "u" are the same; so are ×10⁹/L, x10^9/L, 10*9/L and 10^9/L; case is ignored.
_FOLD = str.maketrans({"µ": "u", "μ": "u", "⁹": "^9", "³": "^3", "×": "x", " ": None, "\u00a0": None})
_TEN_TO = re.compile(r"^x?10(?:\^|\*\*|\*|e)?([39])/")
# Other names of the same units (1 mm³ = 1 µL; 10³/µL = 10⁹/L; IU/L of enzymes = U/L).
_ALIASES = {
    "cells/ul": "/uL",
    "/mm^3": "/uL",
    "/mm3": "/uL",
    "cells/mm^3": "/uL",
    "cells/mm3": "/uL",
    "10^3/ul": "10^9/L",
    "k/ul": "10^9/L",
    "iu/l": "U/L",
    "sec": "s",
}


def _fold(text: str) -> str:
    key = text.strip().translate(_FOLD).lower()
    return _TEN_TO.sub(lambda m: f"10^{m.group(1)}/", key)


_BY_SPELLING = {_fold(u): u for u in UNITS} | _ALIASES


def normalize_unit(text: str) -> str:
    """The catalogue's code for a unit however it was typed ("μmol/L" → "umol/L", "×10⁹/L" →
    "10^9/L"); text that is no known unit is returned stripped, for the caller to refuse."""
    return _BY_SPELLING.get(_fold(text), text.strip())


def unit_label(unit: str) -> str:
    return str(UNIT_LABELS.get(unit, unit))


def analyte_label(code: str) -> str:
    """The analyte's name in the active language (the code itself for an unknown analyte)."""
    spec = ANALYTES.get(code)
    return str(spec.label) if spec else code


def unit_error(analyte: str, unit: str) -> str | None:
    """Why `unit` (a catalogue code) is not a unit of `analyte`, or None."""
    if unit in accepted_units(analyte):
        return None
    return gettext("'%(unit)s' is not a unit for %(analyte)s; use one of: %(accepted)s.") % {
        "unit": unit,
        "analyte": analyte_label(analyte),
        "accepted": ", ".join(unit_label(u) for u in accepted_units(analyte)),
    }


def to_canonical(analyte: str, value: Decimal, unit: str) -> Decimal:
    """Convert `value` given in `unit` into the analyte's canonical unit."""
    spec = ANALYTES[analyte]
    if unit == spec.unit:
        return value
    message = unit_error(analyte, unit)
    if message:
        raise UnknownUnit(message)
    return value * spec.conversions[unit]


# --- Plausibility -------------------------------------------------------------------------------

_SHOWN = Context(prec=3)


def shown(value: Decimal) -> str:
    """A number as a message shows it: 3 significant digits, no exponent, no trailing zeros."""
    return format(_SHOWN.create_decimal(value).normalize(), "f") if value else "0"


def plausible_range(analyte: str, unit: str) -> tuple[Decimal, Decimal]:
    """The analyte's plausible range in `unit` (an accepted unit)."""
    spec = ANALYTES[analyte]
    factor = D(1) if unit == spec.unit else spec.conversions[unit]
    low, high = spec.plausible
    return low / factor, high / factor


def implausibility(analyte: str, value: Decimal, unit: str) -> str | None:
    """Why `value` in `unit` (an accepted unit of the analyte) can't be true, naming the other
    accepted unit in which it would be plausible ("1.9 µmol/L is not a plausible serum creatinine
    (15–2500 µmol/L); did you mean mg/dL?"); None for a plausible value."""
    if _plausible_in(analyte, value, unit):
        return None
    low, high = plausible_range(analyte, unit)
    params = {
        "value": format(value.normalize(), "f"),
        "unit": unit_label(unit),
        "analyte": _lower_first(analyte_label(analyte)),
        "low": shown(low),
        "high": shown(high),
    }
    likely = [u for u in accepted_units(analyte) if u != unit and _plausible_in(analyte, value, u)]
    if not likely:
        return gettext("%(value)s %(unit)s is not a plausible %(analyte)s (%(low)s–%(high)s %(unit)s).") % params
    params["likely"] = gettext(" or ").join(str(UNIT_DESCRIPTIONS.get(u, unit_label(u))) for u in likely)
    return (
        gettext(
            "%(value)s %(unit)s is not a plausible %(analyte)s (%(low)s–%(high)s %(unit)s); did you mean %(likely)s?"
        )
        % params
    )


def _plausible_in(analyte: str, value: Decimal, unit: str) -> bool:
    low, high = plausible_range(analyte, unit)
    return low <= value <= high


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def value_errors(analyte: str, unit: str, values: Mapping[str, Decimal]) -> dict[str, str]:
    """Field messages for values of `analyte` given in `unit` (a catalogue code): the unit if the
    analyte lacks it, else each implausible value ({"value": …, "uln": …})."""
    message = unit_error(analyte, unit)
    if message:
        return {"unit": message}
    found = {name: implausibility(analyte, value, unit) for name, value in values.items()}
    return {name: message for name, message in found.items() if message}
