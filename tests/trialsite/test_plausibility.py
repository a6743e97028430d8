"""Plausibility of body measurements and dates (trialsite/ranges.py, trialsite/plausibility.py):
pure tests of the one definition the registry, its database constraint and the dose calculations
share."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from dosing.calculations import formulas
from trialsite import plausibility, ranges
from trialsite.models import Measurement

D = Decimal
TODAY = dt.date(2026, 3, 2)
BIRTH = dt.date(1966, 5, 17)


@pytest.mark.parametrize(
    ("kind", "value", "hint"),
    [
        ("height", "1.75", "did you enter metres (1.75 m = 175 cm)?"),
        ("height", "1750", "did you enter millimetres (1750 mm = 175 cm)?"),
        ("height", "70", "did you enter inches (70 in = 178 cm) or the weight in kg?"),
        ("weight", "68000", "did you enter grams (68000 g = 68 kg)?"),
        ("weight", "300", "did you enter pounds (300 lb = 136 kg)?"),
    ],
)
def test_an_implausible_measurement_names_the_likely_slip(kind: str, value: str, hint: str) -> None:
    message = plausibility.measurement_implausibility(kind, D(value))
    assert message is not None and message.endswith(hint), message


def test_an_implausible_measurement_without_a_likely_slip_gives_the_range() -> None:
    assert (
        plausibility.measurement_implausibility("height", D("17.5")) == "Height 17.5 cm is not plausible (100–230 cm)."
    )
    assert plausibility.measurement_implausibility("weight", D("20")) == "Weight 20 kg is not plausible (30–250 kg)."


@pytest.mark.parametrize(("kind", "value"), [("height", "100"), ("height", "230"), ("weight", "30"), ("weight", "250")])
def test_the_bounds_themselves_are_plausible(kind: str, value: str) -> None:
    assert plausibility.measurement_implausibility(kind, D(value)) is None


def test_a_height_and_weight_swap_is_caught() -> None:
    # 110 cm / 175 kg: each plausible alone, together a BMI of 144.6 (formulas.md swap check).
    assert ranges.looks_swapped(D(110), D(175))
    assert plausibility.swap_message(D(110), D(175)) == (
        "Height 110 cm and weight 175 kg give a BMI of 144.6: they look swapped. Check and enter them again."
    )
    assert not ranges.looks_swapped(D(175), D(110))  # BMI 35.9: obese, not swapped
    assert not ranges.looks_swapped(D(150), D(140))  # BMI 62.2 but height > weight


def test_one_definition_of_the_height_and_weight_bounds() -> None:
    """The dose calculations, the registry and the database constraint read trialsite/ranges.py."""
    # The calculations refuse exactly outside the registry's bounds (they hold no copy of them).
    for height, weight in (
        (ranges.HEIGHT_CM.low, D(70)),
        (ranges.HEIGHT_CM.high, D(120)),
        (D(170), ranges.WEIGHT_KG.low),
    ):
        formulas.check_measurements(height, weight)
    for height, weight, field in (
        (ranges.HEIGHT_CM.low - D("0.1"), D(40), "height_cm"),
        (D(170), ranges.WEIGHT_KG.high + 1, "weight_kg"),
    ):
        with pytest.raises(formulas.CalculationError) as refused:
            formulas.check_measurements(height, weight)
        assert refused.value.field == field
    assert formulas.bmi is ranges.bmi
    (constraint,) = Measurement._meta.constraints
    rendered = str(constraint.condition)
    for kind, bounds in ranges.MEASUREMENT_RANGES.items():
        assert (
            f"('kind', '{kind}'), ('value__gte', Decimal('{bounds.low}')), ('value__lte', Decimal('{bounds.high}'))"
            in (rendered)
        )
    assert str(constraint.violation_error_message) == "Height must be 100–230 cm and weight 30–250 kg."


@pytest.mark.parametrize(
    ("birth", "message"),
    [
        (dt.date(1, 1, 1), "The birth date 0001-01-01 gives an age of 2025 years: check the year."),
        (dt.date(1905, 3, 1), "The birth date 1905-03-01 gives an age of 121 years: check the year."),
        (dt.date(9999, 12, 31), "The birth date 9999-12-31 is not in the past: check the year."),
        (TODAY, "The birth date 2026-03-02 is not in the past: check the year."),
    ],
)
def test_an_implausible_birth_date_is_named(birth: dt.date, message: str) -> None:
    assert plausibility.birth_date_error(birth, today=TODAY) == message


def test_a_birth_date_giving_120_years_passes() -> None:
    assert plausibility.birth_date_error(dt.date(1906, 3, 2), today=TODAY) is None


@pytest.mark.parametrize(
    ("field", "on", "message"),
    [
        (
            "measured_on",
            dt.date(9999, 12, 31),
            "The measurement date 9999-12-31 is in the future (today is 2026-03-02): check the year.",
        ),
        (
            "collected_on",
            dt.date(1, 1, 1),
            "The collection date 0001-01-01 is before the birth date (1966-05-17): check the year.",
        ),
        (
            "assessed_on",
            dt.date(2026, 2, 1),
            "The assessment date 2026-02-01 is before the consent date (2026-02-20): check the date.",
        ),
        (
            "died_on",
            dt.date(2027, 1, 1),
            "The date of death 2027-01-01 is in the future (today is 2026-03-02): check the year.",
        ),
    ],
)
def test_an_implausible_clinical_date_is_named(field: str, on: dt.date, message: str) -> None:
    consent = dt.date(2026, 2, 20) if field in ("assessed_on", "died_on") else None
    assert plausibility.date_error(field, on, today=TODAY, birth_date=BIRTH, consent_date=consent) == message


def test_plausible_dates_pass() -> None:
    assert plausibility.date_error("measured_on", TODAY, today=TODAY, birth_date=BIRTH) is None
    assert plausibility.date_error("consent_date", None, today=TODAY, birth_date=BIRTH) is None
    assert plausibility.date_error("collected_on", dt.date(2026, 2, 1), today=TODAY, birth_date=BIRTH) is None
