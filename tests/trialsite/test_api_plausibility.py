"""The registry API refuses what can't be true, field by field, and stores nothing (issues 12 §3
and 13 "Units and plausibility"): lab units required and from the analyte's list, values plausible
in their unit, measurements plausible and not swapped, dates plausible, identifiers well formed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from trialsite import labs
from trialsite.models import LabResult, Measurement, Participant

# The API's "today" is the site's: 2026-03-02 10:00 in Asia/Shanghai.
NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def labs_url(p: Participant) -> str:
    return f"/api/v1/participants/{p.pk}/labs/"


def post(api: Any, user: Any, url: str, body: dict[str, Any]) -> Any:
    return api(user).post(url, body, format="json")


def post_lab(api: Any, user: Any, participant: Participant, **body: str) -> Any:
    return post(api, user, labs_url(participant), {"collected_on": "2026-03-01", **body})


def test_a_lab_without_a_unit_is_refused_not_stored_in_a_default_unit(api: Any, nurse: Any, participant: Any) -> None:
    # Issue 13: {"analyte": "hemoglobin", "value": "90"} was stored as 90 g/dL (it was 90 g/L).
    response = post(
        api, nurse, labs_url(participant), {"analyte": "hemoglobin", "value": "90", "collected_on": "2026-03-01"}
    )

    assert response.status_code == 400
    assert response.json()["errors"]["unit"]
    assert not LabResult.objects.exists()


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "message"),
    [
        ("hemoglobin", "90", "g/dL", "90 g/dL is not a plausible haemoglobin (2–25 g/dL); did you mean g/L?"),
        (
            "anc",
            "1200",
            "10^9/L",
            "1200 ×10⁹/L is not a plausible absolute neutrophil count (0–100 ×10⁹/L); "
            "did you mean /µL (cells per microlitre)?",
        ),
        (
            "creatinine",
            "1.9",
            "umol/L",
            "1.9 µmol/L is not a plausible serum creatinine (15–2500 µmol/L); did you mean mg/dL?",
        ),
    ],
)
def test_the_three_unit_slips_of_issue_13_are_refused_naming_the_unit(
    analyte: str, value: str, unit: str, message: str, api: Any, nurse: Any, participant: Any
) -> None:
    response = post_lab(api, nurse, participant, analyte=analyte, value=value, unit=unit)

    assert response.status_code == 400
    assert response.json()["errors"] == {"value": [message]}
    assert not LabResult.objects.exists()


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "stored"),
    [
        ("hemoglobin", "90", "g/L", Decimal("9.000")),
        ("anc", "1200", "/µL", Decimal("1.200")),
        ("anc", "1200", "cells/μL", Decimal("1.200")),
        ("anc", "1.2", "×10⁹/L", Decimal("1.200")),
        ("anc", "1.2", "x10^9/L", Decimal("1.200")),
        ("platelets", "150", "10*9/L", Decimal("150.000")),
        ("creatinine", "1.9", "mg/dL", Decimal("167.960")),  # × 88.4
        ("creatinine", "80", "μmol/L", Decimal("80.000")),  # Greek mu, as Chinese input methods type it
        ("creatinine", "80", "µmol/L", Decimal("80.000")),  # micro sign
    ],
)
def test_the_right_unit_in_any_spelling_is_converted_and_stored(
    analyte: str, value: str, unit: str, stored: Decimal, api: Any, nurse: Any, participant: Any
) -> None:
    response = post_lab(api, nurse, participant, analyte=analyte, value=value, unit=unit)

    assert response.status_code == 201, response.content
    row = LabResult.objects.get()
    assert row.value == stored
    assert row.unit == labs.ANALYTES[analyte].unit


def test_a_unit_of_another_analyte_is_refused(api: Any, nurse: Any, participant: Any) -> None:
    response = post(
        api,
        nurse,
        labs_url(participant),
        {"analyte": "creatinine", "value": "80", "unit": "g/L", "collected_on": "2026-03-01"},
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "unit": ["'g/L' is not a unit for Serum creatinine; use one of: µmol/L, mg/dL."]
    }
    response = post(
        api,
        nurse,
        labs_url(participant),
        {"analyte": "creatinine", "value": "80", "unit": "mmol/L", "collected_on": "2026-03-01"},
    )
    assert response.status_code == 400 and response.json()["errors"]["unit"]
    assert not LabResult.objects.exists()


def test_an_implausible_uln_is_refused(api: Any, nurse: Any, participant: Any) -> None:
    body = {"analyte": "creatinine", "value": "80", "unit": "umol/L", "uln": "1.04", "collected_on": "2026-03-01"}
    response = post(api, nurse, labs_url(participant), body)
    assert response.status_code == 400
    assert response.json()["errors"]["uln"] == [
        "1.04 µmol/L is not a plausible serum creatinine (15–2500 µmol/L); did you mean mg/dL?"
    ]


def test_the_unit_is_an_enum_in_the_openapi_schema(api: Any, nurse: Any) -> None:
    schema = api(nurse).get("/api/schema/?format=json").json()
    body = schema["components"]["schemas"]["LabResultInRequest"]
    assert "unit" in body["required"]
    unit = body["properties"]["unit"]
    enum = schema["components"]["schemas"][unit["allOf"][0]["$ref"].rsplit("/", 1)[1]]["enum"]
    assert {"umol/L", "mg/dL", "g/dL", "g/L", "10^9/L", "/uL"} <= set(enum)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("height", "1.75", "Height 1.75 cm is not plausible (100–230 cm); did you enter metres (1.75 m = 175 cm)?"),
        (
            "height",
            "70",
            "Height 70 cm is not plausible (100–230 cm); did you enter inches (70 in = 178 cm) or the weight in kg?",
        ),
    ],
)
def test_an_implausible_measurement_is_refused_naming_the_slip(
    kind: str, value: str, message: str, api: Any, nurse: Any, participant: Any
) -> None:
    response = post(
        api,
        nurse,
        f"/api/v1/participants/{participant.pk}/measurements/",
        {"kind": kind, "value": value, "measured_on": "2026-03-01"},
    )
    assert response.status_code == 400
    assert response.json()["errors"]["value"] == [message]
    assert not Measurement.objects.exists()


def test_a_swapped_height_and_weight_is_refused(api: Any, nurse: Any, participant: Any) -> None:
    url = f"/api/v1/participants/{participant.pk}/measurements/"
    assert post(api, nurse, url, {"kind": "height", "value": "110", "measured_on": "2026-03-01"}).status_code == 201

    response = post(api, nurse, url, {"kind": "weight", "value": "175", "measured_on": "2026-03-01"})

    assert response.status_code == 400
    assert response.json()["errors"]["value"] == [
        "Height 110 cm and weight 175 kg give a BMI of 144.6: they look swapped. Check and enter them again."
    ]
    assert Measurement.objects.filter(kind="weight").count() == 0


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "2026-03-03", "1950-01-01"])
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("measurements/", {"kind": "height", "value": "170"}, "measured_on"),
        ("labs/", {"analyte": "creatinine", "value": "80", "unit": "umol/L"}, "collected_on"),
        ("screening-assessments/", {"findings": {"ecog": 1}}, "assessed_on"),
        ("consent/", {}, "consent_date"),
        ("death/", {}, "died_on"),
    ],
)
def test_implausible_clinical_dates_are_refused(
    day: str, path: str, body: dict[str, Any], field: str, api: Any, nurse: Any, participant: Any
) -> None:
    """Year 1 and 9999 were a 500 for the screening (date arithmetic overflowed) and stored for
    measurements and labs; a date before the birth (1966-05-17) or in the future can't be true."""
    response = post(api, nurse, f"/api/v1/participants/{participant.pk}/{path}", {**body, field: day})

    assert response.status_code == 400, response.content
    (message,) = response.json()["errors"][field]
    assert day in message and "check the year" in message
    participant.refresh_from_db()
    assert participant.status == "screening" and participant.died_on is None
    assert participant.consent_date == dt.date(2026, 2, 20)
    assert not Measurement.objects.exists() and not LabResult.objects.exists()
    assert not participant.screening_assessments.exists()


