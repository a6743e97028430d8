"""Issue 14: a withdrawal in a real browser first says what it stops (counted from the data) and
asks for the reason, which is stored as typed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from schedules.models import Booking, ScheduledEvent
from schedules.services.bookings import booking_create
from tests.e2e.conftest import ARTIFACTS, admin_login
from tests.e2e.test_booking import _randomized_with_plan
from trialsite.models import Participant, Site, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REASON = "患者撤回知情同意（电话告知）"


def test_withdrawal_shows_what_stops_and_keeps_the_reason(
    page: Any, live_server: Any, trial: Trial, site: Site, nurse: User, api_client_user: User
) -> None:
    participant = _randomized_with_plan(trial, site, nurse)
    c1 = ScheduledEvent.objects.get(participant=participant, kind="cycle_day1", phase="neoadjuvant", number=1)
    booking_create(event=c1, date=c1.planned_date, time=dt.time(9), by=api_client_user, today=timezone.localdate())

    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/trialsite/participant/")
    page.check(f'input[name="_selected_action"][value="{participant.pk}"]')
    page.select_option('select[name="action"]', "withdraw_selected")
    page.click('button[name="index"]')
    page.wait_for_selector("#effects")
    effects = page.inner_text("#effects")
    assert participant.screening_number in effects and "1 个预约" in effects
    assert Participant.objects.get(pk=participant.pk).status == "randomized"
    page.fill("#id_withdrawal_reason", REASON)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "withdrawal_confirmation.png"), full_page=True)
    page.click('input[name="confirm_submit"]')
    page.wait_for_selector(".messagelist .success")

    participant.refresh_from_db()
    assert participant.status == "withdrawn" and participant.withdrawal_reason == REASON
    assert not Booking.objects.filter(participant=participant, status="active").exists()
    page.goto(f"{live_server.url}/admin/trialsite/participant/{participant.pk}/change/")
    assert REASON in page.inner_text("#content-main")
