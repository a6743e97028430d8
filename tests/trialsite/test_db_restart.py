"""A real PostgreSQL restart, crash and outage under the production shape (issue 12 §8): gunicorn
with CONN_MAX_AGE=300 and a Celery worker, both on a private PostgreSQL started by the test.

Before CONN_HEALTH_CHECKS the first request of every gunicorn worker after a restart was a 500
(and /healthz a false "down"): the kept connection was dead. One gunicorn worker makes that
deterministic: every request below is served by the process that holds the kept connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.support.postgres import PrivatePostgres, free_port
from tests.support.worker import Worker, wait_for
from tests.trialsite.test_settings import PROD

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _env(database_url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    return {
        **base,
        **PROD,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "CONN_MAX_AGE": "300",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "LOG_LEVEL": "WARNING",
    }


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres().init().start()
    try:
        yield pg
    finally:
        pg.close()


@pytest.fixture(scope="module")
def database(server: PrivatePostgres) -> dict[str, str]:
    url = server.create_database("trialsite_restart")
    env = _env(url)
    _manage(env, "migrate", "--no-input")
    token = _manage(env, "create_api_user", "his", "--role", "api_client").strip().splitlines()[-1]
    return {"url": url, "token": token}


@pytest.fixture(scope="module")
def web(database: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("gunicorn") / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "trialsite.wsgi:application",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=_env(database["url"]),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(base + "/healthz")[0] in (200, 503), timeout=60, message="gunicorn")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http://127.0.0.1 only
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a local test server
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = {"raw": body.decode(errors="replace")[:500]}
        return error.code, data, dict(error.headers)
    except (urllib.error.URLError, ConnectionError):
        return 0, {}, {}


def _trials(web: str, database: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
    return _get(web + "/api/v1/trials/", database["token"])


def test_the_first_api_request_after_a_restart_is_not_a_500(
    server: PrivatePostgres, database: dict[str, str], web: str
) -> None:
    assert _trials(web, database)[0] == 200  # the worker now holds a kept connection
    server.restart()
    status, body, _headers = _trials(web, database)
    assert status == 200, body


def test_healthz_is_not_a_false_down_after_a_restart(
    server: PrivatePostgres, database: dict[str, str], web: str
) -> None:
    assert _get(web + "/healthz")[0] == 200
    server.restart()
    status, body, _headers = _get(web + "/healthz")
    assert (status, body["status"]) == (200, "ok"), body


def test_the_first_request_after_a_crash_and_recovery_is_not_a_500(
    server: PrivatePostgres, database: dict[str, str], web: str
) -> None:
    assert _trials(web, database)[0] == 200
    server.crash()
    server.start()  # crash recovery
    status, body, _headers = _trials(web, database)
    assert status == 200, body


def test_while_the_database_is_down_the_answer_is_503_database_unavailable(
    server: PrivatePostgres, database: dict[str, str], web: str
) -> None:
    assert _trials(web, database)[0] == 200
    server.stop()
    try:
        status, body, headers = _trials(web, database)
        assert status == 503, body
        assert body["code"] == "database_unavailable"
        assert headers["Retry-After"] == "10"
        health = _get(web + "/healthz")
        assert (health[0], health[1]) == (503, {"status": "down"})
    finally:
        server.start()
    status, body, _headers = _trials(web, database)
    assert status == 200, body


def test_a_celery_worker_survives_a_restart(server: PrivatePostgres, database: dict[str, str]) -> None:
    import psycopg

    from trialsite.celery import app

    def seen() -> Any:
        with psycopg.connect(database["url"]) as conn:
            row = conn.execute("SELECT seen_at FROM trialsite_workerheartbeat WHERE id = 1").fetchone()
        return row[0] if row else None

    env = {k: v for k, v in _env(database["url"]).items() if k not in os.environ or os.environ[k] != v}
    worker = Worker(queues="default", name="db-restart", pool="solo", **env).start()
    try:
        app.send_task("trialsite.tasks.heartbeat", queue="default")
        wait_for(lambda: seen() is not None, timeout=60, message="the first heartbeat")
        first = seen()
        server.restart()
        time.sleep(0.5)
        app.send_task("trialsite.tasks.heartbeat", queue="default")
        wait_for(lambda: seen() != first, timeout=60, message="a heartbeat after the restart")
        assert "Traceback" not in worker.log(), worker.log()[-3000:]
    finally:
        worker.stop()
