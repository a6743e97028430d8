"""An oral drug's course in a cycle, from the protocol's `first_administration` and
`last_administration` of the drug. Pure (no Django): read by trialsite.protocol's checks, the
dosing sheet and schedules.calendar, so that the sheet, the PDF, the timeline and the reminders
say the same thing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TIMES_OF_DAY = ("morning", "evening")


def administration_course(drug: Mapping[str, Any]) -> dict[str, Any] | None:
    """A twice-daily oral drug's course in a cycle, from its protocol data (`first_administration`
    and `last_administration`: a day of the cycle and morning or evening), with the number of
    administrations it makes (capecitabine: evening of day 1 to morning of day 15 = 28). None
    for a drug without them. The sheet, the PDF, the timeline and the reminders all read this."""
    first, last = drug.get("first_administration"), drug.get("last_administration")
    if not first or not last:
        return None

    def slot(point: Mapping[str, Any]) -> int:
        return int(point["day"]) * 2 + TIMES_OF_DAY.index(point["time"])

    return {
        "first_day": int(first["day"]),
        "first_time": first["time"],
        "last_day": int(last["day"]),
        "last_time": last["time"],
        "administrations": slot(last) - slot(first) + 1,
    }
