"""The dosing app's error codes (Saleor's error_codes.py style): the stable `code` of a refusal,
one per condition. The shared ones (a withdrawn participant, a role, another site) are
trialsite/error_codes.py's CommonErrorCode. Pure Python: the calculations use it too."""

from __future__ import annotations

from enum import StrEnum


class DosingErrorCode(StrEnum):
    # Inputs the calculations refuse (InvalidInput, 400).
    INVALID = "invalid"
    HEIGHT_OUT_OF_RANGE = "height_out_of_range"
    WEIGHT_OUT_OF_RANGE = "weight_out_of_range"
    HEIGHT_WEIGHT_SWAPPED = "height_weight_swapped"
    UNKNOWN_BSA_FORMULA = "unknown_bsa_formula"
    CREATININE_REQUIRED = "creatinine_required"
    CREATININE = "creatinine"
    AGE_OUT_OF_RANGE = "age_out_of_range"
    DOSE_ABOVE_STANDARD = "dose_above_standard"
    INVALID_GRADE = "invalid_grade"
    # Rules that refuse a sheet or a decision (RuleViolation, 422).
    NOT_RANDOMIZED = "not_randomized"
    MEASUREMENTS_OUT_OF_DATE = "measurements_out_of_date"
    CYCLE_NOT_PLANNED = "cycle_not_planned"
    DAY1_NOT_PLANNED = "day1_not_planned"
    SHEET_BLOCKED = "sheet_blocked"
    TWO_PERSON_RULE = "two_person_rule"
    NO_CURRENT_SHEET = "no_current_sheet"
    RENAL_DECISION_NOT_FITTING = "renal_decision_not_fitting"
    DRUG_NOT_IN_REGIMEN = "drug_not_in_regimen"
    ALREADY_DISCONTINUED = "already_discontinued"
    NOT_REDUCIBLE = "not_reducible"
    # Clashes with the sheet's current state (Conflict, 409).
    SHEET_CONFLICT = "sheet_conflict"
    SHEET_NOT_PREPARED = "sheet_not_prepared"
    SHEET_NOT_VERIFIED = "sheet_not_verified"
    SHEET_NOT_VOIDABLE = "sheet_not_voidable"
    RENAL_DECISION_EXISTS = "renal_decision_exists"
    # A client that may not see identities asked for the printed sheet (NotPermitted, 403).
    IDENTITY_NOT_GRANTED = "identity_not_granted"
    # A stored sheet whose fingerprint no longer matches (IntegrityFailure, 500).
    DOSE_SHEET_INTEGRITY = "dose_sheet_integrity"
