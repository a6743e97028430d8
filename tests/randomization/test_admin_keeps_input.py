"""A refused screening assessment or scheme shows the form again with every answer typed and
the message on its field (issue 14, "Never lose input")."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from randomization.models import RandomizationScheme, ScreeningAssessment
from tests.randomization.conftest import NOW, ParticipantMaker, good_findings
from trialsite.models import Trial

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


def answers(trial: Trial) -> dict[str, str]:
    return {
        f"f_{name}": ("yes" if value else "no") if isinstance(value, bool) else str(value)
        for name, value in good_findings(trial.definition).items()
    }


def test_a_screening_dated_in_the_future_keeps_every_answer(
    nurse: User, make_eligible: ParticipantMaker, trial: Trial
) -> None:
    participant = make_eligible(assess=False)
    typed = answers(trial)
    assert len(typed) >= 40

    response = login(nurse).post(ADD, {"participant": participant.pk, "assessed_on": "2026-03-09", **typed})

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "in the future" in form.errors["assessed_on"][0]
    assert list(form.errors) == ["assessed_on"]
    page = response.content.decode()
    for name, value in typed.items():
        if value in ("yes", "no"):
            assert f'name="{name}"' in page
            assert form[name].value() == value, name
        else:
            assert f'value="{value}"' in page, name
    assert not ScreeningAssessment.objects.exists()


def test_every_refused_finding_is_an_error_on_its_question(
    nurse: User, make_eligible: ParticipantMaker, trial: Trial
) -> None:
    participant = make_eligible(assess=False)
    typed = {**answers(trial), "f_ecog": "1.5e3", "f_metastatic_sites": "-1"}

    response = login(nurse).post(ADD, {"participant": participant.pk, "assessed_on": "2026-03-02", **typed})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"f_metastatic_sites"} <= set(errors)
    assert not ScreeningAssessment.objects.exists()


def test_a_scheme_with_unreadable_block_sizes_keeps_the_form(statistician: User, trial: Trial) -> None:
    form = {
        "trial": trial.pk,
        "method": "minimization",
        "p": "0.85",
        "imbalance": "range",
        "block_sizes": "4,six",
        "efron_p": "0.6667",
        "reason": "go-live configuration",
    }

    response = login(statistician).post("/admin/randomization/randomizationscheme/add/", form)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["block_sizes"] == ["Block sizes must be whole numbers separated by commas."]
    assert 'value="4,six"' in response.content.decode() and "go-live configuration" in response.content.decode()
    assert not RandomizationScheme.objects.exists()
