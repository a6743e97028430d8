"""Background jobs (trialsite.jobs): trial-wide work in batches with progress, resumable, one
run at a time, refusals counted and listed, faults stop the job and say why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from django.test import Client

from trialsite import jobs
from trialsite.errors import RuleViolation
from trialsite.models import JobStatus, TrialJob

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
SEEN: list[int] = []


def _items(params: Mapping[str, Any]) -> list[int]:
    return list(params["items"])


def _handle(item: int, params: Mapping[str, Any], now: dt.datetime) -> None:
    if item in params.get("refuse", []):
        raise RuleViolation(f"item {item} cannot be done")
    if item in params.get("crash", []):
        raise ZeroDivisionError("boom")
    SEEN.append(item)


@pytest.fixture(autouse=True)
def _test_kind() -> Iterator[None]:
    jobs.register("test_kind", label="A test job", items=_items, handle=_handle)
    SEEN.clear()
    yield
    jobs._KINDS.pop("test_kind", None)


def _clock() -> dt.datetime:
    return NOW


def _job(**params: Any) -> TrialJob:
    return TrialJob.objects.create(kind="test_kind", params=params, created_at=NOW)


def test_a_job_does_each_item_once_in_order_and_counts_refusals() -> None:
    job = _job(items=[5, 3, 3, 9, 1], refuse=[9])
    assert jobs.job_run(job.pk, clock_now=_clock) is True
    job.refresh_from_db()
    assert SEEN == [1, 3, 5]
    assert (job.status, job.total, job.done, job.refused) == (JobStatus.DONE, 4, 3, 1)
    assert job.refusals == [{"item": 9, "message": "item 9 cannot be done"}]
    assert job.finished_at == NOW and job.lease_until is None


def test_a_run_stops_after_its_time_and_the_next_resumes_where_it_stopped(monkeypatch: Any) -> None:
    monkeypatch.setattr(jobs, "BATCH_SIZE", 2)
    job = _job(items=list(range(1, 8)))
    assert jobs.job_run(job.pk, clock_now=_clock, run_seconds=0) is False  # one batch, then stop
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == (JobStatus.RUNNING, 2, 7)
    assert jobs.job_run(job.pk, clock_now=_clock) is True
    assert list(range(1, 8)) == SEEN  # nothing twice, nothing left out


def test_a_job_another_run_holds_is_left_alone() -> None:
    job = _job(items=[1, 2])
    TrialJob.objects.filter(pk=job.pk).update(lease_until=NOW + dt.timedelta(minutes=1))
    assert jobs.job_run(job.pk, clock_now=_clock) is False
    assert SEEN == [] and TrialJob.objects.get(pk=job.pk).done == 0
    # Once the lease ran out (the run died), the job is taken up again.
    later = NOW + dt.timedelta(minutes=2)
    assert jobs.job_run(job.pk, clock_now=lambda: later) is True
    assert SEEN == [1, 2]


def test_a_fault_stops_the_job_and_says_where() -> None:
    job = _job(items=[1, 2, 3], crash=[2])
    assert jobs.job_run(job.pk, clock_now=_clock) is True
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.done == 1
    assert "item 2" in job.error and "ZeroDivisionError" in job.error
    assert jobs.job_run(job.pk, clock_now=_clock) is True and SEEN == [1]  # a failed job stays failed


def test_only_the_system_or_a_permitted_role_starts_a_job(nurse: Any) -> None:
    from trialsite.errors import NotPermitted

    with pytest.raises(NotPermitted):
        jobs.job_start(kind="test_kind", params={"items": [1]}, by=nurse, now=NOW)
    assert not TrialJob.objects.exists()
    job = jobs.job_start(kind="test_kind", params={"items": [1]}, by=None, now=NOW)
    assert job.status == JobStatus.QUEUED


def test_investigators_follow_the_progress_in_the_admin_and_nurses_do_not(investigator: Any, nurse: Any) -> None:
    job = _job(items=[1, 2, 3, 4], refuse=[4])
    jobs.job_run(job.pk, clock_now=_clock)
    client = Client()
    client.force_login(investigator)
    page = client.get("/admin/trialsite/trialjob/").content.decode()
    assert "A test job" in page and "4 of 4 (100%)" in page and "1 refused" in page
    detail = client.get(f"/admin/trialsite/trialjob/{job.pk}/change/").content.decode()
    assert "item 4 cannot be done" in detail
    other = Client()
    other.force_login(nurse)
    assert other.get("/admin/trialsite/trialjob/").status_code == 403
