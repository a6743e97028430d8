"""The daily task that prepares the sheets of cycles whose day 1 nears."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings

from dosing import tasks
from dosing.models import DoseSheet
from schedules.selectors import CycleVisit
from tests.dosing.conftest import randomize
from tests.factories import ParticipantFactory
from trialsite.models import Participant


def _visits(monkeypatch: pytest.MonkeyPatch, visits: list[CycleVisit]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(**kwargs: Any) -> list[CycleVisit]:
        calls.append(kwargs)
        return [v for v in visits if kwargs["day1_from"] <= v.day1 <= kwargs["day1_to"]]

    monkeypatch.setattr(tasks.schedule_selectors, "cycle_visits", fake)
    return calls


def test_task_prepares_due_sheets_once(
    monkeypatch: pytest.MonkeyPatch, patient: Participant, participant: Any, now: dt.datetime
) -> None:
    visit = CycleVisit(patient.pk, patient.site_id, "neoadjuvant", 1, dt.date(2026, 3, 5), "booked")
    far = CycleVisit(patient.pk, patient.site_id, "neoadjuvant", 2, dt.date(2026, 3, 26), "planned")
    calls = _visits(monkeypatch, [visit, far])
    counts = tasks.prepare_due_dose_sheets()
    assert calls[0]["day1_to"] == dt.date(2026, 3, 9)  # today + 7 days (protocol lead time)
    assert counts["prepared"] == 1
    sheet = DoseSheet.objects.get()
    assert (sheet.phase, sheet.cycle_number, sheet.day1, sheet.prepared_by) == ("neoadjuvant", 1, visit.day1, None)
    again = tasks.prepare_due_dose_sheets()
    assert (again["prepared"], again["unchanged"]) == (0, 1)
    assert DoseSheet.objects.count() == 1


def test_task_skips_cancelled_visits_and_survives_missing_inputs(
    monkeypatch: pytest.MonkeyPatch, patient: Participant, trial: Any, site: Any
) -> None:
    bare = randomize(ParticipantFactory(trial=trial, site=site), number=2)  # no measurements
    _visits(
        monkeypatch,
        [
            CycleVisit(bare.pk, site.pk, "neoadjuvant", 1, dt.date(2026, 3, 4), "planned"),
            CycleVisit(patient.pk, site.pk, "neoadjuvant", 1, dt.date(2026, 3, 5), "cancelled"),
            CycleVisit(patient.pk, site.pk, "adjuvant", 1, dt.date(2026, 3, 5), "planned"),
        ],
    )
    counts = tasks.prepare_due_dose_sheets()
    assert (counts["failed"], counts["skipped"], counts["prepared"]) == (1, 1, 1)
    assert list(DoseSheet.objects.values_list("participant_id", "phase")) == [(patient.pk, "adjuvant")]


def test_task_re_dates_a_sheet_whose_visit_moved(monkeypatch: pytest.MonkeyPatch, patient: Participant) -> None:
    calls = [CycleVisit(patient.pk, patient.site_id, "neoadjuvant", 1, dt.date(2026, 3, 5), "planned")]
    _visits(monkeypatch, calls)
    tasks.prepare_due_dose_sheets()
    _visits(monkeypatch, [CycleVisit(patient.pk, patient.site_id, "neoadjuvant", 1, dt.date(2026, 3, 6), "planned")])
    tasks.prepare_due_dose_sheets()
    assert list(DoseSheet.objects.order_by("version").values_list("version", "status", "day1")) == [
        (1, "void", dt.date(2026, 3, 5)),
        (2, "prepared", dt.date(2026, 3, 6)),
    ]


def test_beat_schedule_runs_the_task() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["dosing-prepare-due-sheets"]
    assert entry["task"] == tasks.prepare_due_dose_sheets.name
