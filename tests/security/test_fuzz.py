"""API fuzzing with schemathesis against the OpenAPI schema, in-process over WSGI, as three roles:
no 5xx anywhere, every response conforms to the schema (status code, content type, body)."""

from __future__ import annotations

import datetime as dt
import re
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.factories import ParticipantFactory, record_labs
from trialsite import services
from trialsite.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """Calling the WSGI app directly would close the test's database connection at the end of each
    request (Django's test Client switches that off in the same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(keep_test_connection: None, make_user: Any, site: Any, trial: Any) -> dict[str, Any]:
    """A participant with measurements and labs at the callers' site, so that fuzzed ids hit real
    rows part of the time."""
    participant = ParticipantFactory(trial=trial, site=site)
    today = dt.date(2026, 3, 2)
    services.measurement_record(
        participant=participant, kind="height", value="168", measured_on=today, by=None, today=today
    )
    services.measurement_record(
        participant=participant, kind="weight", value="61.5", measured_on=today, by=None, today=today
    )
    record_labs(participant, {"creatinine": "80"}, on=today)
    tokens = {role: make_user(role, [site]).auth_token.key for role in ("research_nurse", "pharmacist", "api_client")}
    return {"participant": participant, "tokens": tokens}


@pytest.mark.slow
@pytest.mark.parametrize("role", ["research_nurse", "pharmacist", "api_client"])
@schema.parametrize()
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case: Any, role: str, fuzz_world: dict[str, Any]) -> None:
    # Half of the time, aim at the real participant rather than a random id.
    aim = case.path.startswith("/api/v1/participants/{id}") and zlib.crc32(repr(case.body).encode()) % 2 == 0
    if aim and case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = fuzz_world["participant"].pk
    response = case.call(headers={"Authorization": f"Token {fuzz_world['tokens'][role]}"})
    case.validate_response(response, checks=CHECKS)


# --- Every numeric input, every body, every string: bounded, 400 never 500 (issue 12 §3) --------
# Found from the OpenAPI schema, as schemathesis finds its operations, so that a new endpoint or
# field is covered without editing this list.

RAW = schema.raw_schema
COMPONENTS = RAW["components"]["schemas"]
EVIL_NUMBERS = ["1e999999999", "-1e999999999", "9" * 10_000, "1e-999999", "NaN", "Infinity", "-Infinity", "0x10"]
# The same as bare JSON numbers: json makes 1e999999999 an infinite float and refuses 10,000 digits.
EVIL_JSON_NUMBERS = ["1e999999999", "-1e999999999", "9" * 10_000, "-" + "9" * 4_000, "1e-999999"]
FAST = 1.0  # seconds: the request that stalled a worker took minutes


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node or "allOf" in node:
        node = COMPONENTS[node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node["allOf"][0]
    return node


def _bodies() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, {property: schema}) of every operation that takes a JSON body."""
    out = []
    for path, operations in RAW["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                properties = _resolve(content["schema"]).get("properties", {})
                out.append((method, path, {k: _resolve(v) | v for k, v in properties.items()}))
    return out


BODIES = _bodies()
NUMERIC_INPUTS = [
    (method, path, name)
    for method, path, properties in BODIES
    for name, prop in properties.items()
    if prop.get("type") in ("integer", "number") or prop.get("format") == "decimal"
]


def _refused(path: str) -> set[int]:
    """Where {id} is not a participant (a booking, a schedule event), the view may look the object
    up before it reads the body: the participant's id is then unknown there, a 404 whatever the
    body (never a 500)."""
    if re.search(r"\{(?!id\})\w+\}", path):  # another object's id under the participant (a toxicity)
        return {400, 404}
    return {400} if path.startswith("/api/v1/participants/") or "{id}" not in path else {400, 404}


def _caller(method: str, path: str, participant: Any, people: dict[str, Any]) -> Any:
    """Someone whose role may call the route (the investigator where the view allows it), so that
    the body is what decides: a role that may not call it is refused 403 before any reading."""
    from django.urls import resolve

    view = resolve(_url(path, participant)).func
    declared = getattr(getattr(view, "view_class", None) or getattr(view, "cls", None), "required_roles", {})
    allowed = declared.get(method.upper(), declared.get("*", ()))
    return next((user for role, user in people.items() if role in allowed), people["investigator"])


def _url(path: str, participant: Any) -> str:
    return path.replace("{id}", str(participant.pk)).replace("{key}", "x").replace("{ae_id}", "999999")


def test_the_schema_lists_the_numeric_inputs_we_know() -> None:
    """The discovery above finds the numbers of the API (a guard against an empty parametrization)."""
    found = {(path, name) for _, path, name in NUMERIC_INPUTS}
    assert {
        ("/api/v1/participants/{id}/labs/", "value"),
        ("/api/v1/participants/{id}/labs/", "uln"),
        ("/api/v1/participants/{id}/measurements/", "value"),
        ("/api/v1/dose-calculations/", "serum_creatinine_umol_l"),
        ("/api/v1/dose-calculations/", "age_years"),
        ("/api/v1/bookings/", "event"),
        ("/api/v1/participants/{id}/dose-modifications/", "ctcae_grade"),
        ("/api/v1/participants/{id}/adverse-events/", "grade"),
        ("/api/v1/participants/{id}/adverse-events/{ae_id}/", "grade"),
        ("/api/v1/adverse-events/{id}/", "grade"),
    } <= found


@pytest.mark.parametrize(("method", "path", "name"), NUMERIC_INPUTS, ids=[f"{m} {p} {n}" for m, p, n in NUMERIC_INPUTS])
def test_every_numeric_input_is_bounded_before_conversion(
    method: str, path: str, name: str, api: Any, investigator: Any, participant: Any
) -> None:
    client = api(investigator)
    url = _url(path, participant)
    for value in EVIL_NUMBERS:
        started = time.perf_counter()
        response = getattr(client, method)(url, {name: value}, format="json")
        assert time.perf_counter() - started < FAST, (name, value[:20])
        assert response.status_code == 400, (name, value[:20], response.content[:300])
        assert response.json()["errors"].get(name), (name, value[:20], response.json())
    for raw in EVIL_JSON_NUMBERS:
        started = time.perf_counter()
        response = client.generic(method.upper(), url, f'{{"{name}": {raw}}}', content_type="application/json")
        assert time.perf_counter() - started < FAST, (name, raw[:20])
        assert response.status_code == 400, (name, raw[:20], response.content[:300])


@pytest.mark.parametrize("value", [*EVIL_NUMBERS, 1e308, 10**40, True])
def test_the_protocol_driven_findings_are_bounded(value: Any, api: Any, investigator: Any, participant: Any) -> None:
    """Issue 12 §3: {"findings": {"ecog": "1e999999999"}} built a billion-digit integer."""
    started = time.perf_counter()
    response = api(investigator).post(
        f"/api/v1/participants/{participant.pk}/screening-assessments/", {"findings": {"ecog": value}}, format="json"
    )
    assert time.perf_counter() - started < FAST
    assert response.status_code == 400, response.content[:300]
    assert response.json()["errors"]["ecog"]
    assert not participant.screening_assessments.exists()


def test_deeply_nested_json_is_a_400_on_every_api_route(
    api: Any, investigator: Any, pharmacist: Any, participant: Any
) -> None:
    people = {"investigator": investigator, "pharmacist": pharmacist}
    for method, path, _properties in BODIES:
        client = api(_caller(method, path, participant, people))
        for body in ("[" * 100_000, '{"a":' * 100_000, "[" * 500 + "]" * 500, '{"findings": ' * 50 + "1" + "}" * 50):
            response = client.generic(method.upper(), _url(path, participant), body, content_type="application/json")
            assert response.status_code in _refused(path), (method, path, body[:10], response.content[:200])
            assert response.json()["code"] in ("parse_error", "invalid", "not_found")


def test_a_nul_in_any_string_field_is_a_400(api: Any, investigator: Any, pharmacist: Any, participant: Any) -> None:
    people = {"investigator": investigator, "pharmacist": pharmacist}
    for method, path, properties in BODIES:
        client = api(_caller(method, path, participant, people))
        for name, prop in properties.items():
            if prop.get("type") not in ("string", None) or prop.get("format") == "decimal":
                continue
            response = getattr(client, method)(_url(path, participant), {name: "ZJU1\x00"}, format="json")
            assert response.status_code in _refused(path), (method, path, name, response.content[:200])
            assert response.status_code == 404 or response.json()["errors"].get(name), (path, name, response.json())
        # And in a key or a nested value.
        for body in ({"a\x00": 1}, {"findings": {"ecog\x00": 1}}, {"findings": {"ecog": "1\x00"}}):
            response = getattr(client, method)(_url(path, participant), body, format="json")
            assert response.status_code in _refused(path), (method, path, body, response.content[:200])
