"""The attacks of issue 12 §1 and §2, replayed: django-simple-history's pages go through the admin's
site-scoped queryset and the role's permission, a past version is shown read-only and never saved
back, and admin actions are offered and run only for the roles with their permission."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client

from tests.factories import ParticipantFactory
from trialsite.admin_guard import GuardedAdmin, GuardedHistoryAdmin
from trialsite.models import Measurement, Participant, Site, Trial

pytestmark = pytest.mark.django_db


def _login(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _history_id(obj: Any) -> int:
    return int(obj.history.latest("history_date").history_id)


def _participant_post(p: Participant, **changes: str) -> dict[str, str]:
    data = {
        "full_name": p.full_name,
        "sex": p.sex,
        "birth_date": p.birth_date.isoformat(),
        "phone": p.phone,
        "email": p.email,
        "preferred_language": p.preferred_language,
    }
    return {**data, **changes}


@pytest.fixture
def theirs(trial: Trial, other_site: Site) -> Participant:
    return ParticipantFactory(trial=trial, site=other_site, email="patient@example.org")


def test_another_sites_participant_history_is_not_found_and_a_post_changes_nothing(
    nurse: User, theirs: Participant
) -> None:
    client = _login(nurse)
    url = f"/admin/trialsite/participant/{theirs.pk}/history/{_history_id(theirs)}/"

    assert client.get(url).status_code == 404
    assert client.get(f"/admin/trialsite/participant/{theirs.pk}/history/").status_code == 404
    response = client.post(url, _participant_post(theirs, email="attacker@example.org"))

    assert response.status_code in (403, 404)
    theirs.refresh_from_db()
    assert theirs.email == "patient@example.org"


@pytest.mark.parametrize("role", ["nurse", "pharmacist", "statistician", "investigator"])
def test_a_history_detail_is_read_only_for_every_role(role: str, request: Any, participant: Participant) -> None:
    user = request.getfixturevalue(role)
    client = _login(user)
    url = f"/admin/trialsite/participant/{participant.pk}/history/{_history_id(participant)}/"
    before = Participant.objects.values().get(pk=participant.pk)

    page = client.get(url)
    posted = client.post(url, _participant_post(participant, email="attacker@example.org", full_name="X"))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="email"' not in html and 'name="full_name"' not in html  # shown, not editable
    assert 'name="_save"' not in html  # no "Revert"
    assert posted.status_code == 403
    assert Participant.objects.values().get(pk=participant.pk) == before


def test_a_sites_history_cannot_change_its_chairs_or_time_zone(nurse: User, site: Site, other_site: Site) -> None:
    client = _login(nurse)
    before = list(Site.objects.order_by("pk").values())
    post = {"code": "X", "name": "X", "city": "X", "time_zone": "Pacific/Kiritimati", "infusion_chairs_per_day": "1"}

    own = client.post(f"/admin/trialsite/site/{site.pk}/history/{_history_id(site)}/", post)
    other = client.post(f"/admin/trialsite/site/{other_site.pk}/history/{_history_id(other_site)}/", post)

    assert own.status_code == 403
    assert other.status_code in (403, 404)
    assert client.get(f"/admin/trialsite/site/{other_site.pk}/history/{_history_id(other_site)}/").status_code == 404
    assert list(Site.objects.order_by("pk").values()) == before


def test_the_trials_history_cannot_retitle_the_trial(statistician: User, trial: Trial) -> None:
    client = _login(statistician)
    url = f"/admin/trialsite/trial/{trial.pk}/history/{_history_id(trial)}/"

    response = client.post(url, {"title": "Hijacked", "registry_id": trial.registry_id})

    assert response.status_code == 403
    trial.refresh_from_db()
    assert trial.title != "Hijacked"


@pytest.mark.parametrize("role", ["pharmacist", "statistician"])
def test_read_only_roles_cannot_withdraw_through_the_action(role: str, request: Any, participant: Participant) -> None:
    client = _login(request.getfixturevalue(role))

    listing = client.get("/admin/trialsite/participant/")
    client.post(
        "/admin/trialsite/participant/",
        {"action": "withdraw_selected", "_selected_action": [participant.pk], "index": "0"},
    )

    assert "withdraw_selected" not in listing.content.decode()
    participant.refresh_from_db()
    assert participant.status != "withdrawn"


def test_a_nurse_withdraws_through_the_action(nurse: User, participant: Participant) -> None:
    client = _login(nurse)

    listing = client.get("/admin/trialsite/participant/")
    client.post(
        "/admin/trialsite/participant/",
        {
            "action": "withdraw_selected",
            "_selected_action": [participant.pk],
            "index": "0",
            "confirm": "yes",
            "withdrawal_reason": "moved to another city",
        },
    )

    assert "withdraw_selected" in listing.content.decode()
    participant.refresh_from_db()
    assert participant.status == "withdrawn"


@pytest.mark.parametrize("role", ["pharmacist", "statistician"])
def test_read_only_roles_cannot_mark_a_measurement_in_error(
    role: str, request: Any, participant: Participant, today: Any
) -> None:
    from trialsite import services

    row = services.measurement_record(
        participant=participant, kind="height", value="170", measured_on=today, by=None, today=today
    )
    client = _login(request.getfixturevalue(role))

    client.post(
        "/admin/trialsite/measurement/",
        {"action": "mark_entered_in_error", "_selected_action": [row.pk], "index": "0"},
    )

    assert Measurement.objects.get(pk=row.pk).entered_in_error is False


PROJECT_APPS = {"trialsite", "randomization", "dosing", "schedules", "reminders"}


def test_every_admin_is_guarded_and_every_action_declares_its_permissions(rf: Any) -> None:
    request = rf.get("/admin/")
    request.user = User(is_superuser=True, is_staff=True)
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, GuardedAdmin), model
        if hasattr(model, "history") and not model._meta.proxy:  # a proxy shows Django's own log
            assert isinstance(model_admin, GuardedHistoryAdmin), model
        if model._meta.app_label in PROJECT_APPS:
            for action in model_admin.actions or ():
                func = getattr(model_admin, action) if isinstance(action, str) else action
                assert getattr(func, "allowed_permissions", ()), f"{model_admin}.{action} declares no permissions"
        # A package's action without permissions (axes' clean-up) is not offered, even to a superuser.
        for name, (func, *_rest) in model_admin.get_actions(request).items():
            assert getattr(func, "allowed_permissions", ()), f"{model_admin} offers {name}"
