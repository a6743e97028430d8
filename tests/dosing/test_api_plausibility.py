"""The dose-calculation preview applies the registry's plausibility rules (issue 13): a value that
can't be true is a 400 naming the likely mistake, never a dose."""

from __future__ import annotations

from typing import Any

import pytest

BODY = {"arm": "experimental", "height_cm": 180, "weight_kg": 80, "sex": "male", "age_years": 60}


@pytest.mark.parametrize(
    ("creatinine", "field", "message"),
    [
        # Issue 13: 1.9 mg/dL sent as µmol/L gave a CrCl of 3360 mL/min and full doses.
        (
            {"serum_creatinine_umol_l": 1.9},
            "serum_creatinine_umol_l",
            "1.9 µmol/L is not a plausible serum creatinine (15–2500 µmol/L); did you mean mg/dL?",
        ),
        (
            {"serum_creatinine_mg_dl": 80},
            "serum_creatinine_mg_dl",
            "80 mg/dL is not a plausible serum creatinine (0.17–28.3 mg/dL); did you mean µmol/L?",
        ),
    ],
)
def test_an_implausible_creatinine_is_a_400_naming_the_unit(
    creatinine: dict[str, Any], field: str, message: str, api: Any, nurse: Any
) -> None:
    response = api(nurse).post("/api/v1/dose-calculations/", {**BODY, **creatinine}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {field: [message]}


def test_the_same_creatinine_in_its_unit_gives_doses(api: Any, nurse: Any) -> None:
    response = api(nurse).post("/api/v1/dose-calculations/", {**BODY, "serum_creatinine_mg_dl": 1.9}, format="json")
    assert response.status_code == 200
    # Cockcroft–Gault (Nephron 1976;16:31): (140 − 60) × 80 / (72 × 1.9) = 46.8 mL/min.
    assert response.json()["creatinine_clearance_ml_min"] == 46.8


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"height_cm": "1.8"},
            "height_cm",
            "Height 1.8 cm is not plausible (100–230 cm); did you enter metres (1.8 m = 180 cm)?",
        ),
        (
            {"height_cm": 110, "weight_kg": 175},
            "height_cm",
            "Height 110 cm and weight 175 kg give a BMI of 144.6: they look swapped. Check and enter them again.",
        ),
    ],
)
def test_an_implausible_height_or_weight_is_named_as_the_registry_names_it(
    change: dict[str, Any], field: str, message: str, api: Any, nurse: Any
) -> None:
    response = api(nurse).post(
        "/api/v1/dose-calculations/", {**BODY, "serum_creatinine_umol_l": 80, **change}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {field: [message]}
