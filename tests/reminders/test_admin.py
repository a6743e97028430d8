"""The reminders in the admin: site-scoped list, resend of failed ones, rule preview and editing."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.test import Client

from reminders.models import Reminder, ReminderRule
from schedules.models import TreatmentPlan
from tests.schedules.conftest import NOW


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _client(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_nurses_see_their_sites_reminders_only(plan: TreatmentPlan, nurse: Any, other_nurse: Any) -> None:
    url = "/admin/reminders/reminder/"
    mine = _client(nurse).get(url)
    assert mine.status_code == 200
    assert str(plan.participant) in mine.content.decode()
    theirs = _client(other_nurse).get(url)
    assert theirs.status_code == 200 and str(plan.participant) not in theirs.content.decode()
    row = Reminder.objects.filter(participant=plan.participant).first()
    assert row is not None
    assert _client(other_nurse).get(f"{url}{row.pk}/change/").status_code in (302, 404)


def test_resend_puts_a_failed_reminder_back(plan: TreatmentPlan, nurse: Any) -> None:
    failed, sent = Reminder.objects.filter(participant=plan.participant, status="pending").order_by("send_at")[:2]
    Reminder.objects.filter(pk=failed.pk).update(status="failed", attempts=5, last_error="550 no such user")
    Reminder.objects.filter(pk=sent.pk).update(status="sent", sent_at=NOW)

    response = _client(nurse).post(
        "/admin/reminders/reminder/",
        {"action": "resend", "_selected_action": [failed.pk, sent.pk]},
        follow=True,
    )

    assert response.status_code == 200
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts, failed.due_at) == ("pending", 0, NOW)
    assert sent.status == "sent"


def test_rule_page_previews_both_languages_and_saving_recomputes(
    plan: TreatmentPlan, nurse: Any, investigator: Any
) -> None:
    rule = ReminderRule.objects.get(trial=plan.participant.trial, name="cycle day 1, 1 day before")
    url = f"/admin/reminders/reminderrule/{rule.pk}/change/"

    page = _client(nurse).get(url)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Sample Hospital" in html and "示例医院" in html and "08:30" in html

    data = {
        "trial": rule.trial_id,
        "name": rule.name,
        "event_kind": rule.event_kind,
        "event_number": "",
        "oral_drug": "",
        "days_from_event": -2,
        "time_of_day": "18:00",
        "channel": "preferred",
        "template": "visit",
        "grace_minutes": 360,
        "max_attempts": 5,
        "active": "on",
    }
    # A rule is a trial-wide setting: a site's nurse reads it, the investigator changes it (issue 12 §7).
    assert _client(nurse).post(url, data).status_code == 403
    assert ReminderRule.objects.get(pk=rule.pk).days_from_event == rule.days_from_event
    response = _client(investigator).post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    live = Reminder.objects.filter(rule=rule).exclude(status="cancelled")
    assert live.exists()
    # 18:00 two days before, Shanghai = 10:00 UTC.
    assert {(r.event_date - r.send_at.date()).days for r in live} == {2}
    assert {r.send_at.hour for r in live} == {10}


def test_a_reminder_page_edits_nothing(plan: TreatmentPlan, nurse: Any) -> None:
    row = Reminder.objects.filter(participant=plan.participant).first()
    assert row is not None
    url = f"/admin/reminders/reminder/{row.pk}/change/"
    page = _client(nurse).get(url)
    assert page.status_code == 200
    html = page.content.decode()
    # channel and cancel reason are shown (translated), never as inputs
    assert 'name="channel"' not in html and 'name="cancel_reason"' not in html
    _client(nurse).post(url, {"channel": "email" if row.channel != "email" else "sms", "cancel_reason": "x"})
    changed = Reminder.objects.get(pk=row.pk)
    assert (changed.channel, changed.cancel_reason) == (row.channel, row.cancel_reason)
