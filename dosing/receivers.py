"""Reactions to the registry's and the schedules app's signals (trialsite/signals.py). They run
inside the sender's transaction; a sheet that cannot be re-prepared is voided and logged, never
allowed to break the sender's write."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.dispatch import receiver
from django.utils.translation import gettext_noop, ngettext

from dosing import services
from trialsite import clock
from trialsite.models import Participant
from trialsite.phrases import code, phrase
from trialsite.signals import (
    clinical_data_recorded,
    cycle_rescheduled,
    participant_withdrawal_effects,
    participant_withdrawn,
)

# Why a sheet was voided or superseded, stored as a phrase (dosing.wording says it on display).
END_NEW_RECORD = gettext_noop("new %(kind)s recorded")
END_ENTERED_IN_ERROR = gettext_noop("%(kind)s entered in error")
END_REDATED = gettext_noop("cycle re-dated to %(date)s")


@receiver(clinical_data_recorded, dispatch_uid="dosing.clinical_data_recorded")
def on_clinical_data_recorded(sender: Any, participant: Participant, kind: str, record: Any, **kwargs: Any) -> None:
    # A new (or withdrawn) weight, height or lab changes the inputs of the sheets of cycles that
    # have not started yet; sheets whose inputs did not change stay as they are (fingerprint).
    services.dose_sheets_refresh(
        participant=participant,
        reason=phrase(
            END_ENTERED_IN_ERROR if getattr(record, "entered_in_error", False) else END_NEW_RECORD,
            kind=code("recorded_data", kind),
        ),
        by=None,  # a follow-up of a write its own service checked: the system
        now=clock.now(),
        day1_from=clock.today(),
    )


@receiver(cycle_rescheduled, dispatch_uid="dosing.cycle_rescheduled")
def on_cycle_rescheduled(
    sender: Any, participant: Participant, phase: str, cycle_number: int, day1: dt.date, **kwargs: Any
) -> None:
    services.dose_sheets_refresh(
        participant=participant,
        reason=phrase(END_REDATED, date=day1.isoformat()),
        by=None,  # a follow-up of a write its own service checked: the system
        now=clock.now(),
        only=(phase, cycle_number),
        new_day1=day1,
    )


@receiver(participant_withdrawn, dispatch_uid="dosing.participant_withdrawn")
def on_participant_withdrawn(sender: Any, participant: Participant, **kwargs: Any) -> None:
    services.dose_sheets_void_for_withdrawal(participant=participant, by=None, now=clock.now())  # the system


@receiver(participant_withdrawal_effects, dispatch_uid="dosing.withdrawal_effects")
def withdrawal_effects(sender: Any, participant: Participant, **kwargs: Any) -> list[str]:
    """What on_participant_withdrawn would void (released sheets stay: the drugs were made)."""
    from dosing.models import UNRELEASED_STATUSES, DoseSheet

    n = DoseSheet.objects.filter(participant=participant, status__in=UNRELEASED_STATUSES).count()
    return [ngettext("%(n)s unreleased dose sheet voided", "%(n)s unreleased dose sheets voided", n) % {"n": n}]