def test_an_assessment_before_consent_is_refused(api: Any, nurse: Any, participant: Any) -> None:
    response = post(
        api,
        nurse,
        f"/api/v1/participants/{participant.pk}/screening-assessments/",
        {"assessed_on": "2026-02-19", "findings": {"ecog": 1}},
    )
    assert response.status_code == 400
    assert response.json()["errors"]["assessed_on"] == [
        "The assessment date 2026-02-19 is before the consent date (2026-02-20): check the date."
    ]


REGISTRATION = {"site": "ZJU1", "screening_number": "ZJU1-900", "full_name": "新患者", "sex": "female"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"birth_date": "0001-01-01"},
            "birth_date",
            "The birth date 0001-01-01 gives an age of 2025 years: check the year.",
        ),
        ({"birth_date": "9999-12-31"}, "birth_date", "The birth date 9999-12-31 is not in the past: check the year."),
        (
            {"birth_date": "1970-01-01", "consent_date": "9999-12-31"},
            "consent_date",
            "The consent date 9999-12-31 is in the future (today is 2026-03-02): check the year.",
        ),
        (
            {"birth_date": "1970-01-01", "screening_number": "ZJU1 900"},
            "screening_number",
            "Use 1–32 letters, digits and hyphens, e.g. ZJU1-001.",
        ),
        (
            {"birth_date": "1970-01-01", "screening_number": "ZJU1/900"},
            "screening_number",
            "Use 1–32 letters, digits and hyphens, e.g. ZJU1-001.",
        ),
        (
            {"birth_date": "1970-01-01", "phone": "call me"},
            "phone",
            "Enter 6–32 digits, spaces or hyphens, with an optional leading +, e.g. +86 138 0000 0000.",
        ),
    ],
)
def test_registration_refuses_implausible_dates_and_malformed_identifiers(
    changes: dict[str, str], field: str, message: str, api: Any, nurse: Any, trial: Any
) -> None:
    response = post(api, nurse, "/api/v1/participants/", {**REGISTRATION, **changes})

    assert response.status_code == 400, response.content
    assert response.json()["errors"][field] == [message]
    assert not Participant.objects.exists()


def test_a_malformed_phone_is_refused_on_update_too(api: Any, nurse: Any, participant: Any) -> None:
    response = api(nurse).patch(
        f"/api/v1/participants/{participant.pk}/", {"phone": "138-0000-0000; DROP"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["phone"]
    participant.refresh_from_db()
    assert participant.phone == "+86 138 0000 0000"
