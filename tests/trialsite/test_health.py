from __future__ import annotations

from typing import Any

import pytest
from django.db import connection


@pytest.fixture
def dead_broker(settings: Any) -> None:
    # Nothing listens on port 1: what a stopped Redis looks like to the client.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def staff_client(client: Any, nurse: Any) -> Any:
    client.force_login(nurse)
    return client


def test_healthz_reports_database_and_broker_to_staff(staff_client: Any) -> None:
    response = staff_client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["database"] == {"ok": True, "vendor": connection.vendor}
    assert body["broker"]["ok"] is True
    assert body["status"] == "ok"


def test_a_stopped_broker_is_reported_down_without_failing_the_page(staff_client: Any, dead_broker: None) -> None:
    response = staff_client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True
    assert body["status"] == "degraded"


def test_the_worker_heartbeat_shows_in_healthz(staff_client: Any) -> None:
    from trialsite.tasks import heartbeat

    assert staff_client.get("/healthz").json()["worker"] == {"ok": False, "last_heartbeat": None}
    heartbeat()  # the task body, run in-process (a real worker runs it in test_embedded_defaults)
    assert staff_client.get("/healthz").json()["worker"]["ok"] is True


def test_anonymous_callers_learn_only_ok_or_degraded(client: Any, db: Any, settings: Any) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "degraded"})


def test_an_api_client_is_not_staff_for_healthz(client: Any, api_client_user: Any) -> None:
    client.force_login(api_client_user)
    assert client.get("/healthz").json() == {"status": "ok"}
