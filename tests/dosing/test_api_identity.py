"""A dose sheet's JSON and PDF name the patient: an API client sees neither the name nor the birth
date unless granted them (issue 12 §7)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission, User

from dosing import services
from tests.dosing.conftest import SheetMaker
from tests.support.signatures import signed
from trialsite.models import Participant


def _released(make_sheet: SheetMaker, patient: Participant, pharmacist: User, pharmacist2: User, now: Any) -> Any:
    sheet = make_sheet(patient)
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    services.dose_sheet_release(
        sheet=sheet, by=pharmacist2, now=now, signature=signed(pharmacist2, "release_sheet", at=now)
    )
    return sheet


def _grant_identity(user: User) -> User:
    user.user_permissions.add(Permission.objects.get(codename="view_participant_identity"))
    return User.objects.get(pk=user.pk)


def test_an_api_client_reads_a_sheet_without_the_name_and_birth_date(
    api: Any,
    patient: Participant,
    make_sheet: SheetMaker,
    pharmacist: User,
    pharmacist2: User,
    api_client_user: User,
    now: Any,
) -> None:
    sheet = _released(make_sheet, patient, pharmacist, pharmacist2, now)
    detail = api(api_client_user).get(f"/api/v1/dose-sheets/{sheet.pk}/").json()
    listed = api(api_client_user).get("/api/v1/dose-sheets/").json()["results"][0]
    for document in (detail, listed):
        assert document["participant"]["screening_number"] == patient.screening_number
        assert document["doses"]  # the dosing content is all there
        assert "full_name" not in document["participant"] and "birth_date" not in document["participant"]
    assert patient.full_name not in str(detail) + str(listed)
    # the stored sheet is untouched: staff still see the name
    assert (
        api(pharmacist).get(f"/api/v1/dose-sheets/{sheet.pk}/").json()["participant"]["full_name"] == patient.full_name
    )


def test_the_pdf_is_refused_to_an_api_client_without_identity(
    api: Any,
    patient: Participant,
    make_sheet: SheetMaker,
    pharmacist: User,
    pharmacist2: User,
    api_client_user: User,
    now: Any,
) -> None:
    sheet = _released(make_sheet, patient, pharmacist, pharmacist2, now)
    response = api(api_client_user).get(f"/api/v1/dose-sheets/{sheet.pk}.pdf")
    assert response.status_code == 403
    assert response.json()["code"] == "identity_not_granted"


def test_a_client_granted_identity_reads_the_name_and_the_pdf(
    api: Any,
    patient: Participant,
    make_sheet: SheetMaker,
    pharmacist: User,
    pharmacist2: User,
    api_client_user: User,
    now: Any,
) -> None:
    sheet = _released(make_sheet, patient, pharmacist, pharmacist2, now)
    client = api(_grant_identity(api_client_user))
    assert client.get(f"/api/v1/dose-sheets/{sheet.pk}/").json()["participant"]["full_name"] == patient.full_name
    response = client.get(f"/api/v1/dose-sheets/{sheet.pk}.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
