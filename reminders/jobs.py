"""The reminders' background job (trialsite.jobs): after a rule changed, every participant with an
active plan gets their reminders re-computed, in batches on the worker (48,000 statements at
10,000 participants were one request before)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_noop

from schedules import selectors
from trialsite import jobs
from trialsite.models import Participant, TrialJob

REMINDERS_RESYNC = "reminders_resync"


def _participants(params: Mapping[str, Any]) -> list[int]:
    return list(selectors.participants_with_active_plan(int(params["trial"])).values_list("pk", flat=True))


def _sync(participant_id: int, params: Mapping[str, Any], now: dt.datetime) -> None:
    from reminders.services import reminders_sync

    participant = Participant.objects.filter(pk=participant_id).first()
    if participant is not None:
        reminders_sync(participant=participant, now=now)


def reminders_resync_start(*, trial_id: int, now: dt.datetime) -> TrialJob:
    """Queue the re-sync of the trial's reminders (the system acts: the rule's change was checked
    by the service that saved it)."""
    return jobs.job_start(kind=REMINDERS_RESYNC, params={"trial": trial_id}, by=None, now=now)


jobs.register(
    REMINDERS_RESYNC,
    label=gettext_noop("Re-compute every participant's reminders after a reminder rule changed"),
    items=_participants,
    handle=_sync,
)
