"""The adverse-event log's error codes (one condition, one code and one HTTP status everywhere;
the shared ones are trialsite.error_codes.CommonErrorCode)."""

from __future__ import annotations

from enum import StrEnum


class AdverseEventErrorCode(StrEnum):
    GRADE_NOT_DEFINED = "grade_not_defined"  # InvalidInput (400): the term has no such grade
    REASON_REQUIRED = "reason_required"  # InvalidInput (400): a grade or seriousness change needs a reason
    NOT_SERIOUS = "not_serious"  # RuleViolation (422): only an SAE is acknowledged
    ALREADY_ACKNOWLEDGED = "already_acknowledged"  # Conflict (409)
    NOTHING_TO_CHANGE = "nothing_to_change"  # InvalidInput (400)
