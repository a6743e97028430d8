"""The signature step in a real browser (issue 17, 21 CFR 11.200): verifying a dose sheet asks for
the password again with the signature's meaning in the reader's language; a wrong password is
refused and signs nothing; the right one signs. The release page keeps the typed note when the
password is wrong."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from dosing import services as dosing
from dosing.models import DoseSheet
from tests.e2e.conftest import admin_login
from tests.factories import ParticipantFactory, record_labs
from trialsite import services
from trialsite.models import Participant, Signature, Site, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-1"


def _sheet(trial: Trial, site: Site) -> DoseSheet:
    today = timezone.localdate()
    participant = ParticipantFactory(trial=trial, site=site, full_name="黄建国")
    Participant.objects.filter(pk=participant.pk).update(
        status="randomized", arm="experimental", randomization_number=1, randomized_at=timezone.now()
    )
    participant.refresh_from_db()
    for kind, value in (("height", "180"), ("weight", "80")):
        services.measurement_record(
            participant=participant, kind=kind, value=value, measured_on=today, by=None, today=today
        )
    record_labs(participant, {"creatinine": "80", "anc": "2.0", "platelets": "150"}, on=today)
    return dosing.dose_sheet_prepare(
        by=None,
        participant=participant,
        phase="neoadjuvant",
        cycle_number=1,
        day1=today + dt.timedelta(days=1),
        now=timezone.now(),
    )


def test_verify_asks_for_the_password_with_the_meaning_and_refuses_a_wrong_one(
    page: Any, browser: Any, live_server: Any, trial: Trial, site: Site, pharmacist: User, pharmacist2: User
) -> None:
    sheet = _sheet(trial, site)
    # A Chinese reader (the page's browser context): the meaning in Chinese beside the field.
    admin_login(page, live_server, "pharmacist")
    page.goto(f"{live_server.url}/admin/dosing/dosesheet/{sheet.pk}/change/")
    assert "请再次输入密码以签名：我已审核该给药单" in page.inner_text("form.signed-act")
    page.fill("#id_signature_password", "not-my-password")
    page.click("button[name=verify]")
    page.wait_for_selector(".messagelist .error")
    assert "密码不正确" in page.inner_text(".messagelist")
    sheet.refresh_from_db()
    assert sheet.status == "prepared" and not Signature.objects.exists()
    page.fill("#id_signature_password", PASSWORD)
    page.click("button[name=verify]")
    page.wait_for_selector(".messagelist .success")
    sheet.refresh_from_db()
    assert sheet.status == "verified" and sheet.verified_by == pharmacist
    # The manifestation is on the sheet's page: the name, the site's time, the meaning.
    assert "pharmacist 于 " in page.content() and "签名：我已审核该给药单" in page.content()

    # The second pharmacist, in English: a wrong password brings the page back with the note.
    context = browser.new_context(locale="en-US")
    second = context.new_page()
    admin_login(second, live_server, "pharmacist2")
    second.goto(f"{live_server.url}/admin/dosing/dosesheet/{sheet.pk}/release/")
    assert "Re-enter your password to sign: I released this dose sheet after the double check" in second.content()
    second.fill("#id_release_note", "checked against the prescription")
    second.fill("#id_signature_password", "wrong")
    second.click("button[name=release]")
    second.wait_for_selector(".messagelist .error")
    assert "The password is not correct" in second.inner_text(".messagelist")
    assert second.input_value("#id_release_note") == "checked against the prescription"
    sheet.refresh_from_db()
    assert sheet.status == "verified"
    second.fill("#id_signature_password", PASSWORD)
    second.click("button[name=release]")
    second.wait_for_selector(".messagelist .success")
    sheet.refresh_from_db()
    assert sheet.status == "released" and sheet.released_by == pharmacist2
    assert "I released this dose sheet after the double check" in second.content()
    context.close()
