"""Issue 14, "never lose input", on the timeline in a real browser: a refused delay comes back
in its row, open, with the reason the nurse typed and why it was refused next to it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User

from schedules.models import ScheduledEvent
from tests.e2e.conftest import admin_login
from tests.e2e.test_actual_dates import _shot
from tests.e2e.test_booking import _randomized_with_plan
from trialsite.models import Site, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_refused_delay_keeps_the_typed_reason(
    page: Any, live_server: Any, trial: Trial, site: Site, nurse: User
) -> None:
    participant = _randomized_with_plan(trial, site, nurse)
    cycle1 = ScheduledEvent.objects.get(participant=participant, kind="cycle_day1", phase="neoadjuvant", number=1)
    planned = cycle1.planned_date
    saturday = planned + dt.timedelta(days=(5 - planned.weekday()) % 7 or 7)
    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/schedules/treatmentplan/participant/{participant.pk}/timeline/")
    row = page.locator(f'#timeline tr:has(input[name="event"][value="{cycle1.pk}"])')
    row.locator("summary").first.click()
    delay = row.locator("form.delay-form")
    reason = "ANC 0.9 on the day before; repeat the count first"
    delay.locator('input[name="new_date"]').fill(saturday.isoformat())
    delay.locator('input[name="reason"]').fill(reason)
    delay.locator("input[type=submit]").click()
    page.wait_for_selector("#refused")
    row = page.locator(f'#timeline tr:has(input[name="event"][value="{cycle1.pk}"])')
    delay = row.locator("form.delay-form")
    assert delay.is_visible()  # the row is open again
    assert delay.locator('input[name="reason"]').input_value() == reason
    assert delay.locator('input[name="new_date"]').input_value() == saturday.isoformat()
    assert delay.locator(".refusal li").count() >= 1
    page.screenshot(path=str(_shot("timeline_refused_delay_keeps_input")), full_page=True)
    cycle1.refresh_from_db()
    assert cycle1.planned_date == planned and not cycle1.delayed
