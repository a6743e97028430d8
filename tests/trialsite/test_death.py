from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User

from trialsite import services
from trialsite.errors import InvalidInput, RuleViolation
from trialsite.models import Participant
from trialsite.signals import participant_withdrawn

NOW = dt.datetime(2026, 5, 4, 2, 0, tzinfo=dt.UTC)


def _randomized(participant: Participant) -> Participant:
    Participant.objects.filter(pk=participant.pk).update(
        status="on_treatment", arm="control", randomization_number=7, randomized_at=NOW
    )
    participant.refresh_from_db()
    return participant


def test_a_death_stops_everything_like_a_withdrawal(participant: Participant, nurse: User) -> None:
    participant = _randomized(participant)
    told: list[Participant] = []

    def receiver(sender: Any, participant: Participant, **kwargs: Any) -> None:
        told.append(participant)

    participant_withdrawn.connect(receiver)
    try:
        services.participant_record_death(
            participant=participant, died_on=dt.date(2026, 5, 2), by=nurse, now=NOW, today=dt.date(2026, 5, 4)
        )
    finally:
        participant_withdrawn.disconnect(receiver)

    participant.refresh_from_db()
    assert participant.status == "deceased"
    assert participant.died_on == dt.date(2026, 5, 2)
    assert participant.randomization_number == 7  # the allocation stays: intention to treat
    assert [p.pk for p in told] == [participant.pk]
    with pytest.raises(RuleViolation):
        services.participant_set_status(by=None, participant=participant, status="on_treatment")


def test_death_after_withdrawal_is_recorded_without_stopping_twice(participant: Participant) -> None:
    services.participant_withdraw(participant=participant, reason="moved away", by=None, now=NOW)
    told: list[int] = []
    participant_withdrawn.connect(
        lambda sender, participant, **kw: told.append(participant.pk), weak=False, dispatch_uid="t"
    )
    try:
        services.participant_record_death(
            participant=participant, died_on=dt.date(2026, 5, 1), by=None, now=NOW, today=dt.date(2026, 5, 4)
        )
    finally:
        participant_withdrawn.disconnect(dispatch_uid="t")
    participant.refresh_from_db()
    assert participant.status == "deceased" and participant.withdrawal_reason == "moved away"
    assert told == []


def test_a_future_date_of_death_is_refused(participant: Participant) -> None:
    with pytest.raises(InvalidInput) as info:
        services.participant_record_death(
            participant=participant, died_on=dt.date(2026, 6, 1), by=None, now=NOW, today=dt.date(2026, 5, 4)
        )
    assert "died_on" in info.value.errors
    participant.refresh_from_db()
    assert participant.status == "screening"


def test_death_through_the_api_and_the_admin(participant: Participant, nurse: User, api: Any, client: Any) -> None:
    bad = api(nurse).post(f"/api/v1/participants/{participant.pk}/death/", {"died_on": "2999-01-01"})
    assert bad.status_code == 400 and "died_on" in bad.json()["errors"]

    client.force_login(nurse, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(f"/admin/trialsite/participant/{participant.pk}/death/")
    assert page.status_code == 200
    done = client.post(f"/admin/trialsite/participant/{participant.pk}/death/", {"died_on": "2026-03-01", "notes": ""})
    assert done.status_code == 302
    participant.refresh_from_db()
    assert participant.status == "deceased"
    again = api(nurse).post(f"/api/v1/participants/{participant.pk}/death/", {"died_on": "2026-03-01"})
    assert again.status_code == 422
