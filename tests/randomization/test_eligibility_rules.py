"""The pure eligibility evaluator, Cockcroft–Gault (trialsite.renal, shared with dosing) and age at consent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from randomization import eligibility as el
from randomization.eligibility import Lab
from trialsite import renal

GOOD_LABS = {
    "anc": Lab(Decimal("3.2")),
    "platelets": Lab(Decimal("210")),
    "hemoglobin": Lab(Decimal("12.5")),
    "total_bilirubin": Lab(Decimal("12"), Decimal("21")),
    "alt": Lab(Decimal("30"), Decimal("40")),
    "ast": Lab(Decimal("28"), Decimal("40")),
    "albumin": Lab(Decimal("40")),
    "creatinine": Lab(Decimal("80"), Decimal("104")),
    "urine_protein_dipstick": Lab(Decimal("0")),
    "inr": Lab(Decimal("1.0")),
    "aptt": Lab(Decimal("32"), Decimal("40")),
}


def good_fields(eligibility: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for criterion in eligibility["exclusion"]:
        fields[criterion["rule"]["field"]] = False
    fields.update(
        age_years=59,
        rectal_adenocarcinoma=True,
        tumour_distance_cm=6,
        metastatic_sites=1,
        metastatic_lesions=3,
        mss_or_pmmr=True,
        recist_measurable_lesion=True,
        ecog=1,
        creatinine_clearance_ml_min=Decimal("85"),
        no_life_limiting_disease=True,
        contraception_and_pregnancy_test_ok=True,
    )
    return fields


def test_a_complete_good_assessment_is_eligible(trial_definition: dict) -> None:
    result = el.evaluate(trial_definition["eligibility"], good_fields(trial_definition["eligibility"]), GOOD_LABS)
    assert result.outcome == el.ELIGIBLE, list(result.failed)


@pytest.mark.parametrize(
    ("change", "code", "status"),
    [
        ({"age_years": 76}, "age", el.NOT_MET),
        ({"age_years": 17}, "age", el.NOT_MET),
        ({"ecog": 2}, "ecog", el.NOT_MET),
        ({"tumour_distance_cm": Decimal("10.5")}, "distance_from_anal_verge", el.NOT_MET),
        ({"metastatic_lesions": 6}, "metastatic_lesions", el.NOT_MET),
        ({"hiv": True}, "hiv", el.NOT_MET),
        ({"mss_or_pmmr": None}, "mss_pmmr", el.NOT_ASSESSABLE),
        ({"ecog": None}, "ecog", el.NOT_ASSESSABLE),
    ],
)
def test_each_failed_or_missing_criterion_is_named(
    trial_definition: dict, change: dict, code: str, status: str
) -> None:
    fields = good_fields(trial_definition["eligibility"]) | change
    result = el.evaluate(trial_definition["eligibility"], fields, GOOD_LABS)
    assert [(c.code, c.status) for c in result.failed] == [(code, status)]
    assert result.outcome == (el.NOT_ELIGIBLE if status == el.NOT_MET else el.NOT_ASSESSABLE)


@pytest.mark.parametrize(
    ("analyte", "lab", "status"),
    [
        ("anc", Lab(Decimal("1.5")), el.MET),  # ≥ 1.5 inclusive
        ("anc", Lab(Decimal("1.49")), el.NOT_MET),
        ("total_bilirubin", Lab(Decimal("31.5"), Decimal("21")), el.MET),  # exactly 1.5 × ULN
        ("total_bilirubin", Lab(Decimal("31.6"), Decimal("21")), el.NOT_MET),
        ("alt", Lab(Decimal("121"), Decimal("40")), el.NOT_MET),
        ("alt", Lab(Decimal("50"), None), el.NOT_ASSESSABLE),  # no ULN: cannot judge ×ULN
        ("hemoglobin", None, el.NOT_ASSESSABLE),
    ],
)
def test_lab_thresholds(trial_definition: dict, analyte: str, lab: Lab | None, status: str) -> None:
    labs = dict(GOOD_LABS)
    if lab is None:
        del labs[analyte]
    else:
        labs[analyte] = lab
    result = el.evaluate(trial_definition["eligibility"], good_fields(trial_definition["eligibility"]), labs)
    by_lab = {c.facts[0].get("analyte"): c.status for c in result.criteria if c.facts and "analyte" in c.facts[0]}
    assert by_lab[analyte] == status


@pytest.mark.parametrize(
    ("creatinine", "crcl", "status"),
    [
        (Decimal("150"), Decimal("60"), el.MET),  # creatinine 1.44 × ULN: met by the first branch
        (Decimal("170"), Decimal("55"), el.MET),  # creatinine 1.63 × ULN but CrCl ≥ 50: the "or"
        (Decimal("170"), Decimal("45"), el.NOT_MET),
        (Decimal("170"), None, el.NOT_ASSESSABLE),  # creatinine fails and CrCl unknown
    ],
)
def test_renal_criterion_is_an_or(
    trial_definition: dict, creatinine: Decimal, crcl: Decimal | None, status: str
) -> None:
    labs = dict(GOOD_LABS, creatinine=Lab(creatinine, Decimal("104")))
    fields = good_fields(trial_definition["eligibility"]) | {"creatinine_clearance_ml_min": crcl}
    result = el.evaluate(trial_definition["eligibility"], fields, labs)
    assert {c.code: c.status for c in result.criteria}["renal_function"] == status


def test_urine_protein_dipstick_or_24h(trial_definition: dict) -> None:
    fields = good_fields(trial_definition["eligibility"])
    labs = dict(GOOD_LABS, urine_protein_dipstick=Lab(Decimal("2")))
    assert {c.code: c.status for c in el.evaluate(trial_definition["eligibility"], fields, labs).criteria}[
        "urine_protein"
    ] == el.NOT_ASSESSABLE
    labs["urine_protein_24h"] = Lab(Decimal("0.6"))
    assert {c.code: c.status for c in el.evaluate(trial_definition["eligibility"], fields, labs).criteria}[
        "urine_protein"
    ] == el.MET


@pytest.mark.parametrize(
    ("age", "weight", "scr", "female", "expected"),
    [
        # (140 − 60) × 72 / (72 × 1.0) = 80.0 with SCr 88.4 µmol/L = 1.0 mg/dL (formulas.md)
        (60, Decimal("72"), Decimal("88.4"), False, Decimal("80.0")),
        (60, Decimal("72"), Decimal("88.4"), True, Decimal("68.0")),  # × 0.85
        # Cockcroft & Gault 1976 example shape: 80 y, 60 kg, SCr 1.5 mg/dL (132.6 µmol/L) → 33.3
        (80, Decimal("60"), Decimal("132.6"), False, Decimal("33.3")),
    ],
)
def test_cockcroft_gault(age: int, weight: Decimal, scr: Decimal, female: bool, expected: Decimal) -> None:
    sex = "female" if female else "male"
    scr_mg_dl = renal.creatinine_mg_dl(umol_l=scr)
    assert renal.cockcroft_gault(age_years=age, weight_kg=weight, sex=sex, creatinine_mg_dl=scr_mg_dl) == expected


@pytest.mark.parametrize(
    ("birth", "on", "years"),
    [
        (dt.date(1966, 5, 17), dt.date(2026, 5, 16), 59),
        (dt.date(1966, 5, 17), dt.date(2026, 5, 17), 60),
        (dt.date(2008, 2, 29), dt.date(2026, 2, 28), 17),
        (dt.date(2008, 2, 29), dt.date(2026, 3, 1), 18),
    ],
)
def test_age_in_years(birth: dt.date, on: dt.date, years: int) -> None:
    assert el.age_in_years(birth, on) == years


def test_stratification_levels() -> None:
    levels = el.stratification_levels(
        ["site", "liver_only_metastases", "ecog"], {"liver_only_metastases": True, "ecog": 0}, "ZJU1"
    )
    assert levels == {"site": "ZJU1", "liver_only_metastases": "yes", "ecog": "0"}
    assert "ecog" not in el.stratification_levels(["ecog"], {}, "ZJU1")


def test_rule_fields_cover_the_protocol(trial_definition: dict) -> None:
    fields = el.rule_fields(trial_definition["eligibility"])
    assert fields["ecog"] == "number" and fields["hiv"] == "boolean"
    assert "creatinine" in el.rule_analytes(trial_definition["eligibility"])
