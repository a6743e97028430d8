"""Periodic preparation of the dose sheets of cycles whose day 1 nears (beat: daily, see
CELERY_BEAT_SCHEDULE in trialsite/settings.py)."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.utils.translation import gettext_noop

from dosing import regimen, services
from dosing.models import CURRENT_STATUSES, DoseSheet
from schedules import selectors as schedule_selectors
from trialsite import clock
from trialsite.errors import ApplicationError
from trialsite.models import Participant, ProtocolVersion
from trialsite.phrases import phrase

logger = logging.getLogger(__name__)

SKIPPED_VISIT_STATUSES = frozenset({"cancelled", "done"})


def _lead_days() -> int:
    """The longest `dosing.prepare_days_before_day1` of the loaded protocols (default 7)."""
    leads = [
        regimen.dosing_settings(definition).prepare_days_before_day1
        for definition in ProtocolVersion.objects.values_list("definition", flat=True)
    ]
    return max(leads, default=regimen.DEFAULTS["prepare_days_before_day1"])


def prepare_due(*, today: dt.date, now: dt.datetime) -> dict[str, int]:
    """Prepare the sheet of every planned or booked cycle visit whose day 1 is within the lead
    time and that has no current sheet for that day 1. Idempotent: running it twice prepares
    nothing new (dose_sheet_prepare returns an unchanged sheet). One transaction per visit, so a
    participant whose inputs are missing does not stop the others."""
    visits = schedule_selectors.cycle_visits(day1_from=today, day1_to=today + dt.timedelta(days=_lead_days()))
    counts = {"visits": len(visits), "prepared": 0, "unchanged": 0, "failed": 0, "skipped": 0}
    current = {
        (pid, phase, number, day1): version
        for pid, phase, number, day1, version in DoseSheet.objects.filter(
            participant_id__in={v.participant_id for v in visits}, status__in=CURRENT_STATUSES
        ).values_list("participant_id", "phase", "cycle_number", "day1", "version")
    }
    participants = Participant.objects.select_related("protocol_version", "site", "trial").in_bulk(
        {v.participant_id for v in visits}
    )
    for visit in visits:
        participant = participants.get(visit.participant_id)
        if visit.status in SKIPPED_VISIT_STATUSES or participant is None or not participant.arm:
            counts["skipped"] += 1
            continue
        lead = regimen.dosing_settings(participant.protocol_version.definition).prepare_days_before_day1
        if (visit.day1 - today).days > lead:
            counts["skipped"] += 1
            continue
        if (visit.participant_id, visit.phase, visit.cycle_number, visit.day1) in current:
            counts["unchanged"] += 1
            continue
        try:
            services.dose_sheet_prepare(
                participant=participant,
                phase=visit.phase,
                cycle_number=visit.cycle_number,
                day1=visit.day1,
                by=None,  # the daily task: the system
                now=now,
                reason=phrase(gettext_noop("prepared by the daily task")),
            )
            counts["prepared"] += 1
        except ApplicationError as exc:
            counts["failed"] += 1
            logger.warning(
                "dose sheet for participant %s %s cycle %s not prepared: %s",
                visit.participant_id,
                visit.phase,
                visit.cycle_number,
                exc.detail,
            )
    return counts


@shared_task(name="dosing.tasks.prepare_due_dose_sheets", ignore_result=True)
def prepare_due_dose_sheets() -> dict[str, int]:
    """Beat entry: reads the clock once and passes it down."""
    counts = prepare_due(today=clock.today(), now=clock.now())
    logger.info("dose sheets due: %s", counts)
    return counts
