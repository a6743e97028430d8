"""The reminders' reactions to the registry's and the schedules' signals (connected in
RemindersConfig.ready). Both run inside the sender's transaction and never touch the broker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.dispatch import receiver
from django.utils.translation import gettext_noop, ngettext

from reminders import planning, services
from reminders.models import Reminder
from trialsite import clock
from trialsite.models import Participant
from trialsite.signals import participant_withdrawal_effects, participant_withdrawn, plan_changed


@receiver(plan_changed, dispatch_uid="reminders.sync")
def sync_reminders(
    sender: Any, participant: Participant, now: Any = None, events: Sequence[int] | None = None, **kwargs: Any
) -> None:
    services.reminders_sync(participant=participant, now=now or clock.now(), events=events)


@receiver(participant_withdrawn, dispatch_uid="reminders.cancel_at_withdrawal")
def cancel_reminders_at_withdrawal(sender: Any, participant: Participant, **kwargs: Any) -> None:
    services.reminders_cancel_for_participant(
        participant=participant,
        reason=gettext_noop("participant withdrawn"),
        by=None,  # a follow-up of a write its own service checked: the system
        now=participant.withdrawn_at or clock.now(),
    )


@receiver(participant_withdrawal_effects, dispatch_uid="reminders.withdrawal_effects")
def reminders_withdrawal_effects(sender: Any, participant: Participant, **kwargs: Any) -> list[str]:
    """What cancel_reminders_at_withdrawal would cancel."""
    n = Reminder.objects.filter(participant=participant, status__in=planning.CHANGEABLE).count()
    return [ngettext("%(n)s reminder not sent", "%(n)s reminders not sent", n) % {"n": n}]
