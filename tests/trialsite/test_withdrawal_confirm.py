"""Withdrawal and death are deliberate (issue 14): the admin first says what will stop, with
counts from the data (visits and bookings cancelled, reminders not sent, dose sheets voided),
and asks for the reason; the reason is stored as typed, the system's own text in English."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from dosing.models import DoseSheet
from reminders.models import Reminder
from schedules.models import Booking, ScheduledEvent
from schedules.services.bookings import booking_create
from schedules.services.plans import treatment_plan_create
from tests.factories import ParticipantFactory
from tests.schedules.conftest import NOW, SCRT_START, randomize
from trialsite import selectors
from trialsite.models import Participant, Site, StaffProfile, Trial

CHANGELIST = "/admin/trialsite/participant/"


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def treated(trial: Trial, site: Site, nurse: User, api_client_user: User) -> Participant:
    """A randomized participant with a plan, one booking and one prepared dose sheet."""
    participant = randomize(ParticipantFactory(trial=trial, site=site))
    treatment_plan_create(participant=participant, scrt_start_date=SCRT_START, by=nurse, now=NOW)
    c1 = ScheduledEvent.objects.get(participant=participant, kind="cycle_day1", phase="neoadjuvant", number=1)
    booking_create(event=c1, date=c1.planned_date, time=dt.time(9), by=api_client_user, today=NOW.date())
    DoseSheet.objects.create(
        participant=participant,
        site=site,
        phase="neoadjuvant",
        cycle_number=1,
        cycle_seq=1,
        day1=c1.planned_date,
        content={},
        fingerprint="0" * 64,
        weight_kg=Decimal("80"),
        prepared_at=NOW,
    )
    return participant


def _login(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_the_effects_are_counted_from_the_data(treated: Participant) -> None:
    open_events = ScheduledEvent.objects.filter(participant=treated, status__in=["planned", "booked"]).count()
    reminders = Reminder.objects.filter(participant=treated, status__in=["pending", "queued"]).count()
    effects = selectors.withdrawal_effects(treated)
    assert f"{open_events} planned visits cancelled" in effects
    assert "1 booking cancelled" in effects
    assert f"{reminders} reminder{'' if reminders == 1 else 's'} not sent" in effects
    assert "1 unreleased dose sheet voided" in effects


def test_withdrawal_asks_what_it_stops_and_the_reason(treated: Participant, nurse: User) -> None:
    client = _login(nurse)
    action = {"action": "withdraw_selected", "_selected_action": [treated.pk]}
    asked = client.post(CHANGELIST, action)
    # then: a confirmation page, nothing changed yet
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "1 booking cancelled" in page and "1 unreleased dose sheet voided" in page
    assert 'name="withdrawal_reason"' in page
    treated.refresh_from_db()
    assert treated.status == "randomized"

    # An empty reason asks again.
    again = client.post(CHANGELIST, {**action, "confirm": "yes", "withdrawal_reason": "  "})
    assert again.status_code == 200 and 'id="reason-error"' in again.content.decode()
    treated.refresh_from_db()
    assert treated.status == "randomized"

    done = client.post(CHANGELIST, {**action, "confirm": "yes", "withdrawal_reason": "患者撤回知情同意（电话）"})
    assert done.status_code == 302
    treated.refresh_from_db()
    assert treated.status == "withdrawn" and treated.withdrawal_reason == "患者撤回知情同意（电话）"
    assert not Booking.objects.filter(participant=treated, status="active").exists()
    assert DoseSheet.objects.get(participant=treated).status == "void"


def test_the_death_page_says_what_stops_and_the_system_reason_stays_english(treated: Participant, nurse: User) -> None:
    StaffProfile.objects.create(user=nurse, language="zh-hans")
    client = _login(nurse)
    page = client.get(f"/admin/trialsite/participant/{treated.pk}/death/").content.decode()
    assert 'id="effects"' in page and "1 个预约" in page
    client.post(f"/admin/trialsite/participant/{treated.pk}/death/", {"died_on": "2026-03-01", "notes": ""})
    treated.refresh_from_db()
    assert treated.status == "deceased" and treated.withdrawal_reason == "died"
    shown = client.get(f"/admin/trialsite/participant/{treated.pk}/change/").content.decode()
    assert "死亡" in shown


def test_the_timeline_shows_the_system_reason_in_chinese(treated: Participant, nurse: User) -> None:
    from trialsite import services as registry

    registry.participant_record_death(
        participant=treated, died_on=dt.date(2026, 3, 1), by=nurse, now=NOW, today=dt.date(2026, 3, 2)
    )
    StaffProfile.objects.create(user=nurse, language="zh-hans")
    page = _login(nurse).get(f"/admin/schedules/treatmentplan/participant/{treated.pk}/timeline/").content.decode()
    assert "(死亡)" in page
    assert "(died)" not in page


def test_a_refused_death_keeps_what_was_typed_with_the_message_on_the_date(treated: Participant, nurse: User) -> None:
    client = _login(nurse)
    # A date of death after today is refused by the service (trialsite.plausibility).
    response = client.post(
        f"/admin/trialsite/participant/{treated.pk}/death/", {"died_on": "2099-01-01", "notes": "经家属电话告知"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'class="errorlist' in page and "经家属电话告知" in page and 'value="2099-01-01"' in page
    treated.refresh_from_db()
    assert treated.status != "deceased"
