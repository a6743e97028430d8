"""Confirmation steps of the admin's irreversible acts (release, activation): before the page
that says what will happen, the service itself is tried and rolled back, so that the page is
shown only for an act its rules allow, and a refusal is said at once, by the one home of the
rule (the service), not by a copy of its checks here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from trialsite.errors import ApplicationError


class _RolledBack(Exception):
    pass


def refusal(act: Callable[[], Any]) -> ApplicationError | None:
    """Run `act` in a savepoint that is always rolled back; return the domain error it raised,
    or None when it would succeed. Nothing it wrote stays, and on_commit callbacks registered
    inside the savepoint are discarded with it."""
    try:
        with transaction.atomic():
            act()
            raise _RolledBack
    except _RolledBack:
        return None
    except ApplicationError as exc:
        return exc
