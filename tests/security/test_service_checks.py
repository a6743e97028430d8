"""Every write service checks role and site itself, whatever door calls it (issue 12 §1, §2, §7):
trialsite.roles.require (permission + site; `by=None` is the system)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User

from reminders import services as reminder_services
from reminders.models import ReminderRule
from tests.factories import ParticipantFactory
from trialsite import roles, services
from trialsite.errors import NotFound, NotPermitted
from trialsite.models import Participant, Site, Trial

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("role", ["pharmacist", "statistician", "other_nurse", "api_client_user"])
def test_details_and_consent_refuse_read_only_roles_and_other_sites(
    role: str, request: Any, participant: Participant, today: dt.date
) -> None:
    user = request.getfixturevalue(role)
    before = Participant.objects.values().get(pk=participant.pk)
    refused = NotFound if role == "other_nurse" else NotPermitted  # another site's record: 404

    with pytest.raises(refused):
        services.participant_update_details(
            participant=participant, changes={"email": "attacker@example.org"}, by=user, today=today
        )
    with pytest.raises(refused):
        services.participant_record_consent(participant=participant, consent_date=today, by=user, today=today)

    assert Participant.objects.values().get(pk=participant.pk) == before


def test_a_nurse_of_the_site_changes_details_and_the_system_may_too(
    nurse: User, participant: Participant, today: dt.date
) -> None:
    services.participant_update_details(
        participant=participant, changes={"email": "new@example.org"}, by=nurse, today=today
    )
    services.participant_update_details(
        participant=participant, changes={"phone": "+8613800000000"}, by=None, today=today
    )

    participant.refresh_from_db()
    assert (participant.email, participant.phone) == ("new@example.org", "+8613800000000")


@pytest.mark.parametrize("role", ["pharmacist", "statistician"])
def test_withdrawal_and_error_flags_refuse_read_only_roles(
    role: str, request: Any, participant: Participant, today: dt.date
) -> None:
    user = request.getfixturevalue(role)
    row = services.measurement_record(
        participant=participant, kind="height", value="170", measured_on=today, by=None, today=today
    )

    with pytest.raises(NotPermitted):
        services.participant_withdraw(participant=participant, reason="x", by=user, now=NOW)
    with pytest.raises(NotPermitted):
        services.record_mark_entered_in_error(record=row, reason="x", by=user)

    participant.refresh_from_db()
    row.refresh_from_db()
    assert participant.status != "withdrawn" and row.entered_in_error is False


def test_another_sites_nurse_cannot_record_clinical_data(
    other_nurse: User, participant: Participant, today: dt.date
) -> None:
    with pytest.raises(NotFound) as refused:
        services.measurement_record(
            participant=participant, kind="height", value="170", measured_on=today, by=other_nurse, today=today
        )
    assert refused.value.code == "not_found"


def test_reminder_rules_are_changed_by_a_trial_wide_role_only(
    trial: Trial, nurse: User, investigator: User, make_user: Any, site: Site
) -> None:
    rule = reminder_services.reminder_rules_for_trial(trial=trial)[0]
    rule.days_from_event = rule.days_from_event - 1

    with pytest.raises(NotPermitted):
        reminder_services.reminder_rule_save(rule=rule, by=nurse, now=NOW)
    assert ReminderRule.objects.get(pk=rule.pk).days_from_event == rule.days_from_event + 1

    reminder_services.reminder_rule_save(rule=rule, by=investigator, now=NOW)
    assert ReminderRule.objects.get(pk=rule.pk).days_from_event == rule.days_from_event
    assert not nurse.has_perm("reminders.change_reminderrule")
    assert investigator.has_perm("reminders.change_reminderrule")


def test_protocol_loading_is_for_the_system_or_a_superuser(investigator: User, trial: Trial) -> None:
    from tests.conftest import PROTOCOL_PATH

    with pytest.raises(NotPermitted):
        services.protocol_load(path=PROTOCOL_PATH, by=investigator)
    services.protocol_load(path=PROTOCOL_PATH, by=None)


def test_require_answers_the_system_superusers_roles_and_sites(
    nurse: User, pharmacist: User, site: Site, other_site: Site
) -> None:
    roles.require(None, "trialsite.change_participant", site=site)
    roles.require(User(is_superuser=True, is_active=True), "trialsite.change_participant", site=other_site)
    roles.require(nurse, "trialsite.change_participant", site=site)
    with pytest.raises(NotPermitted):
        roles.require(pharmacist, "trialsite.change_participant", site=site)
    with pytest.raises(NotPermitted) as refused:
        roles.require(pharmacist, "trialsite.change_participant", site=other_site)
    assert refused.value.code == "role_required"
    with pytest.raises(NotFound) as hidden:
        roles.require(nurse, "trialsite.change_participant", site=other_site)
    assert hidden.value.code == "not_found" and hidden.value.http_status == 404
    with pytest.raises(NotFound):
        roles.require(nurse, "trialsite.change_participant", site=other_site.pk)


def test_another_sites_participant_is_not_booked_by_an_api_client(
    api_client_user: User, trial: Trial, other_site: Site
) -> None:
    from schedules.services.plans import treatment_plan_create

    theirs = ParticipantFactory(trial=trial, site=other_site)
    with pytest.raises((NotFound, NotPermitted)):
        treatment_plan_create(participant=theirs, scrt_start_date=dt.date(2026, 3, 9), by=api_client_user, now=NOW)


def test_another_sites_nurse_cannot_change_a_closure(nurse: User, other_nurse: User, site: Site) -> None:
    from schedules.services.closures import site_closure_create, site_closure_update_reason

    closure = site_closure_create(site=site, date=dt.date(2026, 6, 3), reason="maintenance", by=nurse)
    with pytest.raises(NotFound):
        site_closure_update_reason(closure=closure, reason="HACKED", by=other_nurse)
    closure.refresh_from_db()
    assert closure.reason == "maintenance"


def test_another_sites_reminders_do_not_exist_for_a_nurse(other_nurse: User, participant: Participant) -> None:
    # The status policy (trialsite/error_codes.py): another site's record is 404, not 403.
    with pytest.raises(NotFound):
        reminder_services.reminders_cancel_for_participant(
            participant=participant, reason="participant withdrawn", by=other_nurse, now=NOW
        )
