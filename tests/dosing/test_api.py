"""Dosing API: the stateless preview (PRODUCT.md §6), dose sheets (JSON, PDF), verify and release."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pypdf import PdfReader
from rest_framework.test import APIClient

from dosing import services
from dosing.models import DoseSheet
from tests.dosing.conftest import SheetMaker
from tests.support.signatures import signed
from trialsite.models import Participant

Api = Callable[[Any], APIClient]

BODY = {
    "arm": "experimental",
    "height_cm": 180,
    "weight_kg": 80,
    "sex": "male",
    "age_years": 60,
    "serum_creatinine_umol_l": 80,
}


@pytest.mark.parametrize("role", ["nurse", "pharmacist", "investigator", "statistician", "api_client_user"])
def test_dose_calculation_preview_for_any_role(api: Api, role: str, request: pytest.FixtureRequest) -> None:
    user = request.getfixturevalue(role)
    response = api(user).post("/api/v1/dose-calculations/", BODY, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["bsa_m2"] == 2.0  # Mosteller: √(180·80/3600)
    assert body["creatinine_clearance_ml_min"] == 98.2  # (140 − 60) × 80 / (72 × 80/88.4)
    doses = {d["drug"]: d for d in body["doses"]}
    assert doses["capecitabine"]["dose_mg"] == 2000 and doses["capecitabine"]["tablets"] == {"150": 0, "500": 4}
    assert doses["oxaliplatin"]["dose_mg"] == 260
    assert doses["serplulimab"]["dose_mg"] == 300
    assert body["warnings"] == []


def test_preview_control_arm_mg_dl_and_formula(api: Api, nurse: Any) -> None:
    body = {**BODY, "arm": "control", "serum_creatinine_umol_l": None, "serum_creatinine_mg_dl": "1.0"}
    body.pop("serum_creatinine_umol_l")
    response = api(nurse).post(
        "/api/v1/dose-calculations/",
        {**body, "bsa_formula": "dubois", "height_cm": 170, "weight_kg": 70},
        format="json",
    )
    assert response.status_code == 200, response.json()
    out = response.json()
    assert out["bsa_m2"] == 1.81  # DuBois 1916: 1.8097
    assert out["creatinine_clearance_ml_min"] == 77.8  # (140 − 60) × 70 / 72
    assert [d["drug"] for d in out["doses"]] == ["capecitabine", "oxaliplatin"]
    assert out["doses"][0]["dose_mg"] == 1800 and out["doses"][0]["tablets"] == {"150": 2, "500": 3}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"height_cm": 99}, "height_cm"),
        ({"weight_kg": 260}, "weight_kg"),
        ({"height_cm": 120, "weight_kg": 175}, "height_cm"),  # swapped
        ({"arm": "placebo"}, "arm"),
        ({"serum_creatinine_mg_dl": 1}, "serum_creatinine_umol_l"),  # both units
        ({"bsa_formula": "meeh"}, "bsa_formula"),
    ],
)
def test_preview_refuses_bad_input_with_400(api: Api, nurse: Any, change: dict[str, Any], field: str) -> None:
    response = api(nurse).post("/api/v1/dose-calculations/", {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_preview_warns_on_renal_contraindication_and_unusual_bmi(api: Api, nurse: Any) -> None:
    response = api(nurse).post(
        "/api/v1/dose-calculations/", {**BODY, "weight_kg": 50, "serum_creatinine_umol_l": 300}, format="json"
    )
    assert response.status_code == 200
    codes = [w["code"] for w in response.json()["warnings"]]
    assert {"bmi_unusual", "renal_contraindication", "renal_decision_required"} <= set(codes)


def test_preview_needs_authentication() -> None:
    assert APIClient().post("/api/v1/dose-calculations/", BODY, format="json").status_code in (401, 403)


def test_sheet_list_detail_and_site_scoping(
    api: Api, patient: Participant, make_sheet: SheetMaker, nurse: Any, other_nurse: Any
) -> None:
    sheet = make_sheet(patient)
    listing = api(nurse).get("/api/v1/dose-sheets/", {"site": "ZJU1", "status": "prepared", "day1_from": "2026-03-01"})
    assert listing.status_code == 200
    assert [row["id"] for row in listing.json()["results"]] == [sheet.pk]
    assert api(nurse).get("/api/v1/dose-sheets/", {"day1_to": "2026-03-04"}).json()["results"] == []
    detail = api(nurse).get(f"/api/v1/dose-sheets/{sheet.pk}/")
    assert detail.status_code == 200
    assert detail.json()["doses"][1]["dose_mg"] == 260
    assert api(other_nurse).get(f"/api/v1/dose-sheets/{sheet.pk}/").status_code == 404
    assert api(other_nurse).get("/api/v1/dose-sheets/").json()["results"] == []


def test_verify_and_release_through_the_api(
    api: Api, patient: Participant, make_sheet: SheetMaker, pharmacist: Any, pharmacist2: Any, nurse: Any
) -> None:
    sheet = make_sheet(patient)
    assert api(nurse).post(f"/api/v1/dose-sheets/{sheet.pk}/verify/").status_code == 403
    assert api(pharmacist).post(f"/api/v1/dose-sheets/{sheet.pk}/verify/").json()["status"] == "verified"
    same = api(pharmacist).post(f"/api/v1/dose-sheets/{sheet.pk}/release/")
    assert same.status_code == 422 and same.json()["code"] == "two_person_rule"
    too_long = api(pharmacist2).post(f"/api/v1/dose-sheets/{sheet.pk}/release/", {"reason": "x" * 101}, format="json")
    assert too_long.status_code == 400 and "reason" in too_long.json()["errors"]
    released = api(pharmacist2).post(
        f"/api/v1/dose-sheets/{sheet.pk}/release/", {"reason": "与病历核对无误"}, format="json"
    )
    assert released.status_code == 200
    assert (released.json()["verified_by"], released.json()["released_by"]) == ("pharmacist", "pharmacist2")
    # The note is kept as typed in the sheet's history, before the signature's manifestation.
    reason = DoseSheet.history.filter(id=sheet.pk, status="released").get().history_change_reason
    assert reason.startswith("与病历核对无误 · pharmacist2 signed 2026-03-02 10:00 (UTC+08:00): I released")
    assert api(pharmacist2).post(f"/api/v1/dose-sheets/{sheet.pk}/release/").status_code == 409


def test_api_clients_read_released_sheets_only(
    api: Api,
    patient: Participant,
    make_sheet: SheetMaker,
    pharmacist: Any,
    pharmacist2: Any,
    api_client_user: Any,
    now: Any,
) -> None:
    sheet = make_sheet(patient)
    assert api(api_client_user).get(f"/api/v1/dose-sheets/{sheet.pk}/").status_code == 404
    assert api(api_client_user).get("/api/v1/dose-sheets/").json()["results"] == []
    assert api(api_client_user).post(f"/api/v1/dose-sheets/{sheet.pk}/verify/").status_code == 403
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    services.dose_sheet_release(
        sheet=sheet, by=pharmacist2, now=now, signature=signed(pharmacist2, "release_sheet", at=now)
    )
    assert api(api_client_user).get(f"/api/v1/dose-sheets/{sheet.pk}/").status_code == 200


def test_pdf_shows_the_doses_and_the_chinese_name(
    api: Api, patient: Participant, make_sheet: SheetMaker, pharmacist: Any
) -> None:
    Participant.objects.filter(pk=patient.pk).update(full_name="张伟")
    sheet = make_sheet(patient)
    for url in (f"/api/v1/dose-sheets/{sheet.pk}/pdf/", f"/api/v1/dose-sheets/{sheet.pk}.pdf"):
        response = api(pharmacist).get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
    # text read back from the PDF, line breaks of the table cells folded into spaces
    text = " ".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages).split())
    assert "张伟" in text
    assert "2000 mg" in text and "260 mg" in text and "300 mg" in text
    assert "4 × 500 mg" in text  # capecitabine tablets per administration
    assert "112 × 500 mg" in text  # to dispense for the cycle (28 administrations)
    assert "NOT RELEASED" in text


def test_sheet_json_query_count_does_not_grow_with_history(
    api: Api,
    patient: Participant,
    make_sheet: SheetMaker,
    investigator: Any,
    pharmacist: Any,
    django_assert_max_num_queries: Any,
    now: Any,
) -> None:
    client = api(pharmacist)
    sheet = make_sheet(patient)
    client.get(f"/api/v1/dose-sheets/{sheet.pk}/")  # warm caches
    with django_assert_max_num_queries(6) as few:
        client.get(f"/api/v1/dose-sheets/{sheet.pk}/")
    for cycle in (1, 2, 3):
        services.dose_modification_record(
            participant=patient,
            drug="capecitabine",
            phase="neoadjuvant",
            cycle_number=cycle,
            toxicity_term="Diarrhea",
            ctcae_grade=1,
            reason="grade 1",
            by=investigator,
            now=now,
            signature=signed(investigator, "dose_modification", at=now),
        )
    later = make_sheet(patient, cycle=4)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(f"/api/v1/dose-sheets/{later.pk}/")
    assert response.status_code == 200 and len(response.json()["modifications"]) == 3
    assert DoseSheet.objects.count() == 2


def test_sheet_messages_follow_the_reader_language(
    api: Api, participant: Participant, make_sheet: SheetMaker, nurse: Any
) -> None:
    from tests.dosing.conftest import randomize, record_inputs

    randomize(participant)
    record_inputs(participant, platelets="90")
    sheet = make_sheet(participant)
    english = api(nurse).get(f"/api/v1/dose-sheets/{sheet.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()
    chinese = api(nurse).get(f"/api/v1/dose-sheets/{sheet.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert english["blockers"][0]["message"] == "Day-1 criteria not met: delay the cycle (no release)."
    assert chinese["blockers"][0]["message"] == "未达到第1天治疗标准：推迟本周期（不得发放）。"
    assert sheet.content["blockers"][0]["template"].startswith("Day-1")  # stored in English, whatever the reader


def _redis_cache(url: str) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",  # nothing left over from another run
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def test_pdfs_are_cached_in_the_shared_redis_cache(
    api: Api, patient: Participant, make_sheet: SheetMaker, pharmacist: Any, settings: Any
) -> None:
    from django.core.cache import cache

    from dosing import pdf

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings.CACHES = _redis_cache(redis_url.rsplit("/", 1)[0] + "/15")
    sheet = make_sheet(patient)
    first = api(pharmacist).get(f"/api/v1/dose-sheets/{sheet.pk}.pdf")
    assert first.status_code == 200
    # what another gunicorn worker would find: the bytes, in Redis, under the sheet's key
    redis = cache._cache.get_client(write=True)
    keys = list(redis.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*"))
    assert len(keys) == 1
    assert pdf.render_sheet_pdf(DoseSheet.objects.get(pk=sheet.pk)) == first.content
    redis.delete(*keys)


def test_a_dead_cache_server_does_not_stop_a_pdf(
    api: Api, patient: Participant, make_sheet: SheetMaker, pharmacist: Any, settings: Any, caplog: Any
) -> None:
    settings.CACHES = _redis_cache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    sheet = make_sheet(patient)
    response = api(pharmacist).get(f"/api/v1/dose-sheets/{sheet.pk}.pdf")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert "dose-sheet PDF cache unavailable" in caplog.text
