"""Scenario 1 of the end-to-end checks: a research nurse, in Simplified Chinese, registers a
participant, records consent, height and weight, fills in the screening assessment, sees
"eligible", randomizes through the confirmation page with an SCRT start date, and finds the
calendar with the protocol's dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from randomization import services as rs
from schedules.calendar import public_calendar
from schedules.models import ScheduledEvent
from tests.e2e.conftest import admin_login
from tests.factories import record_labs
from tests.randomization.conftest import GOOD_LABS, good_findings
from trialsite.models import Participant, Site, StaffProfile, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _next_weekday(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def test_nurse_from_registration_to_calendar(
    page: Any, live_server: Any, trial: Trial, site: Site, nurse: User, statistician: User
) -> None:
    today = timezone.localdate()
    rs.scheme_activate(scheme=rs.scheme_create(trial=trial, by=statistician), by=statistician, now=timezone.now())
    StaffProfile.objects.create(user=nurse, language="zh-hans")
    admin_login(page, live_server, "nurse")

    # Register, with consent.
    page.goto(f"{live_server.url}/admin/trialsite/participant/add/")
    page.select_option("#id_trial", label="NCT06850103")
    page.select_option("#id_site", index=1)
    page.fill("#id_screening_number", "ZJU1-0201")
    page.fill("#id_full_name", "吴晓梅")
    page.select_option("#id_sex", "female")
    page.fill("#id_birth_date", "1965-02-11")
    page.fill("#id_consent_date", (today - dt.timedelta(days=1)).isoformat())
    page.click("input[name=_save]")
    participant = Participant.objects.get(screening_number="ZJU1-0201")

    # Height and weight on the participant's page (the inline's empty rows).
    page.goto(f"{live_server.url}/admin/trialsite/participant/{participant.pk}/change/")
    page.select_option("#id_measurements-0-kind", "height")
    page.fill("#id_measurements-0-value", "162")
    page.fill("#id_measurements-0-measured_on", today.isoformat())
    page.click("input[name=_continue]")
    page.click("#measurements-group .add-row a")
    page.select_option("#id_measurements-1-kind", "weight")
    page.fill("#id_measurements-1-value", "58")
    page.fill("#id_measurements-1-measured_on", today.isoformat())
    page.click("input[name=_continue]")
    assert participant.measurements.count() == 2
    # The screening labs arrive from the hospital laboratory system (the API's lab endpoint).
    record_labs(participant, GOOD_LABS, on=today)

    # Screening assessment: the protocol's questions, answered.
    page.goto(f"{live_server.url}/admin/randomization/screeningassessment/add/?participant={participant.pk}")
    page.fill("#id_assessed_on", today.isoformat())
    for name, value in good_findings(trial.definition).items():
        if isinstance(value, bool):
            page.select_option(f"#id_f_{name}", "yes" if value else "no")
        else:
            page.fill(f"#id_f_{name}", str(value))
    page.click("input[name=_save]")
    participant.refresh_from_db()
    assert participant.status == "eligible"

    # Randomize through the confirmation page, picking the SCRT start date.
    start = _next_weekday(today + dt.timedelta(days=10))
    page.goto(f"{live_server.url}/admin/randomization/participanttorandomize/{participant.pk}/randomize/")
    assert page.locator(".errorlist").count() == 0  # no failing criterion
    page.fill("#id_scrt_start_date", start.isoformat())
    page.check("#id_confirm")
    page.fill("#id_signature_password", "pw-for-tests-1")  # the signature (trialsite.signatures)
    page.click("#content-main input[type=submit]")
    page.wait_for_load_state()
    participant.refresh_from_db()
    if participant.randomization_number is None:  # a holiday week: the page says which start works
        pytest.fail(page.inner_text(".messagelist"))
    assert participant.status == "randomized" and participant.arm in ("experimental", "control")

    # The calendar: 5 fractions from the chosen start, cycle 1 about a week after the last one.
    page.goto(f"{live_server.url}/admin/schedules/treatmentplan/participant/{participant.pk}/timeline/")
    timeline = page.inner_text("#content-main")
    fractions = list(ScheduledEvent.objects.filter(participant=participant, kind="scrt_fraction").order_by("number"))
    assert len(fractions) == 5 and fractions[0].planned_date == start
    working = public_calendar("CN", {start.year, start.year + 1})
    assert all(working.is_working_day(f.planned_date) for f in fractions)
    assert (fractions[-1].planned_date - fractions[0].planned_date).days <= 7  # within 8 calendar days
    cycle1 = ScheduledEvent.objects.get(participant=participant, kind="cycle_day1", phase="neoadjuvant", number=1)
    assert cycle1.target_date == fractions[-1].planned_date + dt.timedelta(days=7)  # protocol: 7 days after
    for event in (fractions[0], cycle1):  # shown as Chinese dates to a zh-hans nurse
        day = event.planned_date
        assert f"{day.year}年{day.month}月{day.day}日" in timeline
