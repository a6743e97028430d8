"""Issue 14, "deliberate and correctable", in a real browser: recording an actual date has no
default and first shows what it moves; a wrong date is corrected by the nurse with a reason
while nothing rests on it, afterwards the nurse is told that only an investigator can."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from schedules.models import ScheduledEvent
from tests.e2e.conftest import admin_login
from tests.e2e.test_booking import _randomized_with_plan
from trialsite.models import Participant, Site, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _open_row(page: Any, event: ScheduledEvent) -> Any:
    row = page.locator(f'#timeline tr:has(input[name="event"][value="{event.pk}"])')
    row.locator("summary").first.click()
    return row


def _actual_form(row: Any) -> Any:
    return row.locator('form:has(input[name="action"][value="actual"])')


def test_actual_date_is_confirmed_then_corrected_with_a_reason(
    page: Any, live_server: Any, trial: Trial, site: Site, nurse: User
) -> None:
    participant = _randomized_with_plan(trial, site, nurse)
    first = ScheduledEvent.objects.get(participant=participant, kind="scrt_fraction", number=1)
    second = ScheduledEvent.objects.get(participant=participant, kind="scrt_fraction", number=2)
    today = timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    timeline = f"{live_server.url}/admin/schedules/treatmentplan/participant/{participant.pk}/timeline/"

    admin_login(page, live_server, "nurse")
    page.goto(timeline)
    row = _open_row(page, first)
    date_input = _actual_form(row).locator('input[name="actual_date"]')
    # No default: the nurse types the date.
    assert date_input.input_value() == ""
    date_input.fill(today.isoformat())
    _actual_form(row).locator("input[type=submit]").click()

    page.wait_for_selector("#moves")
    page.screenshot(path=str(_shot("actual_date_confirmation")), full_page=True)
    moves = page.inner_text("#moves")
    assert second.planned_date.isoformat() in moves  # fraction 2 leaves its planned day
    assert page.locator("#starts-treatment").count() == 1
    first.refresh_from_db()
    assert first.actual_date is None  # nothing recorded before confirming

    page.click('input[name="confirm_submit"]')
    page.wait_for_selector("#timeline")
    first.refresh_from_db()
    assert first.actual_date == today
    assert Participant.objects.get(pk=participant.pk).status == "on_treatment"

    # The date was wrong: the nurse corrects it, with a reason.
    row = page.locator(f'#timeline tr:has(input[name="event"][value="{first.pk}"])')
    row.locator("details.correct-actual summary").click()
    form = _actual_form(row)
    form.locator('input[name="actual_date"]').fill(yesterday.isoformat())
    form.locator('input[name="reason"]').fill("录入错误：实际为前一天")
    form.locator("input[type=submit]").click()
    page.wait_for_selector("#what")
    assert today.isoformat() in page.inner_text("#what") and yesterday.isoformat() in page.inner_text("#what")
    assert page.input_value("#id_reason") == "录入错误：实际为前一天"
    page.screenshot(path=str(_shot("actual_date_correction_confirmation")), full_page=True)
    page.click('input[name="confirm_submit"]')
    page.wait_for_selector("#timeline")
    first.refresh_from_db()
    assert first.actual_date == yesterday
    assert first.history.filter(history_change_reason="录入错误：实际为前一天").exists()

    # Once fraction 2 was given, the nurse can no longer correct fraction 1.
    second.refresh_from_db()
    row = _open_row(page, second)
    _actual_form(row).locator('input[name="actual_date"]').fill(today.isoformat())
    _actual_form(row).locator("input[type=submit]").click()
    # On a working day fraction 2 is planned today now: nothing moves, no confirmation step
    # (over a weekend it may still move the later ones, then it asks).
    page.wait_for_selector('.messagelist .success, input[name="confirm_submit"]')
    if page.locator('input[name="confirm_submit"]').count():
        page.click('input[name="confirm_submit"]')
        page.wait_for_selector(".messagelist .success")
    second.refresh_from_db()
    assert second.actual_date == today
    row = page.locator(f'#timeline tr:has(input[name="event"][value="{first.pk}"])')
    row.locator("details.correct-actual summary").click()
    form = _actual_form(row)
    form.locator('input[name="actual_date"]').fill((yesterday - dt.timedelta(days=1)).isoformat())
    form.locator('input[name="reason"]').fill("再次更正")
    form.locator("input[type=submit]").click()
    # Refused: the row comes back open with the typed date and why, next to the form (issue 14).
    page.wait_for_selector("#refused")
    assert "研究者" in page.inner_text(".refusal")
    first.refresh_from_db()
    assert first.actual_date == yesterday

    # The event's history: who corrected it, when (Shanghai time), why, from what to what; no revert.
    page.goto(f"{live_server.url}/admin/schedules/scheduledevent/{first.pk}/history/")
    page.wait_for_selector("#change-history")
    table = page.inner_text("#change-history")
    assert "录入错误：实际为前一天" in table and "nurse" in table and "系统" in table
    assert today.isoformat() in table and yesterday.isoformat() in table
    assert "Deleted user" not in table and page.locator('input[name="_save"]').count() == 0
    page.screenshot(path=str(_shot("actual_date_history")), full_page=True)


def _shot(name: str) -> Any:
    from tests.e2e.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
