"""The admin refuses the same values as the API (issues 12 §3 and 13): a lab row without a unit
or with an implausible value, an implausible measurement, a malformed screening number or phone,
an implausible birth date, a billion-digit screening finding; nothing is stored."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from randomization.models import ScreeningAssessment
from tests.trialsite.test_admin import _change_form
from tests.trialsite.test_api_plausibility import NOW
from trialsite.models import LabResult, Measurement, Participant, Site, SiteReferenceRange, Trial


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def login(client: Client, user: User) -> Client:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def lab_row(participant: Participant, **row: str) -> dict[str, Any]:
    return _change_form(
        participant,
        **{"lab_results-TOTAL_FORMS": "1", "lab_results-0-collected_on": "2026-03-01"},
        **{f"lab_results-0-{k}": v for k, v in row.items()},
    )


def change(client: Client, participant: Participant, form: dict[str, Any]) -> str:
    response = client.post(f"/admin/trialsite/participant/{participant.pk}/change/", form, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_a_lab_row_without_a_unit_is_an_error_on_that_row(
    client: Client, nurse: User, participant: Participant
) -> None:
    page = change(login(client, nurse), participant, lab_row(participant, analyte="hemoglobin", value="90"))

    assert "This field is required." in page
    assert not LabResult.objects.exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"analyte": "hemoglobin", "value": "90", "unit": "g/dL"}, "did you mean g/L?"),
        ({"analyte": "anc", "value": "1200", "unit": "10^9/L"}, "did you mean /µL (cells per microlitre)?"),
        ({"analyte": "creatinine", "value": "1.9", "unit": "umol/L"}, "did you mean mg/dL?"),
        ({"analyte": "creatinine", "value": "80", "unit": "g/L"}, "is not a unit for Serum creatinine"),
        ({"analyte": "creatinine", "value": "1e999999999", "unit": "umol/L"}, "Enter a number below"),
        ({"analyte": "creatinine", "value": "NaN", "unit": "umol/L"}, "Enter a number."),
    ],
)
def test_an_implausible_lab_row_is_refused_naming_the_unit(
    row: dict[str, str], message: str, client: Client, nurse: User, participant: Participant
) -> None:
    page = change(login(client, nurse), participant, lab_row(participant, **row))

    assert message in page
    assert not LabResult.objects.exists()


def test_a_lab_row_in_another_accepted_unit_is_converted(client: Client, nurse: User, participant: Participant) -> None:
    change(login(client, nurse), participant, lab_row(participant, analyte="creatinine", value="1.9", unit="mg/dL"))

    row = LabResult.objects.get()
    assert (row.value, row.unit) == (Decimal("167.960"), "umol/L")  # 1.9 × 88.4


def test_the_lab_unit_is_a_dropdown_with_the_catalogue(client: Client, nurse: User, participant: Participant) -> None:
    page = login(client, nurse).get(f"/admin/trialsite/participant/{participant.pk}/change/").content.decode()

    assert '<select name="lab_results-0-unit"' in page
    assert '<option value="umol/L">µmol/L</option>' in page
    assert '<option value="/uL">/µL</option>' in page
    assert "data-lab-units=" in page and "trialsite/lab_units.js" in page


@pytest.mark.parametrize(
    ("value", "measured_on", "message"),
    [
        ("1.75", "2026-03-01", "Height 1.75 cm is not plausible (100–230 cm); did you enter metres (1.75 m = 175 cm)?"),
        ("170", "0001-01-01", "The measurement date 0001-01-01 is before the birth date (1966-05-17): check the year."),
    ],
)
def test_an_implausible_measurement_is_refused(
    value: str, measured_on: str, message: str, client: Client, nurse: User, participant: Participant
) -> None:
    row = {"kind": "height", "value": value, "measured_on": measured_on}
    form = _change_form(
        participant, **{"measurements-TOTAL_FORMS": "1"}, **{f"measurements-0-{k}": v for k, v in row.items()}
    )
    page = change(login(client, nurse), participant, form)

    assert message in page
    assert not Measurement.objects.exists()


def add_form(trial: Trial, site: Site, **changes: str) -> dict[str, Any]:
    data = {
        "trial": str(trial.pk),
        "site": str(site.pk),
        "screening_number": "ZJU1-900",
        "full_name": "新患者",
        "sex": "female",
        "birth_date": "1970-01-01",
        "preferred_language": "zh-hans",
        "measurements-TOTAL_FORMS": "0",
        "measurements-INITIAL_FORMS": "0",
        "lab_results-TOTAL_FORMS": "0",
        "lab_results-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"screening_number": "ZJU1 900"}, "Use 1–32 letters, digits and hyphens, e.g. ZJU1-001."),
        ({"phone": "call me"}, "Enter 6–32 digits, spaces or hyphens, with an optional leading +"),
        ({"birth_date": "0001-01-01"}, "The birth date 0001-01-01 gives an age of 2025 years: check the year."),
        ({"consent_date": "9999-12-31"}, "The consent date 9999-12-31 is in the future"),
    ],
)
def test_registration_in_the_admin_refuses_what_the_api_refuses(
    changes: dict[str, str], message: str, client: Client, nurse: User, trial: Trial, site: Site
) -> None:
    response = login(client, nurse).post(
        "/admin/trialsite/participant/add/", add_form(trial, site, **changes), follow=True
    )

    assert message in response.content.decode()
    assert not Participant.objects.exists()


def test_a_billion_digit_finding_is_refused_at_once_in_the_admin(
    client: Client, nurse: User, participant: Participant
) -> None:
    started = time.perf_counter()
    response = login(client, nurse).post(
        "/admin/randomization/screeningassessment/add/",
        {"participant": participant.pk, "assessed_on": "2026-03-02", "f_ecog": "1e999999999"},
    )
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 200
    assert "Enter a number below 1000000." in response.content.decode()
    assert not ScreeningAssessment.objects.exists()


def test_a_site_reference_range_takes_a_unit_of_its_analyte_and_a_plausible_uln(site: Site) -> None:
    client = login(Client(), User.objects.create_superuser("root", password="pw-for-tests-1"))
    ranges = list(SiteReferenceRange.objects.filter(site=site).order_by("pk"))
    form: dict[str, Any] = {
        "code": site.code,
        "name": site.name,
        "name_zh": site.name_zh,
        "city": site.city,
        "country": site.country,
        "time_zone": site.time_zone,
        "opening_time": "07:30",
        "closing_time": "17:30",
        "infusion_chairs_per_day": site.infusion_chairs_per_day,
        "reference_ranges-TOTAL_FORMS": str(len(ranges)),
        "reference_ranges-INITIAL_FORMS": str(len(ranges)),
    }
    for i, rr in enumerate(ranges):
        form |= {
            f"reference_ranges-{i}-id": rr.pk,
            f"reference_ranges-{i}-site": site.pk,
            f"reference_ranges-{i}-analyte": rr.analyte,
            f"reference_ranges-{i}-uln": rr.uln,
            f"reference_ranges-{i}-unit": rr.unit,
        }
    creatinine = next(i for i, rr in enumerate(ranges) if rr.analyte == "creatinine")
    form[f"reference_ranges-{creatinine}-uln"] = "1.04"

    page = client.post(f"/admin/trialsite/site/{site.pk}/change/", form).content.decode()

    assert "1.04 µmol/L is not a plausible serum creatinine (15–2500 µmol/L); did you mean mg/dL?" in page
    assert SiteReferenceRange.objects.get(site=site, analyte="creatinine").uln == Decimal("104.000")
