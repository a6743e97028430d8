"""Fixtures of the randomization tests: an active scheme and eligible participants."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User

from randomization import services as rs
from randomization.models import RandomizationScheme
from tests.conftest import PROTOCOL_PATH
from tests.factories import ParticipantFactory, record_labs
from trialsite import protocol, services
from trialsite.models import Participant, Site, Trial

# Screening labs inside every threshold (canonical units, trialsite/labs.py).
GOOD_LABS: dict[str, Decimal] = {
    "anc": Decimal("3.2"),
    "platelets": Decimal("210"),
    "hemoglobin": Decimal("12.5"),
    "total_bilirubin": Decimal("12"),
    "alt": Decimal("30"),
    "ast": Decimal("28"),
    "albumin": Decimal("40"),
    "creatinine": Decimal("80"),
    "urine_protein_dipstick": Decimal("0"),
    "inr": Decimal("1.0"),
    "aptt": Decimal("32"),
}
NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Asia/Shanghai, the `today` fixture's day


@pytest.fixture(scope="session")
def trial_definition() -> dict[str, Any]:
    return protocol.read(PROTOCOL_PATH)


def good_findings(definition: dict[str, Any], **changes: Any) -> dict[str, Any]:
    findings: dict[str, Any] = {c["rule"]["field"]: False for c in definition["eligibility"]["exclusion"]}
    findings.update(
        rectal_adenocarcinoma=True,
        tumour_distance_cm=6,
        metastatic_sites=1,
        metastatic_lesions=3,
        mss_or_pmmr=True,
        recist_measurable_lesion=True,
        ecog=1,
        no_life_limiting_disease=True,
        contraception_and_pregnancy_test_ok=True,
        liver_only_metastases=True,
    )
    findings.update(changes)
    return findings


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture
def scheme(trial: Trial, statistician: User) -> RandomizationScheme:
    draft = rs.scheme_create(trial=trial, by=statistician)
    return rs.scheme_activate(scheme=draft, by=statistician, now=NOW - dt.timedelta(days=30))


ParticipantMaker = Callable[..., Participant]


@pytest.fixture
def make_eligible(trial: Trial, site: Site, nurse: User, today: dt.date) -> ParticipantMaker:
    """make_eligible(site=…, by=…, **findings) → an eligible participant with labs and weight."""

    def make(site: Site = site, by: User | None = None, assess: bool = True, **changes: Any) -> Participant:
        participant = ParticipantFactory(trial=trial, site=site)
        record_labs(participant, GOOD_LABS, on=today)
        services.measurement_record(
            participant=participant, kind="weight", value="68", measured_on=today, by=None, today=today
        )
        if assess:
            rs.screening_assessment_record(
                participant=participant,
                assessed_on=today,
                findings=good_findings(trial.definition, **changes),
                by=by,
                today=today,
            )
        participant.refresh_from_db()
        return participant

    return make


@pytest.fixture
def plan_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What randomize hands the treatment-plan maker (which still makes the plan)."""
    calls: list[dict[str, Any]] = []
    real = rs._plan_maker
    assert real is not None

    def record(**kwargs: Any) -> object:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(rs, "_plan_maker", record)
    return calls
