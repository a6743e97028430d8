"""One hierarchy of domain errors. Services raise them; the DRF exception handler
(trialsite.api.errors) turns them into HTTP answers and the admin shows them as messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from trialsite.error_codes import CommonErrorCode, TrialsiteErrorCode
from trialsite.phrases import Phrase, is_phrase, render


class ApplicationError(Exception):
    """A domain rule refused an operation. `code` is stable and machine-readable; `detail` is a
    human message (already translated where the caller's language matters); `errors` maps field
    names to messages, as in the public error shape {"code", "detail", "errors"}. A `detail` given
    as a stored phrase (trialsite.phrases) is said in the active language and kept as `phrase`,
    for a caller that stores why it was refused (a dose sheet's end reason)."""

    code: ClassVar[str] = CommonErrorCode.APPLICATION_ERROR
    http_status: ClassVar[int] = 422

    def __init__(
        self,
        detail: str | Phrase,
        *,
        code: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        self.phrase: Phrase | None = None
        if not isinstance(detail, str):
            self.phrase = detail if is_phrase(detail) else None
            detail = render(detail)
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.errors = {k: [str(m) for m in v] for k, v in (errors or {}).items()}
        self.extra = dict(extra or {})


class InvalidInput(ApplicationError):
    """Input is malformed or out of range (400)."""

    code: ClassVar[str] = CommonErrorCode.INVALID
    http_status = 400


class RuleViolation(ApplicationError):
    """Well-formed input that a clinical or workflow rule refuses (422)."""

    code = CommonErrorCode.RULE_VIOLATION
    http_status = 422


class Conflict(ApplicationError):
    """The operation clashes with the current state (409): already done, capacity full, …"""

    code = CommonErrorCode.CONFLICT
    http_status = 409


class NotPermitted(ApplicationError):
    """The user's role or site does not allow this (403)."""

    code = CommonErrorCode.PERMISSION_DENIED
    http_status = 403


class NotFound(ApplicationError):
    code = CommonErrorCode.NOT_FOUND
    http_status = 404


class ProtocolDefinitionError(InvalidInput):
    """A protocol definition file failed to parse or validate."""

    code = TrialsiteErrorCode.INVALID_PROTOCOL


class IntegrityFailure(ApplicationError):
    """A stored record no longer matches what was written (its fingerprint or hash): it is not
    shown or used. A server-side fault, not the caller's (500); logged at CRITICAL where found."""

    code = CommonErrorCode.INTEGRITY_FAILURE
    http_status = 500
