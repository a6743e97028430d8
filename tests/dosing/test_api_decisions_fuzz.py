"""Fuzzing the investigators' decision endpoints against the OpenAPI schema as an investigator (the
suite-wide fuzz test, tests/security/test_fuzz.py, calls them as roles that only get 403): no 5xx,
every answer conforms to the schema, including the 201, 409 and 422 bodies."""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.dosing.conftest import SheetMaker, randomize, record_inputs
from tests.security.test_fuzz import CHECKS, keep_test_connection  # noqa: F401 (a fixture)
from trialsite import roles
from trialsite.models import Participant
from trialsite.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application).include(
    path_regex=r"^/api/v1/participants/\{id\}/(dose-modifications|renal-decisions)/$"
)


@pytest.fixture
def decision_world(
    keep_test_connection: None,  # noqa: F811
    make_user: Any,
    site: Any,
    participant: Participant,
    make_sheet: SheetMaker,
) -> dict[str, Any]:
    """A randomized participant with cycle 1 and 2 sheets, so that fuzzed decisions re-prepare them."""
    randomize(participant)
    record_inputs(participant)
    make_sheet(participant)
    record_inputs(participant, on=dt.date(2026, 3, 24))
    make_sheet(participant, cycle=2, day1=dt.date(2026, 3, 26))
    token = make_user(roles.INVESTIGATOR, [site]).auth_token.key
    return {"participant": participant, "token": token}


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_decision_endpoints_conform_to_their_schema(case: Any, decision_world: dict[str, Any]) -> None:
    # Most of the time, aim at the real participant rather than a random id.
    if zlib.crc32(repr(case.body).encode()) % 4 != 0:
        case.path_parameters["id"] = decision_world["participant"].pk
    response = case.call(headers={"Authorization": f"Token {decision_world['token']}"})
    case.validate_response(response, checks=CHECKS)
