"""Writes to the trial registry: protocol loading, participants, measurements and lab results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from trialsite import labs, numbers, phrases, plausibility, protocol, roles
from trialsite.error_codes import TrialsiteErrorCode
from trialsite.errors import Conflict, InvalidInput, RuleViolation
from trialsite.models import (
    STATUS_TRANSITIONS,
    LabResult,
    Measurement,
    MeasurementKind,
    Participant,
    ParticipantStatus,
    ProtocolVersion,
    Site,
    SiteReferenceRange,
    Trial,
)
from trialsite.selectors import latest_measurement
from trialsite.signals import clinical_data_recorded, participant_withdrawn, plan_changed

# The reason the system stores for a death recorded without notes.
DIED = gettext_noop("died")


def _full_clean(obj: Any, **kwargs: Any) -> None:
    """full_clean, with Django's ValidationError turned into the domain's InvalidInput."""
    try:
        obj.full_clean(**kwargs)
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        first = next(iter(errors.values()))[0]
        raise InvalidInput(first, errors=errors) from exc


# --- Protocol ------------------------------------------------------------------------------


@transaction.atomic
def protocol_load(
    *, path: Path | None = None, text: str | None = None, by: User | None
) -> tuple[ProtocolVersion, bool]:
    """Load a protocol definition; return (version, created). A trial-wide change: the system
    (`load_protocol`, `seed_demo`) or a superuser (`by`).

    Loading the same content again changes nothing. A new `trial.version` becomes the trial's
    current protocol; participants keep the version they were registered under. Changing the
    content of an already loaded version is refused: amendments get a new version number.
    """
    if text is not None:
        data = protocol.parse(text, source=str(path or "<string>"))
    elif path is not None:
        data = protocol.read(path)
    else:
        raise InvalidInput("protocol_load needs a path or a text.")
    roles.require(by, "trialsite.change_trial")
    digest = protocol.canonical_sha256(data)
    meta = data["trial"]

    trial = Trial.objects.select_for_update().filter(registry_id=meta["registry_id"]).first()
    if trial is None:
        trial = Trial.objects.create(
            registry_id=meta["registry_id"], title=meta["title"], target_enrollment=meta["target_enrollment"]
        )
    existing = ProtocolVersion.objects.filter(trial=trial, version=meta["version"]).first()
    if existing is not None:
        if existing.sha256 != digest:
            raise Conflict(
                f"{trial.registry_id} version {meta['version']} is already loaded with different content; "
                "give the amended definition a new version.",
                code=TrialsiteErrorCode.PROTOCOL_VERSION_CHANGED,
            )
        return existing, False

    version = ProtocolVersion.objects.create(
        trial=trial, version=meta["version"], definition=data, sha256=digest, source_path=str(path or "")
    )
    for spec in data["sites"]:
        site, _created = Site.objects.get_or_create(
            code=spec["code"],
            defaults={
                "name": spec["name"],
                "name_zh": spec.get("name_zh", ""),
                "city": spec["city"],
                "time_zone": spec["time_zone"],
                "infusion_chairs_per_day": spec["infusion_chairs_per_day"],
            },
        )
        trial.sites.add(site)
        for analyte, rr in data.get("default_reference_ranges", {}).items():
            # Site laboratories' own values, once entered, are never overwritten by the defaults.
            SiteReferenceRange.objects.get_or_create(
                site=site,
                analyte=analyte,
                defaults={"uln": Decimal(str(rr["uln"])), "unit": labs.normalize_unit(rr["unit"])},
            )
    # The enrollment cap is only ever raised by the statistician (trial_raise_enrollment_cap),
    # so a definition does not lower a cap that was raised.
    trial.title = meta["title"]
    trial.target_enrollment = max(trial.target_enrollment, meta["target_enrollment"])
    trial.current_protocol = version
    trial.save()
    return version, True


@transaction.atomic
def trial_raise_enrollment_cap(*, trial: Trial, new_target: int, by: User | None) -> Trial:
    roles.require(by, "trialsite.raise_enrollment_cap")  # the statistician's
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    if new_target <= trial.target_enrollment:
        raise InvalidInput(
            _("The new target must be above the current one (%(n)s).") % {"n": trial.target_enrollment},
            errors={"target_enrollment": [_("Must be greater than %(n)s.") % {"n": trial.target_enrollment}]},
        )
    trial.target_enrollment = new_target
    trial.save(update_fields=["target_enrollment"])
    return trial


# --- Participants --------------------------------------------------------------------------


@transaction.atomic
def participant_create(
    *,
    trial: Trial,
    site: Site,
    screening_number: str,
    full_name: str,
    sex: str,
    birth_date: dt.date,
    consent_date: dt.date | None = None,
    by: User | None,
    today: dt.date,
    **contact: Any,
) -> Participant:
    roles.require(by, "trialsite.add_participant", site=site)
    if not trial.sites.filter(pk=site.pk).exists():
        raise InvalidInput(
            _("Site %(site)s does not take part in %(trial)s.") % {"site": site.code, "trial": trial.registry_id},
            errors={"site": [_("Not a site of this trial.")]},
        )
    if trial.current_protocol_id is None:
        raise RuleViolation(_("The trial's protocol has not been loaded."), code=TrialsiteErrorCode.PROTOCOL_MISSING)
    plausibility.check(
        {
            "birth_date": plausibility.birth_date_error(birth_date, today=today),
            "consent_date": plausibility.date_error("consent_date", consent_date, today=today, birth_date=birth_date),
        }
    )
    participant = Participant(
        trial=trial,
        protocol_version_id=trial.current_protocol_id,
        site=site,
        screening_number=screening_number.strip(),
        full_name=full_name.strip(),
        sex=sex,
        birth_date=birth_date,
        consent_date=consent_date,
        created_by=by,
        **contact,
    )
    # Uniqueness is left to the database constraint (a race between two nurses ends there too).
    _full_clean(participant, validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            participant.save()
    except IntegrityError as exc:
        # Two nurses registering the same number at once: the unique constraint decides.
        raise Conflict(
            _("Screening number %(n)s is already registered in %(trial)s.")
            % {"n": screening_number, "trial": trial.registry_id},
            errors={"screening_number": [_("Already registered.")]},
        ) from exc
    return participant


@transaction.atomic
def participant_record_consent(
    *, participant: Participant, consent_date: dt.date, by: User | None, today: dt.date
) -> Participant:
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    roles.require(by, "trialsite.change_participant", site=participant.site_id)
    plausibility.check(
        {"consent_date": plausibility.participant_date_error("consent_date", consent_date, participant, today=today)}
    )
    if participant.is_randomized:
        raise RuleViolation(
            _("Consent cannot be changed after randomization."), code=TrialsiteErrorCode.ALREADY_RANDOMIZED
        )
    participant.consent_date = consent_date
    participant.save(update_fields=["consent_date"])
    return participant


DETAIL_FIELDS = frozenset(
    {"full_name", "sex", "birth_date", "phone", "email", "preferred_language", "reminders_by_sms", "reminders_by_email"}
)
# Fields the reminders depend on: a change re-computes the participant's pending reminders.
REMINDER_FIELDS = frozenset({"phone", "email", "preferred_language", "reminders_by_sms", "reminders_by_email"})


@transaction.atomic
def participant_update_details(
    *, participant: Participant, changes: dict[str, Any], by: User | None, today: dt.date
) -> Participant:
    """Change identity and contact details. Identity (name, sex, birth date) is frozen once the
    participant is randomized; a change of contact or reminder preferences re-computes reminders."""
    unknown = set(changes) - DETAIL_FIELDS
    if unknown:
        raise InvalidInput(
            _("These fields cannot be changed here."), errors={f: [_("Not editable.")] for f in sorted(unknown)}
        )
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    roles.require(by, "trialsite.change_participant", site=participant.site_id)
    changed = {k: v for k, v in changes.items() if getattr(participant, k) != v}
    if not changed:
        return participant
    if participant.is_randomized and changed.keys() & {"full_name", "sex", "birth_date"}:
        raise RuleViolation(
            _("Name, sex and birth date cannot be changed after randomization."),
            code=TrialsiteErrorCode.ALREADY_RANDOMIZED,
        )
    if "birth_date" in changed:
        # A new birth date must still come before the recorded consent.
        birth_date = changed["birth_date"]
        consent = plausibility.date_error("consent_date", participant.consent_date, today=today, birth_date=birth_date)
        plausibility.check({"birth_date": plausibility.birth_date_error(birth_date, today=today) or consent})
    for name, value in changed.items():
        setattr(participant, name, value)
    _full_clean(
        participant,
        exclude=["trial", "protocol_version", "site", "created_by"],
        validate_unique=False,
        validate_constraints=False,
    )
    participant.save(update_fields=list(changed))
    if changed.keys() & REMINDER_FIELDS:
        plan_changed.send(sender=Participant, participant=participant)
    return participant


def _check_transition(participant: Participant, to: str) -> None:
    allowed = STATUS_TRANSITIONS[ParticipantStatus(participant.status)]
    if to not in allowed:
        raise RuleViolation(
            _("A participant in status “%(from)s” cannot move to “%(to)s”.")
            % {"from": ParticipantStatus(participant.status).label, "to": ParticipantStatus(to).label},
            code=TrialsiteErrorCode.ILLEGAL_STATUS_TRANSITION,
            errors={"status": [_("Not allowed from “%(from)s”.") % {"from": participant.status}]},
        )


@transaction.atomic
def participant_set_status(*, participant: Participant, status: str, by: User | None, **fields: Any) -> Participant:
    """Move a participant to `status` if the transition is allowed. The other apps call this
    (eligibility sets eligible/ineligible, schedules sets on_treatment/completed). Randomization
    writes randomized with its fields under its own locks (participant_randomize); withdrawal
    goes through participant_withdraw."""
    if status not in ParticipantStatus.values:
        raise InvalidInput(_("Unknown status %(s)s.") % {"s": status}, errors={"status": [_("Unknown status.")]})
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    roles.require(by, "trialsite.change_participant", site=participant.site_id)
    if participant.status == status and not fields:
        return participant
    _check_transition(participant, status)
    participant.status = status
    for name, value in fields.items():
        setattr(participant, name, value)
    # The foreign keys are not changed here: skip their existence queries.
    _full_clean(
        participant,
        exclude=["trial", "protocol_version", "site", "created_by"],
        validate_unique=False,
        validate_constraints=False,
    )
    participant.save(update_fields=["status", *fields])
    return participant


@transaction.atomic
def participant_withdraw(*, participant: Participant, reason: str, by: User | None, now: dt.datetime) -> Participant:
    if not reason.strip():
        raise InvalidInput(_("Give the reason for withdrawal."), errors={"reason": [_("This field is required.")]})
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    roles.require(by, "trialsite.withdraw_participant", site=participant.site_id)
    _check_transition(participant, ParticipantStatus.WITHDRAWN)
    participant.status = ParticipantStatus.WITHDRAWN
    participant.withdrawn_at = now
    participant.withdrawal = phrases.typed(reason.strip())
    participant.save(update_fields=["status", "withdrawn_at", "withdrawal"])
    participant_withdrawn.send(sender=Participant, participant=participant)
    return participant


@transaction.atomic
def participant_record_death(
    *, participant: Participant, died_on: dt.date, notes: str = "", by: User | None, now: dt.datetime, today: dt.date
) -> Participant:
    """Record a death: future events, bookings, reminders and unreleased dose sheets stop as for a
    withdrawal (the same signal), and the status says what happened."""
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    roles.require(by, "trialsite.withdraw_participant", site=participant.site_id)
    death = plausibility.participant_date_error("died_on", died_on, participant, today=today, after_consent=True)
    plausibility.check({"died_on": death})
    _check_transition(participant, ParticipantStatus.DECEASED)
    was_active = participant.status != ParticipantStatus.WITHDRAWN
    participant.status = ParticipantStatus.DECEASED
    participant.died_on = died_on
    participant.withdrawn_at = participant.withdrawn_at or now
    if not participant.withdrawal:
        participant.withdrawal = phrases.typed(notes.strip()) if notes.strip() else phrases.phrase(DIED)
    participant.save(update_fields=["status", "died_on", "withdrawn_at", "withdrawal"])
    if was_active:
        participant_withdrawn.send(sender=Participant, participant=participant)
    return participant


# --- Measurements and labs -----------------------------------------------------------------


def _decimal(value: Any, field: str) -> Decimal:
    """A number from any door, bounded before conversion (trialsite/numbers.py)."""
    try:
        return numbers.parse_decimal(value)
    except numbers.NumberError as exc:
        raise InvalidInput(str(exc), errors={field: [str(exc)]}) from None


@transaction.atomic
def measurement_record(
    *,
    participant: Participant,
    kind: str,
    value: Decimal | str | float,
    measured_on: dt.date,
    by: User | None,
    today: dt.date,
) -> Measurement:
    """Record a height (cm) or weight (kg). A value that can't be true is refused naming the likely
    slip (metres, grams, the other measurement; trialsite/plausibility.py), and so is one that
    looks swapped with the participant's latest other measurement."""
    roles.require(by, "trialsite.add_measurement", site=participant.site_id)
    if kind not in MeasurementKind.values:
        raise InvalidInput(_("Unknown measurement kind."), errors={"kind": [_("Use height or weight.")]})
    amount = _decimal(value, "value")
    plausibility.check(
        {
            "value": plausibility.measurement_implausibility(kind, amount),
            "measured_on": plausibility.participant_date_error("measured_on", measured_on, participant, today=today),
        }
    )
    other = latest_measurement(participant, "weight" if kind == "height" else "height", on_or_before=measured_on)
    if other is not None:
        height, weight = (amount, other.value) if kind == "height" else (other.value, amount)
        plausibility.check({"value": plausibility.swap_message(height, weight)})
    row = Measurement(
        participant=participant,
        kind=kind,
        value=amount.quantize(Decimal("0.01")),
        measured_on=measured_on,
        recorded_by=by,
    )
    _full_clean(row)
    row.save()
    clinical_data_recorded.send(sender=Measurement, participant=participant, kind=kind, record=row)
    return row


