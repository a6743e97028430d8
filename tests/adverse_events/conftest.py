"""Fixtures of the toxicity log: a randomized participant (the protocol's first arm, so that the
tests name no arm or drug) and the shipped CTCAE terms (a transactional test's flush empties the
table the migration filled)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from adverse_events import ctcae, services
from adverse_events.models import Term
from adverse_events.selectors import participant_drugs
from tests.factories import ParticipantFactory
from trialsite.models import Participant, Site, Trial

NOW = dt.datetime(2026, 3, 30, 2, 0, tzinfo=dt.UTC)  # 10:00 in Asia/Shanghai
TODAY = dt.date(2026, 3, 30)


@pytest.fixture
def terms(db: Any) -> dict[str, Term]:
    if not Term.objects.exists():
        services.terms_load(specs=ctcae.read(ctcae.SHIPPED), source="shipped", by=None)
    return {t.term: t for t in Term.objects.all()}


def randomize(participant: Participant) -> Participant:
    arm = participant.protocol_version.definition["arms"][0]["code"]
    Participant.objects.filter(pk=participant.pk).update(
        status="randomized", arm=arm, randomization_number=participant.pk, randomized_at=timezone.now()
    )
    participant.refresh_from_db()
    return participant


@pytest.fixture
def treated(trial: Trial, site: Site) -> Participant:
    return randomize(ParticipantFactory(trial=trial, site=site))


@pytest.fixture
def theirs(trial: Trial, other_site: Site) -> Participant:
    return randomize(ParticipantFactory(trial=trial, site=other_site))


@pytest.fixture
def drugs(treated: Participant) -> list[str]:
    return participant_drugs(treated)


def record(participant: Participant, term: Term, by: Any, **kwargs: Any) -> Any:
    values = {"grade": 2, "onset_date": dt.date(2026, 3, 20), **kwargs}
    return services.ae_record(participant=participant, term=term, by=by, now=NOW, today=TODAY, **values)
