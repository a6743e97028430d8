"""Re-checking plans after a calendar change runs as a background job on a real worker (Redis
broker, the test database): the job's progress reaches the database and the plan moves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from schedules import jobs as schedule_jobs
from schedules.models import ScheduledEvent, SiteClosure, TreatmentPlan
from tests.schedules.conftest import NOW
from tests.support.worker import Worker, wait_for
from trialsite.models import JobStatus, TrialJob

D = dt.date


@pytest.fixture
def worker(transactional_db: None) -> Iterator[Worker]:
    w = Worker(name="jobs").start()
    yield w
    w.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_closure_recorded_behind_the_services_back_is_caught_up_by_the_job(
    plan: TreatmentPlan, site: Any, worker: Worker
) -> None:
    c1 = ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=1)
    assert c1.planned_date == D(2026, 3, 17)
    # The day closes without the in-request re-check (as a bulk load or a national notice would).
    SiteClosure.objects.create(site=site, date=D(2026, 3, 17), reason="inspection")
    job = schedule_jobs.plans_recheck_start(
        date_from=D(2026, 3, 17), date_to=D(2026, 3, 17), now=NOW, site_ids=[site.pk]
    )
    wait_for(
        lambda: TrialJob.objects.filter(pk=job.pk, status__in=[JobStatus.DONE, JobStatus.FAILED]).exists(),
        timeout=60,
        message="the job to finish",
    )
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.refused) == (JobStatus.DONE, 1, 1, 0), job.error
    c1.refresh_from_db()
    assert (c1.original_planned_date, c1.planned_date) == (D(2026, 3, 17), D(2026, 3, 18))
    assert "trialsite.tasks.job_run" in worker.log()
