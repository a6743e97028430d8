"""Writes of the dosing app: preparing, verifying, releasing, voiding and superseding dose sheets;
recording dose modifications and renal decisions. Admin, API and Celery call these."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dosing import regimen, tables
from dosing.calculations import drug_doses, formulas, modifications, regimen_doses
from dosing.models import (
    CURRENT_STATUSES,
    UNRELEASED_STATUSES,
    DoseModification,
    DoseSheet,
    RenalDecision,
    SheetStatus,
    content_fingerprint,
)
from dosing.selectors import checked, translate_messages
from schedules import selectors as schedule_selectors
from trialsite import labs, plausibility, roles, selectors
from trialsite.errors import ApplicationError, Conflict, InvalidInput, RuleViolation
from trialsite.i18n import drug_name
from trialsite.models import Participant

logger = logging.getLogger(__name__)

# Phrases stored in English in a sheet's content or end reason (see calculations.ROUNDING_*);
# dosing.wording shows them in the reader's language.
MODIFICATION_REASON = gettext_noop(
    "%(action)s: %(toxicity)s grade %(grade)s in %(phase)s cycle %(cycle)s (%(rule)s); %(reason)s"
)
MODIFICATION_REASON_GIVEN = gettext_noop(
    "given at %(level)s after %(toxicity)s grade %(grade)s in %(phase)s cycle %(cycle)s (%(rule)s); %(reason)s"
)
SOURCE_BSA = gettext_noop("BSA")
SOURCE_CRCL = gettext_noop("CrCl")
SOURCE_DOSE_BANDS = gettext_noop("%(drug)s dose bands")
SOURCE_TOXICITY_TABLE = gettext_noop("%(drug)s toxicity table")
SOURCE_ROUNDING = gettext_noop("%(drug)s rounding")
END_INPUTS_CHANGED = gettext_noop("inputs changed")
END_NOT_REPREPARED = gettext_noop("%(reason)s; not re-prepared: %(detail)s")
END_WITHDRAWN = gettext_noop("participant withdrawn")
END_MODIFICATION = gettext_noop("dose modification: %(drug)s %(action)s (%(toxicity)s grade %(grade)s)")
END_RENAL_DECISION = gettext_noop("renal decision recorded")
MEASUREMENT_MISSING = gettext_noop(
    "No %(kind)s measured between %(from)s and %(to)s (the protocol allows %(n)s days before day 1)."
)
DAY1_OFF_PLAN = gettext_noop("Day 1 %(day1)s is not the cycle's planned day 1 (%(planned)s): %(reason)s")
WEIGHT_BASIS_KEPT = gettext_noop(
    "Weight changed %(pct)s %% since the previous cycle's dose basis (%(prev)s kg → %(now)s kg), less than "
    "%(threshold)s %%: doses keep the previous basis (%(prev)s kg, BSA %(bsa)s m²)."
)
WEIGHT_RECALCULATED = gettext_noop(
    "Weight changed %(pct)s %% since the previous cycle's dose basis (%(prev)s kg → %(now)s kg), "
    "%(threshold)s %% or more: doses recalculated with %(now)s kg (BSA %(bsa)s m²)."
)


# --- Helpers -------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Decimals become JSON numbers (int when whole), dates ISO strings; recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def calculation_error(exc: formulas.CalculationError) -> InvalidInput:
    message = _(exc.template) % exc.params if exc.params else _(exc.template)
    return InvalidInput(message, code=exc.code, errors={exc.field: [message]})


def _stored(warning: formulas.Warning) -> dict[str, Any]:
    """Warnings are stored in English with their template and parameters (so that a sheet's
    fingerprint never depends on the request's language); selectors.translate_messages shows
    them in the reader's language."""
    return warning.as_dict()


def _age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _cycle_seq(definition: Mapping[str, Any], phase: str, cycle_number: int) -> int:
    try:
        return regimen.cycle_seq(definition, phase, cycle_number)
    except KeyError:
        raise InvalidInput(
            _("%(phase)s is not a systemic-therapy phase of this protocol.") % {"phase": phase},
            errors={"phase": [_("Unknown phase.")]},
        ) from None
    except ValueError as exc:
        raise InvalidInput(
            _("Cycle %(n)s does not exist in %(phase)s (%(detail)s).")
            % {"n": cycle_number, "phase": phase, "detail": exc},
            errors={"cycle_number": [_("No such cycle.")]},
        ) from None


# --- Building a sheet's content --------------------------------------------------------------------


def _levels_for(
    definition: Mapping[str, Any], participant: Participant, seq: int
) -> tuple[dict[str, tuple[int, bool]], dict[str, str], list[dict[str, Any]]]:
    """Each drug's (level, withheld) for cycle `seq` from the participant's modifications, the
    level reasons and the modification history for the sheet (one query)."""
    mods = list(DoseModification.objects.filter(participant=participant).order_by("cycle_seq", "decided_at", "id"))
    levels: dict[str, tuple[int, bool]] = {}
    reasons: dict[str, str] = {}
    history: list[dict[str, Any]] = []
    for code in {m.drug for m in mods}:
        spec = regimen.drug_spec(definition, code)
        own = [m for m in mods if m.drug == code]
        levels[code] = modifications.effective_levels(
            spec, [(m.cycle_seq, m.new_level, m.action) for m in own], cycle_seq=seq
        )
        deciding = [m for m in own if m.cycle_seq < seq and m.action != "maintain"]
        if deciding:
            last = deciding[-1]
            params = {
                "toxicity": last.toxicity_term,
                "grade": last.ctcae_grade,
                "phase": last.phase,
                "cycle": last.cycle_number,
                "rule": last.rule,
                "reason": last.reason,
            }
            level, withheld = levels[code]
            if withheld or level >= len(spec.levels):
                reasons[code] = MODIFICATION_REASON % {"action": last.action, **params}
            else:
                # Given this cycle (a capecitabine interruption resumes at the next level): the
                # reason names the level, never the past cycle's "interrupt / withhold".
                reasons[code] = MODIFICATION_REASON_GIVEN % {"level": drug_doses.level_label(spec, level), **params}
    for m in mods:
        if m.cycle_seq < seq:
            history.append(
                {
                    "drug": m.drug,
                    "phase": m.phase,
                    "cycle_number": m.cycle_number,
                    "toxicity_term": m.toxicity_term,
                    "ctcae_grade": m.ctcae_grade,
                    "appearance": m.appearance,
                    "action": m.action,
                    "dose_from_next_cycle": m.level_label,
                    "decided_by": m.decided_by_id,
                    "decided_at": m.decided_at.isoformat(),
                    "reason": m.reason,
                }
            )
    return levels, reasons, history


def build_sheet_content(
    *,
    participant: Participant,
    phase: str,
    cycle_number: int,
    day1: dt.date,
    day1_off_plan: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compute the sheet document for a cycle from the registry and the dosing records.
    Returns (content, columns) where columns are the indexed values stored beside it."""
    if not participant.arm:
        raise RuleViolation(_("The participant has not been randomized."), code="not_randomized")
    if participant.is_off_study:
        raise RuleViolation(_("The participant has withdrawn."), code="participant_withdrawn")
    definition = participant.protocol_version.definition
    seq = _cycle_seq(definition, phase, cycle_number)
    cfg = regimen.dosing_settings(definition)
    drugs = regimen.drug_specs(definition, participant.arm, phase)

    # Measurements: the latest on or before day 1, not older than the protocol window.
    oldest = day1 - dt.timedelta(days=cfg.measurement_max_age_days)
    measured: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for kind in ("height", "weight"):
        row = selectors.latest_measurement(participant, kind, on_or_before=day1)
        if row is None or row.measured_on < oldest:
            problems[kind] = [
                _(MEASUREMENT_MISSING)
                % {
                    "kind": _("height") if kind == "height" else _("weight"),
                    "from": oldest.isoformat(),
                    "to": day1.isoformat(),
                    "n": cfg.measurement_max_age_days,
                }
            ]
        else:
            measured[kind] = row
    if problems:
        raise RuleViolation(next(iter(problems.values()))[0], code="measurements_out_of_date", errors=problems)
    height, weight = measured["height"], measured["weight"]

    labs = selectors.latest_labs(participant, on_or_before=day1)
    creatinine = labs.get("creatinine")
    levels, reasons, history = _levels_for(definition, participant, seq)
    decision_rows = list(RenalDecision.objects.filter(participant=participant, phase=phase, cycle_number=cycle_number))
    decisions: dict[str, list[modifications.RenalDecisionInput]] = {}
    for decided in decision_rows:
        decisions.setdefault(decided.drug, []).append(
            modifications.RenalDecisionInput(decided.band, decided.decision, decided.level)
        )

    # Dose basis (protocol `dosing.weight_change`): against the weight the previous cycle's doses
    # used, a change below the threshold keeps that cycle's weight and BSA; at or above it the
    # doses are recalculated with this cycle's. The sheet says which and shows both.
    previous = (
        DoseSheet.objects.filter(participant=participant, cycle_seq__lt=seq)
        .exclude(status=SheetStatus.VOID)
        .order_by("-cycle_seq", "-version")
        .values("weight_kg", "cycle_seq", "cycle_number", "phase", "content__bsa_m2")
        .first()
    )
    try:
        formulas.check_measurements(height.value, weight.value)
        measured_bsa = formulas.bsa(height.value, weight.value, cfg.bsa_formula)
    except formulas.CalculationError as exc:
        raise calculation_error(exc) from exc
    basis = regimen_doses.dose_basis(
        weight_kg=weight.value,
        bsa_m2=measured_bsa,
        previous=(previous["weight_kg"], Decimal(str(previous["content__bsa_m2"]))) if previous else None,
        rule=cfg.weight_rule,
    )
    try:
        result = regimen_doses.regimen_doses(
            drugs,
            height_cm=height.value,
            weight_kg=weight.value,
            sex=participant.sex,
            age_years=_age_on(participant.birth_date, day1),
            serum_creatinine_umol_l=creatinine.value if creatinine else None,
            bsa_formula=cfg.bsa_formula,
            bsa_cap_m2=cfg.bsa_cap_m2,
            crcl_weight_basis=cfg.crcl_weight_basis,
            renal_rules=cfg.renal_rules,
            levels=levels,
            level_reasons=reasons,
            renal_decisions=decisions,
            basis=basis,
        )
    except formulas.CalculationError as exc:
        raise calculation_error(exc) from exc
    warnings = list(result.warnings)
    blockers = list(result.blockers)
    if day1_off_plan:
        warnings.append(formulas.Warning("day1_not_planned", DAY1_OFF_PLAN, dict(day1_off_plan)))
    if creatinine is None:
        blockers.append(
            formulas.Warning(
                "creatinine_missing", gettext_noop("No serum creatinine: the creatinine clearance cannot be checked.")
            )
        )
    elif (day1 - creatinine.collected_on).days > cfg.lab_window_days:
        warnings.append(
            formulas.Warning(
                "creatinine_old",
                gettext_noop("Creatinine from %(date)s, older than the %(n)s-day lab window."),
                {"date": creatinine.collected_on.isoformat(), "n": cfg.lab_window_days},
            )
        )

    met, criteria_rows = regimen_doses.day1_criteria(
        labs={a: (r.value, r.collected_on) for a, r in labs.items()},
        day1=day1,
        window_days=cfg.lab_window_days,
        minimums=cfg.day1_minimums,
    )
    if not met:
        blockers.append(
            formulas.Warning(
                "day1_criteria_not_met", gettext_noop("Day-1 criteria not met: delay the cycle (no release).")
            )
        )

    if previous is not None:
        params = {
            "pct": formulas.format_number(basis.change_pct),
            "prev": formulas.format_number(previous["weight_kg"]),
            "now": formulas.format_number(weight.value),
            "threshold": formulas.format_number(cfg.weight_rule.recalculate_at_pct),
            "bsa": formulas.format_number(basis.bsa_m2),
        }
        if basis.rule == regimen_doses.BASIS_KEPT:
            warnings.append(formulas.Warning("weight_basis_kept", WEIGHT_BASIS_KEPT, params))
        elif basis.change_pct is not None and abs(basis.change_pct) >= cfg.weight_rule.recalculate_at_pct:
            warnings.append(formulas.Warning("weight_change_recalculated", WEIGHT_RECALCULATED, params))
    weight_change = basis.change_pct

    # Cumulative oxaliplatin: released sheets of earlier cycles plus this one.
    prior = DoseSheet.objects.filter(participant=participant, cycle_seq__lt=seq, status=SheetStatus.RELEASED).aggregate(
        mg=Sum("oxaliplatin_mg"), mg_m2=Sum("oxaliplatin_mg_m2")
    )
    prior_mg = prior["mg"] or Decimal(0)
    prior_mg_m2 = prior["mg_m2"] or Decimal(0)
    oxali = next((d for d in result.doses if d["drug"] == "oxaliplatin"), None)
    this_mg = oxali["dose_mg"] if oxali and oxali.get("dose_mg") is not None else None
    this_mg_m2 = oxali["dose_per_unit"] if this_mg is not None and oxali else None

    sources = [
        {"what": SOURCE_BSA, "source": formulas.BSA_FORMULA_SOURCES[cfg.bsa_formula]},
        {"what": SOURCE_CRCL, "source": "Cockcroft & Gault, Nephron 1976;16:31"},
    ]
    for spec in drugs:
        if spec.band_table:
            table = tables.BAND_TABLES[spec.band_table]
            sources.append({"what": SOURCE_DOSE_BANDS % {"drug": spec.name}, "source": table.source})
            if not table.checked_against_label:
                warnings.append(
                    formulas.Warning(
                        "band_table_unchecked",
                        gettext_noop(
                            "The %(drug)s reduced-dose columns have not yet been checked against the printed label."
                        ),
                        {"drug": spec.name},
                    )
                )
            sources.append(
                {"what": SOURCE_TOXICITY_TABLE % {"drug": spec.name}, "source": tables.CAPECITABINE_TOXICITY_SOURCE}
            )
        if spec.rounding_source:
            sources.append({"what": SOURCE_ROUNDING % {"drug": spec.name}, "source": spec.rounding_source})

    phase_def = regimen.phase_spec(definition, phase)
    arms = {a["code"]: a for a in definition.get("arms", [])}
    content: dict[str, Any] = {
        "participant": {
            "id": participant.pk,
            "screening_number": participant.screening_number,
            "randomization_number": participant.randomization_number,
            "full_name": participant.full_name,
            "sex": participant.sex,
            "birth_date": participant.birth_date,
            "age_years": _age_on(participant.birth_date, day1),
            "site": participant.site.code,
        },
        "trial": participant.trial.registry_id,
        "protocol_version": participant.protocol_version.version,
        "arm": participant.arm,
        "arm_name": arms.get(participant.arm, {}).get("name", participant.arm),
        "phase": phase,
        "phase_name": phase_def.get("name", phase),
        "phase_name_zh": phase_def.get("name_zh", ""),
        "cycle_number": cycle_number,
        "cycle_seq": seq,
        "day1": day1,
        "height_cm": height.value,
        "height_measured_on": height.measured_on,
        "weight_kg": weight.value,
        "weight_measured_on": weight.measured_on,
        "weight_change_pct": weight_change,
        "bmi": result.bmi,
        # The BSA the doses use (the dose basis); the one measured this cycle beside it.
        "bsa_m2": result.bsa_m2,
        "measured_bsa_m2": measured_bsa,
        "dose_basis": {
            "weight_kg": basis.weight_kg,
            "bsa_m2": basis.bsa_m2,
            "rule": basis.rule,
            "change_pct": basis.change_pct,
            "threshold_pct": cfg.weight_rule.recalculate_at_pct,
            "previous_cycle_seq": previous["cycle_seq"] if previous else None,
        },
        "bsa_formula": cfg.bsa_formula,
        "creatinine_umol_l": creatinine.value if creatinine else None,
        "creatinine_collected_on": creatinine.collected_on if creatinine else None,
        "creatinine_clearance_ml_min": result.creatinine_clearance_ml_min,
        "day1_labs": criteria_rows,
        "day1_criteria_met": met,
        "decision": "treat" if met else "delay",
        "doses": result.doses,
        "cumulative_oxaliplatin": {
            "prior_mg": prior_mg,
            "prior_mg_m2": prior_mg_m2,
            "total_mg": prior_mg + (this_mg or 0),
            "total_mg_m2": prior_mg_m2 + (this_mg_m2 or 0),
        },
        "modifications": history,
        "warnings": [_stored(w) for w in warnings],
        "blockers": [_stored(w) for w in blockers],
        "sources": sources,
        "inputs": {
            "height_id": height.pk,
            "weight_id": weight.pk,
            "lab_ids": sorted(r.pk for a, r in labs.items() if a == "creatinine" or a in cfg.day1_minimums),
            "renal_decision_ids": sorted(r.pk for r in decision_rows),
        },
    }
    content = jsonable(content)
    columns = {
        "cycle_seq": seq,
        # The weight the doses use: the next cycle's weight change is measured against it.
        "weight_kg": basis.weight_kg,
        "oxaliplatin_mg": this_mg,
        "oxaliplatin_mg_m2": this_mg_m2,
        "releasable": not blockers,
    }
    return content, columns


# --- Sheet workflow --------------------------------------------------------------------------------


def _check_planned_day1(
    participant: Participant, phase: str, cycle_number: int, day1: dt.date | None, day1_reason: str
) -> tuple[dt.date, dict[str, str] | None]:
    """The cycle must be a planned one; a day 1 other than its planned (or actual) one needs a
    stated reason. Returns the day 1 (the planned one when `day1` is None) and the parameters of
    the sheet's DAY1_OFF_PLAN warning, or None when day 1 is the planned one."""
    visit = next(
        (
            v
            for v in schedule_selectors.cycle_visits(participant_ids=[participant.pk])
            if (v.phase, v.cycle_number) == (phase, cycle_number)
        ),
        None,
    )
    if visit is None or visit.status == "cancelled":
        message = _("This cycle is not in the participant's treatment plan: prepare sheets for planned cycles only.")
        raise RuleViolation(message, code="cycle_not_planned", errors={"cycle_number": [message]})
    if day1 is None or day1 == visit.day1:
        return visit.day1, None
    if not day1_reason.strip():
        message = _("Day 1 %(day1)s is not the cycle's planned day 1 (%(planned)s): give the reason.") % {
            "day1": day1.isoformat(),
            "planned": visit.day1.isoformat(),
        }
        raise RuleViolation(message, code="day1_not_planned", errors={"day1": [message]})
    return day1, {"day1": day1.isoformat(), "planned": visit.day1.isoformat(), "reason": day1_reason.strip()}


def _current(participant: Participant, phase: str, cycle_number: int) -> DoseSheet | None:
    return (
        DoseSheet.objects.select_for_update()
        .filter(participant=participant, phase=phase, cycle_number=cycle_number, status__in=CURRENT_STATUSES)
        .first()
    )


def _end(sheet: DoseSheet, *, reason: str, now: dt.datetime) -> None:
    """Void an unreleased sheet or supersede a released one (never edited otherwise)."""
    sheet.status = SheetStatus.SUPERSEDED if sheet.status == SheetStatus.RELEASED else SheetStatus.VOID
    sheet.ended_at = now
    sheet.end_reason = reason[:300]
    sheet.save(update_fields=["status", "ended_at", "end_reason"])


@transaction.atomic
def dose_sheet_prepare(
    *,
    participant: Participant,
    phase: str,
    cycle_number: int,
    day1: dt.date | None,
    by: User | None,
    now: dt.datetime,
    reason: str = "",
    day1_reason: str = "",
) -> DoseSheet:
    """Prepare (or re-prepare) the cycle's sheet. With unchanged inputs the current sheet is
    returned as is; with changed inputs an unreleased sheet is voided and a released one
    superseded, and a new version is made. Locks the participant row so that two preparations of
    the same participant (task, admin, signal) run one after the other.

    Prepared on demand by a person (`by`), the cycle must be in the participant's treatment plan
    and `day1` its planned (or actual) day 1 (None: that one), or `day1_reason` says why not
    (printed on the sheet); the task and the re-preparations take the day 1 from the plan."""
    roles.require(by, "dosing.prepare_dosesheet", site=participant.site_id)
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("protocol_version", "site", "trial")
        .get(pk=participant.pk)
    )
    off_plan = None
    if by is not None or day1_reason or day1 is None:
        day1, off_plan = _check_planned_day1(participant, phase, cycle_number, day1, day1_reason)
    content, columns = build_sheet_content(
        participant=participant, phase=phase, cycle_number=cycle_number, day1=day1, day1_off_plan=off_plan
    )
    digest = content_fingerprint(content)
    current = _current(participant, phase, cycle_number)
    if current is not None:
        if current.fingerprint == digest:
            return current
        _end(current, reason=reason or END_INPUTS_CHANGED, now=now)
    last_version = (
        DoseSheet.objects.filter(participant=participant, phase=phase, cycle_number=cycle_number)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    ) or 0
    sheet = DoseSheet(
        participant=participant,
        site_id=participant.site_id,
        phase=phase,
        cycle_number=cycle_number,
        day1=day1,
        version=last_version + 1,
        status=SheetStatus.PREPARED,
        content=content,
        fingerprint=digest,
        prepared_at=now,
        prepared_by=by,
        **columns,
    )
    sheet.full_clean(validate_constraints=False, validate_unique=False)
    try:
        with transaction.atomic():
            sheet.save()
    except IntegrityError as exc:
        raise Conflict(_("The sheet was changed at the same time; try again."), code="sheet_conflict") from exc
    return sheet


def _locked(sheet: DoseSheet) -> DoseSheet:
    return DoseSheet.objects.select_for_update(of=("self",)).select_related("participant").get(pk=sheet.pk)


@transaction.atomic
def dose_sheet_verify(*, sheet: DoseSheet, by: User, now: dt.datetime) -> DoseSheet:
    """First pharmacist check."""
    roles.require(by, "dosing.verify_dosesheet", site=sheet.site_id)
    sheet = checked(_locked(sheet))
    if sheet.status != SheetStatus.PREPARED:
        raise Conflict(
            _("Only a prepared sheet can be verified (this one is %(status)s).")
            % {"status": sheet.get_status_display()},
            code="sheet_not_prepared",
        )
    if not sheet.releasable:
        raise RuleViolation(
            _("This sheet cannot be verified: %(why)s")
            % {"why": "; ".join(b["message"] for b in translate_messages(sheet.content["blockers"]))},
            code="sheet_blocked",
        )
    sheet.status = SheetStatus.VERIFIED
    sheet.verified_by = by
    sheet.verified_at = now
    sheet.save(update_fields=["status", "verified_by", "verified_at"])
    return sheet


# A note on an act goes to the history row's change reason (simple-history's 100 characters).
NOTE_MAX = 100


def _check_note(note: str) -> None:
    if len(note.strip()) > NOTE_MAX:
        message = _("At most %(n)s characters.") % {"n": NOTE_MAX}
        raise InvalidInput(message, errors={"reason": [message]})


@transaction.atomic
def dose_sheet_release(*, sheet: DoseSheet, by: User, now: dt.datetime, reason: str = "") -> DoseSheet:
    """Second, independent pharmacist check and release (two-person rule, also a DB constraint).
    `reason`: the releasing pharmacist's note, kept as typed in the sheet's history."""
    roles.require(by, "dosing.release_dosesheet", site=sheet.site_id)
    _check_note(reason)
    sheet = checked(_locked(sheet))
    if sheet.status != SheetStatus.VERIFIED:
        raise Conflict(
            _("Only a verified sheet can be released (this one is %(status)s).")
            % {"status": sheet.get_status_display()},
            code="sheet_not_verified",
        )
    if sheet.verified_by_id == by.pk:
        raise RuleViolation(_("A second pharmacist must release the sheet: you verified it."), code="two_person_rule")
    if not sheet.releasable:
        raise RuleViolation(_("This sheet cannot be released."), code="sheet_blocked")
    sheet.status = SheetStatus.RELEASED
    sheet.released_by = by
    sheet.released_at = now
    sheet._change_reason = reason.strip() or None  # type: ignore[attr-defined]  # simple-history
    sheet.save(update_fields=["status", "released_by", "released_at"])
    return sheet


@transaction.atomic
def dose_sheet_void(*, sheet: DoseSheet, reason: str, now: dt.datetime, by: User | None) -> DoseSheet:
    """Void an unreleased sheet (a released one is only ever superseded by a new version)."""
    # Whoever may prepare a sheet (pharmacists, investigators) may void one, at their sites.
    roles.require(by, "dosing.prepare_dosesheet", site=sheet.site_id)
    sheet = _locked(sheet)
    if sheet.status not in UNRELEASED_STATUSES:
        raise Conflict(_("Only an unreleased sheet can be voided."), code="sheet_not_voidable")
    _end(sheet, reason=reason, now=now)
    return sheet


@transaction.atomic
def dose_sheets_refresh(
    *,
    participant: Participant,
    reason: str,
    now: dt.datetime,
    day1_from: dt.date | None = None,
    min_cycle_seq: int | None = None,
    only: tuple[str, int] | None = None,
    new_day1: dt.date | None = None,
    by: User | None,
) -> list[DoseSheet]:
    """Recompute the participant's current sheets (optionally from a day 1 / cycle on, or one
    cycle with a new day 1). A sheet whose inputs changed is voided (unreleased) or superseded
    (released) and replaced by a new version; a sheet that can no longer be prepared (e.g. its
    measurements fell out of the window after a re-dating) is voided/superseded and logged."""
    roles.require(by, "dosing.prepare_dosesheet", site=participant.site_id)
    qs = DoseSheet.objects.filter(participant=participant, status__in=CURRENT_STATUSES)
    if day1_from is not None:
        qs = qs.filter(day1__gte=day1_from)
    if min_cycle_seq is not None:
        qs = qs.filter(cycle_seq__gte=min_cycle_seq)
    if only is not None:
        qs = qs.filter(phase=only[0], cycle_number=only[1])
    out = []
    for sheet in qs.order_by("cycle_seq"):
        day1 = new_day1 or sheet.day1
        # A day 1 off the plan keeps its stated reason while it stays that day 1.
        day1_reason = (
            ""
            if new_day1 is not None
            else next(
                (w["params"]["reason"] for w in sheet.content.get("warnings", []) if w["code"] == "day1_not_planned"),
                "",
            )
        )
        try:
            # The refusal's message is kept in English in the end reason (like every stored
            # phrase; dosing.wording says it again in the reader's language), whatever the
            # language of the request that moved the booking.
            with transaction.atomic(), translation.override("en"):
                out.append(
                    dose_sheet_prepare(
                        participant=participant,
                        phase=sheet.phase,
                        cycle_number=sheet.cycle_number,
                        day1=day1,
                        by=None,  # the follow-up of a write its service checked: the system's
                        now=now,
                        reason=reason,
                        day1_reason=day1_reason,
                    )
                )
        except ApplicationError as exc:
            detail = str(exc.detail)
            logger.warning("dose sheet %s could not be re-prepared: %s", sheet.pk, detail)
            locked = _locked(sheet)
            if locked.status in CURRENT_STATUSES:
                _end(locked, reason=END_NOT_REPREPARED % {"reason": reason, "detail": detail}, now=now)
    return out


@transaction.atomic
def dose_sheets_void_for_withdrawal(*, participant: Participant, by: User | None, now: dt.datetime) -> int:
    roles.require(by, "dosing.prepare_dosesheet", site=participant.site_id)
    count = 0
    for sheet in DoseSheet.objects.select_for_update().filter(participant=participant, status__in=UNRELEASED_STATUSES):
        _end(sheet, reason=END_WITHDRAWN, now=now)
        count += 1
    return count


# --- Modifications and renal decisions ---------------------------------------------------------------


@transaction.atomic
def dose_modification_record(
    *,
    participant: Participant,
    drug: str,
    phase: str,
    cycle_number: int,
    toxicity_term: str,
    ctcae_grade: int,
    reason: str,
    by: User,
    now: dt.datetime,
    requested_action: str | None = None,
) -> DoseModification:
    """Record an investigator's modification after a toxicity seen in (phase, cycle_number). The
    action follows the drug's rule (calculations.decide_modification); the following cycles'
    sheets are re-prepared (a released one is superseded)."""
    roles.require(by, "dosing.add_dosemodification", site=participant.site_id)
    participant = (
        Participant.objects.select_for_update(of=("self",)).select_related("protocol_version").get(pk=participant.pk)
    )
    definition = participant.protocol_version.definition
    if drug not in (definition.get("drugs") or {}):
        raise InvalidInput(_("Unknown drug %(drug)s.") % {"drug": drug}, errors={"drug": [_("Unknown drug.")]})
    _cycle_seq(definition, phase, cycle_number)
    _require_in_regimen(definition, participant, phase, drug)
    if not reason.strip():
        raise InvalidInput(_("Give the reason for the decision."), errors={"reason": [_("This field is required.")]})
    if not toxicity_term.strip():
        raise InvalidInput(_("Name the toxicity."), errors={"toxicity_term": [_("This field is required.")]})
    seq = _cycle_seq(definition, phase, cycle_number)
    spec = regimen.drug_spec(definition, drug)
    previous = list(DoseModification.objects.filter(participant=participant, drug=drug).order_by("cycle_seq", "id"))
    current_level = max((m.new_level for m in previous if m.cycle_seq <= seq), default=0)
    term = toxicity_term.strip()
    appearance = 1 + sum(
        1 for m in previous if m.toxicity_term.lower() == term.lower() and m.ctcae_grade == ctcae_grade
    )
    try:
        outcome = modifications.decide_modification(
            spec,
            grade=ctcae_grade,
            appearance=appearance,
            current_level=current_level,
            requested_action=requested_action or None,
        )
    except formulas.CalculationError as exc:
        if exc.code == "already_discontinued":
            raise RuleViolation(str(exc), code=exc.code) from exc
        if exc.code == "not_reducible":
            raise RuleViolation(str(exc), code=exc.code, errors={"requested_action": [str(exc)]}) from exc
        raise calculation_error(exc) from exc
    row = DoseModification(
        participant=participant,
        drug=drug,
        phase=phase,
        cycle_number=cycle_number,
        cycle_seq=seq,
        toxicity_term=term,
        ctcae_grade=ctcae_grade,
        appearance=appearance,
        action=outcome.action,
        new_level=outcome.new_level,
        level_label=drug_doses.level_label(spec, outcome.new_level),
        rule=outcome.rule[:200],
        reason=reason.strip(),
        decided_by=by,
        decided_at=now,
    )
    row.full_clean()
    row.save()
    dose_sheets_refresh(
        participant=participant,
        reason=END_MODIFICATION % {"drug": drug, "action": outcome.action, "toxicity": term, "grade": ctcae_grade},
        by=None,  # the follow-up of the modification checked above: the system
        now=now,
        min_cycle_seq=seq + 1,
    )
    return row


@transaction.atomic
def renal_decision_record(
    *,
    participant: Participant,
    phase: str,
    cycle_number: int,
    drug: str,
    decision: str,
    reason: str,
    by: User,
    now: dt.datetime,
    reduce_to: Decimal | None = None,
) -> RenalDecision:
    """Record an investigator's renal decision for one drug of a cycle: confirm the full dose,
    reduce to `reduce_to` (one of the drug's dose levels: 75 for 75 %, 100 for 100 mg/m²) or
    withhold. It must fit the renal rule of the CrCl on the cycle's current sheet (422
    otherwise); the sheet is then re-prepared and reads the decision, so the two agree."""
    roles.require(by, "dosing.add_renaldecision", site=participant.site_id)
    participant = (
        Participant.objects.select_for_update(of=("self",)).select_related("protocol_version").get(pk=participant.pk)
    )
    definition = participant.protocol_version.definition
    seq = _cycle_seq(definition, phase, cycle_number)
    if decision not in RenalDecision.Decision.values:
        raise InvalidInput(
            _("Choose confirm, reduce or withhold."), errors={"decision": [_("Choose confirm, reduce or withhold.")]}
        )
    if not reason.strip():
        raise InvalidInput(_("Give the reason for the decision."), errors={"reason": [_("This field is required.")]})
    _require_in_regimen(definition, participant, phase, drug)
    sheet = _current(participant, phase, cycle_number)
    if sheet is None:
        raise RuleViolation(
            _("No current dose sheet for this cycle: prepare it first, then decide on its creatinine clearance."),
            code="no_current_sheet",
        )
    spec = regimen.drug_spec(definition, drug)
    crcl_value = sheet.content.get("creatinine_clearance_ml_min")
    crcl = Decimal(str(crcl_value)) if crcl_value is not None else None
    rule = modifications.renal_rule_for(regimen.dosing_settings(definition).renal_rules, drug, crcl)
    level: int | None = None
    if reduce_to is not None:
        if Decimal(reduce_to) not in spec.levels:
            message = _("%(value)s is not a dose level of %(drug)s (levels: %(levels)s).") % {
                "value": formulas.format_number(reduce_to),
                "drug": drug_name(drug),
                "levels": ", ".join(drug_doses.level_label(spec, i) for i in range(1, len(spec.levels))) or "—",
            }
            raise RuleViolation(message, code="renal_decision_not_fitting", errors={"reduce_to": [message]})
        level = spec.levels.index(Decimal(reduce_to))
    current_level = _levels_for(definition, participant, seq)[0].get(drug, (0, False))[0]
    problem = modifications.renal_decision_problem(
        spec, rule, decision=decision, level=level, current_level=current_level
    )
    if problem is not None:
        fitting = modifications.FITTING_DECISIONS[rule.action] if rule else ()
        message = _(problem) % {
            "drug": drug_name(drug),
            "band": rule.band if rule else "",
            "decisions": ", ".join(str(RenalDecision.Decision(d).label) for d in fitting),
            "level": drug_doses.level_label(spec, current_level),
        }
        field = (
            "reduce_to"
            if decision == modifications.DECISION_REDUCE
            and rule
            and decision in modifications.FITTING_DECISIONS[rule.action]
            else "decision"
        )
        raise RuleViolation(message, code="renal_decision_not_fitting", errors={field: [message]})
    assert rule is not None and crcl is not None
    row = RenalDecision(
        participant=participant,
        phase=phase,
        cycle_number=cycle_number,
        drug=drug,
        band=rule.band,
        crcl_ml_min=crcl,
        decision=decision,
        level=level,
        level_label=drug_doses.level_label(spec, level) if level is not None else "",
        reason=reason.strip(),
        decided_by=by,
        decided_at=now,
    )
    row.full_clean(validate_constraints=False, validate_unique=False)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:
        raise Conflict(
            _("A renal decision for this drug, cycle and CrCl band is already recorded."), code="renal_decision_exists"
        ) from exc
    dose_sheets_refresh(
        participant=participant, reason=END_RENAL_DECISION, by=None, now=now, only=(phase, cycle_number)
    )  # by=None: the follow-up of the decision checked above
    return row


def _require_in_regimen(definition: Mapping[str, Any], participant: Participant, phase: str, drug: str) -> None:
    """A decision about a drug the participant's arm does not receive in `phase` is refused (422)."""
    if drug not in (definition.get("drugs") or {}):
        raise InvalidInput(_("Unknown drug %(drug)s.") % {"drug": drug}, errors={"drug": [_("Unknown drug.")]})
    if drug not in [spec.code for spec in regimen.drug_specs(definition, participant.arm, phase)]:
        message = _("The participant's arm does not receive %(drug)s in this phase.") % {"drug": drug_name(drug)}
        raise RuleViolation(message, code="drug_not_in_regimen", errors={"drug": [message]})


# --- Stateless preview -------------------------------------------------------------------------------


CREATININE_FIELDS = {"umol/L": "serum_creatinine_umol_l", "mg/dL": "serum_creatinine_mg_dl"}


def _check_plausible(height_cm: Decimal, weight_kg: Decimal, creatinine: Mapping[str, Decimal | None]) -> None:
    """The registry's plausibility rules, as for a recorded height, weight or creatinine (400
    naming the likely mistake): 1.9 "µmol/L" is a creatinine in mg/dL (a CrCl of 3360 mL/min)."""
    plausibility.check(
        {
            "height_cm": plausibility.measurement_implausibility("height", height_cm),
            "weight_kg": plausibility.measurement_implausibility("weight", weight_kg),
            **{
                CREATININE_FIELDS[unit]: labs.implausibility("creatinine", value, unit)
                for unit, value in creatinine.items()
                if value is not None
            },
        }
    )
    plausibility.check({"height_cm": plausibility.swap_message(height_cm, weight_kg)})


def dose_calculation_preview(
    *,
    definition: Mapping[str, Any],
    arm: str,
    height_cm: Decimal,
    weight_kg: Decimal,
    sex: str,
    age_years: int,
    serum_creatinine_umol_l: Decimal | None = None,
    serum_creatinine_mg_dl: Decimal | None = None,
    bsa_formula: str | None = None,
    phase: str | None = None,
) -> dict[str, Any]:
    """Standard doses of `arm` for a person (PRODUCT.md §6, POST /api/v1/dose-calculations/).
    Nothing is stored; the protocol's first systemic phase unless `phase` is given."""
    _check_plausible(height_cm, weight_kg, {"umol/L": serum_creatinine_umol_l, "mg/dL": serum_creatinine_mg_dl})
    arms = [a["code"] for a in definition.get("arms", [])]
    if arm not in arms:
        raise InvalidInput(
            _("Unknown arm %(arm)s.") % {"arm": arm},
            errors={"arm": [_("Use one of: %(arms)s.") % {"arms": ", ".join(arms)}]},
        )
    phases = [p["code"] for p in regimen.systemic_phases(definition)]
    phase = phase or (phases[0] if phases else "")
    if phase not in phases:
        raise InvalidInput(_("Unknown phase."), errors={"phase": [_("Use one of: %(p)s.") % {"p": ", ".join(phases)}]})
    cfg = regimen.dosing_settings(definition)
    formula = bsa_formula or cfg.bsa_formula
    try:
        result = regimen_doses.regimen_doses(
            regimen.drug_specs(definition, arm, phase),
            height_cm=height_cm,
            weight_kg=weight_kg,
            sex=sex,
            age_years=age_years,
            serum_creatinine_umol_l=serum_creatinine_umol_l,
            serum_creatinine_mg_dl=serum_creatinine_mg_dl,
            bsa_formula=formula,
            bsa_cap_m2=cfg.bsa_cap_m2,
            crcl_weight_basis=cfg.crcl_weight_basis,
            renal_rules=cfg.renal_rules,
        )
    except formulas.CalculationError as exc:
        raise calculation_error(exc) from exc
    messages = [_stored(w) for w in [*result.warnings, *result.blockers]]
    return jsonable(
        {
            "arm": arm,
            "phase": phase,
            "bsa_m2": result.bsa_m2,
            "bsa_formula": formula,
            "bmi": result.bmi,
            "creatinine_clearance_ml_min": result.creatinine_clearance_ml_min,
            "doses": result.doses,
            "warnings": [
                {"code": m["code"], "message": _(m["template"]) % m["params"] if m["params"] else _(m["template"])}
                for m in messages
            ],
        }
    )
