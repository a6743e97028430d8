"""The registry admin: site isolation, audit trail, no hard delete, language per user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from tests.factories import ParticipantFactory
from trialsite.models import Participant, Site, StaffProfile


def _login(client: Client, user: User) -> Client:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _change_form(p: Participant, **changes: Any) -> dict[str, Any]:
    data = {
        "full_name": p.full_name,
        "sex": p.sex,
        "birth_date": p.birth_date.isoformat(),
        "consent_date": p.consent_date.isoformat() if p.consent_date else "",
        "phone": p.phone,
        "email": p.email,
        "preferred_language": p.preferred_language,
        "reminders_by_sms": "on" if p.reminders_by_sms else "",
        "measurements-TOTAL_FORMS": "0",
        "measurements-INITIAL_FORMS": "0",
        "lab_results-TOTAL_FORMS": "0",
        "lab_results-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_nurse_sees_only_her_sites_in_the_admin(
    client: Client, nurse: User, participant: Participant, other_site: Site
) -> None:
    theirs = ParticipantFactory(trial=participant.trial, site=other_site, full_name="别院患者")
    _login(client, nurse)

    listing = client.get("/admin/trialsite/participant/")
    assert listing.status_code == 200
    assert participant.full_name in listing.content.decode()
    assert "别院患者" not in listing.content.decode()
    assert client.get(f"/admin/trialsite/participant/{theirs.pk}/change/").status_code == 302  # "doesn't exist"
    page = client.get(f"/admin/trialsite/participant/{participant.pk}/change/")
    assert page.status_code == 200
    # The participant's page leads to the next steps of her workflow.
    html = page.content.decode()
    assert f"/admin/randomization/screeningassessment/add/?participant={participant.pk}" in html
    assert f"/admin/schedules/treatmentplan/participant/{participant.pk}/timeline/" in html


def test_an_admin_change_is_in_the_audit_trail(client: Client, nurse: User, participant: Participant) -> None:
    _login(client, nurse)

    response = client.post(
        f"/admin/trialsite/participant/{participant.pk}/change/", _change_form(participant, phone="+86 139 9999 0000")
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    participant.refresh_from_db()
    assert participant.phone == "+86 139 9999 0000"
    latest = participant.history.latest()
    assert latest.history_user == nurse
    assert latest.history_type == "~"
    delta = latest.diff_against(latest.prev_record)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("phone", "+86 138 0000 0000", "+86 139 9999 0000")]
    history_page = client.get(f"/admin/trialsite/participant/{participant.pk}/history/")
    assert history_page.status_code == 200
    assert "nurse" in history_page.content.decode()


def test_the_admin_refuses_an_implausible_measurement_and_writes_nothing(
    client: Client, nurse: User, participant: Participant
) -> None:
    _login(client, nurse)
    form = _change_form(
        participant,
        **{
            "measurements-TOTAL_FORMS": "1",
            "measurements-0-kind": "height",
            "measurements-0-value": "17.5",
            "measurements-0-measured_on": "2026-03-01",
        },
    )

    response = client.post(f"/admin/trialsite/participant/{participant.pk}/change/", form, follow=True)

    assert response.status_code == 200
    assert not participant.measurements.exists()
    assert "Height 17.5 cm is not plausible (100–230 cm)." in response.content.decode()


def test_nothing_clinical_can_be_deleted_in_the_admin(client: Client, nurse: User, participant: Participant) -> None:
    superuser = User.objects.create_superuser("root", password="pw-for-tests-1")
    for user in (nurse, superuser):
        _login(client, user)
        assert client.get(f"/admin/trialsite/participant/{participant.pk}/delete/").status_code == 403
        response = client.post(
            "/admin/trialsite/participant/", {"action": "delete_selected", "_selected_action": [participant.pk]}
        )
        assert response.status_code in (200, 302)
    assert Participant.objects.filter(pk=participant.pk).exists()


def test_language_is_switchable_per_user(client: Client, nurse: User, pharmacist: User) -> None:
    _login(client, nurse)
    response = client.post("/account/language/", {"language": "zh-hans", "next": "/admin/"})
    assert response.status_code == 302
    assert StaffProfile.objects.get(user=nurse).language == "zh-hans"
    page = client.get("/admin/").content.decode()
    assert "站点管理" in page or "注销" in page or "退出" in page  # Django's own zh-hans admin strings

    other = Client()
    _login(other, pharmacist)
    assert "站点管理" not in other.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert client.post("/account/language/", {"language": "klingon"}).status_code == 400
