from celery import shared_task

from trialsite import clock
from trialsite.models import WorkerHeartbeat


@shared_task(name="trialsite.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Beat → worker → database: /healthz shows how long ago the background machinery last ran."""
    WorkerHeartbeat.objects.update_or_create(pk=1, defaults={"seen_at": clock.now()})
