"""The schedules' row locks, named by what they lock, in the order of the lock order
(schedules/services/__init__.py): the participant first, then the plan's events; an event's lock
also checks the role and site (another site's event: 404)."""

from __future__ import annotations

from django.contrib.auth.models import User

from schedules.models import (
    ScheduledEvent,
    TreatmentPlan,
)
from trialsite import roles
from trialsite.models import Participant


def lock_participant(participant_id: int) -> Participant:
    # of=("self",): without it PostgreSQL's FOR UPDATE also locks the joined protocol-version and
    # site rows, so every booking of the trial queued on the one protocol-version row for its
    # whole transaction, and inserts referencing the site (bookings, reminders) waited on the
    # site row (their foreign-key checks take a KEY SHARE lock on it).
    return (
        Participant.objects.select_for_update(of=("self",))
        .select_related("protocol_version", "site")
        .get(pk=participant_id)
    )


def lock_events(plan: TreatmentPlan) -> list[ScheduledEvent]:
    return list(ScheduledEvent.objects.select_for_update().filter(plan=plan).order_by("order"))


def lock_event(event: ScheduledEvent, by: User | None, *, perm: str) -> tuple[Participant, ScheduledEvent]:
    participant = lock_participant(event.participant_id)
    roles.require(by, perm, site=participant.site_id)  # another site's: 404
    event = ScheduledEvent.objects.select_for_update(of=("self",)).select_related("plan").get(pk=event.pk)
    return participant, event
