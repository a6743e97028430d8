"""A refused act on the timeline shows the page again with what was typed, in its row, and the
reason it was refused next to the form (issue 14: a redirect used to lose a typed reason)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import time_machine
from django.test import Client

from schedules.models import Booking, ScheduledEvent, TreatmentPlan
from tests.schedules.conftest import NOW


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


def _row(page: str, event: ScheduledEvent) -> str:
    """The timeline row whose forms carry `event`'s id."""
    rows = re.findall(r"<tr.*?</tr>", page, re.DOTALL)
    return next(r for r in rows if f'name="event" value="{event.pk}"' in r)


def _c2(plan: TreatmentPlan) -> ScheduledEvent:
    return ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=2)


def test_a_refused_delay_keeps_the_typed_reason_and_says_why_in_its_row(plan: TreatmentPlan, nurse: Any) -> None:
    c2 = _c2(plan)
    before = c2.planned_date
    saturday = "2026-04-18"  # a Saturday: not a working day at the site
    response = _login(nurse).post(
        _timeline(plan.participant_id),
        {"action": "delay", "event": c2.pk, "new_date": saturday, "reason": "ANC 0.9 on day -1, retest Monday"},
    )
    assert response.status_code == 422
    row = _row(response.content.decode(), c2)
    assert "<details open>" in row
    assert 'value="ANC 0.9 on day -1, retest Monday"' in row
    assert f'value="{saturday}"' in row
    assert 'class="errorlist refusal"' in row
    c2.refresh_from_db()
    assert c2.planned_date == before and not c2.delayed


def test_a_delay_without_a_reason_is_refused_in_place_with_the_date_kept(plan: TreatmentPlan, nurse: Any) -> None:
    c2 = _c2(plan)
    response = _login(nurse).post(
        _timeline(plan.participant_id), {"action": "delay", "event": c2.pk, "new_date": "2026-04-20", "reason": ""}
    )
    assert response.status_code == 422
    row = _row(response.content.decode(), c2)
    assert 'value="2026-04-20"' in row and "errorlist" in row


def test_a_refused_booking_keeps_date_time_and_deviation_reason(plan: TreatmentPlan, nurse: Any) -> None:
    c1 = ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=1)
    response = _login(nurse).post(
        _timeline(plan.participant_id),
        {"action": "book", "event": c1.pk, "date": "2026-03-21", "time": "10:45", "deviation_reason": "family event"},
    )
    assert response.status_code == 422
    row = _row(response.content.decode(), c1)
    for typed in ('value="2026-03-21"', 'value="10:45"', 'value="family event"'):
        assert typed in row
    assert not Booking.objects.filter(event=c1).exists()


def test_a_refused_actual_date_keeps_the_date_typed(plan: TreatmentPlan, nurse: Any) -> None:
    c2 = _c2(plan)
    future = "2026-12-31"
    response = _login(nurse).post(
        _timeline(plan.participant_id), {"action": "actual", "event": c2.pk, "actual_date": future}
    )
    assert response.status_code == 422
    assert f'value="{future}"' in _row(response.content.decode(), c2)
    c2.refresh_from_db()
    assert c2.actual_date is None


def test_a_refused_plan_start_keeps_the_typed_date_in_the_plan_form(randomized: Any, nurse: Any) -> None:
    response = _login(nurse).post(_timeline(randomized.pk), {"action": "plan", "scrt_start_date": "2026-09-28"})
    assert response.status_code == 422
    page = response.content.decode()
    assert 'value="2026-09-28"' in page and "2026-10-08" in page
    assert not TreatmentPlan.objects.filter(participant=randomized).exists()


def test_a_done_act_still_redirects(plan: TreatmentPlan, nurse: Any) -> None:
    c1 = ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=1)
    response = _login(nurse).post(
        _timeline(plan.participant_id), {"action": "book", "event": c1.pk, "date": "2026-03-18", "time": "09:30"}
    )
    assert response.status_code == 302
