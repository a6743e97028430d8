"""The secret iCalendar feed keys of staff members: one live key per user."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User
from django.db import transaction

from schedules.models import (
    CalendarFeed,
)


@transaction.atomic
def calendar_feed_create(*, user: User, now: dt.datetime) -> CalendarFeed:
    """A new secret feed URL for `user`; their older keys are revoked (one live URL per user)."""
    CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    return CalendarFeed.objects.create(user=user)


@transaction.atomic
def calendar_feed_revoke(*, feed: CalendarFeed, now: dt.datetime) -> CalendarFeed:
    if feed.revoked_at is None:
        feed.revoked_at = now
        feed.save(update_fields=["revoked_at"])
    return feed
