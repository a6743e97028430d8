"""Never lose input, in a real browser (issue 14): a refused registration keeps every typed value
with the message on its row; saved values are not inputs; a wrong weight is marked entered in
error with a reason and the right one recorded, both kept."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.e2e.conftest import ARTIFACTS, admin_login
from trialsite import selectors, services
from trialsite.models import LabResult, Measurement, Participant, Site, StaffProfile, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_refused_participant_form_keeps_every_typed_value(
    page: Any, live_server: Any, trial: Trial, site: Site, nurse: User
) -> None:
    today = timezone.localdate()
    StaffProfile.objects.create(user=nurse, language="en")
    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/trialsite/participant/add/")

    typed = {
        "#id_screening_number": "ZJU1-0301",
        "#id_full_name": "王丽华",
        "#id_birth_date": "1968-04-09",
        "#id_consent_date": (today - dt.timedelta(days=3)).isoformat(),
        "#id_phone": "+86 138 0571 2233",
        "#id_email": "wlh@example.cn",
        "#id_measurements-0-value": "163",
        "#id_measurements-0-measured_on": (today - dt.timedelta(days=1)).isoformat(),
        "#id_measurements-1-value": "57.5",
        "#id_measurements-1-measured_on": (today - dt.timedelta(days=1)).isoformat(),
        "#id_lab_results-0-value": "71",
        "#id_lab_results-0-collected_on": (today - dt.timedelta(days=2)).isoformat(),
        "#id_lab_results-1-value": "90",
        "#id_lab_results-1-collected_on": (today - dt.timedelta(days=2)).isoformat(),
    }
    chosen = {
        "#id_sex": "female",
        "#id_preferred_language": "zh-hans",
        "#id_measurements-0-kind": "height",
        "#id_measurements-1-kind": "weight",
        "#id_lab_results-0-analyte": "creatinine",
        "#id_lab_results-0-unit": "umol/L",
        "#id_lab_results-1-analyte": "hemoglobin",
        "#id_lab_results-1-unit": "g/dL",  # 90 is a g/L value: refused on this row
    }
    page.select_option("#id_trial", label="NCT06850103")
    page.select_option("#id_site", index=1)
    page.click("#measurements-group .add-row a")
    page.click("#lab_results-group .add-row a")
    for selector, value in chosen.items():
        if "analyte" in selector:
            page.select_option(selector, value)
    for selector, value in chosen.items():
        if "analyte" not in selector:
            page.select_option(selector, value)
    for selector, value in typed.items():
        page.fill(selector, value)
    page.click("input[name=_save]")

    # The same page again, the message on the haemoglobin row, nothing stored.
    page.wait_for_selector("#lab_results-group .errorlist")
    page.screenshot(path=str(ARTIFACTS / "refused_registration_keeps_input.png"), full_page=True)
    assert "did you mean g/L?" in page.inner_text("#lab_results-1")
    assert page.locator("#lab_results-0 .errorlist").count() == 0
    for selector, value in typed.items():
        assert page.input_value(selector) == value, selector
    for selector, value in chosen.items():
        assert page.input_value(selector) == value, selector
    assert not Participant.objects.exists() and not LabResult.objects.exists()

    # Correct the unit only, and the whole registration is stored.
    page.select_option("#id_lab_results-1-unit", "g/L")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    participant = Participant.objects.get(screening_number="ZJU1-0301")
    assert participant.phone == "+86 138 0571 2233"
    assert participant.measurements.count() == 2
    assert participant.lab_results.get(analyte="hemoglobin").value == Decimal("9.000")


@pytest.fixture
def weighed(participant: Participant, nurse: User) -> Measurement:
    today = timezone.localdate()
    return services.measurement_record(
        participant=participant, kind="weight", value="72", measured_on=today, by=nurse, today=today
    )


def test_a_saved_weight_is_not_offered_as_an_input(
    page: Any, live_server: Any, nurse: User, participant: Participant, weighed: Measurement
) -> None:
    StaffProfile.objects.create(user=nurse, language="zh-hans")
    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/trialsite/participant/{participant.pk}/change/")

    saved = page.locator("#measurements-0")
    assert "72.00" in saved.inner_text()
    assert saved.locator("input:not([type=hidden]), select").count() == 0
    assert page.locator("#id_measurements-1-value").count() == 1  # the empty row for a new value
    assert saved.locator("a.button").inner_text() == "标记为录入错误"


def test_entered_in_error_then_the_right_value(
    page: Any, live_server: Any, nurse: User, participant: Participant, weighed: Measurement
) -> None:
    today = timezone.localdate()
    StaffProfile.objects.create(user=nurse, language="en")
    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/trialsite/participant/{participant.pk}/change/")

    page.click("#measurements-0 a.button")
    page.wait_for_selector("#entered-in-error")
    page.fill("#id_reason", "weighed in winter coat")
    page.click("#entered-in-error input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    assert "Record the right value as a new row." in page.inner_text(".messagelist")

    page.select_option("#id_measurements-1-kind", "weight")
    page.fill("#id_measurements-1-value", "69.5")
    page.fill("#id_measurements-1-measured_on", today.isoformat())
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")

    rows = page.inner_text("#measurements-group")
    assert "weighed in winter coat" in rows and "72.00" in rows and "69.50" in rows
    weighed.refresh_from_db()
    assert weighed.entered_in_error and weighed.error_reason == "weighed in winter coat"
    latest = selectors.latest_measurement(participant, "weight")
    assert latest is not None and latest.value == Decimal("69.50")
