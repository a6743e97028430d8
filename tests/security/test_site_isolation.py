"""Site isolation, generated from the URL configuration: a nurse of another site finds nothing of
site A's participant in any API list, detail, export or feed, nor in the admin."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from adverse_events import services as ae_services
from adverse_events.models import Term
from dosing import services as dosing
from schedules.models import Booking, ScheduledEvent
from schedules.services.bookings import booking_create
from schedules.services.plans import treatment_plan_create
from tests.factories import ParticipantFactory, record_labs
from tests.security.test_endpoints import api_endpoints
from trialsite import services
from trialsite.errors import ApplicationError
from trialsite.models import Participant, Site, Trial


@pytest.fixture
def site_a_world(trial: Trial, site: Site, nurse: User) -> dict[str, Any]:
    today, now = timezone.localdate(), timezone.now()
    p = ParticipantFactory(trial=trial, site=site, screening_number="SITEA-SECRET-01", full_name="甲院患者")
    Participant.objects.filter(pk=p.pk).update(
        status="randomized", arm="experimental", randomization_number=9, randomized_at=now
    )
    p.refresh_from_db()
    start = today + dt.timedelta(days=7)
    for _ in range(30):
        try:
            treatment_plan_create(participant=p, scrt_start_date=start, by=nurse, now=now)
            break
        except ApplicationError:
            start += dt.timedelta(days=1)
    services.measurement_record(participant=p, kind="height", value="170", measured_on=today, by=None, today=today)
    services.measurement_record(participant=p, kind="weight", value="70", measured_on=today, by=None, today=today)
    record_labs(p, {"creatinine": "80", "anc": "2.0", "platelets": "150"}, on=today)
    sheet = dosing.dose_sheet_prepare(
        by=None, participant=p, phase="neoadjuvant", cycle_number=1, day1=today + dt.timedelta(days=1), now=now
    )
    cycle1 = ScheduledEvent.objects.get(participant=p, kind="cycle_day1", phase="neoadjuvant", number=1)
    booking = booking_create(event=cycle1, date=cycle1.planned_date, time=dt.time(9, 0), by=nurse, today=today)
    event = ae_services.ae_record(
        participant=p,
        term=Term.objects.get(term="Diarrhea"),
        grade=2,
        onset_date=today,
        notes="SITEA-SECRET-01 toxicity",
        by=nurse,
        now=now,
        today=today,
    )
    return {
        "participant": p,
        "adverse_event": event.pk,
        "ids": {"pk": p.pk, "id": p.pk},
        "sheet": sheet.pk,
        "event": cycle1.pk,
        "booking": booking.pk,
    }


def _url(route: str, world: dict[str, Any]) -> str | None:
    ids = {
        "participants": world["participant"].pk,
        "dose-sheets": world["sheet"],
        "bookings": world["booking"],
        "schedule-events": world["event"],
        "adverse-events": world["adverse_event"],
    }
    url = "/" + route
    match = re.match(r"/api/v1/([a-z-]+)/<int:pk>", url)
    if match:
        if match.group(1) not in ids:
            return None
        url = url.replace("<int:pk>", str(ids[match.group(1)]), 1)
    url = url.replace("<int:ae_id>", str(world["adverse_event"]))
    return None if "<" in url else url


def test_another_sites_nurse_finds_nothing_anywhere(
    site_a_world: dict[str, Any], nurse: User, other_nurse: User
) -> None:
    own = APIClient()
    own.force_authenticate(nurse)  # positive control: site A's nurse does find the marker
    assert "SITEA-SECRET-01" in own.get("/api/v1/participants/").content.decode()
    assert own.get(f"/api/v1/dose-sheets/{site_a_world['sheet']}/").status_code == 200
    assert "SITEA-SECRET-01" in own.get(f"/api/v1/adverse-events/{site_a_world['adverse_event']}/").content.decode()
    api = APIClient()
    api.force_authenticate(other_nurse)
    checked = 0
    for route, view in api_endpoints():
        if not hasattr(view, "get"):
            continue
        url = _url(route, site_a_world)
        if url is None:
            continue
        response = api.get(url)
        body = response.content.decode("utf-8", "replace")
        assert "SITEA-SECRET-01" not in body and "甲院患者" not in body, url
        if "<int:pk>" in route:
            assert response.status_code in (403, 404), f"{url}: {response.status_code}"
        checked += 1
    assert checked >= 10
    browser = Client()
    browser.force_login(other_nurse, backend="django.contrib.auth.backends.ModelBackend")
    for model in admin.site._registry:
        page = browser.get(f"/admin/{model._meta.app_label}/{model._meta.model_name}/", follow=True)
        assert "SITEA-SECRET-01" not in page.content.decode(), model._meta.label
    assert Booking.objects.filter(pk=site_a_world["booking"]).exists()
