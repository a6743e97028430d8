"""Reads of the toxicity log, scoped by the user's sites, and what the protocol says a
participant's toxicity can be attributed to (drugs) and when it can be seen (phases, cycles)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from adverse_events.models import RELATED, AdverseEvent, Term
from trialsite import selectors
from trialsite.models import Participant

VIEW = "adverse_events.view_adverseevent"


def adverse_events_for_user(user: Any) -> QuerySet[AdverseEvent]:
    """Adverse events of participants at the user's sites, if the role may read the log."""
    qs = AdverseEvent.objects.select_related("participant__site", "term", "recorded_by", "acknowledged_by")
    if getattr(user, "is_superuser", False):
        return qs
    if not getattr(user, "is_authenticated", False) or not user.has_perm(VIEW):
        return qs.none()
    return qs.filter(participant__site_id__in=selectors.user_site_ids(user))


def participant_drugs(participant: Participant) -> list[str]:
    """The drug codes of the participant's regimen (every systemic phase of their arm, in the
    protocol's order): what a toxicity can be attributed to. None before randomization."""
    definition = participant.protocol_version.definition
    phases = (definition.get("regimens") or {}).get(participant.arm) or {}
    out: list[str] = []
    for drugs in phases.values():
        out.extend(d for d in drugs if d not in out)
    return out


def protocol_cycles(participant: Participant) -> dict[str, int | None]:
    """The protocol's phases with their number of cycles (None: a phase without cycles)."""
    return {p["code"]: p.get("cycles") for p in participant.protocol_version.definition.get("phases") or []}


def term_search(query: str) -> QuerySet[Term]:
    """Terms whose English or Chinese name or MedDRA code contains `query` (the picker's search)."""
    q = query.strip()
    qs = Term.objects.all()
    if q:
        qs = qs.filter(Q(term__icontains=q) | Q(term_zh__icontains=q) | Q(meddra_code__startswith=q))
    return qs.order_by("term")


def appearance_count(
    *,
    participant: Participant,
    term: Term | str,
    grade: int,
    drug: str | None = None,
    before: AdverseEvent | None = None,
) -> int:
    """How often the participant's log shows this toxicity (CTCAE term) at this grade: the
    "appearance" of a label's dose-modification table (1st, 2nd … appearance of a grade 2
    toxicity), counted from the log rather than from memory. With `drug`, only events attributed
    to it as possible, probable or definite count; with `before`, only events recorded before it
    (its own appearance number is this count + 1). `term` is a Term or its English name."""
    qs = AdverseEvent.objects.filter(participant=participant, grade=grade)
    qs = qs.filter(term=term) if isinstance(term, Term) else qs.filter(term__term__iexact=term)
    if drug is not None:
        qs = qs.filter(attributions__drug=drug, attributions__relatedness__in=RELATED)
    if before is not None:
        qs = qs.filter(Q(onset_date__lt=before.onset_date) | Q(onset_date=before.onset_date, pk__lt=before.pk))
    return qs.distinct().count()


def saes_awaiting_acknowledgement(site_ids: frozenset[int] | None) -> QuerySet[AdverseEvent]:
    """SAEs no investigator has acknowledged yet, oldest first (None: every site)."""
    qs = AdverseEvent.objects.filter(serious=True, acknowledged_at__isnull=True).select_related(
        "participant__site", "term"
    )
    if site_ids is not None:
        qs = qs.filter(participant__site_id__in=site_ids)
    return qs.order_by("recorded_at", "pk")


def modification_basis(event: AdverseEvent, *, drug: str) -> dict[str, Any]:
    """What the investigator's dose-modification form starts from for this toxicity and drug:
    the fields of dosing's dose_modification_record plus the appearance number from the log
    (this event counted: earlier events of the same term and grade attributed to the drug, + 1).
    For the prefill dosing will offer (issue 17); the protocol's table then proposes the level."""
    return {
        "participant": event.participant_id,
        "drug": drug,
        "phase": event.phase,
        "cycle_number": event.cycle_number,
        "toxicity_term": event.term.term,
        "ctcae_grade": event.grade,
        "appearance": appearance_count(
            participant=event.participant, term=event.term, grade=event.grade, drug=drug, before=event
        )
        + 1,
    }
