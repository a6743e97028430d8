"""The public contract of PRODUCT.md §6: the paths, methods and commands outside clients and
acceptance checks rely on. A rename breaks this test before it breaks a hospital's integration."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import get_commands

CONTRACT = [
    ("/api/v1/dose-calculations/", "post"),
    ("/api/v1/participants/", "post"),
    ("/api/v1/participants/{id}/", "get"),
    ("/api/v1/participants/{id}/randomize/", "post"),
    ("/api/v1/participants/{id}/schedule/", "get"),
    ("/api/v1/participants/{id}/schedule.ics", "get"),
    ("/api/v1/bookings/", "get"),
    ("/api/v1/bookings/", "post"),
    ("/api/v1/bookings/{id}/", "patch"),
    ("/api/v1/bookings/{id}/", "delete"),
    ("/api/v1/dose-sheets/", "get"),
    ("/api/v1/dose-sheets/{id}/", "get"),
    ("/api/v1/trials/{registry_id}/allocations.csv", "get"),
    ("/api/v1/trials/{registry_id}/allocations.odm.xml", "get"),
    ("/api/v1/exports/participants.csv", "get"),
    ("/api/v1/exports/participants.xlsx", "get"),
]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize(("path", "method"), CONTRACT)
def test_the_openapi_schema_has_the_contract_paths(schema: dict[str, Any], path: str, method: str) -> None:
    assert path in schema["paths"], sorted(schema["paths"])
    assert method in schema["paths"][path]


def test_dose_sheets_have_a_pdf(schema: dict[str, Any]) -> None:
    assert any(p.startswith("/api/v1/dose-sheets/{id}") and "pdf" in p for p in schema["paths"])


@pytest.mark.parametrize("command", ["seed_demo", "create_api_user", "simulate_randomization", "verify_randomization"])
def test_the_contract_commands_exist(command: str) -> None:
    assert command in get_commands()


def test_public_pages_answer(client: Any, db: Any, settings: Any) -> None:
    settings.API_DOCS_PUBLIC = True  # development's default (DEBUG=true)
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/healthz").status_code == 200
