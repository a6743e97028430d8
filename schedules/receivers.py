"""Reactions to the registry's signals (connected in SchedulesConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.utils.translation import gettext_noop, ngettext

from schedules.services.plans import treatment_plan_stop
from trialsite import clock, phrases
from trialsite.models import Participant
from trialsite.signals import participant_withdrawal_effects, participant_withdrawn


@receiver(participant_withdrawn, dispatch_uid="schedules.stop_plan_at_withdrawal")
def stop_plan_at_withdrawal(sender: Any, participant: Participant, **kwargs: Any) -> None:
    treatment_plan_stop(
        participant=participant,
        reason=_stop_reason(participant),
        by=None,  # a follow-up of a write its own service checked: the system
        now=participant.withdrawn_at or clock.now(),
    )


def _stop_reason(participant: Participant) -> phrases.Phrase:
    """Why the plan stopped: the registry's stored phrase of the withdrawal (a typed reason, or its
    own "died"), else "withdrawn"."""
    stored = participant.withdrawal
    if isinstance(stored, dict) and phrases.is_phrase(stored):
        return dict(stored)
    return phrases.phrase(gettext_noop("withdrawn"))


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
