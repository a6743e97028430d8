from __future__ import annotations

from typing import Any

import pytest
from django.db import connection


@pytest.fixture
def dead_broker(settings: Any) -> None:
    # Nothing listens on port 1: what a stopped Redis looks like to the client.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"


def test_healthz_reports_database_and_broker(client: Any, db: Any) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["database"] == {"ok": True, "vendor": connection.vendor}
    assert body["broker"]["ok"] is True
    assert body["status"] == "ok"


def test_a_stopped_broker_is_reported_down_without_failing_the_page(client: Any, db: Any, dead_broker: None) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True
    assert body["status"] == "degraded"


def test_the_worker_heartbeat_shows_in_healthz(client: Any, db: Any) -> None:
    from trialsite.tasks import heartbeat

    assert client.get("/healthz").json()["worker"] == {"ok": False, "last_heartbeat": None}
    heartbeat()  # the task body, run in-process (a real worker runs it in test_embedded_defaults)
    assert client.get("/healthz").json()["worker"]["ok"] is True
