"""A research nurse's day in the admin, in Simplified Chinese, in a real browser."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.e2e.conftest import admin_login
from tests.factories import ParticipantFactory
from trialsite.models import Participant, Site, StaffProfile

# Transactional: the live server thread must see the test's rows.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_nurse_registers_a_participant_in_chinese(page: Any, live_server: Any, nurse: User) -> None:
    StaffProfile.objects.create(user=nurse, language="zh-hans")
    admin_login(page, live_server, "nurse")
    assert "受试者" in page.content()  # the admin index lists the registry in Chinese

    page.goto(f"{live_server.url}/admin/trialsite/participant/add/")
    page.select_option("#id_trial", label="NCT06850103")
    page.select_option("#id_site", index=1)
    page.fill("#id_screening_number", "ZJU1-0101")
    page.fill("#id_full_name", "陈静")
    page.select_option("#id_sex", "female")
    page.fill("#id_birth_date", "1968-07-21")
    page.fill("#id_consent_date", "2026-03-01")
    page.fill("#id_phone", "+86 138 0000 1111")
    page.click("input[name=_save]")

    page.wait_for_url(f"{live_server.url}/admin/trialsite/participant/")
    listing = page.content()
    assert "陈静" in listing
    assert "ZJU1 浙江大学医学院附属第一医院" in listing  # the site in Chinese, for a Chinese-speaking nurse
    assert "NBH2" not in listing  # the site filter offers only her own site
    created = Participant.objects.get(screening_number="ZJU1-0101")
    assert created.site.code == "ZJU1"
    assert created.created_by == nurse
    assert created.status == "screening"


def test_a_nurse_cannot_open_another_sites_participant_by_url(
    page: Any, live_server: Any, nurse: User, other_site: Site, trial: Any
) -> None:
    theirs = ParticipantFactory(trial=trial, site=other_site, full_name="别院患者")
    admin_login(page, live_server, "nurse")

    page.goto(f"{live_server.url}/admin/trialsite/participant/{theirs.pk}/change/")

    # Django answers "doesn't exist" and sends her back to the admin index: nothing of the record shows.
    assert "别院患者" not in page.content()
    assert page.url.rstrip("/").endswith("/admin")
