"""A dose modification's rule and a dose sheet's end reason are stored as phrases (a message id
and its parameters, issue 15), never as English text parsed back into a template: a Chinese
reader of the admin reads them in Chinese, the API says them in the request's language (English
by default, the text it always gave); a void reason a person typed is kept and shown as typed;
a signed act's history reason names its signature in the reader's language."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from dosing import services, wording
from dosing.calculations import modifications
from dosing.models import DoseModification, DoseSheet
from dosing.services import decisions
from tests.dosing.conftest import NOW, SheetMaker, record_inputs
from tests.dosing.test_admin import QUEUE, _login
from tests.support.signatures import signed
from trialsite import audit_log, history
from trialsite.models import Participant
from trialsite.phrases import code, english, is_phrase, phrase, typed

CYCLE2_DAY1 = dt.date(2026, 3, 26)
TERM = "Hand-foot syndrome"
MODIFICATIONS = "/admin/dosing/dosemodification/"
HFS_GRADE_3: dict[str, Any] = {"drug": "capecitabine", "phase": "neoadjuvant", "cycle_number": 1}
HFS_GRADE_3 |= {"toxicity_term": TERM, "ctcae_grade": 3, "reason": "grade 3 after 10 days"}


def _modified(patient: Participant, make_sheet: SheetMaker, investigator: User) -> tuple[DoseModification, DoseSheet]:
    """A capecitabine reduction after grade 3 in cycle 1, which ends cycle 2's first sheet."""
    make_sheet(patient)
    record_inputs(patient, on=dt.date(2026, 3, 24))
    cycle2 = make_sheet(patient, cycle=2, day1=CYCLE2_DAY1)
    signature = signed(investigator, "dose_modification", at=NOW)
    row = services.dose_modification_record(
        participant=patient, **HFS_GRADE_3, by=investigator, now=NOW, signature=signature
    )
    cycle2.refresh_from_db()
    return row, cycle2


def test_the_rule_and_the_end_reason_are_stored_as_phrases_not_english(
    patient: Participant, make_sheet: SheetMaker, investigator: User
) -> None:
    row, ended = _modified(patient, make_sheet, investigator)
    row.refresh_from_db()
    assert row.rule == phrase(
        modifications.RULE_TOXICITY_TABLE, drug=code("drug", "capecitabine"), grade=3, appearance=1
    )
    assert ended.status == "void" and is_phrase(ended.end_reason)
    assert ended.end_reason == phrase(
        decisions.END_MODIFICATION,
        drug=code("drug", "capecitabine"),
        action=code("modification_action", "interrupt"),
        toxicity=TERM,
        grade=3,
    )
    # a current sheet has no end reason yet
    current = DoseSheet.objects.get(participant=patient, cycle_number=2, status="prepared")
    assert current.end_reason is None


def test_a_chinese_admin_reads_the_rule_and_the_end_reason_in_chinese(
    patient: Participant, make_sheet: SheetMaker, investigator: User, pharmacist: User
) -> None:
    row, ended = _modified(patient, make_sheet, investigator)
    chinese = _login(Client(HTTP_ACCEPT_LANGUAGE="zh-hans"), investigator)
    page = chinese.get(f"{MODIFICATIONS}{row.pk}/change/")
    assert page.status_code == 200
    assert "卡培他滨毒性表，3级，第1次出现" in page.content.decode()
    sheet_page = _login(Client(HTTP_ACCEPT_LANGUAGE="zh-hans"), pharmacist).get(f"{QUEUE}{ended.pk}/change/")
    assert sheet_page.status_code == 200
    assert f"剂量调整：卡培他滨 中断治疗 / 暂停给药（{TERM} 3级）" in sheet_page.content.decode()
    # and so does the history (a change of the end reason, as trialsite.history shows it)
    with translation.override("zh-hans"):
        shown = history.value_text(DoseSheet._meta.get_field("end_reason"), ended.end_reason, history.zone_for(ended))
    assert shown == f"剂量调整：卡培他滨 中断治疗 / 暂停给药（{TERM} 3级）"


