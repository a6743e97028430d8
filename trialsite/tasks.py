from celery import shared_task

from trialsite import clock
from trialsite.models import WorkerHeartbeat


@shared_task(name="trialsite.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Beat → worker → database: /healthz shows how long ago the background machinery last ran."""
    WorkerHeartbeat.objects.update_or_create(pk=1, defaults={"seen_at": clock.now()})


@shared_task(name="trialsite.tasks.job_run", ignore_result=True)
def job_run(job_id: int) -> None:
    """Work on a background job for up to a minute, then queue the rest (trialsite.jobs)."""
    from trialsite import jobs

    if not jobs.job_run(job_id, clock_now=clock.now):
        job_run.delay(job_id)
