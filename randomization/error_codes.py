"""The randomization app's error codes (the shared ones, and the status each condition answers
with, are in trialsite/error_codes.py)."""

from __future__ import annotations

from enum import StrEnum


class RandomizationErrorCode(StrEnum):
    SCREENING_CLOSED = "screening_closed"  # 422: the participant is already randomized
    SCHEME_ALREADY_ACTIVE = "scheme_already_active"  # 409
    ALREADY_RANDOMIZED = "already_randomized"  # 409, with the participant's number
    NOT_ELIGIBLE = "not_eligible"  # 422, the reasons per field
    RANDOMIZATION_NOT_ACTIVE = "randomization_not_active"  # 422: no scheme activated yet
    ENROLLMENT_CAP_REACHED = "enrollment_cap_reached"  # 422
    STRATIFICATION_MISSING = "stratification_missing"  # 422
    ALLOCATION_RECORD_CORRUPT = "allocation_record_corrupt"  # 422: randomization is suspended