def test_the_api_says_the_rule_and_the_end_reason_in_english(
    api: Any, patient: Participant, make_sheet: SheetMaker, investigator: User, pharmacist: User
) -> None:
    _row, ended = _modified(patient, make_sheet, investigator)
    listing = api(investigator).get(f"/api/v1/participants/{patient.pk}/dose-modifications/")
    assert listing.status_code == 200
    [body] = listing.json()["results"]
    assert body["rule"] == "capecitabine toxicity table, grade 3, appearance 1"
    sheet = api(pharmacist).get(f"/api/v1/dose-sheets/{ended.pk}/").json()
    assert sheet["end_reason"] == f"dose modification: capecitabine interrupt / withhold ({TERM} grade 3)"
    current = DoseSheet.objects.get(participant=patient, cycle_number=2, status="prepared")
    assert api(pharmacist).get(f"/api/v1/dose-sheets/{current.pk}/").json()["end_reason"] == ""
    # a client asking for Chinese reads the rule in Chinese (the request's language)
    client: APIClient = api(investigator)
    chinese = client.get(f"/api/v1/participants/{patient.pk}/dose-modifications/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.json()["results"][0]["rule"] == "卡培他滨毒性表，3级，第1次出现"


def test_a_typed_void_reason_is_kept_and_shown_as_typed(
    api: Any, patient: Participant, make_sheet: SheetMaker, pharmacist: User
) -> None:
    sheet = make_sheet(patient)
    typed_reason = "weight of another patient 患者体重录错"
    services.dose_sheet_void(sheet=sheet, reason=f"  {typed_reason} ", now=NOW, by=pharmacist)
    sheet.refresh_from_db()
    assert sheet.end_reason == typed(typed_reason)
    for language in ("zh-hans", "en"):
        with translation.override(language):
            assert wording.end_reason(sheet.end_reason) == typed_reason
        page = _login(Client(HTTP_ACCEPT_LANGUAGE=language), pharmacist).get(f"{QUEUE}{sheet.pk}/change/")
        assert typed_reason in page.content.decode()
    assert api(pharmacist).get(f"/api/v1/dose-sheets/{sheet.pk}/").json()["end_reason"] == typed_reason
    assert english(sheet.end_reason) == typed_reason


def test_a_signed_modification_names_its_signature_in_chinese_in_the_history_and_the_audit_log(
    patient: Participant, make_sheet: SheetMaker, investigator: User
) -> None:
    row, _ended = _modified(patient, make_sheet, investigator)
    stored = "investigator signed 2026-03-02 10:00 (UTC+08:00): I decided this dose modification"
    assert row.history.get().history_change_reason == stored  # the history's text column stays English
    chinese = "investigator 于 2026-03-02 10:00（UTC+08:00）签名：我决定了该剂量调整"
    page = _login(Client(HTTP_ACCEPT_LANGUAGE="zh-hans"), investigator).get(f"{MODIFICATIONS}{row.pk}/history/")
    assert page.status_code == 200
    assert chinese in page.content.decode() and stored not in page.content.decode()
    english_page = _login(Client(), investigator).get(f"{MODIFICATIONS}{row.pk}/history/")
    assert stored in english_page.content.decode()
    only = audit_log.Filters(model="dosing.dosemodification", participant_id=patient.pk)
    with translation.override("zh-hans"):
        reasons = [e.reason for e in audit_log.audit_entries(user=investigator, filters=only)]
    assert chinese in reasons


def test_a_reason_that_ends_with_no_signature_of_the_record_is_shown_as_stored(
    patient: Participant, make_sheet: SheetMaker, investigator: User
) -> None:
    from trialsite import signatures

    row, _ended = _modified(patient, make_sheet, investigator)
    [signature] = signatures.signatures_of(row)
    text = "investigator signed 2026-03-02 10:00 (UTC+08:00): I decided this"  # cut, or typed alike
    with translation.override("zh-hans"):
        assert signatures.reason_text(text, [signature], time_zone="Asia/Shanghai") == text
        assert signatures.reason_text("typed · " + text, [], time_zone="Asia/Shanghai") == "typed · " + text
