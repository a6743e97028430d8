"""The admin doors: the participant timeline (make the plan, book, delay, record actual dates)
and the site calendar, with site scoping."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from schedules.models import Booking, ScheduledEvent, SiteClosure, TreatmentPlan
from tests.schedules.conftest import NOW
from trialsite.models import Participant

D = dt.date


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _timeline(participant_id: int) -> str:
    return f"/admin/schedules/treatmentplan/participant/{participant_id}/timeline/"


def test_nurse_picks_the_start_date_on_the_timeline(randomized: Participant, nurse: Any) -> None:
    client = _login(nurse)
    waiting = client.get("/admin/schedules/treatmentplan/add/")
    assert waiting.status_code == 200 and randomized.screening_number in waiting.content.decode()
    # A holiday start is refused with the next start date.
    refused = client.post(_timeline(randomized.pk), {"action": "plan", "scrt_start_date": "2026-09-28"}, follow=True)
    assert "2026-10-08" in refused.content.decode()
    assert not TreatmentPlan.objects.exists()
    client.post(_timeline(randomized.pk), {"action": "plan", "scrt_start_date": "2026-03-04"})
    page = client.get(_timeline(randomized.pk)).content.decode()
    assert TreatmentPlan.objects.filter(participant=randomized).exists()
    assert "2026-03-17" in page or "March 17, 2026" in page or "Mar. 17, 2026" in page


def test_book_delay_and_actual_on_the_timeline(plan: TreatmentPlan, nurse: Any) -> None:
    client = _login(nurse)
    c1 = ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=1)
    client.post(
        _timeline(plan.participant_id), {"action": "book", "event": c1.pk, "date": "2026-03-18", "time": "09:30"}
    )
    assert Booking.objects.get(event=c1).time == dt.time(9, 30)
    c2 = ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=2)
    client.post(
        _timeline(plan.participant_id), {"action": "delay", "event": c2.pk, "new_date": "", "reason": "ANC low"}
    )
    c2.refresh_from_db()
    assert c2.delayed and c2.delay_reason == "ANC low"
    fraction = ScheduledEvent.objects.get(plan=plan, kind="scrt_fraction", number=1)
    data = {"action": "actual", "event": fraction.pk, "actual_date": "2026-03-02"}
    asked = client.post(_timeline(plan.participant_id), data)
    # First a confirmation step (it moves the following fractions), nothing saved yet.
    assert asked.status_code == 200 and 'id="moves"' in asked.content.decode()
    fraction.refresh_from_db()
    assert fraction.actual_date is None
    client.post(_timeline(plan.participant_id), {**data, "confirm": "on"})
    # A past actual date is recorded as given.
    fraction.refresh_from_db()
    assert fraction.actual_date == D(2026, 3, 2)


def test_pharmacist_reads_but_cannot_change(plan: TreatmentPlan, pharmacist: Any) -> None:
    client = _login(pharmacist)
    assert client.get(_timeline(plan.participant_id)).status_code == 200
    c1 = ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=1)
    client.post(
        _timeline(plan.participant_id), {"action": "book", "event": c1.pk, "date": "2026-03-18", "time": "09:30"}
    )
    assert not Booking.objects.exists()


def test_other_site_nurse_gets_404(plan: TreatmentPlan, other_nurse: Any) -> None:
    assert _login(other_nurse).get(_timeline(plan.participant_id)).status_code == 404


def test_site_calendar_day_and_week(plan: TreatmentPlan, nurse: Any, api_client_user: Any, site: Any) -> None:
    from schedules.services.bookings import booking_create

    c1 = ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=1)
    booking_create(event=c1, date=D(2026, 3, 18), time=dt.time(8), by=api_client_user, today=NOW.date())
    client = _login(nurse)
    day = client.get("/admin/schedules/treatmentplan/site-calendar/", {"site": "ZJU1", "date": "2026-03-18"})
    body = day.content.decode()
    assert day.status_code == 200
    assert plan.participant.screening_number in body
    assert "9 of 10 infusion chairs free" in body
    week = client.get(
        "/admin/schedules/treatmentplan/site-calendar/", {"site": "ZJU1", "date": "2026-03-18", "view": "week"}
    ).content.decode()
    assert week.count('class="site-day"') == 7
    # A week reads its days in one set of queries, as a day does (issue 16: four per day were 28
    # of the week's 38).
    with CaptureQueriesContext(connection) as one_day:
        client.get("/admin/schedules/treatmentplan/site-calendar/", {"site": "ZJU1", "date": "2026-03-18"})
    with CaptureQueriesContext(connection) as seven_days:
        client.get(
            "/admin/schedules/treatmentplan/site-calendar/", {"site": "ZJU1", "date": "2026-03-18", "view": "week"}
        )
    assert len(seven_days) == len(one_day)
    # Cycles closing soon without a booking: cycle 2 (window 5–11 April), seen on 6 April.
    with time_machine.travel(dt.datetime(2026, 4, 6, 1, tzinfo=dt.UTC), tick=False):
        # (a fresh login: the session of 2 March has expired by then)
        soon = _login(nurse).get("/admin/schedules/treatmentplan/site-calendar/", {"site": "ZJU1"}).content.decode()
    assert "C2" in soon.split('id="closing"')[1]


def test_site_closure_through_the_admin(nurse: Any, site: Any) -> None:
    client = _login(nurse)
    client.post("/admin/schedules/siteclosure/add/", {"site": site.pk, "date": "2026-03-18", "reason": "power works"})
    assert SiteClosure.objects.filter(site=site, date=D(2026, 3, 18), kind="closed").exists()
    # A make-up working day (issue 13): the site works on Saturday 21 March.
    client.post(
        "/admin/schedules/siteclosure/add/",
        {"site": site.pk, "date": "2026-03-21", "kind": "working", "reason": "Saturday clinic"},
    )
    assert SiteClosure.objects.filter(site=site, date=D(2026, 3, 21), kind="working").exists()
    closure = SiteClosure.objects.get(site=site, date=D(2026, 3, 18))
    # Its reason is corrected through the service (site_closure_update_reason), site and day stay.
    client.post(f"/admin/schedules/siteclosure/{closure.pk}/change/", {"reason": "water works"})
    closure.refresh_from_db()
    assert (closure.reason, closure.date) == ("water works", D(2026, 3, 18))


def test_timeline_and_calendar_render_in_chinese(plan: TreatmentPlan, nurse: Any) -> None:
    from django.utils import translation

    client = _login(nurse)
    client.cookies["django_language"] = "zh-hans"
    with translation.override("zh-hans"):
        page = client.get(_timeline(plan.participant_id), HTTP_ACCEPT_LANGUAGE="zh-hans")
        calendar = client.get("/admin/schedules/treatmentplan/site-calendar/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200 and calendar.status_code == 200
    assert "重新制定计划" in page.content.decode()  # "Re-make the plan"
    assert "窗口期将在7天内结束但尚未预约的周期" in calendar.content.decode()


def test_a_refused_site_closure_keeps_the_typed_reason(nurse: Any, site: Any, monkeypatch: Any) -> None:
    from schedules import admin as schedules_admin
    from trialsite.errors import Conflict

    def refuse(**kwargs: Any) -> None:
        raise Conflict("The site is already closed that day.", errors={"date": ["Already closed."]})

    monkeypatch.setattr(schedules_admin, "site_closure_create", refuse)
    form = {"site": site.pk, "date": "2026-03-18", "reason": "water works"}

    again = _login(nurse).post("/admin/schedules/siteclosure/add/", form)

    assert again.status_code == 200
    errors = again.context["adminform"].form.errors
    assert errors["date"] == ["Already closed."]
    assert errors["__all__"] == ["The site is already closed that day."]
    assert "water works" in again.content.decode()
    assert not SiteClosure.objects.exists()


def test_a_refusal_that_finds_no_form_is_still_said(nurse: Any, site: Any, monkeypatch: Any) -> None:
    """The mixin's last resort: the message as an admin message, never a server error."""
    from schedules import admin as schedules_admin
    from trialsite import admin_forms
    from trialsite.errors import Conflict

    def refuse(**kwargs: Any) -> None:
        raise Conflict("The site is already closed that day.")

    monkeypatch.setattr(schedules_admin, "site_closure_create", refuse)
    monkeypatch.setattr(admin_forms, "with_errors", lambda form_class, errors, by_prefix: form_class)

    response = _login(nurse).post(
        "/admin/schedules/siteclosure/add/", {"site": site.pk, "date": "2026-03-18", "reason": "x"}, follow=True
    )

    assert response.status_code == 200
    assert "The site is already closed that day." in response.content.decode()
    assert not SiteClosure.objects.exists()
