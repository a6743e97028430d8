"""The dose sheet's workflow: prepare (or re-prepare), verify, release, void and supersede.
Every door (admin, API, Celery, the registry's signals) calls these."""

from __future__ import annotations

import datetime as dt
import logging

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dosing.error_codes import DosingErrorCode
from dosing.models import CURRENT_STATUSES, UNRELEASED_STATUSES, DoseSheet, SheetStatus, content_fingerprint
from dosing.selectors import checked, translate_messages
from dosing.services.document import build_sheet_content
from schedules import selectors as schedule_selectors
from trialsite import roles, signatures
from trialsite.errors import ApplicationError, Conflict, InvalidInput, RuleViolation
from trialsite.models import Participant, Signature
from trialsite.phrases import Phrase, phrase, render, typed

logger = logging.getLogger(__name__)

# Why a sheet was voided or superseded, stored as a phrase (dosing.wording says it on display).
END_INPUTS_CHANGED = gettext_noop("inputs changed")
END_NOT_REPREPARED = gettext_noop("%(reason)s; not re-prepared: %(detail)s")
END_WITHDRAWN = gettext_noop("participant withdrawn")


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
        said = phrase(
            gettext_noop(
                "This cycle is not in the participant's treatment plan: prepare sheets for planned cycles only."
            )
        )
        raise RuleViolation(said, code=DosingErrorCode.CYCLE_NOT_PLANNED, errors={"cycle_number": [render(said)]})
    if day1 is None or day1 == visit.day1:
        return visit.day1, None
    if not day1_reason.strip():
        message = _("Day 1 %(day1)s is not the cycle's planned day 1 (%(planned)s): give the reason.") % {
            "day1": day1.isoformat(),
            "planned": visit.day1.isoformat(),
        }
        raise RuleViolation(message, code=DosingErrorCode.DAY1_NOT_PLANNED, errors={"day1": [message]})
    return day1, {"day1": day1.isoformat(), "planned": visit.day1.isoformat(), "reason": day1_reason.strip()}


def _current(participant: Participant, phase: str, cycle_number: int) -> DoseSheet | None:
    return (
        DoseSheet.objects.select_for_update()
        .filter(participant=participant, phase=phase, cycle_number=cycle_number, status__in=CURRENT_STATUSES)
        .first()
    )


# A bound for a void reason a person types (stored as typed).
TYPED_REASON_MAX = 300


def _end(sheet: DoseSheet, *, reason: Phrase, now: dt.datetime) -> None:
    """Void an unreleased sheet or supersede a released one (never edited otherwise). `reason`
    is a stored phrase (trialsite.phrases), typed text as `typed(…)`."""
    sheet.status = SheetStatus.SUPERSEDED if sheet.status == SheetStatus.RELEASED else SheetStatus.VOID
    sheet.ended_at = now
    sheet.end_reason = reason
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
    reason: Phrase | None = None,
    day1_reason: str = "",
) -> DoseSheet:
    """Prepare (or re-prepare) the cycle's sheet. With unchanged inputs the current sheet is
    returned as is; with changed inputs an unreleased sheet is voided and a released one
    superseded, and a new version is made. Locks the participant row so that two preparations of
    the same participant (task, admin, signal) run one after the other.

    Prepared on demand by a person (`by`), the cycle must be in the participant's treatment plan
    and `day1` its planned (or actual) day 1 (None: that one), or `day1_reason` says why not
    (printed on the sheet); the task and the re-preparations take the day 1 from the plan.
    `reason`: why a current sheet with other inputs ends (a stored phrase; "inputs changed")."""
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
        _end(current, reason=reason or phrase(END_INPUTS_CHANGED), now=now)
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
        raise Conflict(
            phrase(gettext_noop("The sheet was changed at the same time; try again.")),
            code=DosingErrorCode.SHEET_CONFLICT,
        ) from exc
    return sheet


def _locked(sheet: DoseSheet) -> DoseSheet:
    return DoseSheet.objects.select_for_update(of=("self",)).select_related("participant").get(pk=sheet.pk)


