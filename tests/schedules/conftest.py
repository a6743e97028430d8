"""Fixtures of the schedules tests: randomized participants arranged directly (not through the
randomization app), and a plan made by the service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from schedules.models import TreatmentPlan
from schedules.services.plans import treatment_plan_create
from tests.factories import ParticipantFactory
from trialsite.models import Participant, Site, Trial

# Monday 2 March 2026, 09:00 in Shanghai (the suite's `today`).
NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
SCRT_START = dt.date(2026, 3, 4)


def randomize(participant: Participant, *, arm: str = "experimental", number: int | None = None) -> Participant:
    """Arrange the randomized state (the randomization app owns the real workflow)."""
    Participant.objects.filter(pk=participant.pk).update(
        status="randomized",
        arm=arm,
        randomization_number=number or participant.pk,
        randomized_at=dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC),
    )
    participant.refresh_from_db()
    return participant


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture
def make_randomized(trial: Trial, site: Site) -> Callable[..., Participant]:
    def make(*, arm: str = "experimental", at: Site | None = None) -> Participant:
        return randomize(ParticipantFactory(trial=trial, site=at or site), arm=arm)

    return make


@pytest.fixture
def randomized(make_randomized: Callable[..., Participant]) -> Participant:
    return make_randomized()


@pytest.fixture
def plan(randomized: Participant, nurse: Any) -> TreatmentPlan:
    return treatment_plan_create(participant=randomized, scrt_start_date=SCRT_START, by=nurse, now=NOW)
