"""Issue 13, calendar edges in the browser: a cycle window inside the 2026 Spring Festival is
flagged on the nurse's timeline with the nearest working days, next to the originally planned,
planned and actual dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from schedules.services.plans import treatment_plan_create
from tests.e2e.conftest import admin_login
from tests.factories import ParticipantFactory
from trialsite.models import Participant, Site, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_spring_festival_window_is_flagged_on_the_timeline(
    page: Any, live_server: Any, trial: Trial, site: Site, nurse: User
) -> None:
    participant = ParticipantFactory(trial=trial, site=site)
    Participant.objects.filter(pk=participant.pk).update(
        status="randomized", arm="experimental", randomization_number=1, randomized_at=timezone.now()
    )
    # The plan was made on Monday 5 January 2026 (the service takes `now`), SCRT from Fri 16 Jan:
    # neoadjuvant cycle 2's window, 16–22 Feb, is all Spring Festival (15–23 Feb off).
    made = dt.datetime(2026, 1, 5, 1, tzinfo=dt.UTC)
    treatment_plan_create(participant=participant, scrt_start_date=dt.date(2026, 1, 16), by=nurse, now=made)

    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/schedules/treatmentplan/participant/{participant.pk}/timeline/")
    flags = page.locator("#timeline .no-working-day")
    assert flags.count() == 1
    text = flags.first.inner_text()
    assert "2026-02-14" in text and "2026-02-24" in text
    # The nurse reads Chinese: originally planned (原计划), planned (计划) and actual (实际).
    headers = page.inner_text("#timeline thead").split("\t")
    assert headers[3:6] == ["原计划", "计划", "实际"]
    assert "此窗口内没有工作日" in text
