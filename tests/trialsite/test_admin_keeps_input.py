"""A refused save shows the form again with everything typed and each message on its field or
row (issue 14, "Never lose input"); nothing of the refused save is stored."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from tests.trialsite.test_admin import _change_form
from tests.trialsite.test_admin_plausibility import add_form
from tests.trialsite.test_api_plausibility import NOW
from trialsite.models import LabResult, Measurement, Participant, Site, Trial


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def login(client: Client, user: User) -> Client:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def rows(prefix: str, *items: dict[str, str]) -> dict[str, str]:
    out = {f"{prefix}-TOTAL_FORMS": str(len(items)), f"{prefix}-INITIAL_FORMS": "0"}
    for i, item in enumerate(items):
        out |= {f"{prefix}-{i}-{k}": v for k, v in item.items()}
    return out


def inline_errors(response: Any, prefix: str) -> list[dict[str, list[str]]]:
    formset = next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == prefix)
    return [dict(form.errors) for form in formset.forms]


ADD = "/admin/trialsite/participant/add/"


def test_a_refused_registration_keeps_every_typed_value_and_marks_every_refused_row(
    client: Client, nurse: User, trial: Trial, site: Site
) -> None:
    form = add_form(
        trial,
        site,
        consent_date="2026-02-20",
        phone="+86 138 1234 5678",
        **rows(
            "measurements",
            {"kind": "height", "value": "168", "measured_on": "2026-02-25"},
            {"kind": "weight", "value": "61.5", "measured_on": "2026-02-25"},
        ),
        **rows(
            "lab_results",
            {"analyte": "creatinine", "value": "80", "unit": "umol/L", "collected_on": "2026-02-26"},
            {"analyte": "hemoglobin", "value": "90", "unit": "g/dL", "collected_on": "2026-02-26"},
            {"analyte": "anc", "value": "1200", "unit": "10^9/L", "collected_on": "2026-02-26"},
        ),
    )

    response = login(client, nurse).post(ADD, form)

    # The page again (not a redirect to an empty form), with what was typed.
    assert response.status_code == 200
    page = response.content.decode()
    for typed in ("新患者", "ZJU1-900", "1970-01-01", "2026-02-20", "+86 138 1234 5678", "168", "61.5", "80", "1200"):
        assert f'value="{typed}"' in page, typed
    assert '<option value="g/dL" selected>' in page
    # Each message on its row; the rows that were fine carry none.
    labs = inline_errors(response, "lab_results")
    assert labs[0] == {}
    assert "did you mean g/L?" in labs[1]["value"][0]
    assert "did you mean /µL (cells per microlitre)?" in labs[2]["value"][0]
    assert inline_errors(response, "measurements") == [{}, {}]
    # Nothing of it is stored: not the participant, not the rows that passed.
    assert not Participant.objects.exists()
    assert not Measurement.objects.exists() and not LabResult.objects.exists()


def test_a_refused_participant_field_is_an_error_on_that_field(
    client: Client, nurse: User, trial: Trial, site: Site
) -> None:
    response = login(client, nurse).post(ADD, add_form(trial, site, consent_date="2026-03-09"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "in the future" in errors["consent_date"][0]
    assert 'value="新患者"' in response.content.decode()
    assert not Participant.objects.exists()


def test_on_the_change_page_a_refused_row_undoes_the_rows_that_passed(
    client: Client, nurse: User, participant: Participant
) -> None:
    form = _change_form(
        participant,
        phone="+86 139 9999 0000",
        **rows(
            "measurements",
            {"kind": "weight", "value": "62", "measured_on": "2026-03-01"},
            {"kind": "height", "value": "1.68", "measured_on": "2026-03-01"},
        ),
    )

    response = login(client, nurse).post(f"/admin/trialsite/participant/{participant.pk}/change/", form)

    assert response.status_code == 200
    assert inline_errors(response, "measurements")[0] == {}
    assert "did you enter metres" in inline_errors(response, "measurements")[1]["value"][0]
    assert 'value="+86 139 9999 0000"' in response.content.decode()
    participant.refresh_from_db()
    assert participant.phone != "+86 139 9999 0000"  # the details change is undone too
    assert not Measurement.objects.exists()


def test_every_error_of_the_page_is_shown_at_once(client: Client, nurse: User, trial: Trial, site: Site) -> None:
    form = add_form(
        trial,
        site,
        phone="call me",
        consent_date="2026-03-09",
        **rows("measurements"),
        **rows(
            "lab_results",
            {"analyte": "hemoglobin", "value": "90", "unit": "g/dL", "collected_on": "2026-02-26"},
            {"analyte": "creatinine", "value": "80", "unit": "g/L", "collected_on": "2026-02-26"},
        ),
    )

    response = login(client, nurse).post(ADD, form)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Enter 6–32 digits" in errors["phone"][0]
    assert "in the future" in errors["consent_date"][0]
    labs = inline_errors(response, "lab_results")
    assert "did you mean g/L?" in labs[0]["value"][0]
    assert len(labs[1]["unit"]) == 1 and "is not a unit for Serum creatinine" in labs[1]["unit"][0]
    assert not Participant.objects.exists()
