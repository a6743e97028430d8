"""Reads of treatment plans. `cycle_visits` is the interface the dosing app uses to find the
cycles whose dose sheets are due; it returns plain dataclasses, not models."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class CycleVisit:
    """A systemic-therapy cycle's day-1 visit."""

    participant_id: int
    site_id: int
    phase: str  # "neoadjuvant" | "adjuvant" (the protocol's systemic phases)
    cycle_number: int  # 1-based within the phase
    day1: dt.date  # the actual day 1 once given, else the planned one
    status: str  # "planned" | "booked" | "done" | "cancelled"


def cycle_visits(
    *,
    participant_ids: Iterable[int] | None = None,
    site_ids: Iterable[int] | None = None,
    day1_from: dt.date | None = None,
    day1_to: dt.date | None = None,
) -> list[CycleVisit]:
    """Cycle day-1 visits matching the filters, ordered by day 1. (Filled in by the schedules work.)"""
    return []
