"""Plausibility ranges of the body measurements, as data: the ONE definition that the registry's
services and model, its database check constraint and the dose calculations all read. Pure
Python (dosing/calculations/formulas.py imports it); the messages are in trialsite/plausibility.py.

Source: the dose-error guards of shared/reference/formulas.md ("height and weight plausibility
and a swap check", as in mature oncology systems). The numbers are this project's clinical
default, kept from its first version: 100–230 cm and 30–250 kg hold every adult of the trial's
population (age 18–75) while refusing a height typed in metres or a weight typed in grams. The
swap rule comes from the same page: a transposed height and weight caused a ~650 mg
panitumumab overdose (ISMP Canada).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

D = Decimal


@dataclass(frozen=True)
class Range:
    low: Decimal
    high: Decimal
    unit: str

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | Decimal) and self.low <= value <= self.high


HEIGHT_CM = Range(D(100), D(230), "cm")
WEIGHT_KG = Range(D(30), D(250), "kg")
MEASUREMENT_RANGES = {"height": HEIGHT_CM, "weight": WEIGHT_KG}

# Units a height or weight is often typed in by mistake, with the factor into cm or kg.
LIKELY_UNIT_SLIPS: dict[str, tuple[tuple[str, Decimal], ...]] = {
    "height": (("m", D(100)), ("mm", D("0.1")), ("in", D("2.54"))),
    "weight": (("g", D("0.001")), ("lb", D("0.45359237"))),
}

# A BMI above this with the height (cm) numerically below the weight (kg) is taken as a
# transposed entry (formulas.md's swap check): 110 cm / 175 kg gives BMI 144.6.
SWAP_BMI_ABOVE = D(60)


def bmi(height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    """Body-mass index, kg/m², 1 decimal half up (the value a sheet shows)."""
    metres = height_cm / 100
    return (weight_kg / (metres * metres)).quantize(D("0.1"), rounding=ROUND_HALF_UP)


def looks_swapped(height_cm: Decimal, weight_kg: Decimal) -> bool:
    """Whether a height and a weight, each plausible alone, look transposed."""
    return height_cm < weight_kg and bmi(height_cm, weight_kg) > SWAP_BMI_ABOVE


def unit_slips(kind: str, value: Decimal) -> list[tuple[str, Decimal]]:
    """The units `value` would be a plausible `kind` in, with the value it would then be."""
    target = MEASUREMENT_RANGES[kind]
    return [(unit, value * factor) for unit, factor in LIKELY_UNIT_SLIPS[kind] if value * factor in target]


# The oldest age a birth date may give (the oldest verified human lived to 122 years; the trial
# takes 18–75). An older age is a typing slip in the year.
MAX_AGE_YEARS = 120
