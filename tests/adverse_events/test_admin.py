"""The toxicity log's admin: a nurse records through the service (a refused grade keeps what she
typed), a saved toxicity's grade changes only with a reason, an investigator acknowledges an SAE
on its page, a pharmacist reads without inputs, and a past version is shown read-only."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from adverse_events.models import AdverseEvent, Term
from adverse_events.selectors import participant_drugs
from tests.adverse_events.conftest import NOW, record
from trialsite.models import Participant

pytestmark = pytest.mark.django_db
URL = "/admin/adverse_events/adverseevent/"


@pytest.fixture(autouse=True)
def frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _login(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_a_nurse_records_a_toxicity_and_a_refused_grade_keeps_the_form(
    nurse: User, treated: Participant, terms: dict[str, Term]
) -> None:
    drug = participant_drugs(treated)[0]
    form = {
        "participant": treated.pk,
        "term": terms["Nausea"].pk,
        "grade": "4",
        "onset_date": "2026-03-20",
        "phase": "neoadjuvant",
        "cycle_number": "1",
        f"attribution_{drug}": "possible",
        "notes": "",
    }
    client = _login(nurse)

    refused = client.post(f"{URL}add/", form)
    assert refused.status_code == 200 and "has no grade 4" in refused.content.decode()
    assert not AdverseEvent.objects.exists()

    saved = client.post(f"{URL}add/", {**form, "grade": "2"})
    assert saved.status_code == 302
    event = AdverseEvent.objects.get()
    assert (event.grade, event.recorded_by, list(event.attributions.values_list("drug", flat=True))) == (
        2,
        nurse,
        [drug],
    )


def test_a_grade_change_needs_a_reason_and_an_investigator_acknowledges_on_the_page(
    nurse: User, investigator: User, treated: Participant, terms: dict[str, Term]
) -> None:
    event = record(treated, terms["Diarrhea"], nurse, serious=True, grade=3)
    page = f"{URL}{event.pk}/change/"
    client = _login(nurse)
    assert 'name="acknowledge"' not in client.get(page).content.decode()  # a nurse does not acknowledge

    no_reason = client.post(page, {"grade": "4", "resolution_date": "", "serious": "on", "reason": ""})
    assert no_reason.status_code == 200 and "Give the reason" in no_reason.content.decode()
    assert client.post(page, {"grade": "4", "serious": "on", "reason": "ICU"}).status_code == 302
    event.refresh_from_db()
    assert event.grade == 4 and event.history.order_by("-history_id").first().history_change_reason == "ICU"

    pi = _login(investigator)
    assert 'name="acknowledge"' in pi.get(page).content.decode()
    assert pi.post(page, {"grade": "4", "serious": "on", "acknowledge": "on"}).status_code == 302
    event.refresh_from_db()
    assert event.acknowledged_by == investigator and event.grade == 4


def test_a_pharmacist_reads_without_inputs_and_a_past_version_is_read_only(
    nurse: User, pharmacist: User, treated: Participant, terms: dict[str, Term]
) -> None:
    event = record(treated, terms["Diarrhea"], nurse)
    client = _login(pharmacist)
    body = client.get(f"{URL}{event.pk}/change/").content.decode()
    assert 'name="grade"' not in body and 'name="_save"' not in body
    assert client.post(f"{URL}{event.pk}/change/", {"grade": "5", "reason": "x"}).status_code == 403

    version = event.history.get().history_id
    shown = client.get(f"{URL}{event.pk}/history/{version}/")
    assert shown.status_code == 200 and 'name="grade"' not in shown.content.decode()
    event.refresh_from_db()
    assert event.grade == 2


def test_the_term_picker_searches_english_chinese_and_the_code(nurse: User, terms: dict[str, Term]) -> None:
    client = _login(nurse)

    def found(term: str) -> list[str]:
        answer = client.get(
            "/admin/autocomplete/",
            {"term": term, "app_label": "adverse_events", "model_name": "adverseevent", "field_name": "term"},
        )
        assert answer.status_code == 200
        return [row["text"] for row in answer.json()["results"]]

    assert found("neutrop") == ["Febrile neutropenia (10016288)", "Neutrophil count decreased (10029366)"]
    assert found("腹泻") == ["Diarrhea (10012727)"]
    assert found("1001272") == ["Diarrhea (10012727)"]
