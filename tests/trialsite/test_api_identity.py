"""API clients see a participant's identifiers and schedule, not the name and birth date, unless
that client is granted them (issue 12 §7)."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.contrib.auth.models import User
from django.core.management import call_command

from trialsite.models import Participant


def _grant(user: User, *, identity: bool) -> User:
    flag = "--identity" if identity else "--no-identity"
    out = StringIO()
    call_command("create_api_user", user.username, "--role", "api_client", "--site", "ZJU1", flag, stdout=out)
    assert ("sees identities" if identity else "does not see identities") in out.getvalue()
    return User.objects.get(pk=user.pk)


def test_an_api_client_sees_identifiers_but_not_name_or_birth_date(
    api_client_user: User, api: Any, participant: Participant
) -> None:
    listed = api(api_client_user).get("/api/v1/participants/").json()["results"]
    detail = api(api_client_user).get(f"/api/v1/participants/{participant.pk}/").json()
    for shown in (listed[0], detail):
        assert shown["id"] == participant.pk
        assert shown["screening_number"] == participant.screening_number
        assert "full_name" not in shown and "birth_date" not in shown
    assert participant.full_name not in str(listed) + str(detail)


def test_a_client_granted_identity_sees_them_and_loses_them_when_revoked(
    api_client_user: User, api: Any, participant: Participant
) -> None:
    user = _grant(api_client_user, identity=True)
    detail = api(user).get(f"/api/v1/participants/{participant.pk}/").json()
    assert detail["full_name"] == participant.full_name
    assert detail["birth_date"] == participant.birth_date.isoformat()

    user = _grant(user, identity=False)
    assert "full_name" not in api(user).get(f"/api/v1/participants/{participant.pk}/").json()


def test_the_grant_is_per_client(
    api_client_user: User, make_user: Any, site: Any, api: Any, participant: Participant
) -> None:
    other = make_user("api_client", [site], username="lab-system")
    _grant(api_client_user, identity=True)
    assert "full_name" in api(api_client_user).get(f"/api/v1/participants/{participant.pk}/").json()
    assert "full_name" not in api(other).get(f"/api/v1/participants/{participant.pk}/").json()


def test_staff_roles_see_identities(
    nurse: User, investigator: User, pharmacist: User, statistician: User, api: Any, participant: Participant
) -> None:
    for user in (nurse, investigator, pharmacist, statistician):
        detail = api(user).get(f"/api/v1/participants/{participant.pk}/").json()
        assert detail["full_name"] == participant.full_name, user.username


def test_the_schema_documents_the_fields_as_optional() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    component = schema["components"]["schemas"]["ParticipantOut"]
    assert {"full_name", "birth_date"} <= set(component["properties"])
    assert not {"full_name", "birth_date"} & set(component.get("required", []))
