"""A database outage is answered 503 `database_unavailable` with Retry-After, not 500 (issue 12 §8).
Here the outage is simulated at one point of the request; tests/trialsite/test_db_restart.py
stops a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, OperationalError
from django.test import Client

from trialsite import outage

GONE = "server closed the connection unexpectedly"


def _fail(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError(GONE)


def test_an_api_call_meeting_a_dead_database_is_503_with_retry_after(
    api: Any, nurse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("trialsite.selectors.participants_for_user", _fail)
    response = api(nurse).get("/api/v1/participants/")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response["Retry-After"] == str(outage.RETRY_AFTER_S)


def test_an_admin_page_meeting_a_dead_database_is_503(nurse: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(nurse)
    monkeypatch.setattr("django.contrib.admin.views.main.ChangeList.get_results", _fail)
    response = client.get("/admin/trialsite/participant/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(outage.RETRY_AFTER_S)
    assert "database_unavailable" in response.content.decode()


def test_an_outage_before_any_view_runs_is_503_too(nurse: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The session is read by the middleware, before the admin or the API sees the request.
    client = Client(raise_request_exception=False)
    client.force_login(nurse)
    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", _fail)
    page = client.get("/admin/")
    assert (page.status_code, page["Retry-After"]) == (503, str(outage.RETRY_AFTER_S))
    api = client.get("/api/v1/participants/")
    assert api.status_code == 503 and api.json()["code"] == "database_unavailable"


def test_the_503_page_is_translated(nurse: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(nurse)
    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", _fail)
    response = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 503
    assert "数据库" in response.content.decode()


def test_a_bug_is_still_a_500(api: Any, nurse: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def integrity(*args: Any, **kwargs: Any) -> Any:
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr("trialsite.selectors.participants_for_user", integrity)
    client = api(nurse)
    client.raise_request_exception = False
    response = client.get("/api/v1/participants/")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OperationalError(GONE), True),
        (IntegrityError("duplicate key"), False),
        (ValueError("x"), False),
    ],
)
def test_what_counts_as_an_outage(exc: Exception, expected: bool) -> None:
    assert outage.is_database_outage(exc) is expected


def test_the_driver_s_own_error_counts_too() -> None:
    import psycopg

    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = psycopg.OperationalError("connection refused")
    assert outage.is_database_outage(wrapped)


def test_every_operation_documents_the_503() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [op for path, ops in schema["paths"].items() if path.startswith("/api/v1/") for op in ops.values()]
    assert operations
    assert all("503" in op["responses"] for op in operations)
