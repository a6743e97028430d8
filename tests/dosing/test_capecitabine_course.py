"""Capecitabine's instructions agree everywhere (issue 13): evening of day 1 to morning of day 15,
28 administrations (Xeloda EU SmPC §4.2; shared/reference/capecitabine.md), said from the
protocol's first/last administration on the sheet, the PDF, the timeline, the calendar feed and
the reminders."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.test import Client
from django.utils import translation

from dosing import pdf, regimen
from reminders import services as reminder_services
from reminders.models import ReminderRule
from schedules import selectors
from schedules.models import ScheduledEvent
from schedules.services.plans import treatment_plan_create
from tests.dosing.conftest import NOW, SheetMaker, dose, record_inputs
from trialsite import i18n, protocol
from trialsite.errors import ProtocolDefinitionError
from trialsite.models import Participant

COURSE = {"first_day": 1, "first_time": "evening", "last_day": 15, "last_time": "morning", "administrations": 28}
EN = "from the evening of day 1 to the morning of day 15, 28 administrations"
ZH = "自第1天晚上至第15天早上，共28次"


def test_the_protocol_says_it_once_and_checks_the_count(patient: Participant) -> None:
    definition = patient.protocol_version.definition
    assert regimen.drug_spec(definition, "capecitabine").course == COURSE
    assert regimen.drug_spec(definition, "oxaliplatin").course is None
    text = protocol.read(protocol.SCHEMA_PATH.parent / "NCT06850103.yaml")
    text["drugs"]["capecitabine"]["administrations_per_cycle"] = 26
    with pytest.raises(ProtocolDefinitionError, match="does not match first/last administration"):
        protocol.parse(yaml.safe_dump(text, allow_unicode=True))


def test_sheet_pdf_timeline_feed_and_reminder_agree(
    patient: Participant, nurse: User, make_sheet: SheetMaker, client: Client
) -> None:
    plan = treatment_plan_create(participant=patient, scrt_start_date=dt.date(2026, 3, 2), by=nurse, now=NOW)
    event = ScheduledEvent.objects.get(participant=patient, phase="neoadjuvant", number=1, kind="cycle_day1")
    day1 = event.planned_date
    record_inputs(patient, on=day1 - dt.timedelta(days=2))
    sheet = make_sheet(patient, day1=day1)
    day15 = (day1 + dt.timedelta(days=14)).isoformat()

    # the sheet (JSON) and its PDF / screen rendering
    assert dose(sheet, "capecitabine")["course"] == COURSE
    assert dose(sheet, "capecitabine")["administrations_per_cycle"] == 28
    for language, words in (("en", EN), ("zh-hans", ZH)):
        with translation.override(language):
            assert words in pdf.render_sheet_html(sheet)
    # the plan's timeline and the calendar feed: the dates of day 1 and day 15
    oral = event.details["oral"][0]
    assert (oral["from"], oral["to"], oral["course"]) == (day1.isoformat(), day15, COURSE)
    with translation.override("en"):
        said = i18n.oral_course(oral)
        assert said == (
            f"capecitabine from the evening of day 1 ({day1.isoformat()}) to the morning of day 15 ({day15}), "
            "28 administrations"
        )
        client.force_login(nurse)
        page = client.get(
            f"/admin/schedules/treatmentplan/participant/{patient.pk}/timeline/", HTTP_ACCEPT_LANGUAGE="en"
        )
        assert page.status_code == 200 and said in page.content.decode()
        feed = selectors.feed_events([event], staff=True)
        assert said in feed[0].description
    # the reminder: sent the morning of day 15 (day 1 + 14, 08:00) and says so
    rule = ReminderRule.objects.get(trial=plan.participant.trial, oral_drug="capecitabine")
    assert (rule.days_from_event, rule.time_of_day) == (14, dt.time(8, 0))
    assert rule.name == "stop capecitabine after the morning dose of day 15"
    subject, body = reminder_services.reminder_preview(rule=rule, language="en")
    assert subject == "Today is day 15: last capecitabine dose this morning"
    assert "is day 15 of your cycle. Take your morning capecitabine dose" in body
    subject_zh, body_zh = reminder_services.reminder_preview(rule=rule, language="zh-hans")
    assert subject_zh == "今天是第15天：早上服用最后一次卡培他滨" and "本周期第15天" in body_zh
    with translation.override("zh-hans"):
        assert rule.display_name == "第15天早上服药后停用卡培他滨"


def test_a_reminder_is_rendered_from_the_plans_course(patient: Participant, nurse: Any) -> None:
    treatment_plan_create(participant=patient, scrt_start_date=dt.date(2026, 3, 2), by=nurse, now=NOW)
    event = ScheduledEvent.objects.get(participant=patient, phase="neoadjuvant", number=1, kind="cycle_day1")
    said = reminder_services._last_dose(
        reminder_services._event_courses(event, patient), "capecitabine", event.planned_date, "en"
    )
    assert said["last_day"] == 15 and said["last_time"] == "morning"
    assert said["last_date"] == event.planned_date + dt.timedelta(days=14)
