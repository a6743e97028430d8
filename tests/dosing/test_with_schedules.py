"""Dosing against the real schedules app: the daily task finds the cycles through
schedules.selectors.cycle_visits, and a delayed cycle re-dates its sheet (cycle_rescheduled)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import time_machine
from django.utils import translation

from dosing import selectors, tasks, wording
from dosing.models import DoseSheet
from schedules.models import ScheduledEvent
from schedules.selectors import cycle_visits
from schedules.services.plans import event_delay, treatment_plan_create
from tests.dosing.conftest import NOW, record_inputs
from tests.support.i18n import english_words
from trialsite.models import Participant
from trialsite.phrases import english, is_phrase


def test_task_prepares_from_the_plan_and_a_delay_re_dates_the_sheet(patient: Participant, nurse: Any) -> None:
    treatment_plan_create(participant=patient, scrt_start_date=dt.date(2026, 3, 2), by=nurse, now=NOW)
    first = next(
        v for v in cycle_visits(participant_ids=[patient.pk]) if (v.phase, v.cycle_number) == ("neoadjuvant", 1)
    )
    # a week before that day 1, with fresh measurements and labs
    on = first.day1 - dt.timedelta(days=3)
    record_inputs(patient, on=on)
    moment = dt.datetime.combine(on, dt.time(2, 0), tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=False):
        counts = tasks.prepare_due_dose_sheets()
        assert counts["prepared"] == 1
        sheet = DoseSheet.objects.get()
        assert (sheet.phase, sheet.cycle_number, sheet.day1) == ("neoadjuvant", 1, first.day1)

        event = ScheduledEvent.objects.get(participant=patient, phase="neoadjuvant", number=1, kind="cycle_day1")
        new_day1 = first.day1 + dt.timedelta(days=1)
        while new_day1.weekday() >= 5:
            new_day1 += dt.timedelta(days=1)
        event_delay(event=event, reason="patient request", by=nurse, now=moment, new_date=new_day1)

    sheet.refresh_from_db()
    assert sheet.status == "void" and "re-dated" in english(sheet.end_reason)
    current = selectors.current_sheet(participant_id=patient.pk, phase="neoadjuvant", cycle_number=1)
    assert current is not None and current.day1 == new_day1 and current.version == 2


def test_a_moved_booking_that_cannot_be_prepared_says_why_in_the_readers_language(
    patient: Participant, nurse: Any
) -> None:
    treatment_plan_create(participant=patient, scrt_start_date=dt.date(2026, 3, 2), by=nurse, now=NOW)
    first = next(
        v for v in cycle_visits(participant_ids=[patient.pk]) if (v.phase, v.cycle_number) == ("neoadjuvant", 1)
    )
    on = first.day1 - dt.timedelta(days=3)
    record_inputs(patient, on=on)
    moment = dt.datetime.combine(on, dt.time(2, 0), tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=False):
        tasks.prepare_due_dose_sheets()
        sheet = DoseSheet.objects.get()
        event = ScheduledEvent.objects.get(participant=patient, phase="neoadjuvant", number=1, kind="cycle_day1")
        # two weeks later: the measurements are older than the protocol's 7 days
        new_day1 = first.day1 + dt.timedelta(days=14)
        while new_day1.weekday() >= 5:
            new_day1 += dt.timedelta(days=1)
        with translation.override("zh-hans"):  # the nurse who moves it reads Chinese
            event_delay(event=event, reason="patient request", by=nurse, now=moment, new_date=new_day1)

    sheet.refresh_from_db()
    assert sheet.status == "void"
    assert selectors.current_sheet(participant_id=patient.pk, phase="neoadjuvant", cycle_number=1) is None
    assert is_phrase(sheet.end_reason)  # stored as a phrase, whatever the reader's language
    assert "No height measured" in english(sheet.end_reason)
    with translation.override("zh-hans"):
        chinese = wording.end_reason(sheet.end_reason)
    assert "身高" in chinese and english_words(chinese) == set(), chinese
    with translation.override("en"):
        assert "No height measured" in wording.end_reason(sheet.end_reason)
