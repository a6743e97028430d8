"""The randomize and screening endpoints: status codes, idempotency, concealment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from randomization.models import RandomizationScheme, SchemeSecret
from tests.randomization.conftest import NOW, ParticipantMaker, good_findings
from trialsite.models import Participant, Trial

pytestmark = pytest.mark.django_db
Api = Callable[[User | None], APIClient]


@pytest.fixture(autouse=True)
def _frozen_clock() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def url(participant: Participant) -> str:
    return f"/api/v1/participants/{participant.pk}/randomize/"


def test_randomize_201_then_409(
    api: Api, nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible()
    response = api(nurse).post(url(participant), {}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"participant", "arm", "randomization_number", "randomized_at"}
    assert body["randomization_number"] == 1 and body["arm"] in ("experimental", "control")
    again = api(nurse).post(url(participant), {}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "already_randomized"
    assert again.json()["randomization_number"] == 1


def test_not_eligible_is_422_with_reasons(
    api: Api, nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible(ecog=2)
    response = api(nurse).post(url(participant), {}, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "not_eligible"
    assert response.json()["errors"]["eligibility"] == ["ECOG performance status 0–1: not met (ecog = 2)"]


@pytest.mark.parametrize("who", ["pharmacist", "api_client_user", "statistician"])
def test_roles_that_may_not_randomize_get_403(
    request: pytest.FixtureRequest, api: Api, who: str, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    user = request.getfixturevalue(who)
    response = api(user).post(url(make_eligible()), {}, format="json")
    assert response.status_code == 403


def test_other_site_participant_is_404(
    api: Api, other_nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    assert api(other_nurse).post(url(make_eligible()), {}, format="json").status_code == 404


def test_idempotency_key_replays_the_original_answer(
    api: Api, nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible()
    client = api(nurse)
    first = client.post(url(participant), {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = client.post(url(participant), {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    other_body = client.post(
        url(participant), {"scrt_start_date": "2026-03-09"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert other_body.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"
    # same key on another participant's endpoint is another request too
    assert client.post(url(make_eligible()), {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1").status_code == 422


def test_responses_reveal_no_secret(
    api: Api, nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker, trial: Trial
) -> None:
    seed = SchemeSecret.objects.get(scheme=scheme).seed().hex()
    client = api(nurse)
    texts = [
        client.post(url(make_eligible()), {}, format="json").content.decode(),
        client.get(f"/api/v1/trials/{trial.registry_id}/randomization/").content.decode(),
        client.get("/api/v1/participants/").content.decode(),
    ]
    for text in texts:
        assert seed not in text
        assert "scores" not in text and "block" not in text and "draws" not in text
    public = client.get(f"/api/v1/trials/{trial.registry_id}/randomization/").json()
    assert public["schemes"][0]["commitment_sha256"] == scheme.commitment


def test_screening_assessment_endpoint(api: Api, nurse: User, make_eligible: ParticipantMaker, trial: Trial) -> None:
    participant = make_eligible(assess=False)
    response = api(nurse).post(
        f"/api/v1/participants/{participant.pk}/screening-assessments/",
        {"assessed_on": "2026-03-02", "findings": good_findings(trial.definition, hiv=True)},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["outcome"] == "not_eligible"
    assert response.json()["reasons"] == ["HIV antibody positive: not met (hiv = True)"]
    listing = api(nurse).get(f"/api/v1/participants/{participant.pk}/screening-assessments/")
    assert listing.status_code == 200 and len(listing.json()) == 1
    bad = api(nurse).post(
        f"/api/v1/participants/{participant.pk}/screening-assessments/",
        {"findings": {"ecog": "two"}},
        format="json",
    )
    assert bad.status_code == 400
    assert "ecog" in bad.json()["errors"]


def test_scrt_start_date_reaches_the_treatment_plan_hook(
    api: Api,
    nurse: User,
    scheme: RandomizationScheme,
    make_eligible: ParticipantMaker,
    plan_calls: list[dict[str, Any]],
) -> None:
    response = api(nurse).post(url(make_eligible()), {"scrt_start_date": "2026-03-09"}, format="json")
    seen = [call["scrt_start_date"] for call in plan_calls]
    assert response.status_code == 201, response.json()
    assert seen == [dt.date(2026, 3, 9)]
