"""The Celery plumbing with real parts: a worker process on the real Redis broker, writing to the
test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.worker import Worker, wait_for
from trialsite.models import WorkerHeartbeat
from trialsite.tasks import heartbeat


@pytest.fixture
def worker(transactional_db: None) -> Iterator[Worker]:
    w = Worker(name="registry").start()
    yield w
    w.stop()


@pytest.mark.slow
def test_a_task_sent_through_redis_runs_in_a_real_worker(worker: Worker, settings: object) -> None:
    assert str(settings.CELERY_BROKER_URL).startswith("redis://")

    heartbeat.delay()

    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30, message="the heartbeat row")
    assert "trialsite.tasks.heartbeat" in worker.log()
