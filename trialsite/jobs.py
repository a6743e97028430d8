"""Background jobs: work proportional to the whole trial, done by the worker in batches with its
progress in the admin (Background jobs), never inside a request.

An app registers a kind once (at import of its jobs module, listed in its AppConfig.ready):
    jobs.register("plans_recheck", label=gettext_noop("…"), items=…, handle=…, permission=…)
`items(params)` lists the ids to work on (fixed when the job starts); `handle(item, params, now)`
does one, in its own transaction, and may be run twice for the same item (a worker that dies
mid-batch resumes at the last recorded batch). A handler's ApplicationError refuses that item
only: it is counted and listed, and the job goes on.

A run holds a lease on the job (another delivery of the same task waits for it to run out) and
stops after RUN_SECONDS to re-queue itself, so no task comes near the worker's time limit."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q

from trialsite import roles
from trialsite.errors import ApplicationError, InvalidInput
from trialsite.models import JobStatus, TrialJob

log = logging.getLogger(__name__)

BATCH_SIZE = 50
RUN_SECONDS = 60.0  # well under CELERY_TASK_TIME_LIMIT (120 s)
LEASE = dt.timedelta(minutes=5)
MAX_REFUSALS_LISTED = 100


@dataclass(frozen=True)
class JobKind:
    label: str  # an English message id (gettext_noop), shown translated
    items: Callable[[Mapping[str, Any]], list[int]]
    handle: Callable[[int, Mapping[str, Any], dt.datetime], None]
    permission: str | None  # who may start it; None: the system only


_KINDS: dict[str, JobKind] = {}


def register(
    kind: str,
    *,
    label: str,
    items: Callable[[Mapping[str, Any]], list[int]],
    handle: Callable[[int, Mapping[str, Any], dt.datetime], None],
    permission: str | None = None,
) -> None:
    _KINDS[kind] = JobKind(label=label, items=items, handle=handle, permission=permission)


def kind_of(job: TrialJob) -> JobKind | None:
    return _KINDS.get(job.kind)


def job_start(*, kind: str, params: Mapping[str, Any], by: User | None, now: dt.datetime) -> TrialJob:
    """Queue a job; the worker starts it after the caller's transaction commits."""
    spec = _KINDS.get(kind)
    if spec is None:
        raise InvalidInput(f"Unknown job kind {kind!r}.", errors={"kind": ["Unknown job kind."]})
    if by is not None:
        if spec.permission is None:
            roles.require(by, "trialsite.add_trialjob")  # nobody holds it: the system only
        else:
            roles.require(by, spec.permission)
    job = TrialJob.objects.create(kind=kind, params=dict(params), created_by=by, created_at=now)
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from trialsite import tasks

    tasks.job_run.delay(job_id)


def _claim(job_id: int, now: dt.datetime) -> bool:
    """Take the job's lease (one run at a time); False when it is finished or another run holds it."""
    claimable = Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]) & (
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    return bool(TrialJob.objects.filter(claimable, pk=job_id).update(lease_until=now + LEASE))


def job_run(job_id: int, *, clock_now: Callable[[], dt.datetime], run_seconds: float = RUN_SECONDS) -> bool:
    """Work on the job for up to `run_seconds`. Returns True when it is finished (done or failed),
    False when it stopped with work left (the caller queues another run)."""
    now = clock_now()
    if not _claim(job_id, now):
        return TrialJob.objects.filter(pk=job_id, status__in=[JobStatus.DONE, JobStatus.FAILED]).exists()
    job = TrialJob.objects.get(pk=job_id)
    spec = _KINDS.get(job.kind)
    if spec is None:
        _finish(job, JobStatus.FAILED, clock_now(), error=f"unknown job kind {job.kind!r}")
        return True
    if job.items is None:
        try:
            items = sorted(set(spec.items(job.params)))
        except Exception as exc:  # listing failed: nothing was done, say why
            log.exception("job %s: listing its items failed", job.pk)
            _finish(job, JobStatus.FAILED, clock_now(), error=f"{exc.__class__.__name__}: {exc}")
            return True
        job.items, job.total, job.status, job.started_at = items, len(items), JobStatus.RUNNING, now
        job.save(update_fields=["items", "total", "status", "started_at"])
    started = time.monotonic()
    items = list(job.items or [])
    while job.processed < len(items):
        batch = items[job.processed : job.processed + BATCH_SIZE]
        for item in batch:
            try:
                with transaction.atomic():
                    spec.handle(item, job.params, clock_now())
            except ApplicationError as exc:
                job.refused += 1
                if len(job.refusals) < MAX_REFUSALS_LISTED:
                    job.refusals.append({"item": item, "message": exc.detail})
            except Exception as exc:  # a fault, not a refusal: stop and say so
                log.exception("job %s failed at item %s", job.pk, item)
                _finish(job, JobStatus.FAILED, clock_now(), error=f"item {item}: {exc.__class__.__name__}: {exc}")
                return True
            else:
                job.done += 1
        job.lease_until = clock_now() + LEASE
        job.save(update_fields=["done", "refused", "refusals", "lease_until"])
        if time.monotonic() - started >= run_seconds and job.processed < len(items):
            TrialJob.objects.filter(pk=job.pk).update(lease_until=None)  # the next run may start at once
            return False
    _finish(job, JobStatus.DONE, clock_now())
    return True


def _finish(job: TrialJob, status: str, now: dt.datetime, *, error: str = "") -> None:
    job.status, job.finished_at, job.lease_until, job.error = status, now, None, error[:2000]
    job.save(update_fields=["status", "finished_at", "lease_until", "error", "done", "refused", "refusals"])
    if status == JobStatus.FAILED:
        log.error("job %s (%s) failed: %s", job.pk, job.kind, error)
