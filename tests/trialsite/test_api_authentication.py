"""Token authentication reads the caller's roles and sites with the token, in one query, and
keeps nothing beyond the request: a role or site taken away applies to the next request."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token

from trialsite.models import Participant, Site, SiteMembership


def test_a_read_costs_one_query_for_token_user_roles_and_sites(
    nurse: User, api: Any, participant: Participant, django_assert_num_queries: Any
) -> None:
    client = api(nurse)
    with django_assert_num_queries(2):  # the token with its user, roles and sites; the participant
        response = client.get(f"/api/v1/participants/{participant.pk}/")
    assert response.status_code == 200 and response.json()["id"] == participant.pk


def test_a_site_taken_away_applies_to_the_next_request(
    nurse: User, api: Any, participant: Participant, site: Site, other_site: Site
) -> None:
    client = api(nurse)
    assert client.get(f"/api/v1/participants/{participant.pk}/").status_code == 200

    SiteMembership.objects.filter(user=nurse, site=site).delete()
    SiteMembership.objects.create(user=nurse, site=other_site)

    assert client.get(f"/api/v1/participants/{participant.pk}/").status_code == 404


def test_a_role_taken_away_applies_to_the_next_request(nurse: User, api: Any, participant: Participant) -> None:
    client = api(nurse)
    assert client.get(f"/api/v1/participants/{participant.pk}/").status_code == 200

    nurse.groups.remove(Group.objects.get(name="research_nurse"))

    assert client.get(f"/api/v1/participants/{participant.pk}/").status_code == 403


def test_an_unknown_token_or_an_inactive_user_is_401(nurse: User, api: Any, participant: Participant) -> None:
    client = api(nurse)
    User.objects.filter(pk=nurse.pk).update(is_active=False)
    inactive = client.get(f"/api/v1/participants/{participant.pk}/")
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    unknown = client.get(f"/api/v1/participants/{participant.pk}/")

    assert (inactive.status_code, inactive.json()["detail"]) == (401, "User inactive or deleted.")
    assert (unknown.status_code, unknown.json()["detail"]) == (401, "Invalid token.")
    assert Token.objects.filter(user=nurse).exists()
