"""The printable randomization confirmation (issue 17): one A4 page and its PDF with the
participant, number, arm, time in the site's zone, who randomized, the eligibility summary and
the trial's commitment; the first printing is the original, later ones say "copy"."""

from __future__ import annotations

import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from randomization import services as rs
from randomization.models import Allocation, ConfirmationPrint, RandomizationScheme
from tests.conftest import TEST_PASSWORD
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import signed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page(pk: int) -> str:
    return f"/admin/randomization/participanttorandomize/{pk}/confirmation/"


def _pdf_text(content: bytes) -> str:
    return " ".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).split())


def test_randomizing_in_the_admin_leads_to_the_original_then_copies(
    nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible()
    nurse.first_name, nurse.last_name = "Li", "Hua"
    nurse.save()
    client = login(nurse)
    response = client.post(
        f"/admin/randomization/participanttorandomize/{participant.pk}/randomize/",
        {"confirm": "on", "signature_password": TEST_PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == _page(participant.pk)
    allocation = Allocation.objects.get(participant=participant)
    original = client.get(_page(participant.pk)).content.decode()
    assert 'id="original-mark"' in original and 'id="copy-mark"' not in original
    assert f"R{allocation.sequence}" in original and participant.screening_number in original
    assert scheme.commitment in original and allocation.entry_hash in original
    # The time in the site's zone (Asia/Shanghai, UTC+8), not UTC.
    local = timezone.localtime(allocation.allocated_at, ZoneInfo(participant.site.time_zone))
    assert local.strftime("%Y-%m-%d %H:%M") in original and "Asia/Shanghai" in original
    assert "Li Hua" in original or "Hua Li" in original
    assert "criteria met" in original
    again = client.get(_page(participant.pk)).content.decode()
    assert 'id="copy-mark"' in again and "COPY 1" in again
    assert ConfirmationPrint.objects.filter(allocation=allocation).count() == 2


def test_the_pdf_is_one_a4_page_and_a_reprint_says_copy(
    nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible()
    allocation = rs.participant_randomize(
        participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
    )
    client = login(nurse)
    first = client.get(f"/admin/randomization/participanttorandomize/{participant.pk}/confirmation.pdf")
    assert first.status_code == 200 and first["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(first.content))
    assert len(reader.pages) == 1
    width, height = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert (round(width), round(height)) == (595, 842)  # A4 in points (210 × 297 mm)
    text = _pdf_text(first.content)
    assert f"R{allocation.sequence}" in text and "Original" in text and "COPY" not in text
    second = client.get(f"/admin/randomization/participanttorandomize/{participant.pk}/confirmation.pdf")
    assert "COPY 1" in _pdf_text(second.content)
    assert "copy1" in second["Content-Disposition"]


def test_the_page_is_in_the_readers_language(
    nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible()
    rs.participant_randomize(participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW))
    page = login(nurse).get(_page(participant.pk), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "随机化确认" in page
    assert "Randomization confirmation" not in page


def test_other_sites_and_roles_cannot_print_it(
    nurse: User,
    other_nurse: User,
    pharmacist: User,
    statistician: User,
    scheme: RandomizationScheme,
    make_eligible: ParticipantMaker,
    api: Any,
) -> None:
    participant = make_eligible()
    rs.participant_randomize(participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW))
    assert login(other_nurse).get(_page(participant.pk)).status_code == 404
    assert login(pharmacist).get(_page(participant.pk)).status_code == 403
    assert login(statistician).get(_page(participant.pk)).status_code == 200
    url = f"/api/v1/participants/{participant.pk}/randomization-confirmation.pdf"
    assert api(other_nurse).get(url).status_code == 404
    assert api(pharmacist).get(url).status_code == 403
    answer = api(nurse).get(url)
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF")
    # Refused attempts printed nothing: the page (statistician) and the API's PDF only.
    assert ConfirmationPrint.objects.count() == 2


def test_a_participant_not_yet_randomized_has_no_confirmation(
    nurse: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker, api: Any
) -> None:
    participant = make_eligible()
    assert login(nurse).get(_page(participant.pk)).status_code == 404
    response = api(nurse).get(f"/api/v1/participants/{participant.pk}/randomization-confirmation.pdf")
    assert response.status_code == 404 and response.json()["code"] == "not_randomized"
    assert not ConfirmationPrint.objects.exists()
