"""The registry API: the role × endpoint table, site isolation, the error shape."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from trialsite.models import LabResult, Measurement, Participant

ROLES = ["research_nurse", "pharmacist", "investigator", "statistician", "api_client"]

# (method, url template, body, roles allowed). An allowed role gets anything but 401/403;
# the others get 403, anonymous 401. Bodies are deliberately incomplete where a write would
# otherwise succeed, so the allowed case answers 400 and nothing is written.
TABLE: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("get", "/api/v1/trials/", None, set(ROLES)),
    ("get", "/api/v1/sites/", None, set(ROLES)),
    ("get", "/api/v1/participants/", None, set(ROLES)),
    ("post", "/api/v1/participants/", {}, {"research_nurse", "investigator"}),
    ("get", "/api/v1/participants/{id}/", None, set(ROLES)),
    ("patch", "/api/v1/participants/{id}/", {}, {"research_nurse", "investigator"}),
    ("post", "/api/v1/participants/{id}/consent/", {}, {"research_nurse", "investigator"}),
    ("post", "/api/v1/participants/{id}/withdraw/", {}, {"research_nurse", "investigator"}),
    (
        "get",
        "/api/v1/participants/{id}/measurements/",
        None,
        {"research_nurse", "investigator", "pharmacist", "statistician"},
    ),
    ("post", "/api/v1/participants/{id}/measurements/", {}, {"research_nurse", "investigator"}),
    ("get", "/api/v1/participants/{id}/labs/", None, {"research_nurse", "investigator", "pharmacist", "statistician"}),
    ("post", "/api/v1/participants/{id}/labs/", {}, {"research_nurse", "investigator"}),
]


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
@pytest.mark.parametrize(("method", "url", "body", "allowed"), TABLE, ids=[f"{m} {u}" for m, u, _, _ in TABLE])
def test_role_endpoint_table(
    role: str,
    method: str,
    url: str,
    body: Any,
    allowed: set[str],
    make_user: Any,
    api: Any,
    site: Any,
    participant: Participant,
) -> None:
    user = None if role == "anonymous" else make_user(role, [site])
    response = getattr(api(user), method)(url.format(id=participant.pk), body, format="json")

    if role == "anonymous":
        assert response.status_code == 401
    elif role in allowed:
        assert response.status_code not in (401, 403), response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "permission_denied"
    # Whatever the answer, the incomplete bodies wrote nothing.
    assert Participant.objects.count() == 1
    assert not Measurement.objects.exists() and not LabResult.objects.exists()


def test_a_nurse_sees_only_her_sites_participants(
    nurse: User, other_nurse: User, api: Any, participant: Participant
) -> None:
    mine = api(nurse).get("/api/v1/participants/").json()
    theirs = api(other_nurse).get("/api/v1/participants/").json()

    assert [p["id"] for p in mine["results"]] == [participant.pk]
    assert theirs["results"] == []
    # Another site's participant does not exist for her: 404, not 403 (no existence leak).
    assert api(other_nurse).get(f"/api/v1/participants/{participant.pk}/").status_code == 404
    assert (
        api(other_nurse)
        .post(
            f"/api/v1/participants/{participant.pk}/measurements/",
            {"kind": "weight", "value": "70", "measured_on": "2026-03-01"},
        )
        .status_code
        == 404
    )
    assert not Measurement.objects.exists()


def test_the_participant_list_does_not_fetch_the_protocol_definition(
    nurse: User, api: Any, participant: Participant
) -> None:
    # The rows show the version number only; the 18 KB definition per row was the list's cost at
    # page_size=500 (issue 16).
    with CaptureQueriesContext(connection) as queries:
        body = api(nurse).get("/api/v1/participants/").json()
    assert body["results"][0]["protocol_version"] == participant.protocol_version.version
    assert not any('"definition"' in q["sql"] for q in queries.captured_queries)


def test_create_participant_and_read_it_back(nurse: User, api: Any, trial: Any) -> None:
    body = {
        "site": "ZJU1",
        "screening_number": "ZJU1-0001",
        "full_name": "王小明",
        "sex": "male",
        "birth_date": "1962-04-03",
        "consent_date": str(timezone.localdate()),
        "phone": "+86 138 1234 5678",
    }
    created = api(nurse).post("/api/v1/participants/", body)

    assert created.status_code == 201, created.content
    data = created.json()
    assert data["trial"] == "NCT06850103"
    assert data["status"] == "screening"
    assert data["protocol_version"] == "1"
    assert data["arm"] == "" and data["randomization_number"] is None
    detail = api(nurse).get(f"/api/v1/participants/{data['id']}/").json()
    assert detail["full_name"] == "王小明"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"site": "NOPE"}, "site"),
        ({"sex": "x"}, "sex"),
        ({"birth_date": "1962-02-30"}, "birth_date"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"screening_number": "a b;c"}, "screening_number"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_bad_participant_input_is_400_with_field_errors(
    nurse: User, api: Any, trial: Any, change: dict[str, str], field: str
) -> None:
    body = {
        "site": "ZJU1",
        "screening_number": "ZJU1-0002",
        "full_name": "李华",
        "sex": "female",
        "birth_date": "1970-01-01",
    }
    body.update(change)

    response = api(nurse).post("/api/v1/participants/", body)

    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "invalid"
    assert field in payload["errors"], payload
    assert isinstance(payload["detail"], str)
    assert not Participant.objects.exists()


def test_duplicate_screening_number_is_409(nurse: User, api: Any, trial: Any) -> None:
    body = {
        "site": "ZJU1",
        "screening_number": "ZJU1-0003",
        "full_name": "李华",
        "sex": "female",
        "birth_date": "1970-01-01",
    }
    assert api(nurse).post("/api/v1/participants/", body).status_code == 201
    again = api(nurse).post("/api/v1/participants/", body)
    assert again.status_code == 409
    assert again.json()["errors"] == {"screening_number": ["Already registered."]}
    assert Participant.objects.count() == 1


def test_registering_at_a_site_she_does_not_work_at_is_404(nurse: User, api: Any, trial: Any) -> None:
    body = {
        "site": "NBH2",
        "screening_number": "NBH2-0001",
        "full_name": "李华",
        "sex": "female",
        "birth_date": "1970-01-01",
    }
    response = api(nurse).post("/api/v1/participants/", body)
    assert response.status_code == 404
    assert not Participant.objects.exists()


def test_measurement_out_of_range_is_400(nurse: User, api: Any, participant: Participant) -> None:
    response = api(nurse).post(
        f"/api/v1/participants/{participant.pk}/measurements/",
        {"kind": "weight", "value": "720", "measured_on": "2026-03-01"},
    )
    assert response.status_code == 400
    assert "value" in response.json()["errors"]
    assert not Measurement.objects.exists()


def test_malformed_json_is_400_in_the_error_shape(nurse: User, api: Any, trial: Any) -> None:
    response = api(nurse).post("/api/v1/participants/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_schema_and_docs_are_served_without_a_cdn(client: Any, db: Any) -> None:
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/participants/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html


def test_openapi_schema_validates_without_warnings(tmp_path: Any, db: Any) -> None:
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/participants/{id}/:" in out.read_text()


def test_unrouted_api_urls_answer_json_404(nurse: User, api: Any, client: Any) -> None:
    response = api(nurse).get("/api/v1/participants/not-a-number/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "detail": "Not found.", "errors": {}}
    assert client.get("/no-such-page/").status_code == 404
    assert "text/html" in client.get("/no-such-page/")["Content-Type"]
