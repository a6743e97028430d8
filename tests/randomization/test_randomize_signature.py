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
from django.utils import translation
from pypdf import PdfReader

from randomization.models import Allocation, RandomizationScheme
from tests.conftest import TEST_PASSWORD
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import token_client
from trialsite import audit_log
from trialsite.models import Participant, Signature

pytestmark = pytest.mark.django_db

MANIFESTATION = "Li Hua signed 2026-03-02 10:00 (Asia/Shanghai): I randomize this participant"
# in the history, the zone as its offset (the column holds 100 characters)
IN_HISTORY = "Li Hua signed 2026-03-02 10:00 (UTC+08:00): I randomize this participant"


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
    li_hua: User, investigator: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker
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
    assert randomized.history_change_reason == IN_HISTORY
    history = client.get(f"/admin/trialsite/participant/{participant.pk}/history/")
    assert history.status_code == 200 and IN_HISTORY in history.content.decode()
    # the trial's audit log, in the reader's language
    only = audit_log.Filters(model="trialsite.participant", participant_id=participant.pk)
    assert IN_HISTORY in [e.reason for e in audit_log.audit_entries(user=investigator, filters=only)]
    with translation.override("zh-hans"):
        reasons = [e.reason for e in audit_log.audit_entries(user=investigator, filters=only)]
    assert "Li Hua 于 2026-03-02 10:00（UTC+08:00）签名：我对该受试者进行随机分组" in reasons


def test_a_locked_out_account_cannot_sign_through_the_api(
    li_hua: User, scheme: RandomizationScheme, make_eligible: ParticipantMaker, settings: object
) -> None:
    participant = make_eligible()
    url = f"/api/v1/participants/{participant.pk}/randomize/"
    codes = [
        token_client(li_hua, "wrong").post(url, {}, format="json").json()["code"]
        for _ in range(settings.AXES_FAILURE_LIMIT)  # type: ignore[attr-defined]
    ]
    assert codes[-1] == "signature_locked" and set(codes[:-1]) == {"signature_invalid"}
    locked = token_client(li_hua, TEST_PASSWORD).post(url, {}, format="json")
    assert (locked.status_code, locked.json()["code"]) == (403, "signature_locked")
    assert not Allocation.objects.exists() and not Signature.objects.exists()
    # signing in to the admin is locked too (one lock-out for the name and address)
    assert Client().post("/admin/login/", {"username": li_hua.username, "password": TEST_PASSWORD}).status_code == 429
