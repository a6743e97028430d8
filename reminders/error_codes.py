"""The reminders' error codes (Saleor's error_codes.py style; trialsite/error_codes.py has the
shared ones and the status policy). The reminders' services refuse only with the shared codes
today: a role that may not act (ROLE_REQUIRED, 403) and another site's reminder (404, as the
selectors answer). A send's outcome is not an error: it is the row's status (ReminderStatus)."""

from __future__ import annotations

from enum import StrEnum


class ReminderErrorCode(StrEnum):
    """A refusal of the reminders' own goes here, with the error class it is raised as."""
