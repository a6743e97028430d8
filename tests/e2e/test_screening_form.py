"""The screening form in a real browser, in Chinese (issue 14): the values it will read and the
missing ones, refreshed when the participant is chosen; "all exclusions: no" in one click; the
last assessment as a start; a refused date keeps every answer."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from randomization import services as rs
from randomization.models import ScreeningAssessment
from tests.e2e.conftest import ARTIFACTS, admin_login
from tests.factories import ParticipantFactory, record_labs
from tests.randomization.conftest import GOOD_LABS, good_findings
from trialsite import services
from trialsite.models import Participant, Site, StaffProfile, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def screened(trial: Trial, site: Site, nurse: User) -> Participant:
    today = timezone.localdate()
    participant = ParticipantFactory(trial=trial, site=site, screening_number="ZJU1-0401")
    record_labs(participant, GOOD_LABS, on=today)
    services.measurement_record(
        participant=participant, kind="weight", value="66", measured_on=today, by=None, today=today
    )
    return participant


def test_the_form_shows_what_it_reads_and_answers_all_exclusions_no(
    page: Any, live_server: Any, trial: Trial, site: Site, nurse: User, screened: Participant
) -> None:
    StaffProfile.objects.create(user=nurse, language="zh-hans")
    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/randomization/screeningassessment/add/")
    assert "请选择受试者" in page.inner_text("#screening-inputs")

    # The participant is a search box (select2): open it, type, choose.
    page.click(".field-participant .select2-selection")
    page.fill(".select2-search__field", screened.screening_number)
    page.click(f".select2-results__option:has-text('{screened.screening_number}')")
    page.wait_for_selector("#screening-inputs table")
    panel = page.inner_text("#screening-inputs")
    assert "66 kg" in panel and "血清肌酐" in panel and "提交时，评估将读取以下数值" in panel
    assert "缺失" in panel  # the 24-hour urine protein

    exclusions = [c["rule"]["field"] for c in trial.definition["eligibility"]["exclusion"]]
    page.click("#all-exclusions-no")
    for field in exclusions:
        assert page.input_value(f"#id_f_{field}") == "no", field
    assert page.input_value("#id_f_rectal_adenocarcinoma") == ""  # inclusions untouched
    page.screenshot(path=str(ARTIFACTS / "screening_form_inputs_and_all_no.png"), full_page=True)

    # A date in the future is refused on its field; every answer stays.
    page.fill("#id_f_ecog", "1")
    page.select_option("#id_f_liver_only_metastases", "yes")
    page.fill("#id_assessed_on", "2099-01-01")
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")
    assert "2099-01-01" in page.inner_text(".field-assessed_on")
    assert page.input_value("#id_f_ecog") == "1" and page.input_value("#id_f_liver_only_metastases") == "yes"
    for field in exclusions:
        assert page.input_value(f"#id_f_{field}") == "no", field
    assert not ScreeningAssessment.objects.exists()


def test_start_from_the_last_assessment_and_change_what_changed(
    page: Any, live_server: Any, trial: Trial, nurse: User, screened: Participant
) -> None:
    today = timezone.localdate()
    rs.screening_assessment_record(
        participant=screened, assessed_on=today, findings=good_findings(trial.definition, ecog=0), by=nurse, today=today
    )
    StaffProfile.objects.create(user=nurse, language="en")
    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/randomization/screeningassessment/add/?participant={screened.pk}")

    page.click("#copy-last")
    page.wait_for_selector("#screening-inputs .copied")
    assert page.input_value("#id_f_ecog") == "0" and page.input_value("#id_f_hiv") == "no"
    page.fill("#id_f_ecog", "1")
    page.fill("#id_assessed_on", today.isoformat())
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    latest = ScreeningAssessment.objects.latest("id")
    assert ScreeningAssessment.objects.count() == 2 and latest.findings["ecog"] == 1
    assert latest.findings["liver_only_metastases"] is True and latest.outcome == "eligible"
