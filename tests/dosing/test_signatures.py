"""The signed dosing acts at their doors: the API refuses a verify, release, renal decision or
dose modification without X-Signature-Password (or with a wrong one) and writes nothing; the
admin asks for the password with the meaning in the reader's language; the manifestation is on
the sheet's page, its PDF and its history."""

from __future__ import annotations

import io
from typing import Any

from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from pypdf import PdfReader

from dosing import pdf, services
from dosing.models import DoseModification, DoseSheet
from tests.conftest import TEST_PASSWORD
from tests.dosing.conftest import NOW, SheetMaker
from tests.dosing.test_admin import QUEUE, _login
from tests.support.signatures import signed, token_client
from trialsite.models import Participant, Signature


def _released(sheet: DoseSheet, pharmacist: User, pharmacist2: User) -> DoseSheet:
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=NOW, signature=signed(pharmacist, "verify_sheet", at=NOW)
    )
    return services.dose_sheet_release(
        sheet=sheet, by=pharmacist2, now=NOW, signature=signed(pharmacist2, "release_sheet", at=NOW)
    )


def test_api_verify_without_or_with_a_wrong_password_is_refused_and_writes_nothing(
    patient: Participant, make_sheet: SheetMaker, pharmacist: User
) -> None:
    sheet = make_sheet(patient)
    url = f"/api/v1/dose-sheets/{sheet.pk}/verify/"
    missing = token_client(pharmacist, None).post(url)
    assert (missing.status_code, missing.json()["code"]) == (403, "signature_required")
    wrong = token_client(pharmacist, "not-my-password").post(url)
    assert (wrong.status_code, wrong.json()["code"]) == (403, "signature_invalid")
    sheet.refresh_from_db()
    assert sheet.status == "prepared" and sheet.history.count() == 1
    assert not Signature.objects.exists()
    assert AccessAttempt.objects.get(username=pharmacist.username).failures_since_start == 1
    done = token_client(pharmacist, TEST_PASSWORD).post(url)
    assert done.status_code == 200 and done.json()["status"] == "verified"
    [signature] = Signature.objects.all()
    assert (signature.meaning, signature.target_id, signature.used_at) == ("verify_sheet", sheet.pk, NOW)


def test_api_dose_modification_without_the_header_writes_nothing(
    patient: Participant, make_sheet: SheetMaker, investigator: User
) -> None:
    make_sheet(patient)
    body = {
        "drug": "oxaliplatin",
        "phase": "neoadjuvant",
        "cycle_number": 1,
        "toxicity_term": "Peripheral sensory neuropathy",
        "ctcae_grade": 3,
        "reason": "persistent paraesthesia",
    }
    url = f"/api/v1/participants/{patient.pk}/dose-modifications/"
    for password, code in ((None, "signature_required"), ("wrong", "signature_invalid")):
        refused = token_client(investigator, password).post(url, body, format="json")
        assert (refused.status_code, refused.json()["code"]) == (403, code)
    assert not DoseModification.objects.exists() and not Signature.objects.exists()
    done = token_client(investigator, TEST_PASSWORD).post(url, body, format="json")
    assert done.status_code == 201, done.json()
    row = DoseModification.objects.get()
    assert row.history.get().history_change_reason == (
        "investigator signed 2026-03-02 10:00 (UTC+08:00): I decided this dose modification"
    )


def test_a_service_call_by_a_person_without_a_signature_is_refused(
    patient: Participant, make_sheet: SheetMaker, pharmacist: User
) -> None:
    import pytest

    from trialsite.errors import NotPermitted

    sheet = make_sheet(patient)
    with pytest.raises(NotPermitted) as refused:
        services.dose_sheet_verify(sheet=sheet, by=pharmacist, now=NOW)
    assert refused.value.code == "signature_required"
    sheet.refresh_from_db()
    assert sheet.status == "prepared"


