"""Reads of the trial registry, scoped by the user's sites."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet

from trialsite.models import LabResult, Measurement, Participant, Site, Trial


def user_site_ids(user: Any) -> frozenset[int]:
    """Ids of the sites `user` belongs to (cached per request on the user object)."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_trialsite_site_ids", None)
    if cached is None:
        cached = frozenset(user.site_memberships.values_list("site_id", flat=True))
        user._trialsite_site_ids = cached
    return cached


def sites_for_user(user: Any) -> QuerySet[Site]:
    if getattr(user, "is_superuser", False):
        return Site.objects.all()
    return Site.objects.filter(pk__in=user_site_ids(user))


def participants_for_user(user: Any) -> QuerySet[Participant]:
    """Participants at the user's sites; superusers see all, everyone else only their sites."""
    qs = Participant.objects.select_related("site", "trial")
    if getattr(user, "is_superuser", False):
        return qs
    return qs.filter(site_id__in=user_site_ids(user))


def default_trial() -> Trial | None:
    """The only trial, when there is exactly one (PRODUCT.md: `trial` defaults to it)."""
    trials = list(Trial.objects.select_related("current_protocol")[:2])
    return trials[0] if len(trials) == 1 else None


def latest_measurement(
    participant: Participant, kind: str, *, on_or_before: dt.date | None = None
) -> Measurement | None:
    qs = Measurement.objects.filter(participant=participant, kind=kind, entered_in_error=False)
    if on_or_before is not None:
        qs = qs.filter(measured_on__lte=on_or_before)
    return qs.order_by("-measured_on", "-id").first()


def latest_labs(participant: Participant, *, on_or_before: dt.date | None = None) -> dict[str, LabResult]:
    """The latest valid result per analyte, in one query."""
    qs = LabResult.objects.filter(participant=participant, entered_in_error=False)
    if on_or_before is not None:
        qs = qs.filter(collected_on__lte=on_or_before)
    out: dict[str, LabResult] = {}
    for row in qs.order_by("analyte", "-collected_on", "-id"):
        out.setdefault(row.analyte, row)
    return out


def withdrawal_effects(participant: Any) -> list[str]:
    """What a withdrawal (or a recorded death) of `participant` would stop, in the reader's
    language with counts, as the feature apps answer participant_withdrawal_effects (a read)."""
    from trialsite.signals import participant_withdrawal_effects

    effects: list[str] = []
    for _receiver, answer in participant_withdrawal_effects.send(sender=type(participant), participant=participant):
        effects.extend(answer or [])
    return effects