@transaction.atomic
def dose_sheet_verify(*, sheet: DoseSheet, by: User, now: dt.datetime, signature: Signature | None = None) -> DoseSheet:
    """First pharmacist check, signed by the pharmacist (`signature`, trialsite.signatures)."""
    roles.require(by, "dosing.verify_dosesheet", site=sheet.site_id)
    sheet = checked(_locked(sheet))
    if sheet.status != SheetStatus.PREPARED:
        raise Conflict(
            _("Only a prepared sheet can be verified (this one is %(status)s).")
            % {"status": sheet.get_status_display()},
            code=DosingErrorCode.SHEET_NOT_PREPARED,
        )
    if not sheet.releasable:
        raise RuleViolation(
            _("This sheet cannot be verified: %(why)s")
            % {"why": "; ".join(b["message"] for b in translate_messages(sheet.content["blockers"]))},
            code=DosingErrorCode.SHEET_BLOCKED,
        )
    signatures.consume(signature, by=by, meaning=signatures.VERIFY_SHEET, target=sheet, now=now)
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
def dose_sheet_release(
    *, sheet: DoseSheet, by: User, now: dt.datetime, reason: str = "", signature: Signature | None = None
) -> DoseSheet:
    """Second, independent pharmacist check and release (two-person rule, also a DB constraint),
    signed by the releasing pharmacist (`signature`, trialsite.signatures). `reason`: their note,
    kept as typed in the sheet's history, before the signature's manifestation."""
    roles.require(by, "dosing.release_dosesheet", site=sheet.site_id)
    _check_note(reason)
    sheet = checked(_locked(sheet))
    if sheet.status != SheetStatus.VERIFIED:
        raise Conflict(
            _("Only a verified sheet can be released (this one is %(status)s).")
            % {"status": sheet.get_status_display()},
            code=DosingErrorCode.SHEET_NOT_VERIFIED,
        )
    if sheet.verified_by_id == by.pk:
        raise RuleViolation(
            _("A second pharmacist must release the sheet: you verified it."), code=DosingErrorCode.TWO_PERSON_RULE
        )
    if not sheet.releasable:
        raise RuleViolation(_("This sheet cannot be released."), code=DosingErrorCode.SHEET_BLOCKED)
    sheet.status = SheetStatus.RELEASED
    sheet.released_by = by
    sheet.released_at = now
    sheet._change_reason = reason.strip() or None  # type: ignore[attr-defined]  # simple-history
    signatures.consume(signature, by=by, meaning=signatures.RELEASE_SHEET, target=sheet, now=now)
    sheet.save(update_fields=["status", "released_by", "released_at"])
    return sheet


@transaction.atomic
def dose_sheet_void(*, sheet: DoseSheet, reason: str, now: dt.datetime, by: User | None) -> DoseSheet:
    """Void an unreleased sheet (a released one is only ever superseded by a new version).
    `reason` is the person's own words: kept and shown as typed."""
    # Whoever may prepare a sheet (pharmacists, investigators) may void one, at their sites.
    roles.require(by, "dosing.prepare_dosesheet", site=sheet.site_id)
    sheet = _locked(sheet)
    if sheet.status not in UNRELEASED_STATUSES:
        raise Conflict(_("Only an unreleased sheet can be voided."), code=DosingErrorCode.SHEET_NOT_VOIDABLE)
    _end(sheet, reason=typed(reason.strip()[:TYPED_REASON_MAX]), now=now)
    return sheet


@transaction.atomic
def dose_sheets_refresh(
    *,
    participant: Participant,
    reason: Phrase,
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
            # The refusal goes into the end reason as its phrase (dosing.wording says it in the
            # reader's language); one without a phrase is kept as its English text, whatever
            # the language of the request that moved the booking.
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
                refusal = exc.phrase or typed(detail)
                _end(locked, reason=phrase(END_NOT_REPREPARED, reason=reason, detail=refusal), now=now)
    return out


@transaction.atomic
def dose_sheets_void_for_withdrawal(*, participant: Participant, by: User | None, now: dt.datetime) -> int:
    roles.require(by, "dosing.prepare_dosesheet", site=participant.site_id)
    count = 0
    for sheet in DoseSheet.objects.select_for_update().filter(participant=participant, status__in=UNRELEASED_STATUSES):
        _end(sheet, reason=phrase(END_WITHDRAWN), now=now)
        count += 1
    return count
