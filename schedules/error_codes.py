"""The schedules' error codes (Saleor's error_codes.py style; the shared ones and the status
policy are in trialsite/error_codes.py). A code names one condition and goes with one error class,
so one HTTP status: the class each is raised as is written beside it."""

from __future__ import annotations

from enum import StrEnum


class ScheduleErrorCode(StrEnum):
    NOT_RANDOMIZED = "not_randomized"  # RuleViolation 422: no plan before randomization
    SCRT_START_REFUSED = "scrt_start_refused"  # RuleViolation 422, with the next start that works
    SCRT_OVERALL_TIME_EXCEEDED = "scrt_overall_time_exceeded"  # RuleViolation 422
    TREATMENT_STARTED = "treatment_started"  # Conflict 409: the plan cannot be re-made
    EVENT_CLOSED = "event_closed"  # Conflict 409: done or cancelled
    NOT_WORKING_DAY = "not_working_day"  # RuleViolation 422
    DATE_IN_PAST = "date_in_past"  # RuleViolation 422
    OUTSIDE_OPENING_HOURS = "outside_opening_hours"  # RuleViolation 422
    OUTSIDE_WINDOW = "outside_window"  # RuleViolation 422
    CAPACITY_FULL = "capacity_full"  # Conflict 409
    ALREADY_BOOKED = "already_booked"  # Conflict 409
    BOOKING_CANCELLED = "booking_cancelled"  # Conflict 409
    ALREADY_CLOSED = "already_closed"  # Conflict 409: the site has an entry for that day
    CONFIRMATION_REQUIRED = "confirmation_required"  # Conflict 409, with the events it moves
    ACTUAL_DATE_DEPENDED_ON = "actual_date_depended_on"  # NotPermitted 403: an investigator's call
