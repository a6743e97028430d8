"""Fixtures of the export tests: a small world at two sites (participants randomized through
the randomization service, a plan, a booking, a released dose sheet and a sent reminder)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User

from dosing import services as dosing
from randomization import services as rs
from reminders.models import Reminder
from schedules.models import ScheduledEvent
from schedules.services.bookings import booking_create
from schedules.services.plans import treatment_plan_create
from tests.factories import record_labs
from tests.randomization.conftest import NOW, make_eligible, scheme, trial_definition  # noqa: F401 (fixtures)
from tests.support.signatures import signed
from trialsite import services
from trialsite.models import Participant, Site, Trial

SCRT_START = dt.date(2026, 3, 4)


@pytest.fixture
def world(
    trial: Trial,
    site: Site,
    other_site: Site,
    nurse: User,
    other_nurse: User,
    pharmacist: User,
    pharmacist2: User,
    scheme: Any,  # noqa: F811
    make_eligible: Any,  # noqa: F811
) -> dict[str, Any]:
    """Two randomized participants at ZJU1 (one with a plan, booking, released sheet and sent
    reminder) and one at NBH2."""
    ours = [make_eligible(site=site, by=nurse) for _ in range(2)]
    theirs = make_eligible(site=other_site, by=other_nurse)
    Participant.objects.filter(pk=theirs.pk).update(screening_number="NBH2-HIDDEN")
    for p in [*ours, theirs]:
        rs.participant_randomize(
            participant=p,
            by=nurse if p.site == site else other_nurse,
            now=NOW,
            signature=signed(nurse if p.site == site else other_nurse, "randomize", at=NOW),
        )
    first = Participant.objects.get(pk=ours[0].pk)
    treatment_plan_create(participant=first, scrt_start_date=SCRT_START, by=nurse, now=NOW)
    cycle1 = ScheduledEvent.objects.get(participant=first, kind="cycle_day1", phase="neoadjuvant", number=1)
    booking = booking_create(event=cycle1, date=cycle1.planned_date, time=dt.time(9, 30), by=nurse, today=NOW.date())
    day = NOW.date()
    services.measurement_record(participant=first, kind="height", value="170", measured_on=day, by=None, today=day)
    record_labs(first, {"anc": "2.0", "platelets": "150"}, on=day)
    sheet = dosing.dose_sheet_prepare(
        by=None, participant=first, phase="neoadjuvant", cycle_number=1, day1=day + dt.timedelta(days=1), now=NOW
    )
    dosing.dose_sheet_verify(sheet=sheet, by=pharmacist, now=NOW, signature=signed(pharmacist, "verify_sheet", at=NOW))
    sheet = dosing.dose_sheet_release(
        sheet=sheet,
        by=pharmacist2,
        now=NOW + dt.timedelta(hours=1),
        signature=signed(pharmacist2, "release_sheet", at=NOW + dt.timedelta(hours=1)),
    )
    reminder = Reminder.objects.filter(participant=first).order_by("send_at").first()
    assert reminder is not None
    Reminder.objects.filter(pk=reminder.pk).update(status="sent", sent_at=reminder.send_at, attempts=1)
    return {
        "ours": [Participant.objects.get(pk=p.pk) for p in ours],
        "theirs": Participant.objects.get(pk=theirs.pk),
        "event": cycle1,
        "booking": booking,
        "sheet": sheet,
        "reminder": Reminder.objects.get(pk=reminder.pk),
    }
