"""The read step of a dose sheet's document: load what the sheet is computed from (the
participant, this cycle's measurements and labs, the dosing records, the earlier sheets) and
hand it, as plain data, to dosing.document.assemble. Refuses a cycle that cannot have a sheet."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dosing import document, regimen
from dosing.calculations import formulas
from dosing.error_codes import DosingErrorCode
from dosing.models import DoseModification, DoseSheet, RenalDecision, SheetStatus
from trialsite import selectors
from trialsite.error_codes import CommonErrorCode
from trialsite.errors import Conflict, InvalidInput, RuleViolation
from trialsite.i18n import phase_name
from trialsite.models import Participant
from trialsite.phrases import Phrase, phrase, render

# Why a sheet could not be prepared (the refusal's phrase, kept in an end reason; dosing.wording).
MEASUREMENT_MISSING = gettext_noop(
    "No %(kind)s measured between %(from)s and %(to)s (the protocol allows %(n)s days before day 1)."
)


def calculation_error(exc: formulas.CalculationError) -> InvalidInput:
    said = phrase(exc.template, **exc.params)
    return InvalidInput(said, code=exc.code, errors={exc.field: [render(said)]})


def cycle_seq(definition: Mapping[str, Any], phase: str, cycle_number: int) -> int:
    try:
        return regimen.cycle_seq(definition, phase, cycle_number)
    except KeyError:
        raise InvalidInput(
            _("%(phase)s is not a systemic-therapy phase of this protocol.") % {"phase": phase_name(phase)},
            errors={"phase": [_("Unknown phase.")]},
        ) from None
    except ValueError as exc:
        raise InvalidInput(
            _("Cycle %(n)s does not exist in %(phase)s (%(detail)s).")
            % {"n": cycle_number, "phase": phase, "detail": exc},
            errors={"cycle_number": [_("No such cycle.")]},
        ) from None


def modification_records(participant: Participant) -> list[document.ModificationRecord]:
    """The participant's dose modifications in decision order, as plain data (one query)."""
    return [
        document.ModificationRecord(
            drug=m.drug,
            phase=m.phase,
            cycle_number=m.cycle_number,
            cycle_seq=m.cycle_seq,
            toxicity_term=m.toxicity_term,
            ctcae_grade=m.ctcae_grade,
            appearance=m.appearance,
            action=m.action,
            new_level=m.new_level,
            level_label=m.level_label,
            rule=m.rule,  # a stored phrase
            reason=m.reason,
            decided_by=m.decided_by_id,
            decided_at=m.decided_at,
        )
        for m in DoseModification.objects.filter(participant=participant).order_by("cycle_seq", "decided_at", "id")
    ]


def _measured(participant: Participant, day1: dt.date, max_age_days: int) -> dict[str, document.Measured]:
    """The latest height and weight on or before day 1, not older than the protocol's window."""
    oldest = day1 - dt.timedelta(days=max_age_days)
    measured: dict[str, document.Measured] = {}
    problems: dict[str, Phrase] = {}
    for kind in ("height", "weight"):
        row = selectors.latest_measurement(participant, kind, on_or_before=day1)
        if row is None or row.measured_on < oldest:
            problems[kind] = phrase(
                MEASUREMENT_MISSING,
                kind=phrase(gettext_noop("height") if kind == "height" else gettext_noop("weight")),
                **{"from": oldest.isoformat(), "to": day1.isoformat(), "n": str(max_age_days)},
            )
        else:
            measured[kind] = document.Measured(row.pk, row.value, row.measured_on)
    if problems:
        raise RuleViolation(
            next(iter(problems.values())),
            code=DosingErrorCode.MEASUREMENTS_OUT_OF_DATE,
            errors={kind: [render(said)] for kind, said in problems.items()},
        )
    return measured


def sheet_inputs(
    *,
    participant: Participant,
    phase: str,
    cycle_number: int,
    day1: dt.date,
    day1_off_plan: Mapping[str, str] | None = None,
) -> document.SheetInputs:
    """Everything a cycle's sheet is computed from, read from the registry and the dosing records."""
    if not participant.arm:
        raise RuleViolation(
            phrase(gettext_noop("The participant has not been randomized.")), code=DosingErrorCode.NOT_RANDOMIZED
        )
    if participant.is_off_study:
        raise Conflict(
            phrase(gettext_noop("The participant has withdrawn.")), code=CommonErrorCode.PARTICIPANT_WITHDRAWN
        )
    definition = participant.protocol_version.definition
    seq = cycle_seq(definition, phase, cycle_number)
    measured = _measured(participant, day1, regimen.dosing_settings(definition).measurement_max_age_days)
    labs = selectors.latest_labs(participant, on_or_before=day1)
    decisions = RenalDecision.objects.filter(participant=participant, phase=phase, cycle_number=cycle_number)
    previous = (
        DoseSheet.objects.filter(participant=participant, cycle_seq__lt=seq)
        .exclude(status=SheetStatus.VOID)
        .order_by("-cycle_seq", "-version")
        .values("weight_kg", "cycle_seq", "content__bsa_m2")
        .first()
    )
    prior = DoseSheet.objects.filter(participant=participant, cycle_seq__lt=seq, status=SheetStatus.RELEASED).aggregate(
        mg=Sum("cumulative_drug_mg"), mg_m2=Sum("cumulative_drug_mg_m2")
    )
    return document.SheetInputs(
        participant=document.ParticipantFacts(
            id=participant.pk,
            screening_number=participant.screening_number,
            randomization_number=participant.randomization_number,
            full_name=participant.full_name,
            sex=participant.sex,
            birth_date=participant.birth_date,
            site=participant.site.code,
            trial=participant.trial.registry_id,
            protocol_version=participant.protocol_version.version,
            arm=participant.arm,
        ),
        definition=definition,
        phase=phase,
        cycle_number=cycle_number,
        cycle_seq=seq,
        day1=day1,
        height=measured["height"],
        weight=measured["weight"],
        labs={a: document.Measured(r.pk, r.value, r.collected_on) for a, r in labs.items()},
        modifications=modification_records(participant),
        renal_decisions=[document.RenalDecisionRecord(d.pk, d.drug, d.band, d.decision, d.level) for d in decisions],
        previous=(
            document.PreviousSheet(
                previous["cycle_seq"], previous["weight_kg"], Decimal(str(previous["content__bsa_m2"]))
            )
            if previous
            else None
        ),
        prior_cumulative=(prior["mg"] or Decimal(0), prior["mg_m2"] or Decimal(0)),
        day1_off_plan=day1_off_plan,
    )


def build_sheet_content(
    *,
    participant: Participant,
    phase: str,
    cycle_number: int,
    day1: dt.date,
    day1_off_plan: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sheet document for a cycle: read (sheet_inputs), then assemble (dosing.document).
    Returns (content, columns) where columns are the indexed values stored beside it."""
    inputs = sheet_inputs(
        participant=participant, phase=phase, cycle_number=cycle_number, day1=day1, day1_off_plan=day1_off_plan
    )
    try:
        return document.assemble(inputs)
    except formulas.CalculationError as exc:
        raise calculation_error(exc) from exc