@transaction.atomic
def lab_result_record(
    *,
    participant: Participant,
    analyte: str,
    value: Decimal | str | float,
    unit: str,
    collected_on: dt.date,
    uln: Decimal | str | None = None,
    by: User | None,
    today: dt.date,
) -> LabResult:
    """Record a lab value, converted to the analyte's canonical unit. The unit is required (never
    assumed: 90 haemoglobin is 9.0 g/dL in g/L) and the value must be plausible in it; a value
    that would be plausible in another of the analyte's units is refused naming that unit. The
    upper limit of normal is the site's reference range unless given with the result (in the same
    unit as the value)."""
    roles.require(by, "trialsite.add_labresult", site=participant.site_id)
    if analyte not in labs.ANALYTES:
        raise InvalidInput(_("Unknown analyte."), errors={"analyte": [_("Unknown analyte %(a)s.") % {"a": analyte}]})
    spec = labs.ANALYTES[analyte]
    if not unit or not unit.strip():
        message = _("Give the unit the laboratory reported: one of %(units)s.") % {
            "units": ", ".join(labs.unit_label(u) for u in labs.accepted_units(analyte))
        }
        raise InvalidInput(message, errors={"unit": [message]})
    unit = labs.normalize_unit(unit)
    amount = _decimal(value, "value")
    given_uln = _decimal(uln, "uln") if uln is not None else None
    if given_uln is not None and given_uln <= 0:
        raise InvalidInput(_("The upper limit of normal must be positive."), errors={"uln": [_("Must be > 0.")]})
    errors: dict[str, str | None] = dict(
        labs.value_errors(analyte, unit, {"value": amount} | ({"uln": given_uln} if given_uln is not None else {}))
    )
    errors["collected_on"] = plausibility.participant_date_error("collected_on", collected_on, participant, today=today)
    plausibility.check(errors)
    canonical = labs.to_canonical(analyte, amount, unit)
    canonical_uln = labs.to_canonical(analyte, given_uln, unit) if given_uln is not None else None
    if canonical_uln is None and spec.uses_uln:
        rr = SiteReferenceRange.objects.filter(site_id=participant.site_id, analyte=analyte).first()
        canonical_uln = labs.to_canonical(analyte, rr.uln, rr.unit) if rr else None
    row = LabResult(
        participant=participant,
        analyte=analyte,
        value=canonical.quantize(Decimal("0.001")),
        unit=spec.unit,
        uln=canonical_uln.quantize(Decimal("0.001")) if canonical_uln is not None else None,
        collected_on=collected_on,
        recorded_by=by,
    )
    _full_clean(row)
    row.save()
    clinical_data_recorded.send(sender=LabResult, participant=participant, kind="lab", record=row)
    return row


@transaction.atomic
def record_mark_entered_in_error(
    *, record: Measurement | LabResult, reason: str, by: User | None
) -> Measurement | LabResult:
    """Clinical rows are never deleted or edited: a wrong one is kept, flagged with the reason,
    and ignored by selectors; the correct value is a new row. Both stay in the history."""
    if not reason.strip():
        raise InvalidInput(_("Give a reason."), errors={"reason": [_("This field is required.")]})
    record = type(record).objects.select_for_update().select_related("participant__site").get(pk=record.pk)
    roles.require(by, f"trialsite.change_{record._meta.model_name}", site=record.participant.site_id)
    if record.entered_in_error:
        raise Conflict(
            _("This value is already marked as entered in error."),
            code=TrialsiteErrorCode.ALREADY_ENTERED_IN_ERROR,
            errors={"reason": [_("Already marked.")]},
        )
    record.entered_in_error = True
    record.error_reason = reason.strip()[:200]
    record.save(update_fields=["entered_in_error", "error_reason"])
    kind = record.kind if isinstance(record, Measurement) else "lab"
    clinical_data_recorded.send(sender=type(record), participant=record.participant, kind=kind, record=record)
    return record
