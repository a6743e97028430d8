from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from trialsite import services
from trialsite.errors import Conflict, InvalidInput, NotFound, RuleViolation
from trialsite.models import STATUS_TRANSITIONS, LabResult, Participant, ParticipantStatus, Site, Trial

ALL = [s.value for s in ParticipantStatus]


@pytest.mark.parametrize("start", ALL)
@pytest.mark.parametrize("target", ["screening", "eligible", "ineligible", "on_treatment", "completed"])
def test_status_transitions_follow_the_table(participant: Participant, start: str, target: str) -> None:
    # given a participant in `start` (set directly: arranging state, not testing it)
    Participant.objects.filter(pk=participant.pk).update(
        status=start,
        **(
            {"arm": "control", "randomization_number": 1, "randomized_at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC)}
            if start in ("randomized", "on_treatment", "completed")
            else {}
        ),
    )
    participant.refresh_from_db()

    if target in STATUS_TRANSITIONS[ParticipantStatus(start)] or target == start:
        services.participant_set_status(by=None, participant=participant, status=target)
        participant.refresh_from_db()
        assert participant.status == target
    else:
        with pytest.raises(RuleViolation) as info:
            services.participant_set_status(by=None, participant=participant, status=target)
        assert info.value.code == "illegal_status_transition"
        participant.refresh_from_db()
        assert participant.status == start


def test_illegal_moves_named_in_the_issue_are_refused(participant: Participant) -> None:
    # screening → randomized skips eligibility; completed and withdrawn are final.
    with pytest.raises(RuleViolation):
        services.participant_set_status(by=None, participant=participant, status="randomized")
    services.participant_withdraw(
        participant=participant, reason="consent withdrawn", by=None, now=dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
    )
    with pytest.raises(RuleViolation):
        services.participant_set_status(by=None, participant=participant, status="eligible")


def test_database_refuses_a_randomized_status_without_allocation(participant: Participant) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.filter(pk=participant.pk).update(status="randomized")


def test_screening_number_is_unique_per_trial(trial: Trial, site: Site, nurse: Any, today: dt.date) -> None:
    kwargs = dict(
        trial=trial, site=site, full_name="张三", sex="male", birth_date=dt.date(1960, 1, 1), by=nurse, today=today
    )
    services.participant_create(screening_number="ZJU1-001", **kwargs)
    with pytest.raises(Conflict):
        services.participant_create(screening_number="ZJU1-001", **kwargs)
    assert Participant.objects.count() == 1


def test_a_nurse_cannot_register_at_another_site(trial: Trial, other_site: Site, nurse: Any, today: dt.date) -> None:
    with pytest.raises(NotFound):
        services.participant_create(
            trial=trial,
            site=other_site,
            screening_number="X1",
            full_name="李四",
            sex="female",
            birth_date=dt.date(1960, 1, 1),
            by=nurse,
            today=today,
        )
    assert not Participant.objects.exists()


def test_measurements_are_bounded_for_plausibility(participant: Participant, today: dt.date) -> None:
    with pytest.raises(InvalidInput) as info:
        services.measurement_record(
            participant=participant, kind="height", value="62", measured_on=today, by=None, today=today
        )
    # 62 is a height in inches (157 cm) or a weight: the message says so (trialsite/plausibility.py).
    assert info.value.errors["value"] == [
        "Height 62 cm is not plausible (100–230 cm); did you enter inches (62 in = 157 cm) or the weight in kg?"
    ]
    with pytest.raises(InvalidInput):
        services.measurement_record(
            participant=participant,
            kind="weight",
            value="72",
            measured_on=today + dt.timedelta(days=1),
            by=None,
            today=today,
        )
    row = services.measurement_record(
        participant=participant, kind="weight", value="72.35", measured_on=today, by=None, today=today
    )
    assert row.value == Decimal("72.35")


def test_lab_values_are_converted_and_take_the_site_uln(participant: Participant, today: dt.date) -> None:
    # 1.2 mg/dL creatinine = 106.08 µmol/L (× 88.4); ZJU1's default ULN is 104 µmol/L.
    row = services.lab_result_record(
        participant=participant,
        analyte="creatinine",
        value="1.2",
        unit="mg/dL",
        collected_on=today,
        by=None,
        today=today,
    )
    assert row.value == Decimal("106.080")
    assert row.unit == "umol/L"
    assert row.uln == Decimal("104.000")
    with pytest.raises(InvalidInput) as info:
        services.lab_result_record(
            participant=participant,
            analyte="creatinine",
            value="1.2",
            unit="mmol/L",
            collected_on=today,
            by=None,
            today=today,
        )
    assert "unit" in info.value.errors
    assert LabResult.objects.count() == 1


def test_contact_changes_recompute_reminders_and_identity_freezes_at_randomization(
    participant: Participant, nurse: Any, api: Any
) -> None:
    from trialsite.signals import plan_changed

    told: list[int] = []
    plan_changed.connect(lambda sender, participant, **kw: told.append(participant.pk), weak=False, dispatch_uid="t")
    try:
        response = api(nurse).patch(f"/api/v1/participants/{participant.pk}/", {"phone": "+86 139 0000 1234"})
        assert response.status_code == 200 and response.json()["full_name"] == participant.full_name
        participant.refresh_from_db()
        assert participant.phone == "+86 139 0000 1234"
        assert told == [participant.pk]
        assert api(nurse).patch(f"/api/v1/participants/{participant.pk}/", {"phone": "x"}).status_code == 400
    finally:
        plan_changed.disconnect(dispatch_uid="t")

    Participant.objects.filter(pk=participant.pk).update(
        status="randomized", arm="control", randomization_number=3, randomized_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    )
    with pytest.raises(RuleViolation):
        services.participant_update_details(
            by=None, participant=participant, changes={"full_name": "改名"}, today=dt.date(2026, 3, 2)
        )
