"""Randomize is a signed act (issue 17, trialsite.signatures): the API refuses it without
X-Signature-Password or with a wrong one and allocates nothing; the admin asks for the password
with the meaning; the confirmation and the participant's history show the manifestation."""

from __future__ import annotations

import io

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from pypdf import PdfReader

from randomization.models import Allocation, RandomizationScheme
from tests.conftest import TEST_PASSWORD
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import token_client
from trialsite.models import Participant, Signature

pytestmark = pytest.mark.django_db

MANIFESTATION = "Signed by Li Hua, 2026-03-02 10:00 (Asia/Shanghai): I randomize this participant"


@pytest.fixture(autouse=True)
def _frozen_clock() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def li_hua(nurse: User) -> User:
    nurse.first_name, nurse.last_name = "Li", "Hua"
    nurse.save()
    return nurse


def test_api_randomize_without_or_with_a_wrong_password_allocates_nothing(
    li_hua: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible()
    url = f"/api/v1/participants/{participant.pk}/randomize/"
    for password, code in ((None, "signature_required"), ("wrong", "signature_invalid")):
        for key in ({}, {"HTTP_IDEMPOTENCY_KEY": f"k-{code}"}):
            refused = token_client(li_hua, password).post(url, {}, format="json", **key)
            assert (refused.status_code, refused.json()["code"]) == (403, code)
    assert not Allocation.objects.exists() and not Signature.objects.exists()
    # both wrong passwords counted, also the one under an idempotency key (its transaction rolled back)
    assert AccessAttempt.objects.get(username=li_hua.username).failures_since_start == 2
    done = token_client(li_hua, TEST_PASSWORD).post(url, {}, format="json")
    assert done.status_code == 201
    allocation = Allocation.objects.get()
    signature = Signature.objects.get()
    assert (signature.meaning, signature.target_id, signature.signer_name) == ("randomize", allocation.pk, "Li Hua")


def test_the_manifestation_on_the_confirmation_and_in_the_history(
    li_hua: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
) -> None:
    participant = make_eligible()
    client = Client()
    client.force_login(li_hua)
    url = f"/admin/randomization/participanttorandomize/{participant.pk}/randomize/"
    page = client.get(url).content.decode()
    assert "Re-enter your password to sign: I randomize this participant" in page
    refused = client.post(url, {"confirm": "on", "signature_password": "wrong"})
    assert refused.status_code == 200 and "The password is not correct" in refused.content.decode()
    assert not Allocation.objects.exists()
    assert client.post(url, {"confirm": "on", "signature_password": TEST_PASSWORD}).status_code == 302
    confirmation = client.get(f"/admin/randomization/participanttorandomize/{participant.pk}/confirmation/")
    assert MANIFESTATION in confirmation.content.decode()
    pdf = client.get(f"/admin/randomization/participanttorandomize/{participant.pk}/confirmation.pdf").content
    text = " ".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())
    assert MANIFESTATION in text
    randomized = Participant.history.filter(id=participant.pk, status="randomized").get()
    assert randomized.history_change_reason == MANIFESTATION
    history = client.get(f"/admin/trialsite/participant/{participant.pk}/history/")
    assert history.status_code == 200 and MANIFESTATION in history.content.decode()
