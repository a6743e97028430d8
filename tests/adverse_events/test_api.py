"""The toxicity log's API: who may read and write (403 for a read-only role, 404 for another
site's participant or event), field-level 400s in the one error shape, and a PATCH that keeps
the record before it in the history, with its reason."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User

from adverse_events.models import AdverseEvent
from tests.adverse_events.conftest import NOW, record
from trialsite.models import Participant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _url(p: Participant, ae: Any = None) -> str:
    base = f"/api/v1/participants/{p.pk}/adverse-events/"
    return f"{base}{ae.pk}/" if ae is not None else base


BODY = {"term": "Diarrhea", "grade": 2, "onset_date": "2026-03-20", "phase": "neoadjuvant", "cycle_number": 1}


def test_a_nurse_records_by_term_or_meddra_code_and_reads_the_list(
    api: Any, nurse: User, treated: Participant, terms: Any, drugs: list[str]
) -> None:
    client = api(nurse)
    first = client.post(_url(treated), {**BODY, "attribution": [{"drug": drugs[0], "relatedness": "probable"}]}, "json")
    second = client.post(_url(treated), {**BODY, "term": "10028813", "grade": 1}, format="json")

    assert first.status_code == 201, first.json()
    assert first.json()["term"]["meddra_code"] == "10012727"
    assert first.json()["attribution"] == [{"drug": drugs[0], "relatedness": "probable"}]
    assert second.status_code == 201 and second.json()["term"]["term"] == "Nausea"
    listed = client.get(_url(treated)).json()
    assert [row["term"]["term"] for row in listed["results"]] == ["Nausea", "Diarrhea"]  # same onset: newest first


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"term": "Not a CTCAE term"}, "term"),
        ({"grade": 9}, "grade"),
        ({"grade": "1e999999999"}, "grade"),
        ({"term": "Nausea", "grade": 4}, "grade"),
        ({"onset_date": "0001-01-01"}, "onset_date"),
        ({"onset_date": "9999-12-31"}, "onset_date"),
        ({"resolution_date": "2026-03-01"}, "resolution_date"),
        ({"notes": "a\x00b"}, "notes"),
        ({"cycle_number": 50}, "cycle_number"),
        ({"attribution": [{"drug": "aspirin", "relatedness": "possible"}]}, "attribution"),
        ({"attribution": [{"drug": "x", "relatedness": "likely"}]}, "attribution.relatedness"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    changes: dict[str, Any], field: str, api: Any, nurse: User, treated: Participant, terms: Any
) -> None:
    response = api(nurse).post(_url(treated), {**BODY, **changes}, format="json")

    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) >= {"code", "detail", "errors"}
    assert any(key.startswith(field.split(".")[0]) for key in body["errors"]), body
    assert not AdverseEvent.objects.exists()


@pytest.mark.parametrize("role", ["pharmacist", "statistician"])
def test_read_only_roles_read_and_posting_is_a_403(
    role: str, request: Any, api: Any, nurse: User, treated: Participant, terms: Any
) -> None:
    event = record(treated, terms["Diarrhea"], nurse)
    client = api(request.getfixturevalue(role))

    assert client.get(_url(treated)).json()["count"] == 1
    assert client.get(f"/api/v1/adverse-events/{event.pk}/").status_code == 200
    assert client.post(_url(treated), BODY, format="json").status_code == 403
    assert client.patch(_url(treated, event), {"resolution_date": "2026-03-25"}, format="json").status_code == 403
    assert AdverseEvent.objects.count() == 1 and event.history.count() == 1


def test_an_api_client_does_not_see_toxicities(api: Any, api_client_user: User, treated: Participant) -> None:
    assert api(api_client_user).get(_url(treated)).status_code == 403


def test_another_sites_participant_and_event_are_404(
    api: Any, nurse: User, other_nurse: User, treated: Participant, terms: Any
) -> None:
    event = record(treated, terms["Diarrhea"], nurse)
    client = api(other_nurse)
    assert client.get(_url(treated)).status_code == 404
    assert client.post(_url(treated), BODY, format="json").status_code == 404
    assert client.patch(_url(treated, event), {"resolution_date": "2026-03-25"}, format="json").status_code == 404
    assert client.patch(f"/api/v1/adverse-events/{event.pk}/", {"grade": 3, "reason": "x"}, "json").status_code == 404
    event.refresh_from_db()
    assert (event.grade, event.resolution_date) == (2, None)


def test_patch_changes_grade_and_resolution_and_keeps_the_history(
    api: Any, nurse: User, investigator: User, treated: Participant, terms: Any
) -> None:
    event = record(treated, terms["Diarrhea"], nurse)
    client = api(nurse)

    no_reason = client.patch(_url(treated, event), {"grade": 3}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    worse = client.patch(_url(treated, event), {"grade": 3, "reason": "7 stools a day"}, format="json")
    assert worse.status_code == 200 and worse.json()["grade"] == 3
    before_onset = api(investigator).patch(
        f"/api/v1/adverse-events/{event.pk}/", {"resolution_date": "2026-03-01"}, format="json"
    )
    assert before_onset.status_code == 400 and "resolution_date" in before_onset.json()["errors"]
    resolved = api(investigator).patch(
        f"/api/v1/adverse-events/{event.pk}/", {"resolution_date": "2026-03-28"}, format="json"
    )
    assert resolved.status_code == 200 and resolved.json()["resolution_date"] == "2026-03-28"

    history = list(event.history.order_by("history_date", "history_id"))
    assert [(h.grade, str(h.resolution_date), h.history_change_reason, h.history_user) for h in history] == [
        (2, "None", "recorded", nurse),
        (3, "None", "7 stools a day", nurse),
        (3, "2026-03-28", "resolution date recorded", investigator),
    ]


def test_an_empty_patch_is_a_400(api: Any, nurse: User, treated: Participant, terms: Any) -> None:
    event = record(treated, terms["Diarrhea"], nurse)
    response = api(nurse).patch(_url(treated, event), {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "nothing_to_change"


def test_the_schema_documents_the_routes(api: Any, nurse: User) -> None:
    schema = api(nurse).get("/api/schema/?format=json").json()
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/participants/{id}/adverse-events/"])
    assert "patch" in schema["paths"]["/api/v1/participants/{id}/adverse-events/{ae_id}/"]
    assert "patch" in schema["paths"]["/api/v1/adverse-events/{id}/"]


def test_an_incomplete_attribution_item_is_a_400_on_patch(
    api: Any, nurse: User, treated: Participant, terms: Any, drugs: list[str]
) -> None:
    event = record(treated, terms["Diarrhea"], nurse)
    response = api(nurse).patch(f"/api/v1/adverse-events/{event.pk}/", {"attribution": [{"drug": drugs[0]}]}, "json")
    assert response.status_code == 400 and "attribution.0.relatedness" in response.json()["errors"]
    changed = api(nurse).patch(
        f"/api/v1/adverse-events/{event.pk}/", {"attribution": [{"drug": drugs[0], "relatedness": "possible"}]}, "json"
    )
    assert changed.status_code == 200 and changed.json()["attribution"] == [
        {"drug": drugs[0], "relatedness": "possible"}
    ]
    assert event.history.order_by("-history_id").first().history_change_reason == "attribution changed"
