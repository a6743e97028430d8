"""The admin doors: screening form, Randomize confirmation page, statistician-only pages."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from randomization import services as rs
from randomization.models import Allocation, RandomizationScheme, SchemeSecret, ScreeningAssessment
from tests.conftest import TEST_PASSWORD
from tests.randomization.conftest import NOW, ParticipantMaker, good_findings
from tests.support.signatures import signed
from trialsite.models import Trial

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_nurse_records_a_screening_in_the_admin(nurse: User, make_eligible: ParticipantMaker, trial: Trial) -> None:
    participant = make_eligible(assess=False)
    form = {"participant": participant.pk, "assessed_on": "2026-03-02"}
    for name, value in good_findings(trial.definition).items():
        form[f"f_{name}"] = ("yes" if value else "no") if isinstance(value, bool) else str(value)
    response = login(nurse).post("/admin/randomization/screeningassessment/add/", form, follow=True)
    assert response.status_code == 200
    assessment = ScreeningAssessment.objects.get(participant=participant)
    assert assessment.outcome == "eligible"
    assert assessment.findings["liver_only_metastases"] is True


def test_randomize_button_confirmation_and_post(
    nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible()
    client = login(nurse)
    listing = client.get("/admin/randomization/participanttorandomize/")
    assert listing.status_code == 200
    assert scheme.commitment in listing.content.decode()
    page = client.get(f"/admin/randomization/participanttorandomize/{participant.pk}/randomize/")
    assert page.status_code == 200
    assert "criteria met" in page.content.decode()
    # without the confirmation box nothing happens
    client.post(f"/admin/randomization/participanttorandomize/{participant.pk}/randomize/", {})
    assert not Allocation.objects.exists()
    response = client.post(
        f"/admin/randomization/participanttorandomize/{participant.pk}/randomize/",
        {"confirm": "on", "signature_password": TEST_PASSWORD},
        follow=True,
    )
    assert response.status_code == 200
    assert Allocation.objects.get().participant_id == participant.pk


def test_confirmation_page_lists_reasons_when_not_eligible(
    nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible(ecog=2)
    client = login(nurse)
    page = client.get(f"/admin/randomization/participanttorandomize/{participant.pk}/randomize/")
    assert "ECOG performance status 0–1: not met" in page.content.decode()
    response = client.post(
        f"/admin/randomization/participanttorandomize/{participant.pk}/randomize/",
        {"confirm": "on", "signature_password": TEST_PASSWORD},
        follow=True,
    )
    assert "cannot be randomized" in response.content.decode()
    assert not Allocation.objects.exists()


def test_pharmacist_cannot_open_the_randomize_page(
    pharmacist: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible()
    assert (
        login(pharmacist).get(f"/admin/randomization/participanttorandomize/{participant.pk}/randomize/").status_code
        == 403
    )


def test_scheme_and_allocation_pages_are_statistician_only(
    nurse: User, statistician: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    seed = SchemeSecret.objects.get(scheme=scheme).seed().hex()
    nurse_client = login(nurse)
    nurse_client.post(
        f"/admin/randomization/participanttorandomize/{make_eligible().pk}/randomize/",
        {"confirm": "on", "signature_password": TEST_PASSWORD},
        follow=True,
    )
    allocation = Allocation.objects.get()
    for path in [
        "/admin/randomization/randomizationscheme/",
        f"/admin/randomization/randomizationscheme/{scheme.pk}/change/",
        "/admin/randomization/allocation/",
        f"/admin/randomization/allocation/{allocation.pk}/change/",
    ]:
        assert nurse_client.get(path).status_code == 403, path
        page = login(statistician).get(path)
        assert page.status_code == 200, path
        assert seed not in page.content.decode()


def test_statistician_creates_and_activates_a_scheme(statistician: User, trial: Trial) -> None:
    client = login(statistician)
    response = client.post(
        "/admin/randomization/randomizationscheme/add/",
        {
            "trial": trial.pk,
            "method": "blocks",
            "p": "0.8",
            "imbalance": "range",
            "block_sizes": "4,6",
            "efron_p": "0.6667",
            "reason": "go-live",
        },
        follow=True,
    )
    assert response.status_code == 200
    scheme = RandomizationScheme.objects.get()
    assert scheme.config["method"] == "blocks" and scheme.status == "draft"
    action = {"action": "activate", "_selected_action": [scheme.pk]}
    asked = client.post("/admin/randomization/randomizationscheme/", action)
    # First a page that says what activation does; nothing activated yet.
    assert asked.status_code == 200 and "open randomization for" in asked.content.decode()
    scheme.refresh_from_db()
    assert scheme.status == "draft"
    client.post(
        "/admin/randomization/randomizationscheme/",
        {**action, "confirm": "yes", "activation_reason": "go-live after the ethics approval of 2026-02-20"},
        follow=True,
    )
    scheme.refresh_from_db()
    assert scheme.status == "active" and len(scheme.commitment) == 64
    latest = scheme.history.order_by("-history_id").first()
    assert latest is not None and latest.history_change_reason == "go-live after the ethics approval of 2026-02-20"


def test_activating_an_amendment_says_which_scheme_it_supersedes(
    statistician: User, nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    with time_machine.travel(NOW, tick=False):
        rs.participant_randomize(
            participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    draft = rs.scheme_create(trial=scheme.trial, by=statistician, reason="amendment 2")
    client = login(statistician)
    asked = client.post(
        "/admin/randomization/randomizationscheme/", {"action": "activate", "_selected_action": [draft.pk]}
    )
    page = asked.content.decode()
    assert 'class="supersedes"' in page and "(1 allocation so far)" in page
    scheme.refresh_from_db()
    draft.refresh_from_db()
    assert (scheme.status, draft.status) == ("active", "draft")
    # The service's trial run (rolled back) left no seed behind.
    assert not SchemeSecret.objects.filter(scheme=draft).exists()
