"""The pharmacists' admin queue (verify, release, PDF, prepare on demand) and the investigators'
modification page; every write through the services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from dosing import services
from dosing.models import DoseModification, DoseSheet
from schedules.selectors import cycle_visits
from schedules.services.plans import treatment_plan_create
from tests.conftest import TEST_PASSWORD
from tests.dosing.conftest import NOW, SheetMaker, dose, record_inputs
from tests.support.signatures import signed
from trialsite import roles
from trialsite.models import Participant

QUEUE = "/admin/dosing/dosesheet/"


def _login(client: Client, user: User) -> Client:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_queue_shows_sheets_due_in_the_next_7_days(
    client: Client, pharmacist: User, patient: Participant, make_sheet: SheetMaker
) -> None:
    due = make_sheet(patient)  # day 1 = 2026-03-05, today = 2026-03-02
    later = make_sheet(patient, cycle=2, day1=dt.date(2026, 3, 9))
    _login(client, pharmacist)
    page = client.get(QUEUE)
    assert page.status_code == 200
    assert page.context["cl"].result_count == 2
    assert {s.pk for s in page.context["cl"].queryset} == {due.pk, later.pk}
    assert client.get(QUEUE, {"status__exact": "released"}).context["cl"].result_count == 0
    assert client.get(QUEUE, {"site__id__exact": patient.site_id}).context["cl"].result_count == 2
    assert client.get(QUEUE, {"due": "past"}).context["cl"].result_count == 0


def test_participant_link_lists_all_their_sheets(
    client: Client, pharmacist: User, patient: Participant, make_sheet: SheetMaker
) -> None:
    make_sheet(patient)
    record_inputs(patient, on=dt.date(2026, 3, 24))
    make_sheet(patient, cycle=2, day1=dt.date(2026, 3, 26))  # beyond the 7-day queue
    _login(client, pharmacist)
    assert client.get(QUEUE).context["cl"].result_count == 1
    page = client.get(QUEUE, {"participant__id__exact": patient.pk, "due": "past"})
    assert page.status_code == 200 and page.context["cl"].result_count == 0
    page = client.get(QUEUE, {"participant__id__exact": patient.pk})
    assert page.context["cl"].result_count == 2


def test_pharmacist_from_another_site_does_not_see_the_sheet(
    client: Client, make_user: Any, other_site: Any, patient: Participant, make_sheet: SheetMaker
) -> None:
    sheet = make_sheet(patient)
    outsider = make_user(roles.PHARMACIST, [other_site])
    _login(client, outsider)
    assert client.get(QUEUE).context["cl"].result_count == 0
    assert client.get(f"{QUEUE}{sheet.pk}/change/").status_code in (302, 404)
    assert client.get(f"{QUEUE}{sheet.pk}/pdf/").status_code == 404


def test_verify_and_release_by_two_pharmacists_in_the_admin(
    client: Client, pharmacist: User, pharmacist2: User, patient: Participant, make_sheet: SheetMaker
) -> None:
    sheet = make_sheet(patient)
    _login(client, pharmacist)
    page = client.get(f"{QUEUE}{sheet.pk}/change/")
    assert page.status_code == 200
    assert "2000 mg" in page.content.decode() and "Verify (pharmacist 1)" in page.content.decode()
    client.post(f"{QUEUE}{sheet.pk}/verify/", {"signature_password": TEST_PASSWORD})
    sheet.refresh_from_db()
    assert sheet.status == "verified"
    response = client.post(f"{QUEUE}{sheet.pk}/release/", follow=True)
    assert "second pharmacist" in response.content.decode()
    sheet.refresh_from_db()
    assert sheet.status == "verified"
    _login(client, pharmacist2)
    # The release page shows the sheet being released, with the one button that releases it.
    page = client.get(f"{QUEUE}{sheet.pk}/release/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "2000 mg" in html and patient.full_name in html and 'name="release"' in html
    # It says what release does and takes a note for the history (issue 14).
    assert "The release is final" in html and 'name="release_note"' in html
    sheet.refresh_from_db()
    assert sheet.status == "verified"  # looking is not releasing
    client.post(
        f"{QUEUE}{sheet.pk}/release/",
        {"confirm": "yes", "release_note": "checked against the chart", "signature_password": TEST_PASSWORD},
    )
    sheet.refresh_from_db()
    assert (sheet.status, sheet.released_by) == ("released", pharmacist2)
    released = sheet.history.filter(status="released").first()
    # the note as typed, then the signature's manifestation (cut to the history's 100 characters;
    # whole on the signature row, the page and the PDF)
    assert released is not None and released.history_change_reason.startswith(
        "checked against the chart · pharmacist2 signed"
    )


def test_release_from_the_sheet_page_asks_first(
    client: Client, pharmacist: User, pharmacist2: User, patient: Participant, make_sheet: SheetMaker, now: Any
) -> None:
    sheet = make_sheet(patient)
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    _login(client, pharmacist2)
    asked = client.post(f"{QUEUE}{sheet.pk}/release/")
    assert asked.status_code == 200 and 'name="confirm_submit"' in asked.content.decode()
    sheet.refresh_from_db()
    assert sheet.status == "verified"
    done = client.post(
        f"{QUEUE}{sheet.pk}/release/", {"confirm": "yes", "release_note": "", "signature_password": TEST_PASSWORD}
    )
    assert done.status_code == 302
    sheet.refresh_from_db()
    assert sheet.status == "released"


def test_no_bulk_verify_or_release(
    client: Client, pharmacist: User, pharmacist2: User, patient: Participant, make_sheet: SheetMaker
) -> None:
    sheet = make_sheet(patient)
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=NOW, signature=signed(pharmacist, "verify_sheet", at=NOW)
    )
    _login(client, pharmacist2)
    queue = client.get(QUEUE, {"due": "all"})
    assert queue.status_code == 200
    assert not queue.context["cl"].model_admin.get_actions(queue.wsgi_request)
    assert "release_selected" not in queue.content.decode() and "verify_selected" not in queue.content.decode()
    client.post(QUEUE, {"action": "release_selected", "_selected_action": [sheet.pk], "due": "all"})
    sheet.refresh_from_db()
    assert sheet.status == "verified"


def test_admin_pdf(client: Client, pharmacist: User, patient: Participant, make_sheet: SheetMaker) -> None:
    sheet = make_sheet(patient)
    _login(client, pharmacist)
    response = client.get(f"{QUEUE}{sheet.pk}/pdf/")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_prepare_on_demand_picks_a_planned_cycle(
    client: Client, pharmacist: User, nurse: User, patient: Participant
) -> None:
    form = {"participant": patient.pk, "phase": "neoadjuvant", "cycle_number": 1, "day1": "", "day1_reason": ""}
    _login(client, pharmacist)
    # no treatment plan yet: no cycle to prepare
    refused = client.post(f"{QUEUE}prepare/", form, follow=True)
    assert "not in the participant&#x27;s treatment plan" in refused.content.decode()
    assert not DoseSheet.objects.exists()

    treatment_plan_create(participant=patient, scrt_start_date=dt.date(2026, 3, 2), by=nurse, now=NOW)
    planned = next(
        v.day1 for v in cycle_visits(participant_ids=[patient.pk]) if (v.phase, v.cycle_number) == ("neoadjuvant", 1)
    )
    record_inputs(patient, on=planned - dt.timedelta(days=2))
    _login(client, nurse)
    client.post(f"{QUEUE}prepare/", form)
    assert not DoseSheet.objects.exists()  # nurses read only
    _login(client, pharmacist)
    response = client.post(f"{QUEUE}prepare/", form)
    sheet = DoseSheet.objects.get()
    assert response.status_code == 302 and sheet.prepared_by == pharmacist
    assert sheet.day1 == planned  # empty day 1: the plan's

    # another day 1 needs a stated reason, which the sheet then shows
    other = (planned + dt.timedelta(days=1)).isoformat()
    refused = client.post(f"{QUEUE}prepare/", {**form, "day1": other}, follow=True)
    assert "is not the cycle&#x27;s planned day 1" in refused.content.decode()
    assert DoseSheet.objects.count() == 1
    client.post(f"{QUEUE}prepare/", {**form, "day1": other, "day1_reason": "chair booked the next day"})
    new = DoseSheet.objects.get(status="prepared")
    assert new.day1.isoformat() == other
    warning = next(w for w in new.content["warnings"] if w["code"] == "day1_not_planned")
    assert warning["params"] == {"day1": other, "planned": planned.isoformat(), "reason": "chair booked the next day"}


def test_investigator_records_a_modification_in_the_admin(
    client: Client, investigator: User, nurse: User, patient: Participant, make_sheet: SheetMaker
) -> None:
    form = {
        "participant": patient.pk,
        "drug": "oxaliplatin",
        "phase": "neoadjuvant",
        "cycle_number": 1,
        "toxicity_term": "Peripheral sensory neuropathy",
        "ctcae_grade": 3,
        "reason": "persistent paraesthesia",
        "requested_action": "",
        "signature_password": TEST_PASSWORD,
    }
    _login(client, nurse)
    assert client.post("/admin/dosing/dosemodification/add/", form).status_code == 403
    _login(client, investigator)
    response = client.post("/admin/dosing/dosemodification/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    mod = DoseModification.objects.get()
    assert (mod.action, mod.new_level, mod.decided_by) == ("reduce", 1, investigator)
    refused = client.post(
        "/admin/dosing/dosemodification/add/",
        {**form, "drug": "serplulimab", "requested_action": "reduce", "reason": "typed by the investigator"},
    )
    # The form again, with what was typed and the refusal on it (issue 14).
    assert refused.status_code == 200
    assert "never reduced" in str(refused.context["adminform"].form.errors)
    assert "typed by the investigator" in refused.content.decode()
    assert DoseModification.objects.count() == 1
    sheet = make_sheet(patient, cycle=2)
    assert dose(sheet, "oxaliplatin")["dose_mg"] == 200


def test_sheet_page_in_chinese(patient: Participant, make_sheet: SheetMaker) -> None:
    from django.utils import translation

    from dosing import pdf

    sheet = make_sheet(patient)
    with translation.override("zh-hans"):
        html = pdf.render_sheet_fragment(sheet)
    assert "给药单" in html and "给药" in html and "男" in html and "已生成" in html
    with translation.override("en"):
        assert "· give" in pdf.render_sheet_fragment(sheet)


def test_investigator_records_a_renal_decision_in_the_admin(
    client: Client, investigator: User, participant: Participant, make_sheet: SheetMaker
) -> None:
    from dosing.models import RenalDecision
    from tests.dosing.conftest import randomize

    randomize(participant)
    # (140 − 59) × 80 / (72 × 170/88.4) = 46.8 mL/min: capecitabine's 30–50 band, the investigator decides
    record_inputs(participant, creatinine="170")
    assert not make_sheet(participant).releasable
    form = {
        "participant": participant.pk,
        "phase": "neoadjuvant",
        "cycle_number": 1,
        "drug": "capecitabine",
        "decision": "reduce",
        "reduce_to": "",
        "reason": "CrCl 46.8",
        "signature_password": TEST_PASSWORD,
    }
    _login(client, investigator)
    page = client.get("/admin/dosing/renaldecision/add/")
    assert 'name="reduce_to"' in page.content.decode() and 'value="confirm"' in page.content.decode()
    refused = client.post("/admin/dosing/renaldecision/add/", {**form, "reduce_to": "60"}, follow=True)
    assert "is not a dose level of" in refused.content.decode()
    assert not RenalDecision.objects.exists()
    response = client.post("/admin/dosing/renaldecision/add/", {**form, "reduce_to": "75"})
    assert response.status_code == 302, response.content.decode()[:2000]
    row = RenalDecision.objects.get()
    assert (row.decision, row.level, row.level_label, row.band) == ("reduce", 1, "75 %", "30–50")
    sheet = DoseSheet.objects.get(status="prepared")
    # capecitabine.md, BSA 2.00 m², 75 % column: 1500 mg
    assert sheet.releasable and dose(sheet, "capecitabine")["dose_mg"] == 1500
