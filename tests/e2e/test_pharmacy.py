"""Scenario 3 of the end-to-end checks: a pharmacist verifies a dose sheet from the queue, a second
pharmacist releases it and downloads the PDF, and the PDF's text has the participant and doses."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pypdf import PdfReader

from dosing import services as dosing
from dosing.models import DoseSheet
from tests.e2e.conftest import ARTIFACTS, admin_login
from tests.factories import ParticipantFactory, record_labs
from trialsite import services
from trialsite.models import Participant, Site, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_two_pharmacists_verify_release_and_print(
    page: Any, browser: Any, live_server: Any, trial: Trial, site: Site, pharmacist: User, pharmacist2: User
) -> None:
    today = timezone.localdate()
    participant = ParticipantFactory(trial=trial, site=site, full_name="黄建国")
    Participant.objects.filter(pk=participant.pk).update(
        status="randomized", arm="experimental", randomization_number=1, randomized_at=timezone.now()
    )
    participant.refresh_from_db()
    # 180 cm / 80 kg: Mosteller BSA √(180·80/3600) = 2.00 m² (N Engl J Med 1987;317:1098).
    services.measurement_record(
        participant=participant, kind="height", value="180", measured_on=today, by=None, today=today
    )
    services.measurement_record(
        participant=participant, kind="weight", value="80", measured_on=today, by=None, today=today
    )
    record_labs(participant, {"creatinine": "80", "anc": "2.0", "platelets": "150"}, on=today)
    sheet = dosing.dose_sheet_prepare(
        by=None,
        participant=participant,
        phase="neoadjuvant",
        cycle_number=1,
        day1=today + dt.timedelta(days=1),
        now=timezone.now(),
    )

    # Pharmacist 1: the queue lists the sheet; she opens it and verifies it.
    admin_login(page, live_server, "pharmacist")
    page.goto(f"{live_server.url}/admin/dosing/dosesheet/")
    assert participant.screening_number in page.content()
    page.goto(f"{live_server.url}/admin/dosing/dosesheet/{sheet.pk}/change/")
    page.fill("#id_signature_password", "pw-for-tests-1")  # the signature (trialsite.signatures)
    page.click("button[name=verify]")
    page.wait_for_load_state()
    sheet.refresh_from_db()
    assert sheet.status == "verified" and sheet.verified_by == pharmacist

    # Pharmacist 2, in her own browser session: releases it and prints the PDF.
    context = browser.new_context(locale="en-US")
    second = context.new_page()
    admin_login(second, live_server, "pharmacist2")
    second.goto(f"{live_server.url}/admin/dosing/dosesheet/{sheet.pk}/change/")
    # The release page shows the sheet being released (one sheet at a time, no bulk action).
    second.click("text=Double-check and release (pharmacist 2)")
    second.wait_for_load_state()
    assert second.url.endswith(f"/admin/dosing/dosesheet/{sheet.pk}/release/")
    assert "2000 mg" in second.content() and "黄建国" in second.content()
    # The same page says what the release does and takes a note for the history.
    assert "The release is final" in second.inner_text("#effects")
    second.fill("#id_release_note", "checked against the prescription")
    second.fill("#id_signature_password", "pw-for-tests-1")
    second.click("button[name=release]")
    second.wait_for_selector(".messagelist .success")
    sheet.refresh_from_db()
    assert sheet.status == "released" and sheet.released_by == pharmacist2
    reason = sheet.history.filter(status="released").first().history_change_reason
    assert reason.startswith("checked against the prescription · pharmacist2 signed")  # the note, then the signature
    pdf = second.request.get(f"{live_server.url}/admin/dosing/dosesheet/{sheet.pk}/pdf/")
    assert pdf.headers["content-type"] == "application/pdf"
    body = pdf.body()
    second.screenshot(path=str(ARTIFACTS / "test_two_pharmacists_release.png"), full_page=True)
    context.close()

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    assert "黄建国" in text and participant.screening_number in text
    # Capecitabine: BSA 2.00 falls in the label's 1.93–2.06 band → 2000 mg twice daily, 4 × 500 mg
    # (Xeloda EU SmPC 4.2, Table 2); oxaliplatin 130 mg/m² × 2.00 = 260 mg; serplulimab 300 mg flat.
    assert "2000" in text and "260" in text and "300" in text
    assert DoseSheet.objects.filter(pk=sheet.pk, status="released").exists()
