"""The lab unit is chosen from the analyte's accepted units, in a real browser (issue 13)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.e2e.conftest import admin_login
from trialsite.models import LabResult, Participant, StaffProfile

# Transactional: the live server thread must see the test's rows.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def offered_units(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#id_lab_results-0-unit option", "options => options.filter(o => !o.hidden && o.value).map(o => o.value)"
    )


def test_the_unit_dropdown_follows_the_analyte_and_the_server_checks_the_value(
    page: Any, live_server: Any, nurse: User, participant: Participant
) -> None:
    StaffProfile.objects.create(user=nurse, language="en")
    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/trialsite/participant/{participant.pk}/change/")

    page.select_option("#id_lab_results-0-analyte", "creatinine")
    assert offered_units(page) == ["mg/dL", "umol/L"]
    page.select_option("#id_lab_results-0-analyte", "anc")
    assert offered_units(page) == ["/uL", "10^9/L"]
    page.select_option("#id_lab_results-0-analyte", "hemoglobin")
    assert offered_units(page) == ["g/dL", "g/L"]

    # Haemoglobin 90 in g/dL (a g/L value): refused on that row, naming g/L; nothing stored.
    page.select_option("#id_lab_results-0-unit", "g/dL")
    page.fill("#id_lab_results-0-value", "90")
    page.fill("#id_lab_results-0-collected_on", timezone.localdate().isoformat())
    page.click("input[name=_continue]")
    # The refused save renders the form again: wait for its error note before reading the page.
    page.wait_for_selector(".errornote")
    assert "90 g/dL is not a plausible haemoglobin (2–25 g/dL); did you mean g/L?" in page.content()
    assert not LabResult.objects.exists()

    # The same value in g/L is stored as 9.0 g/dL.
    page.select_option("#id_lab_results-0-unit", "g/L")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    row = LabResult.objects.get()
    assert (row.analyte, row.value, row.unit) == ("hemoglobin", Decimal("9.000"), "g/dL")
