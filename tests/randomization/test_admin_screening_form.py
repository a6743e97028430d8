"""The screening form says before submitting what it will read and what is missing, starts from
the participant's last assessment on request, and offers "all exclusions: no" (issue 14)."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from randomization import readable
from randomization import services as rs
from randomization.models import ScreeningAssessment
from tests.factories import ParticipantFactory
from tests.randomization.conftest import NOW, ParticipantMaker, good_findings
from trialsite.models import Site, Trial

pytestmark = pytest.mark.django_db
ADD = "/admin/randomization/screeningassessment/add/"


@pytest.fixture(autouse=True)
def _frozen_clock() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def panel(html: str) -> str:
    return html.split('id="screening-inputs"', 1)[1].split("</table>", 1)[0]


def test_the_form_lists_what_it_will_read_and_what_is_missing(
    nurse: User, make_eligible: ParticipantMaker, trial: Trial, site: Site
) -> None:
    ready = make_eligible(assess=False)
    bare = ParticipantFactory(trial=trial, site=site)
    client = login(nurse)

    shown = panel(client.get(ADD, {"participant": ready.pk}).content.decode())
    assert "68 kg" in shown and "Serum creatinine" in shown and "2026-03-02" in shown
    # Only the 24-hour urine protein, which the protocol asks for when the dipstick is ≥ 2+.
    assert shown.count('class="missing"') == 1
    assert '<tr class="missing">\n        <td>Urine protein (24 h)</td>' in shown

    empty = panel(client.get(ADD, {"participant": bare.pk}).content.decode())
    assert empty.count('class="missing"') == len(readable.screening_inputs(bare, assessed_on=NOW.date())) - 1
    assert "Weight (for the Cockcroft–Gault CrCl)" in empty  # missing, consent is there

    # The panel again for another date: 40 days on, the labs are outside the 28-day window.
    later = client.get(
        "/admin/randomization/screeningassessment/inputs/", {"participant": ready.pk, "assessed_on": "2026-04-11"}
    ).content.decode()
    assert 'class="present"' in later and "68 kg" not in later


def test_the_panel_shows_nothing_of_another_sites_participant(
    nurse: User, other_nurse: User, make_eligible: ParticipantMaker, other_site: Site
) -> None:
    theirs = make_eligible(site=other_site, assess=False)
    page = login(nurse).get("/admin/randomization/screeningassessment/inputs/", {"participant": theirs.pk})
    assert page.status_code == 200 and "68 kg" not in page.content.decode()
    assert "Choose the participant" in page.content.decode()


def test_start_from_the_last_assessment(nurse: User, make_eligible: ParticipantMaker, trial: Trial) -> None:
    participant = make_eligible(ecog=0, liver_only_metastases=False, tumour_distance_cm=7.5)
    last = ScreeningAssessment.objects.get(participant=participant)
    client = login(nurse)

    offered = client.get(ADD, {"participant": participant.pk}).content.decode()
    assert f"?participant={participant.pk}&amp;copy_from={last.pk}" in offered

    response = client.get(ADD, {"participant": participant.pk, "copy_from": last.pk})
    form = response.context["adminform"].form
    assert form.initial["f_ecog"] == "0" and form.initial["f_tumour_distance_cm"] == "7.5"
    assert form.initial["f_liver_only_metastases"] == "no" and form.initial["f_hiv"] == "no"
    assert "copied from the assessment of 2026-03-02" in response.content.decode()

    # Change what changed (ECOG 1 now) and submit: a new assessment, the old one kept.
    data = {k: v for k, v in form.initial.items() if k.startswith("f_")}
    data |= {"participant": participant.pk, "assessed_on": "2026-03-02", "f_ecog": "1"}
    assert client.post(ADD, data).status_code == 302
    assert ScreeningAssessment.objects.filter(participant=participant).count() == 2
    assert ScreeningAssessment.objects.latest("id").findings["ecog"] == 1


def test_another_participants_assessment_is_not_copied(
    nurse: User, make_eligible: ParticipantMaker, trial: Trial
) -> None:
    first, second = make_eligible(), make_eligible(assess=False)
    theirs = ScreeningAssessment.objects.get(participant=first)
    form = login(nurse).get(ADD, {"participant": second.pk, "copy_from": theirs.pk}).context["adminform"].form
    assert "f_ecog" not in form.initial


def test_all_exclusions_no_is_offered_for_every_exclusion(nurse: User, trial: Trial) -> None:
    page = login(nurse).get(ADD).content.decode()
    match = re.search(r'id="all-exclusions-no" data-fields="([^"]+)"', page)
    assert match is not None
    fields = match.group(1).replace("&quot;", '"')
    exclusions = trial.definition["eligibility"]["exclusion"]
    assert len(exclusions) == 35
    for criterion in exclusions:
        assert f'"f_{criterion["rule"]["field"]}"' in fields
    assert '"f_rectal_adenocarcinoma"' not in fields  # an inclusion stays unanswered
    assert "randomization/screening.js" in page
    assert rs.assessment_fields(trial.definition).keys() >= set(good_findings(trial.definition))
