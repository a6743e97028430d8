"""The participant search boxes of the admin's add forms (issue 16): Django's autocomplete view
answers from ParticipantAdmin's own list, so it offers the user's sites' participants only and
nothing to a user whose role cannot see participants."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from tests.factories import ParticipantFactory
from trialsite import roles
from trialsite.models import Participant, Site, SiteMembership, Trial

# Every form whose participant is a search box: (app_label, model_name) of its model.
SOURCES = [
    ("randomization", "screeningassessment"),
    ("dosing", "dosemodification"),
    ("dosing", "renaldecision"),
    ("dosing", "dosesheet"),  # the prepare-on-demand form
]


def _search(client: Client, source: tuple[str, str], term: str = "") -> Any:
    app_label, model_name = source
    return client.get(
        "/admin/autocomplete/",
        {"app_label": app_label, "model_name": model_name, "field_name": "participant", "term": term},
    )


@pytest.fixture
def ours(trial: Trial, site: Site) -> Participant:
    return ParticipantFactory(trial=trial, site=site, screening_number="ZJU1-AC01")


@pytest.fixture
def theirs(trial: Trial, other_site: Site) -> Participant:
    return ParticipantFactory(trial=trial, site=other_site, screening_number="NBH2-AC01")


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("role", [roles.RESEARCH_NURSE, roles.PHARMACIST, roles.INVESTIGATOR])
def test_autocomplete_offers_only_the_users_sites(
    client: Client, make_user: Any, site: Site, ours: Participant, theirs: Participant, role: str, source: Any
) -> None:
    # given a user of site A only, and one participant at each of two sites
    client.force_login(make_user(role, [site]), backend="django.contrib.auth.backends.ModelBackend")
    # when the search box asks, with no term and with the other site's number typed in
    everything = _search(client, source)
    typed = _search(client, source, theirs.screening_number)
    # then site A's participant is offered and site B's never
    assert everything.status_code == 200
    assert [r["id"] for r in everything.json()["results"]] == [str(ours.pk)]
    assert typed.status_code == 200 and typed.json()["results"] == []


@pytest.mark.parametrize("source", SOURCES)
def test_autocomplete_gives_nothing_without_the_view_permission(
    client: Client, make_user: Any, site: Site, ours: Participant, theirs: Participant, source: Any
) -> None:
    # given a staff user of site A whose role holds no permission on participants
    user = User.objects.create_user(username="nobody", password="pw-for-tests-1", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="no_participants")[0])
    SiteMembership.objects.create(user=user, site=site)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    # when / then: refused, no participant in the answer
    answer = _search(client, source)
    assert answer.status_code == 403
    assert b"ZJU1-AC01" not in answer.content


def test_autocomplete_is_closed_to_an_api_client(
    client: Client, make_user: Any, site: Site, ours: Participant, theirs: Participant
) -> None:
    # an API client (not staff) is sent to the admin's login page
    client.force_login(make_user(roles.API_CLIENT, [site]), backend="django.contrib.auth.backends.ModelBackend")
    answer = _search(client, SOURCES[0])
    assert answer.status_code == 302 and "/login/" in answer["Location"]


def test_the_add_forms_render_a_search_box_not_every_participant(
    client: Client, make_user: Any, site: Site, ours: Participant, theirs: Participant
) -> None:
    client.force_login(make_user(roles.INVESTIGATOR, [site]), backend="django.contrib.auth.backends.ModelBackend")
    for url in (
        "/admin/randomization/screeningassessment/add/",
        "/admin/dosing/dosemodification/add/",
        "/admin/dosing/renaldecision/add/",
        "/admin/dosing/dosesheet/prepare/",
    ):
        page = client.get(url)
        body = page.content.decode()
        assert page.status_code == 200, url
        assert 'class="admin-autocomplete' in body and "autocomplete.js" in body, url
        assert ours.screening_number not in body, url  # no <option> per participant
