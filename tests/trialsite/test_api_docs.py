"""The API's schema and docs are behind login in production (issue 12 §7)."""

from __future__ import annotations

from typing import Any

import pytest

from trialsite import roles

PAGES = ["/api/schema/", "/api/docs/"]


@pytest.fixture
def closed_docs(settings: Any) -> None:
    settings.API_DOCS_PUBLIC = False


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_callers_are_refused_the_docs_in_production(
    client: Any, db: Any, closed_docs: None, path: str
) -> None:
    response = client.get(path)
    assert response.status_code in (401, 403)
    assert "paths" not in response.content.decode()


@pytest.mark.parametrize("path", PAGES)
def test_signed_in_staff_read_the_docs(client: Any, nurse: Any, closed_docs: None, path: str) -> None:
    client.force_login(nurse)
    assert client.get(path).status_code == 200


def test_an_api_client_reads_the_schema_with_its_token(api: Any, make_user: Any, site: Any, closed_docs: None) -> None:
    client = api(make_user(roles.API_CLIENT, [site]))
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/participants/" in response.json()["paths"]
