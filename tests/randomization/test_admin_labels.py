"""The screening and randomization pages speak the reader's language (issue 14, labels): the
liver-only question by its text, answers and labs used as tables, reasons as a list of facts."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from randomization import readable
from randomization import services as rs
from randomization.models import RandomizationScheme, ScreeningAssessment
from tests.conftest import TEST_PASSWORD
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import signed
from trialsite.models import StaffProfile, Trial

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def login(user: User, language: str = "en") -> Client:
    StaffProfile.objects.update_or_create(user=user, defaults={"language": language})
    client = Client()
    client.force_login(user)
    return client


def test_the_liver_only_question_is_asked_in_words(nurse: User, trial: Trial) -> None:
    english = login(nurse).get("/admin/randomization/screeningassessment/add/").content.decode()
    assert "Metastases in the liver only <code>liver_only_metastases</code>" in english
    chinese = login(nurse, "zh-hans").get("/admin/randomization/screeningassessment/add/").content.decode()
    assert "仅有肝转移 <code>liver_only_metastases</code>" in chinese


def test_answers_labs_and_reasons_read_as_lists_not_json(nurse: User, make_eligible: ParticipantMaker) -> None:
    participant = make_eligible(rectal_adenocarcinoma=False, ecog=2)
    assessment = ScreeningAssessment.objects.get(participant=participant)

    page = login(nurse).get(f"/admin/randomization/screeningassessment/{assessment.pk}/change/").content.decode()

    assert "= False" not in page and "rectal_adenocarcinoma" not in page and '{"' not in page
    assert "<li>Histologically confirmed primary rectal adenocarcinoma: not met (answer: no)</li>" in page
    assert "<li>ECOG performance status 0–1: not met (answer: 2)</li>" in page
    assert "<tr><td>Metastases in the liver only</td><td>yes</td></tr>" in page
    assert "<td>Serum creatinine</td><td>80 µmol/L (ULN 104)</td>" in page

    chinese = login(nurse, "zh-hans").get(f"/admin/randomization/screeningassessment/{assessment.pk}/change/")
    text = chinese.content.decode()
    assert "<li>组织学确诊的原发性直肠腺癌：不符合（回答：否）</li>" in text
    assert "<tr><td>仅有肝转移</td><td>是</td></tr>" in text


def test_the_randomize_page_lists_the_reasons_in_words(
    nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible(hiv=True)

    page = login(nurse).get(f"/admin/randomization/participanttorandomize/{participant.pk}/randomize/")

    assert "<li>HIV antibody positive: not met (answer: yes)</li>" in page.content.decode()
    assert "hiv = True" not in page.content.decode()

    refused = login(nurse).post(
        f"/admin/randomization/participanttorandomize/{participant.pk}/randomize/",
        {"confirm": "on", "signature_password": TEST_PASSWORD},
        follow=True,
    )
    message = refused.content.decode().split('class="messagelist"', 1)[1].split("</ul>", 1)[0]
    assert "cannot be randomized: HIV antibody positive: not met (answer: yes)" in message
    assert "hiv = True" not in message


def test_a_missing_lab_and_a_computed_value_are_named(trial: Trial) -> None:
    criteria = [
        {
            "status": "not_assessable",
            "text": "Serum creatinine ≤ 1.5 × ULN or Cockcroft–Gault CrCl ≥ 50 mL/min",
            "facts": [
                {"analyte": "creatinine", "value": None, "max_times_uln": 1.5},
                {"field": "creatinine_clearance_ml_min", "value": None, "min": 50},
            ],
        },
        {"status": "not_met", "text": "Age 18–75 years at consent", "facts": [{"field": "age_years", "value": "80"}]},
    ]
    assert readable.reasons(criteria, trial.definition) == [
        "Serum creatinine ≤ 1.5 × ULN or Cockcroft–Gault CrCl ≥ 50 mL/min: not assessable "
        "(Serum creatinine: no result in the screening window; Cockcroft–Gault CrCl: not computed (missing data))",
        "Age 18–75 years at consent: not met (Age at consent: 80 years)",
    ]


def test_the_allocation_shows_its_factors_in_words_beside_the_stored_codes(
    nurse: User, statistician: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible()
    allocation = rs.participant_randomize(
        participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
    )

    page = login(statistician, "zh-hans").get(f"/admin/randomization/allocation/{allocation.pk}/change/")

    text = page.content.decode()
    assert "<div>仅有肝转移: 是</div>" in text and "<div>ECOG体力状态0–1分: 1</div>" in text
    assert "liver_only_metastases" in text  # the stored record, as hashed, is still shown below
