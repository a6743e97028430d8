"""Scenario 2 of the end-to-end checks: an ineligible participant shows the failing criteria, and
the Randomize button does not randomize them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from randomization import services as rs
from tests.e2e.conftest import admin_login
from tests.factories import ParticipantFactory, record_labs
from tests.randomization.conftest import GOOD_LABS, good_findings
from trialsite import services
from trialsite.models import Participant, Site, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_ineligible_participant_cannot_be_randomized_in_the_admin(
    page: Any, live_server: Any, trial: Trial, site: Site, nurse: User, statistician: User
) -> None:
    today = timezone.localdate()
    rs.scheme_activate(scheme=rs.scheme_create(trial=trial, by=statistician), by=statistician, now=timezone.now())
    participant = ParticipantFactory(
        trial=trial, site=site, consent_date=today - dt.timedelta(days=2), full_name="周凯"
    )
    record_labs(participant, GOOD_LABS, on=today)
    services.measurement_record(
        participant=participant, kind="weight", value="66", measured_on=today, by=None, today=today
    )
    # ECOG 2 fails the registry's "ECOG performance status 0–1" criterion.
    rs.screening_assessment_record(
        participant=participant,
        assessed_on=today,
        findings=good_findings(trial.definition, ecog=2),
        by=nurse,
        today=today,
    )

    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/randomization/participanttorandomize/{participant.pk}/randomize/")
    assert "ECOG" in page.inner_text(".errorlist")  # the failing criterion, shown before anything is tried

    page.check("#content-main input[type=checkbox]")  # "I confirm …"
    page.fill("#id_signature_password", "pw-for-tests-1")  # the signature (trialsite.signatures)
    page.click("#content-main input[type=submit]")

    page.wait_for_load_state()
    # The service refuses, and the admin says why (in the nurse's browser language, zh-CN here).
    assert page.locator(".messagelist .error").count() == 1
    assert "ECOG" in page.inner_text(".messagelist .error")
    participant.refresh_from_db()
    assert participant.randomization_number is None
    assert participant.status == "ineligible"
    assert not Participant.objects.filter(randomization_number__isnull=False).exists()
