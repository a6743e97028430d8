"""What the floors above schedules build on a visit's recorded date, asked before the date is
corrected (services.event_actual_preview). Schedules cannot import those apps (they import it),
so each registers its question here when its app is ready: dosing answers for released dose
sheets. A registered query only describes (in the reader's language); it refuses nothing: the
nurse sees the list and confirms. This is a direct call, not a signal, so the preview reads top
to bottom and an app that is not installed simply adds nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from schedules.models import ScheduledEvent


class DependantsQuery(Protocol):
    def __call__(self, *, participant_id: int, cycles: Sequence[ScheduledEvent]) -> list[str]: ...


_QUERIES: list[Callable[..., list[str]]] = []


def register(query: DependantsQuery) -> None:
    """Called from an AppConfig.ready; registering the same query twice keeps one."""
    if query not in _QUERIES:
        _QUERIES.append(query)


def describe(*, participant_id: int, cycles: Sequence[ScheduledEvent]) -> list[str]:
    """What rests on the day 1 of these cycle visits, in every registered app's words."""
    found: list[str] = []
    for query in _QUERIES:
        found += query(participant_id=participant_id, cycles=cycles)
    return found
