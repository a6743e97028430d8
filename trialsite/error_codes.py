"""The registry's error codes, and the codes every app shares (Saleor's error_codes.py style).

Each app lists its own codes in `<app>/error_codes.py`. One condition has one code and one HTTP
status everywhere:
- a participant who has withdrawn (or died): PARTICIPANT_WITHDRAWN, raised as Conflict (409);
- a record of a site the user does not work at: NotFound (404), as the selectors answer;
- a role that may not act: ROLE_REQUIRED, NotPermitted (403);
- no signed-in user: NOT_AUTHENTICATED, NotPermitted (403)."""

from __future__ import annotations

from enum import StrEnum


class CommonErrorCode(StrEnum):
    NOT_AUTHENTICATED = "not_authenticated"
    ROLE_REQUIRED = "role_required"
    NOT_FOUND = "not_found"
    PARTICIPANT_WITHDRAWN = "participant_withdrawn"