def test_the_manifestation_is_on_the_pdf_the_page_and_the_history(
    client: Client, patient: Participant, make_sheet: SheetMaker, pharmacist: User, pharmacist2: User
) -> None:
    pharmacist2.first_name, pharmacist2.last_name = "Wei", "Zhang"
    pharmacist2.save()
    sheet = _released(make_sheet(patient), pharmacist, pharmacist2)
    text = " ".join(
        "".join(
            page.extract_text() for page in PdfReader(io.BytesIO(pdf.render_sheet_pdf(sheet, use_cache=False))).pages
        ).split()
    )
    assert "pharmacist signed 2026-03-02 10:00 (Asia/Shanghai): I verified this dose sheet" in text
    assert (
        "Wei Zhang signed 2026-03-02 10:00 (Asia/Shanghai): I released this dose sheet after the double check" in text
    )
    _login(client, pharmacist)
    page = client.get(f"{QUEUE}{sheet.pk}/change/").content.decode()
    assert "Wei Zhang signed 2026-03-02 10:00 (Asia/Shanghai)" in page
    history = client.get(f"{QUEUE}{sheet.pk}/history/")
    assert history.status_code == 200
    in_history = "Wei Zhang signed 2026-03-02 10:00 (UTC+08:00): I released this dose sheet after the double check"
    assert in_history in history.content.decode()
    # in the reader's language on the page
    chinese = _login(Client(HTTP_ACCEPT_LANGUAGE="zh-hans"), pharmacist).get(f"{QUEUE}{sheet.pk}/change/")
    assert "Wei Zhang 于 2026-03-02 10:00（Asia/Shanghai）签名：我已双人核对并发放该给药单" in chinese.content.decode()
    chinese_history = _login(Client(HTTP_ACCEPT_LANGUAGE="zh-hans"), pharmacist).get(f"{QUEUE}{sheet.pk}/history/")
    assert (
        "Wei Zhang 于 2026-03-02 10:00（UTC+08:00）签名：我已双人核对并发放该给药单" in chinese_history.content.decode()
    )


def test_admin_verify_shows_the_meaning_and_refuses_a_wrong_password(
    client: Client, patient: Participant, make_sheet: SheetMaker, pharmacist: User
) -> None:
    sheet = make_sheet(patient)
    _login(client, pharmacist)
    page = client.get(f"{QUEUE}{sheet.pk}/change/").content.decode()
    assert "Re-enter your password to sign: I verified this dose sheet" in page
    refused = client.post(f"{QUEUE}{sheet.pk}/verify/", {"signature_password": "wrong"}, follow=True)
    assert "The password is not correct" in refused.content.decode()
    sheet.refresh_from_db()
    assert sheet.status == "prepared" and not Signature.objects.exists()
    client.post(f"{QUEUE}{sheet.pk}/verify/", {"signature_password": TEST_PASSWORD})
    sheet.refresh_from_db()
    assert sheet.status == "verified"


def test_admin_release_with_a_wrong_password_keeps_the_note(
    client: Client, patient: Participant, make_sheet: SheetMaker, pharmacist: User, pharmacist2: User
) -> None:
    sheet = make_sheet(patient)
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=NOW, signature=signed(pharmacist, "verify_sheet", at=NOW)
    )
    _login(client, pharmacist2)
    post = {"confirm": "yes", "release_note": "checked against the chart", "signature_password": "wrong"}
    refused = client.post(f"{QUEUE}{sheet.pk}/release/", post)
    assert refused.status_code == 200
    html = refused.content.decode()
    assert 'value="checked against the chart"' in html and "The password is not correct" in html
    assert "Re-enter your password to sign: I released this dose sheet after the double check" in html
    sheet.refresh_from_db()
    assert sheet.status == "verified"


def test_admin_dose_modification_with_a_wrong_password_keeps_what_was_typed(
    client: Client, patient: Participant, make_sheet: SheetMaker, investigator: User
) -> None:
    make_sheet(patient)
    form: dict[str, Any] = {
        "participant": patient.pk,
        "drug": "oxaliplatin",
        "phase": "neoadjuvant",
        "cycle_number": 1,
        "toxicity_term": "Peripheral sensory neuropathy",
        "ctcae_grade": 3,
        "reason": "typed by the investigator",
        "requested_action": "",
        "signature_password": "wrong",
    }
    _login(client, investigator)
    page = client.get("/admin/dosing/dosemodification/add/").content.decode()
    assert "Re-enter your password to sign: I decided this dose modification" in page
    refused = client.post("/admin/dosing/dosemodification/add/", form)
    assert refused.status_code == 200
    assert "The password is not correct" in str(refused.context["adminform"].form.errors)
    assert "typed by the investigator" in refused.content.decode()
    assert not DoseModification.objects.exists()
    assert AccessAttempt.objects.get(username=investigator.username).failures_since_start == 1
    done = client.post("/admin/dosing/dosemodification/add/", {**form, "signature_password": TEST_PASSWORD})
    assert done.status_code == 302
    assert DoseModification.objects.get().history.get().history_change_reason.startswith("investigator signed")
