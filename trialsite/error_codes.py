"""The registry's error codes, and the codes every app shares (Saleor's error_codes.py style).

Each app lists its own codes in `<app>/error_codes.py`. One condition has one code and one HTTP
status everywhere:
- a participant who has withdrawn (or died): PARTICIPANT_WITHDRAWN, raised as Conflict (409);
- a record of a site the user does not work at: NOT_FOUND, NotFound (404), as the selectors
  answer (`roles.require(by, perm, site=...)` says so for every service);
- a role that may not act: ROLE_REQUIRED, NotPermitted (403);
- no signed-in user: NOT_AUTHENTICATED, NotPermitted (403)."""

from __future__ import annotations

from enum import StrEnum


class CommonErrorCode(StrEnum):
    # The hierarchy's own codes (trialsite.errors), used when a raise names no code.
    APPLICATION_ERROR = "application_error"
    INVALID = "invalid"
    RULE_VIOLATION = "rule_violation"
    CONFLICT = "conflict"
    PERMISSION_DENIED = "permission_denied"
    INTEGRITY_FAILURE = "integrity_failure"
    # Conditions every app answers alike.
    NOT_AUTHENTICATED = "not_authenticated"
    ROLE_REQUIRED = "role_required"
    NOT_FOUND = "not_found"
    PARTICIPANT_WITHDRAWN = "participant_withdrawn"
    # Electronic signatures (trialsite.signatures), NotPermitted (403) at every door: no signature
    # (or one that is not this act's), a wrong password, a locked-out account.
    SIGNATURE_REQUIRED = "signature_required"
    SIGNATURE_INVALID = "signature_invalid"
    SIGNATURE_LOCKED = "signature_locked"


class TrialsiteErrorCode(StrEnum):
    """The registry's: trials and their protocol, participants, their records, API requests."""

    INVALID_PROTOCOL = "invalid_protocol"
    PROTOCOL_MISSING = "protocol_missing"
    PROTOCOL_VERSION_CHANGED = "protocol_version_changed"
    ALREADY_RANDOMIZED = "already_randomized"
    ILLEGAL_STATUS_TRANSITION = "illegal_status_transition"
    ALREADY_ENTERED_IN_ERROR = "already_entered_in_error"
    INVALID_SCREENING_NUMBER = "invalid_screening_number"
    INVALID_PHONE = "invalid_phone"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
