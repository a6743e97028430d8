"""Reactions to the registry's signals (connected in SchedulesConfig.ready)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.dispatch import receiver
from django.utils.translation import gettext_noop, ngettext

from schedules.services.plans import treatment_plan_create, treatment_plan_stop
from trialsite import clock, phrases
from trialsite.models import Participant, ParticipantStatus
from trialsite.signals import participant_randomized, participant_withdrawal_effects, participant_withdrawn


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
    plan = treatment_plan_create(
        participant=participant, scrt_start_date=scrt_start_date, by=None, now=now or clock.now()
    )
    if by is not None and plan.created_by_id is None:
        plan.created_by = by
        plan.save(update_fields=["created_by"])


@receiver(participant_withdrawn, dispatch_uid="schedules.stop_plan_at_withdrawal")
def stop_plan_at_withdrawal(sender: Any, participant: Participant, **kwargs: Any) -> None:
    treatment_plan_stop(
        participant=participant,
        reason=_stop_reason(participant),
        by=None,  # a follow-up of a write its own service checked: the system
        now=participant.withdrawn_at or clock.now(),
    )


def _stop_reason(participant: Participant) -> phrases.Phrase:
    """Why the plan stopped, as a stored phrase: the reason a person typed is shown as typed; the
    registry's own word for a death without a note ("died", trialsite.services
    participant_record_death) is its message id. When the registry stores its reasons as phrases,
    they are passed through and this goes."""
    reason = participant.withdrawal_reason
    if not reason:
        return phrases.phrase(gettext_noop("withdrawn"))
    if participant.status == ParticipantStatus.DECEASED and reason == "died":
        return phrases.phrase(gettext_noop("died"))
    return phrases.typed(reason)


@receiver(participant_withdrawal_effects, dispatch_uid="schedules.withdrawal_effects")
def withdrawal_effects(sender: Any, participant: Participant, **kwargs: Any) -> list[str]:
    """What stop_plan_at_withdrawal would cancel (the same rows treatment_plan_stop takes)."""
    from schedules.models import Booking, BookingStatus, EventStatus, ScheduledEvent

    events = ScheduledEvent.objects.filter(
        participant=participant, plan__status="active", status__in=[EventStatus.PLANNED, EventStatus.BOOKED]
    ).count()
    bookings = Booking.objects.filter(
        participant=participant, event__plan__status="active", status=BookingStatus.ACTIVE
    ).count()
    return [
        ngettext("%(n)s planned visit cancelled", "%(n)s planned visits cancelled", events) % {"n": events},
        ngettext("%(n)s booking cancelled", "%(n)s bookings cancelled", bookings) % {"n": bookings},
    ]
