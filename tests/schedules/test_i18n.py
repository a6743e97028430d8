"""Event names in the reader's language: made when read (never stored), so the same event is
Chinese in a Chinese participant's SMS and English in an English one's, and in the calendar feed
of a Chinese-speaking nurse."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import pytest
import time_machine
from django.utils import translation
from icalendar import Calendar

from reminders import digests
from reminders import services as reminder_services
from reminders.models import Reminder, ReminderRule
from schedules.models import EventKind, ScheduledEvent, TreatmentPlan
from tests.schedules.conftest import NOW
from trialsite.i18n import phase_name, translate_stored
from trialsite.models import Participant, StaffProfile
from trialsite.transports import OutgoingMessage

# Every English word a phase code or an event name can bring into a message.
ENGLISH_EVENT_WORDS = re.compile(r"neoadjuvant|adjuvant|scrt|cycle|labs|fraction|follow-up|surgery|restaging", re.I)


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


class Transport:
    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> str:
        self.sent.append(message)
        return f"id-{len(self.sent)}"


def _send_first(plan: TreatmentPlan, kind: str, *, phase: str = "neoadjuvant") -> OutgoingMessage:
    """Dispatch and send the participant's first reminder of the first `kind` event (SMS)."""
    event = ScheduledEvent.objects.filter(plan=plan, kind=kind, phase=phase).order_by("order").first()
    assert event is not None
    row = Reminder.objects.filter(event=event, status="pending", channel="sms").order_by("send_at").first()
    assert row is not None, f"no SMS reminder for {event}"
    published: list[int] = []

    def enqueue(ids: Sequence[int]) -> int:
        published.extend(ids)
        return len(ids)

    with time_machine.travel(row.send_at, tick=False):
        reminder_services.reminders_dispatch(now=row.send_at, enqueue=enqueue)
        transport = Transport()
        outcome = reminder_services.reminders_send(
            reminder_ids=[row.pk], now=lambda: row.send_at, get_transport=lambda channel: transport
        )[row.pk]
    assert outcome.status == "sent", outcome
    [message] = transport.sent
    return message


@pytest.mark.parametrize("kind", [EventKind.CYCLE_DAY1, EventKind.PRE_CYCLE_LABS])
def test_a_chinese_sms_for_a_cycle_visit_names_the_phase_in_chinese(plan: TreatmentPlan, kind: str) -> None:
    # given a participant who reads Simplified Chinese
    Participant.objects.filter(pk=plan.participant_id).update(preferred_language="zh-hans")
    # when the reminder of their first neoadjuvant cycle visit is sent
    message = _send_first(plan, kind)
    # then it says "新辅助治疗第1周期…" and no English phase or event word
    assert "新辅助治疗第1周期" in message.body
    assert not ENGLISH_EVENT_WORDS.search(message.subject + message.body), message.body


def test_an_english_sms_keeps_the_english_event_name(plan: TreatmentPlan) -> None:
    Participant.objects.filter(pk=plan.participant_id).update(preferred_language="en")
    message = _send_first(plan, EventKind.CYCLE_DAY1)
    assert "your neoadjuvant C1 cycle day 1 is on" in message.body


@pytest.mark.parametrize(
    ("kind", "phase", "number", "english", "chinese"),
    [
        (EventKind.CYCLE_DAY1, "neoadjuvant", 2, "neoadjuvant C2 cycle day 1", "新辅助治疗第2周期第1天"),
        (EventKind.PRE_CYCLE_LABS, "adjuvant", 3, "adjuvant C3 pre-cycle labs", "辅助治疗第3周期治疗前检验"),
        (EventKind.SCRT_FRACTION, "scrt", 4, "SCRT fraction 4", "短程放疗第4次"),
        (EventKind.FOLLOW_UP, "", 5, "follow-up visit 5", "第5次随访"),
        (EventKind.SURGERY, "surgery", 1, "surgery", "手术"),
        (EventKind.RESTAGING, "neoadjuvant", 1, "restaging", "再分期"),
    ],
)
def test_event_labels_are_made_in_the_readers_language(
    kind: str, phase: str, number: int, english: str, chinese: str
) -> None:
    event = ScheduledEvent(kind=kind, phase=phase, number=number)
    with translation.override("en"):
        assert event.label == english
    with translation.override("zh-hans"):
        assert event.label == chinese


def test_every_phase_of_the_protocol_has_a_chinese_name(trial: Any) -> None:
    codes = {p["code"] for p in trial.definition["phases"]}
    assert all(p.get("label") and p.get("label_zh") for p in trial.definition["phases"])
    with translation.override("zh-hans"):
        assert all(re.search(r"[\u4e00-\u9fff]", phase_name(c)) for c in codes)


def test_the_staff_calendar_feed_is_in_its_owners_language(plan: TreatmentPlan, nurse: Any, api: Any) -> None:
    # given a nurse who reads Chinese and her secret feed URL (calendar apps send no language)
    StaffProfile.objects.create(user=nurse, language="zh-hans")
    with time_machine.travel(NOW, tick=False):
        url = api(nurse).post("/api/v1/calendar-feeds/").json()["url"]
        # when the calendar app fetches it
        body = api(None).get(url).content
    # then the events read in Chinese, drugs included
    calendar = Calendar.from_ical(body)
    summaries = [str(c["SUMMARY"]) for c in calendar.walk("VEVENT")]
    descriptions = " ".join(str(c.get("DESCRIPTION", "")) for c in calendar.walk("VEVENT"))
    assert any("新辅助治疗第1周期第1天" in s for s in summaries), summaries
    assert not any(ENGLISH_EVENT_WORDS.search(s) for s in summaries)
    assert "窗口期" in descriptions and "卡培他滨" in descriptions and "capecitabine" not in descriptions


def test_the_pharmacist_digest_names_the_phase_in_the_pharmacists_language(
    plan: TreatmentPlan, pharmacist: Any, now: dt.datetime
) -> None:
    from dosing import services as dosing
    from tests.dosing.conftest import record_inputs

    StaffProfile.objects.create(user=pharmacist, language="zh-hans")
    pharmacist.email = "pharma@example.org"
    pharmacist.save(update_fields=["email"])
    record_inputs(plan.participant)
    dosing.dose_sheet_prepare(
        by=None, participant=plan.participant, phase="neoadjuvant", cycle_number=1, day1=dt.date(2026, 3, 5), now=now
    )
    outbox = Transport()
    tuesday_0900 = dt.datetime(2026, 3, 3, 1, 0, tzinfo=dt.UTC)
    with time_machine.travel(tuesday_0900, tick=False):
        digests.digests_send_due(now=tuesday_0900, get_transport=lambda channel: outbox)
    [message] = [m for m in outbox.sent if m.to == "pharma@example.org"]
    assert f"{plan.participant} 新辅助治疗 C1 第1天 2026-03-05" in message.body
    assert "neoadjuvant" not in message.body


def test_default_rule_names_and_cancel_reasons_are_stored_in_english_and_read_in_chinese(
    plan: TreatmentPlan,
) -> None:
    rule = ReminderRule.objects.get(trial=plan.participant.trial, name="cycle day 1, 3 days before")
    with translation.override("zh-hans"):
        assert rule.display_name == "周期第1天前3天"
        assert translate_stored("visit moved") == "访视已改期"  # a reminder's cancel reason
    with translation.override("en"):
        assert rule.display_name == "cycle day 1, 3 days before"
