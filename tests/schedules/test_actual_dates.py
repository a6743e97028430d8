"""Actual dates are deliberate and correctable (issue 14): nothing is recorded until confirmed
when it moves later events or starts treatment; a recorded date is corrected with a reason, by
the nurse while nothing rests on it, afterwards by an investigator only; the same rules at the
API door."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from dosing.models import DoseSheet
from schedules.models import ScheduledEvent, TreatmentPlan
from schedules.services.actual_dates import event_record_actual, event_record_actual_preview
from tests.schedules.conftest import NOW
from trialsite.errors import Conflict, InvalidInput, NotPermitted
from trialsite.models import Participant

D = dt.date
LATER = D(2026, 3, 20)


def _event(plan: TreatmentPlan, kind: str, phase: str = "", number: int = 1) -> ScheduledEvent:
    return ScheduledEvent.objects.get(plan=plan, kind=kind, phase=phase, number=number)


def _planned(plan: TreatmentPlan) -> dict[int, dt.date]:
    return dict(ScheduledEvent.objects.filter(plan=plan).values_list("pk", "planned_date"))


def test_an_actual_date_that_moves_events_waits_for_confirmation(plan: TreatmentPlan, nurse: Any) -> None:
    fraction = _event(plan, "scrt_fraction", "scrt", 1)
    before = _planned(plan)
    with pytest.raises(Conflict) as refused:
        event_record_actual(event=fraction, actual_date=D(2026, 3, 2), by=nurse, today=D(2026, 3, 2))
    # then: nothing changed, and the answer lists what would move
    assert refused.value.code == "confirmation_required"
    assert _planned(plan) == before
    fraction.refresh_from_db()
    plan.participant.refresh_from_db()
    assert fraction.actual_date is None and plan.participant.status == "randomized"
    moves = refused.value.extra["moves"]
    second = _event(plan, "scrt_fraction", "scrt", 2)
    # Given on Mon 2 March, fraction 2 moves from Thu 5 to Tue 3 March (daily on working days).
    assert {"event": second.pk, "from": "2026-03-05", "to": "2026-03-03"}.items() <= next(
        m for m in moves if m["event"] == second.pk
    ).items()
    assert refused.value.extra["starts_treatment"] is True

    preview = event_record_actual_preview(event=fraction, actual_date=D(2026, 3, 2), by=nurse, today=D(2026, 3, 2))
    assert [m.event.pk for m in preview.moves] == [m["event"] for m in moves]

    event_record_actual(event=fraction, actual_date=D(2026, 3, 2), by=nurse, today=D(2026, 3, 2), confirm=True)
    second.refresh_from_db()
    assert second.planned_date == D(2026, 3, 3)


def test_correction_needs_a_reason_and_keeps_it_in_the_history(plan: TreatmentPlan, nurse: Any) -> None:
    fraction = _event(plan, "scrt_fraction", "scrt", 1)
    event_record_actual(event=fraction, actual_date=D(2026, 3, 4), by=nurse, today=LATER, confirm=True)
    with pytest.raises(InvalidInput) as no_reason:
        event_record_actual(event=fraction, actual_date=D(2026, 3, 3), by=nurse, today=LATER, confirm=True)
    assert "reason" in no_reason.value.errors
    with pytest.raises(InvalidInput):
        event_record_actual(
            event=fraction, actual_date=D(2026, 3, 3), by=nurse, today=LATER, confirm=True, reason="x" * 101
        )
    with pytest.raises(Conflict) as unconfirmed:
        event_record_actual(
            event=fraction, actual_date=D(2026, 3, 3), by=nurse, today=LATER, reason="typo: given on the 3rd"
        )
    assert unconfirmed.value.extra["correction"] is True

    event_record_actual(
        event=fraction, actual_date=D(2026, 3, 3), by=nurse, today=LATER, confirm=True, reason="typo: 给药日为3日"
    )

    fraction.refresh_from_db()
    assert fraction.actual_date == D(2026, 3, 3)
    corrected = fraction.history.filter(actual_date=D(2026, 3, 3)).order_by("history_id").first()
    assert corrected is not None and corrected.history_change_reason == "typo: 给药日为3日"
    assert corrected.history_user_id == nurse.pk
    # Both dates stay in the history.
    assert {D(2026, 3, 3), D(2026, 3, 4)} <= set(fraction.history.values_list("actual_date", flat=True))


def test_after_a_later_fraction_was_given_only_an_investigator_corrects(
    plan: TreatmentPlan, nurse: Any, investigator: Any
) -> None:
    first = _event(plan, "scrt_fraction", "scrt", 1)
    event_record_actual(event=first, actual_date=D(2026, 3, 4), by=nurse, today=LATER, confirm=True)
    event_record_actual(
        event=_event(plan, "scrt_fraction", "scrt", 2), actual_date=D(2026, 3, 5), by=nurse, today=LATER, confirm=True
    )
    with pytest.raises(NotPermitted) as refused:
        event_record_actual(event=first, actual_date=D(2026, 3, 3), by=nurse, today=LATER, confirm=True, reason="typo")
    assert refused.value.code == "actual_date_depended_on"
    first.refresh_from_db()
    assert first.actual_date == D(2026, 3, 4)

    event_record_actual(
        event=first, actual_date=D(2026, 3, 3), by=investigator, today=LATER, confirm=True, reason="typo"
    )
    first.refresh_from_db()
    assert first.actual_date == D(2026, 3, 3)


def test_a_released_dose_sheet_makes_the_cycle_date_an_investigators_correction(
    plan: TreatmentPlan, nurse: Any, investigator: Any, pharmacist: Any, pharmacist2: Any
) -> None:
    c1 = _event(plan, "cycle_day1", "neoadjuvant", 1)
    event_record_actual(event=c1, actual_date=c1.planned_date, by=nurse, today=LATER, confirm=True)
    # A nurse may correct it while the sheet is not released ...
    event_record_actual(
        event=c1, actual_date=c1.planned_date - dt.timedelta(days=1), by=nurse, today=LATER, confirm=True, reason="typo"
    )
    DoseSheet.objects.create(
        participant=plan.participant,
        site=plan.participant.site,
        phase="neoadjuvant",
        cycle_number=1,
        cycle_seq=1,
        day1=c1.planned_date,
        status="released",
        content={},
        fingerprint="0" * 64,
        weight_kg=Decimal("80"),
        prepared_at=NOW,
        verified_by=pharmacist,
        verified_at=NOW,
        released_by=pharmacist2,
        released_at=NOW,
    )
    # ... and not once the pharmacy released the sheet for that day 1.
    with pytest.raises(NotPermitted):
        event_record_actual(event=c1, actual_date=c1.planned_date, by=nurse, today=LATER, confirm=True, reason="typo")
    preview = event_record_actual_preview(event=c1, actual_date=c1.planned_date, by=nurse, today=LATER)
    assert preview.correction and len(preview.dependants) == 1
    event_record_actual(
        event=c1, actual_date=c1.planned_date, by=investigator, today=LATER, confirm=True, reason="typo"
    )


def test_the_same_date_again_changes_nothing(plan: TreatmentPlan, nurse: Any) -> None:
    fraction = _event(plan, "scrt_fraction", "scrt", 1)
    event_record_actual(event=fraction, actual_date=D(2026, 3, 4), by=nurse, today=LATER, confirm=True)
    rows = fraction.history.count()
    event_record_actual(event=fraction, actual_date=D(2026, 3, 4), by=nurse, today=LATER)
    assert fraction.history.count() == rows


def test_the_api_asks_for_confirmation_and_a_reason(
    plan: TreatmentPlan, nurse: Any, investigator: Any, api: Any
) -> None:
    client = api(nurse)
    fraction = _event(plan, "scrt_fraction", "scrt", 1)
    url = f"/api/v1/schedule-events/{fraction.pk}/actual/"
    with time_machine.travel(dt.datetime(2026, 3, 20, 2, 0, tzinfo=dt.UTC), tick=False):
        asked = client.post(url, {"actual_date": "2026-03-04"}, format="json")
        assert asked.status_code == 409 and asked.json()["code"] == "confirmation_required"
        assert asked.json()["starts_treatment"] is True
        done = client.post(url, {"actual_date": "2026-03-04", "confirm": True}, format="json")
        assert done.status_code == 200 and done.json()["actual_date"] == "2026-03-04"
        no_reason = client.post(url, {"actual_date": "2026-03-03", "confirm": True}, format="json")
        assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
        second = _event(plan, "scrt_fraction", "scrt", 2)
        client.post(
            f"/api/v1/schedule-events/{second.pk}/actual/",
            {"actual_date": "2026-03-05", "confirm": True},
            format="json",
        )
        refused = client.post(url, {"actual_date": "2026-03-03", "confirm": True, "reason": "typo"}, format="json")
        assert refused.status_code == 403 and refused.json()["code"] == "actual_date_depended_on"
        client = api(investigator)
        fixed = client.post(url, {"actual_date": "2026-03-03", "confirm": True, "reason": "typo"}, format="json")
        assert fixed.status_code == 200 and fixed.json()["actual_date"] == "2026-03-03"
    assert Participant.objects.get(pk=plan.participant_id).status == "on_treatment"
