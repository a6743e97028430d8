"""Signatures for tests that call a signed service directly: `signed(user, meaning)` is the row
`trialsite.signatures.sign` would have written after a correct password (the password check
itself is tested in tests/trialsite/test_signatures.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from trialsite.models import Signature
from trialsite.signatures import signer_name


def signed(user: Any, meaning: str, *, at: dt.datetime | None = None) -> Signature | None:
    """A fresh, unused signature of `user` for `meaning`, made at `at` (the act's `now`; default
    the clock). None for the system (`user=None`), which signs nothing."""
    if user is None:
        return None
    return Signature.objects.create(
        signer=user, signer_name=signer_name(user), meaning=meaning, signed_at=at or timezone.now()
    )


def token_client(user: Any, password: str | None) -> Any:
    """An API client with `user`'s token that sends `password` as X-Signature-Password (None:
    no header), for the tests of the signed acts' API doors."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Token {Token.objects.get(user=user).key}"}
    if password is not None:
        headers["HTTP_X_SIGNATURE_PASSWORD"] = password
    client.credentials(**headers)
    return client
