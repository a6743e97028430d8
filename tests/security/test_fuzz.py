"""API fuzzing with schemathesis against the OpenAPI schema, in-process over WSGI, as three roles:
no 5xx anywhere, every response conforms to the schema (status code, content type, body)."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.factories import ParticipantFactory
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
    services.lab_result_record(
        participant=participant, analyte="creatinine", value="80", collected_on=today, by=None, today=today
    )
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
