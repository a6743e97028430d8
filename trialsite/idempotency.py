"""`Idempotency-Key`: a client that lost the answer to a write (a timeout, a dropped connection)
sends the request again with the same key and gets the first answer again, instead of doing the
write twice or being told it conflicts with itself (`409 already_booked`).

`@idempotent` wraps a DRF view method. With a key, the view runs inside one transaction together
with the insert of its answer (IdempotencyRecord, unique per user and key), so the write and the
record of its answer commit together or not at all: a committed write always has its answer to
replay. A repeat with the same key replays that answer (with `Idempotent-Replayed: true`); the
same key with another method, path or body is refused (`422 idempotency_key_reused`). Only
successful answers are kept: a refused request changed nothing, so repeating it runs it again.

Two requests with the same key at the same time: one commits first; the other either fails on
the service's own rule (already booked, already randomized) or on the record's unique
constraint, rolls back, and replays the winner's answer."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from trialsite import roles
from trialsite.error_codes import CommonErrorCode, TrialsiteErrorCode
from trialsite.errors import ApplicationError, InvalidInput, RuleViolation
from trialsite.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200

# For the endpoints' extend_schema(parameters=[...]).
PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Client-chosen retry key (at most 200 characters, unique per request): a repeat with the same key "
        "and body returns the first answer instead of writing again."
    ),
)

View = TypeVar("View", bound=Callable[..., Response])


def request_hash(request: Request) -> str:
    """What makes two requests "the same": method, path and JSON body (keys sorted)."""
    body = json.dumps(request.data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _key(request: Request) -> str:
    key = (request.headers.get(HEADER) or "").strip()
    if len(key) > MAX_KEY_LENGTH:
        message = _("At most %(n)d characters.") % {"n": MAX_KEY_LENGTH}
        raise InvalidInput(
            _("The Idempotency-Key is too long."), code=CommonErrorCode.INVALID, errors={HEADER: [message]}
        )
    return key


def _replay(record: IdempotencyRecord, digest: str) -> Response:
    if record.request_hash != digest:
        raise RuleViolation(
            _("This Idempotency-Key was used with a different request."),
            code=TrialsiteErrorCode.IDEMPOTENCY_KEY_REUSED,
            errors={HEADER: [_("Already used with another request body or endpoint.")]},
        )
    return Response(record.body, status=record.status_code, headers={"Idempotent-Replayed": "true"})


def idempotent(view: View) -> View:
    """Make a DRF view method (`post`, `patch`, `delete`) honour the Idempotency-Key header."""

    @functools.wraps(view)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = _key(request)
        if not key:
            return view(self, request, *args, **kwargs)
        user = roles.actor(request.user)
        digest = request_hash(request)
        record = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if record is not None:
            return _replay(record, digest)
        try:
            with transaction.atomic():
                response = view(self, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    IdempotencyRecord.objects.create(
                        user=user,
                        key=key,
                        endpoint=request.path[:200],
                        request_hash=digest,
                        status_code=response.status_code,
                        body=response.data,
                    )
        except (ApplicationError, IntegrityError):
            # A concurrent request with the same key may have won: answer as it did.
            record = IdempotencyRecord.objects.filter(user=user, key=key).first()
            if record is not None:
                return _replay(record, digest)
            raise
        return response

    return wrapper  # type: ignore[return-value]
