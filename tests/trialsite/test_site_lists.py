"""Lists show what a user of a site needs (issue 14): the randomize list hides withdrawn
participants and names the randomization number of those already randomized; every site
filter lists only the user's sites."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.conftest import UserMaker
from tests.factories import ParticipantFactory
from trialsite import roles
from trialsite.models import Participant, Site, Trial


def test_the_randomize_list_hides_withdrawn_and_names_the_randomization_number(
    trial: Trial, site: Site, nurse: User, client: Client
) -> None:
    # given an eligible, a withdrawn, a deceased and a randomized participant at the nurse's site
    eligible = ParticipantFactory(trial=trial, site=site, status="eligible")
    withdrawn = ParticipantFactory(trial=trial, site=site, status="withdrawn")
    deceased = ParticipantFactory(trial=trial, site=site, status="deceased")
    randomized = ParticipantFactory(trial=trial, site=site)
    Participant.objects.filter(pk=randomized.pk).update(
        status="randomized",
        arm="control",
        randomization_number=12,
        randomized_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )
    client.force_login(nurse)
    # when the nurse opens the randomize list
    body = client.get(reverse("admin:randomization_participanttorandomize_changelist")).content.decode()
    # then the withdrawn and the deceased are not offered, the randomized one says its number
    assert eligible.screening_number in body
    assert withdrawn.screening_number not in body
    assert deceased.screening_number not in body
    assert "already randomized (R12)" in body
    assert reverse("admin:randomization_participanttorandomize_randomize", args=[eligible.pk]) in body
    assert reverse("admin:randomization_participanttorandomize_randomize", args=[randomized.pk]) not in body


SITE_FILTERED_LISTS = [
    "admin:trialsite_participant_changelist",
    "admin:randomization_participanttorandomize_changelist",
    "admin:dosing_dosesheet_changelist",
    "admin:schedules_treatmentplan_changelist",
    "admin:schedules_scheduledevent_changelist",
    "admin:schedules_booking_changelist",
    "admin:schedules_siteclosure_changelist",
]


@pytest.mark.parametrize("url_name", SITE_FILTERED_LISTS)
def test_site_filters_list_only_the_users_sites(
    url_name: str, site: Site, other_site: Site, make_user: UserMaker, client: Client
) -> None:
    # given a user who works at ZJU1 and NBH2 of the trial's seven sites (a single site's
    # filter is not shown at all: Django hides a filter with one choice)
    role = roles.PHARMACIST if "dosesheet" in url_name else roles.RESEARCH_NURSE
    client.force_login(make_user(role, [site, other_site]))
    body = client.get(reverse(url_name)).content.decode()
    # then the site filter offers those two and no other
    assert Site.objects.count() == 7
    offered = set(re.findall(r"site__id__exact=(\d+)", body))
    assert offered == {str(site.pk), str(other_site.pk)}, (url_name, offered)
