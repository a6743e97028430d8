"""Electronic signatures (trialsite.signatures, 21 CFR 11.50/11.100/11.200): a correct re-entered
password signs, a wrong one signs nothing and counts towards django-axes' lock-out, and a
signature is used once, by its signer, for its act, while fresh."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.test import RequestFactory

from tests.conftest import TEST_PASSWORD
from tests.support.signatures import signed
from trialsite import signatures
from trialsite.errors import NotPermitted
from trialsite.models import Signature, Site

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai

pytestmark = pytest.mark.django_db


def _request() -> HttpRequest:
    return RequestFactory().post("/admin/dosing/dosesheet/1/verify/", REMOTE_ADDR="10.0.0.7")


def _sign(user: User, password: str, meaning: str = signatures.VERIFY_SHEET) -> Signature:
    return signatures.sign(request=_request(), user=user, password=password, meaning=meaning, now=NOW)


def test_the_right_password_signs_with_the_name_time_and_meaning(pharmacist: User) -> None:
    pharmacist.first_name, pharmacist.last_name = "Mei", "Chen"
    pharmacist.save()
    signature = _sign(pharmacist, TEST_PASSWORD)
    assert (signature.signer, signature.signer_name, signature.meaning) == (pharmacist, "Mei Chen", "verify_sheet")
    assert (signature.signed_at, signature.used_at, signature.target_id) == (NOW, None, None)
    assert not AccessAttempt.objects.exists()


def test_a_wrong_password_signs_nothing_and_counts_one_failure(pharmacist: User) -> None:
    with pytest.raises(NotPermitted) as refused:
        _sign(pharmacist, "not-my-password")
    assert (refused.value.code, refused.value.http_status) == ("signature_invalid", 403)
    assert not Signature.objects.exists()
    attempt = AccessAttempt.objects.get(username=pharmacist.username)
    assert (attempt.failures_since_start, attempt.ip_address) == (1, "10.0.0.7")


def test_no_password_is_a_missing_signature_and_no_attempt(pharmacist: User) -> None:
    with pytest.raises(NotPermitted) as refused:
        _sign(pharmacist, "")
    assert refused.value.code == "signature_required"
    assert not Signature.objects.exists() and not AccessAttempt.objects.exists()


def test_after_the_failure_limit_the_account_is_locked_even_with_the_right_password(
    pharmacist: User, settings: Any
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        with pytest.raises(NotPermitted):
            _sign(pharmacist, "wrong")
    with pytest.raises(NotPermitted) as refused:
        _sign(pharmacist, TEST_PASSWORD)
    assert refused.value.code == "signature_locked"
    assert not Signature.objects.exists()


def test_an_account_without_a_usable_password_cannot_sign(api_client_user: User) -> None:
    api_client_user.set_unusable_password()
    api_client_user.save()
    with pytest.raises(NotPermitted) as refused:
        _sign(api_client_user, "anything")
    assert refused.value.code == "signature_invalid"


def _consume(signature: Signature | None, by: User | None, *, target: Any = None, meaning: str = "verify_sheet") -> Any:
    target = target or Site.objects.order_by("pk").first()
    return signatures.consume(signature, by=by, meaning=meaning, target=target, now=NOW)


@pytest.mark.parametrize(
    "case",
    ["missing", "another_person", "another_meaning", "stale", "from_the_future"],
)
def test_consume_refuses_a_signature_that_is_not_this_acts(
    case: str, pharmacist: User, pharmacist2: User, site: Site
) -> None:
    signature = {
        "missing": None,
        "another_person": signed(pharmacist2, "verify_sheet", at=NOW),
        "another_meaning": signed(pharmacist, "release_sheet", at=NOW),
        "stale": signed(pharmacist, "verify_sheet", at=NOW - signatures.SIGNATURE_MAX_AGE - dt.timedelta(seconds=1)),
        "from_the_future": signed(pharmacist, "verify_sheet", at=NOW + dt.timedelta(minutes=6)),
    }[case]
    with pytest.raises(NotPermitted) as refused:
        _consume(signature, pharmacist)
    assert (refused.value.code, refused.value.http_status) == ("signature_required", 403)
    assert not Signature.objects.filter(used_at__isnull=False).exists()


def test_a_signature_is_used_once(pharmacist: User, site: Site) -> None:
    signature = signed(pharmacist, "verify_sheet", at=NOW)
    used = _consume(signature, pharmacist, target=site)
    assert (used.target_id, used.used_at) == (site.pk, NOW)
    reason = site._change_reason  # type: ignore[attr-defined]  # simple-history's, for the next save
    assert reason == "pharmacist signed 2026-03-02 10:00 (UTC+08:00): I verified this dose sheet"
    with pytest.raises(NotPermitted) as refused:
        _consume(signature, pharmacist, target=site)
    assert refused.value.code == "signature_required"


def test_the_system_acts_without_a_signature(site: Site) -> None:
    assert _consume(None, None) is None


def test_a_used_signature_names_its_record(pharmacist: User) -> None:
    signature = signed(pharmacist, "verify_sheet", at=NOW)
    assert signature is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        Signature.objects.filter(pk=signature.pk).update(used_at=NOW)


def test_the_manifestation_in_chinese(pharmacist: User, site: Site) -> None:
    from django.utils import translation

    signature = signed(pharmacist, "release_sheet", at=NOW)
    assert signature is not None
    with translation.override("zh-hans"):
        text = signatures.manifestation(signature, time_zone="Asia/Shanghai")
        label = signatures.password_label("verify_sheet")
    assert "pharmacist" in text and "2026-03-02 10:00" in text and "Signed" not in text
    assert "I verified" not in label
