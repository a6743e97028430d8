"""A real Celery worker process for integration tests: it talks to the real Redis broker and to
the pytest-django test database, so tests that use it must be transactional
(`@pytest.mark.django_db(transaction=True)`) for the worker to see their rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**extra: str) -> dict[str, str]:
    """The environment a worker needs to use the same (test) database and broker as the tests."""
    db = settings.DATABASES["default"]
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    auth = db["USER"] or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    url = f"postgres://{auth}@{host}:{port}/{connection.settings_dict['NAME']}"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}
    return {**base, "DATABASE_URL": url, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "DEBUG": "true", **extra}


class Worker:
    """`celery -A trialsite worker` in a subprocess; `stop()` is graceful, `kill()` is SIGKILL."""

    def __init__(
        self,
        *,
        queues: str = "default,reminders",
        concurrency: int = 1,
        pool: str = "prefork",
        name: str = "test",
        **env: str,
    ) -> None:
        self.name = f"{name}-{os.getpid()}-{time.monotonic_ns()}@localhost"
        self.args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "trialsite",
            "worker",
            "-Q",
            queues,
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--hostname",
            self.name,
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--purge",
        ]
        self.env = worker_env(**env)
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = ROOT / "var" / f"test-worker-{name}.log"

    def start(self, timeout: float = 60) -> Worker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.log_path.read_text()[-3000:]}")
            if "ready." in self.log_path.read_text():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self, timeout: float = 30) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()

    def kill(self) -> None:
        """SIGKILL the whole process group (main process and pool children), as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        log: Any = getattr(self, "_log", None)
        if log and not log.closed:
            log.close()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def wait_for(predicate: Any, *, timeout: float = 30, interval: float = 0.2, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
