"""The lab catalogue's units and plausibility ranges (trialsite/labs.py): pure tests.

The three cases of issue 13 come from how laboratories report (not from the code): Chinese labs
report haemoglobin in g/L and counts per µL are common; creatinine in mg/dL is the US unit.
Conversions: Kratz et al., N Engl J Med 2004;351:1548 (1 g/dL = 10 g/L; creatinine 1 mg/dL =
88.4 µmol/L; bilirubin 1 mg/dL = 17.1 µmol/L); 1 cell/µL = 10⁶ cells/L = 0.001 ×10⁹/L.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.randomization.conftest import GOOD_LABS
from trialsite import labs

D = Decimal


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "likely"),
    [
        # Issue 13: 90 g/L haemoglobin sent as g/dL, ANC 1200 /µL as ×10⁹/L, creatinine 1.9 mg/dL as µmol/L.
        ("hemoglobin", "90", "g/dL", "did you mean g/L?"),
        ("anc", "1200", "10^9/L", "did you mean /µL (cells per microlitre)?"),
        ("creatinine", "1.9", "umol/L", "did you mean mg/dL?"),
        # ... and the reverse slips.
        ("hemoglobin", "9", "g/L", "did you mean g/dL?"),
        ("creatinine", "80", "mg/dL", "did you mean µmol/L?"),
        ("platelets", "150000", "10^9/L", "did you mean /µL (cells per microlitre)?"),
        ("albumin", "4", "g/L", "did you mean g/dL?"),
        ("albumin", "40", "g/dL", "did you mean g/L?"),
        ("total_bilirubin", "300", "mg/dL", "did you mean µmol/L?"),
        ("urine_protein_24h", "300", "g/24h", "did you mean mg/24h?"),
    ],
)
def test_a_value_in_another_unit_is_refused_naming_that_unit(analyte: str, value: str, unit: str, likely: str) -> None:
    message = labs.implausibility(analyte, D(value), unit)

    assert message is not None
    assert message.startswith(f"{value} {labs.unit_label(unit)} is not a plausible")
    assert message.endswith(likely)


def test_the_creatinine_message_reads_as_the_issue_asks() -> None:
    assert labs.implausibility("creatinine", D("1.9"), "umol/L") == (
        "1.9 µmol/L is not a plausible serum creatinine (15–2500 µmol/L); did you mean mg/dL?"
    )


@pytest.mark.parametrize(
    ("analyte", "value", "unit"),
    [("creatinine", "0", "umol/L"), ("inr", "40", "ratio"), ("aptt", "2", "s"), ("anc", "-1", "10^9/L")],
)
def test_a_value_plausible_in_no_unit_gives_the_range(analyte: str, value: str, unit: str) -> None:
    message = labs.implausibility(analyte, D(value), unit)
    assert message is not None and "did you mean" not in message
    low, high = labs.plausible_range(analyte, unit)
    assert f"({labs.shown(low)}–{labs.shown(high)} {labs.unit_label(unit)})" in message


@pytest.mark.parametrize(
    ("analyte", "value", "unit"),
    [
        ("hemoglobin", "9.0", "g/dL"),
        ("hemoglobin", "90", "g/L"),
        ("anc", "1.2", "10^9/L"),
        ("anc", "1200", "/uL"),
        ("anc", "0", "10^9/L"),  # agranulocytosis is real
        ("creatinine", "1.9", "mg/dL"),
        ("creatinine", "168", "umol/L"),
        ("creatinine", "620", "umol/L"),  # CTCAE grade 4 (> 6 × ULN) is still a true value
        ("alt", "800", "U/L"),  # grade 4 (> 20 × ULN)
        ("total_bilirubin", "210", "umol/L"),  # grade 4 (> 10 × ULN)
        ("platelets", "20", "10^9/L"),  # grade 4 (< 25)
        ("inr", "1.0", "ratio"),
    ],
)
def test_true_values_pass(analyte: str, value: str, unit: str) -> None:
    assert labs.implausibility(analyte, D(value), unit) is None


def test_every_analyte_has_a_range_and_the_screening_labs_are_in_it() -> None:
    for code, spec in labs.ANALYTES.items():
        low, high = spec.plausible
        assert 0 <= low < high, code
        for unit in labs.accepted_units(code):
            assert labs.plausible_range(code, unit)[0] < labs.plausible_range(code, unit)[1]
    for code, value in GOOD_LABS.items():
        assert labs.implausibility(code, value, labs.ANALYTES[code].unit) is None, code


def test_counts_per_microlitre_convert_to_the_canonical_unit() -> None:
    assert labs.to_canonical("anc", D(1200), "/uL") == D("1.2")
    assert labs.to_canonical("platelets", D(150_000), "/uL") == D(150)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("µmol/L", "umol/L"),  # U+00B5 micro sign
        ("μmol/L", "umol/L"),  # U+03BC Greek mu, what Chinese input methods type
        ("umol/L", "umol/L"),
        ("UMOL/l", "umol/L"),
        ("10^9/L", "10^9/L"),
        ("x10^9/L", "10^9/L"),
        ("X10^9/l", "10^9/L"),
        ("10*9/L", "10^9/L"),
        ("10**9/L", "10^9/L"),
        ("×10⁹/L", "10^9/L"),
        ("10⁹/L", "10^9/L"),
        ("× 10^9 / L", "10^9/L"),
        ("10^3/µL", "10^9/L"),
        ("/µL", "/uL"),
        ("/μL", "/uL"),
        ("cells/µL", "/uL"),
        ("/mm³", "/uL"),
        ("g/dl", "g/dL"),
        ("IU/L", "U/L"),
    ],
)
def test_spellings_of_a_unit_are_one_unit(typed: str, code: str) -> None:
    assert labs.normalize_unit(typed) == code


def test_an_unknown_unit_stays_unknown() -> None:
    assert labs.normalize_unit(" mmol/L ") == "mmol/L"
    assert labs.unit_error("creatinine", "mmol/L") == (
        "'mmol/L' is not a unit for Serum creatinine; use one of: µmol/L, mg/dL."
    )
    assert labs.unit_error("creatinine", "g/L") is not None  # a unit of the catalogue, not of creatinine
    assert labs.value_errors("creatinine", "g/L", {"value": D(1)}).keys() == {"unit"}
