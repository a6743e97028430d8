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
