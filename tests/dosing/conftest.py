"""Fixtures of the dosing tests: a randomized participant with measurements and labs in the
windows of a cycle whose day 1 is 2026-03-05, and the clock frozen on the suite's `today`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from dosing import services
from dosing.models import DoseSheet
from tests.factories import record_labs
from trialsite import services as registry
from trialsite.models import Participant

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai on the suite's `today`
DAY1 = dt.date(2026, 3, 5)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture
def day1() -> dt.date:
    return DAY1


def randomize(participant: Participant, arm: str = "experimental", number: int = 1) -> Participant:
    Participant.objects.filter(pk=participant.pk).update(
        status="randomized", arm=arm, randomization_number=number, randomized_at=NOW
    )
    participant.refresh_from_db()
    return participant


def record_inputs(
    participant: Participant,
    *,
    on: dt.date = dt.date(2026, 3, 2),
    height: str = "180",
    weight: str = "80",
    creatinine: str = "80",
    anc: str = "2.0",
    platelets: str = "150",
) -> None:
    with time_machine.travel(dt.datetime.combine(on, dt.time(2, 0), tzinfo=dt.UTC), tick=False):
        registry.measurement_record(
            participant=participant, kind="height", value=height, measured_on=on, by=None, today=on
        )
        registry.measurement_record(
            participant=participant, kind="weight", value=weight, measured_on=on, by=None, today=on
        )
        record_labs(participant, {"creatinine": creatinine, "anc": anc, "platelets": platelets}, on=on)


@pytest.fixture
def patient(participant: Participant) -> Participant:
    """Experimental arm, 180 cm / 80 kg (BSA 2.00), creatinine 80 µmol/L, ANC 2.0, platelets 150."""
    randomize(participant)
    record_inputs(participant)
    return participant


SheetMaker = Callable[..., DoseSheet]


@pytest.fixture
def make_sheet(now: dt.datetime) -> SheetMaker:
    def make(
        participant: Participant, cycle: int = 1, day1: dt.date = DAY1, phase: str = "neoadjuvant", **kw: Any
    ) -> DoseSheet:
        return services.dose_sheet_prepare(
            participant=participant, phase=phase, cycle_number=cycle, day1=day1, now=now, **{"by": None, **kw}
        )

    return make


def dose(sheet: DoseSheet, drug: str) -> dict[str, Any]:
    return next(d for d in sheet.content["doses"] if d["drug"] == drug)


def D(x: str | int) -> Decimal:
    return Decimal(str(x))
