"""Reactions to the registry's signals (connected in SchedulesConfig.ready)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.dispatch import receiver

from schedules import services
from trialsite import clock
from trialsite.models import Participant
from trialsite.signals import participant_randomized, participant_withdrawn


@receiver(participant_randomized, dispatch_uid="schedules.plan_at_randomization")
def make_plan_at_randomization(
    sender: Any,
    participant: Participant,
    scrt_start_date: dt.date | None = None,
    now: dt.datetime | None = None,
    by: User | None = None,
    **kwargs: Any,
) -> None:
    """Inside the randomize transaction: a refused start date (e.g. a holiday) refuses the
    randomization with the next start date that works, rather than leaving a participant
    randomized without a plan. Without a date the nurse picks it later.

    The plan is made as the system (by=None): whoever may randomize may start the calendar."""
    if scrt_start_date is None:
        return
    plan = services.treatment_plan_create(
        participant=participant, scrt_start_date=scrt_start_date, by=None, now=now or clock.now()
    )
    if by is not None and plan.created_by_id is None:
        plan.created_by = by
        plan.save(update_fields=["created_by"])


@receiver(participant_withdrawn, dispatch_uid="schedules.stop_plan_at_withdrawal")
def stop_plan_at_withdrawal(sender: Any, participant: Participant, **kwargs: Any) -> None:
    services.treatment_plan_stop(
        participant=participant,
        reason=participant.withdrawal_reason or "withdrawn",
        by=None,  # a follow-up of a write its own service checked: the system
        now=participant.withdrawn_at or clock.now(),
    )
