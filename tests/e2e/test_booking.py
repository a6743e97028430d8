"""Scenario 4 of the end-to-end checks: a hospital scheduling system books cycle 1 through the API,
and the nurse sees the visit in her site's calendar in the admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from schedules.models import Booking, ScheduledEvent
from schedules.services.plans import treatment_plan_create
from tests.e2e.conftest import admin_login
from tests.factories import ParticipantFactory
from trialsite.errors import ApplicationError
from trialsite.models import Participant, Site, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _randomized_with_plan(trial: Trial, site: Site, nurse: User) -> Participant:
    participant = ParticipantFactory(trial=trial, site=site, full_name="林芳")
    Participant.objects.filter(pk=participant.pk).update(
        status="randomized", arm="experimental", randomization_number=1, randomized_at=timezone.now()
    )
    participant.refresh_from_db()
    start = timezone.localdate() + dt.timedelta(days=7)
    for _ in range(30):  # the first start date that is a working day with room for 5 fractions
        try:
            treatment_plan_create(participant=participant, scrt_start_date=start, by=nurse, now=timezone.now())
            return participant
        except ApplicationError:
            start += dt.timedelta(days=1)
    raise AssertionError("no SCRT start date found in 30 days")


def test_an_api_booking_shows_in_the_nurses_site_calendar(
    page: Any, live_server: Any, trial: Trial, site: Site, nurse: User, api_client_user: User
) -> None:
    participant = _randomized_with_plan(trial, site, nurse)
    cycle1 = ScheduledEvent.objects.get(participant=participant, kind="cycle_day1", phase="neoadjuvant", number=1)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_client_user.auth_token.key}")
    response = client.post(
        "/api/v1/bookings/",
        {"event": cycle1.pk, "date": cycle1.planned_date.isoformat(), "time": "09:30"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Booking.objects.filter(event=cycle1, status="active").count() == 1

    admin_login(page, live_server, "nurse")
    page.goto(
        f"{live_server.url}/admin/schedules/treatmentplan/site-calendar/?site={site.code}"
        f"&date={cycle1.planned_date.isoformat()}&view=day"
    )
    calendar = page.inner_text("#content-main")
    assert participant.screening_number in calendar
    assert "09:30" in calendar
