"""Reads of the randomization app. What a non-statistician may see is decided here: the public
commitment of a scheme, and a participant's own arm and number once randomized — never the
configuration of an active scheme, the seed, block contents or minimization scores."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from randomization.models import Allocation, RandomizationScheme, SchemeStatus, ScreeningAssessment
from trialsite.models import Participant, Trial


def can_see_allocation_secrets(user: Any) -> bool:
    return bool(user.has_perm("randomization.view_allocation_secret"))


def active_scheme(trial: Trial) -> RandomizationScheme | None:
    return RandomizationScheme.objects.filter(trial=trial, status=SchemeStatus.ACTIVE).first()


def scheme_public(trial: Trial) -> dict[str, Any]:
    """What everyone may see: each activated scheme's version, method, commitment and dates."""
    schemes = RandomizationScheme.objects.filter(trial=trial).exclude(status=SchemeStatus.DRAFT).order_by("version")
    return {
        "trial": trial.registry_id,
        "schemes": [
            {
                "version": s.version,
                "status": s.status,
                "commitment_sha256": s.commitment,
                "activated_at": s.activated_at,
            }
            for s in schemes
        ],
        "randomized": Allocation.objects.filter(trial=trial).count(),
        "target_enrollment": trial.target_enrollment,
    }


def assessments_for(participant: Participant) -> QuerySet[ScreeningAssessment]:
    return ScreeningAssessment.objects.filter(participant=participant).order_by("-assessed_on", "-id")


def allocation_of(participant: Participant) -> Allocation | None:
    return Allocation.objects.filter(participant=participant).first()


def allocations_for_statistician(user: Any, trial: Trial) -> QuerySet[Allocation]:
    """The full record (scores and draws included): statistician only."""
    if not can_see_allocation_secrets(user):
        return Allocation.objects.none()
    return Allocation.objects.filter(trial=trial).order_by("sequence")
