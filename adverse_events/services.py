"""Writes of the toxicity log: record an adverse event, change its grade, resolution or
seriousness (each change in the history with its reason), acknowledge an SAE, load CTCAE terms,
and send the SAE alerts. Every service checks role and site itself (trialsite.roles.require):
another site's record does not exist for the caller (404)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from adverse_events import ctcae, notify
from adverse_events.error_codes import AdverseEventErrorCode as Code
from adverse_events.models import AdverseEvent, AlertChannel, AlertStatus, Attribution, Relatedness, SaeAlert, Term
from adverse_events.selectors import participant_drugs, protocol_cycles
from trialsite import roles
from trialsite.errors import Conflict, InvalidInput, RuleViolation
from trialsite.models import Participant

log = logging.getLogger(__name__)

UNSET: Any = object()
NOTES_MAX = 2000
REASON_MAX = 2000


# --- Checks ------------------------------------------------------------------------------------


def _text(field: str, value: str, *, max_length: int, errors: dict[str, list[str]]) -> str:
    value = (value or "").strip()
    if "\x00" in value:
        errors.setdefault(field, []).append(_("Remove the NUL character from the text."))
    elif len(value) > max_length:
        errors.setdefault(field, []).append(_("At most %(n)s characters.") % {"n": max_length})
    return value


def _date_errors(
    participant: Participant,
    *,
    onset: dt.date,
    resolution: dt.date | None,
    today: dt.date,
    errors: dict[str, list[str]],
) -> None:
    """Onset: not in the future, not before the consent (the log starts at consent) nor the birth;
    resolution: not before the onset and not in the future. Year 1 and 9999 fall to these."""
    earliest = participant.consent_date or participant.birth_date
    if onset > today:
        errors.setdefault("onset_date", []).append(
            _("The onset date %(date)s is in the future (today is %(today)s): check the year.")
            % {"date": onset.isoformat(), "today": today.isoformat()}
        )
    elif onset < earliest:
        errors.setdefault("onset_date", []).append(
            _("The onset date %(date)s is before the consent (%(consent)s): check the year.")
            % {"date": onset.isoformat(), "consent": earliest.isoformat()}
        )
    if resolution is None:
        return
    if resolution > today:
        errors.setdefault("resolution_date", []).append(
            _("The resolution date %(date)s is in the future (today is %(today)s): check the year.")
            % {"date": resolution.isoformat(), "today": today.isoformat()}
        )
    elif resolution < onset:
        errors.setdefault("resolution_date", []).append(
            _("The resolution date %(date)s is before the onset (%(onset)s).")
            % {"date": resolution.isoformat(), "onset": onset.isoformat()}
        )


def _grade_errors(term: Term, grade: int, errors: dict[str, list[str]]) -> None:
    if not isinstance(grade, int) or isinstance(grade, bool) or not 1 <= grade <= 5:
        errors.setdefault("grade", []).append(_("The grade is 1–5."))
    elif not term.defines(grade):
        errors.setdefault("grade", []).append(
            _("%(term)s has no grade %(grade)s in CTCAE v5.0 (its grades: %(grades)s).")
            % {"term": term.name_in(translation.get_language()), "grade": grade, "grades": ", ".join(term.grades)}
        )


def _cycle_errors(participant: Participant, phase: str, cycle: int | None, errors: dict[str, list[str]]) -> None:
    cycles = protocol_cycles(participant)
    if phase and phase not in cycles:
        errors.setdefault("phase", []).append(_("Not a phase of the participant's protocol."))
        return
    if cycle is None:
        return
    if not phase:
        errors.setdefault("phase", []).append(_("Name the phase of the cycle."))
    elif not cycles[phase]:
        errors.setdefault("cycle_number", []).append(_("This phase has no cycles."))
    elif not 1 <= cycle <= int(cycles[phase] or 0):
        errors.setdefault("cycle_number", []).append(_("The cycle is 1–%(n)s in this phase.") % {"n": cycles[phase]})


def _attribution_errors(
    participant: Participant, attribution: Mapping[str, str], errors: dict[str, list[str]]
) -> dict[str, str]:
    """Attribution per drug of the participant's regimen (protocol codes), each on the scale."""
    drugs = participant_drugs(participant)
    out: dict[str, str] = {}
    for drug, relatedness in attribution.items():
        if drug not in drugs:
            errors.setdefault("attribution", []).append(
                _("%(drug)s is not a drug of the participant's regimen.") % {"drug": drug}
            )
        elif relatedness not in Relatedness.values:
            errors.setdefault("attribution", []).append(
                _("%(value)s is not an attribution (unrelated, unlikely, possible, probable, definite).")
                % {"value": relatedness}
            )
        else:
            out[drug] = relatedness
    return out


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)


def _full_clean(obj: Any, **kwargs: Any) -> None:
    try:
        obj.full_clean(**kwargs)
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors) from exc


# --- Recording and changing -----------------------------------------------------------------------


@transaction.atomic
def ae_record(
    *,
    participant: Participant,
    term: Term,
    grade: int,
    onset_date: dt.date,
    by: User | None,
    now: dt.datetime,
    today: dt.date,
    resolution_date: dt.date | None = None,
    phase: str = "",
    cycle_number: int | None = None,
    serious: bool = False,
    attribution: Mapping[str, str] | None = None,
    notes: str = "",
) -> AdverseEvent:
    """Record a toxicity. Every field's problem is reported at once (field-level errors), and
    nothing is written unless all pass. An SAE gets its alerts to the site's investigators in
    the same transaction; they are sent after commit."""
    roles.require(by, "adverse_events.add_adverseevent", site=participant.site_id)
    participant = Participant.objects.select_related("protocol_version").get(pk=participant.pk)
    errors: dict[str, list[str]] = {}
    notes = _text("notes", notes, max_length=NOTES_MAX, errors=errors)
    phase = _text("phase", phase, max_length=32, errors=errors)
    _grade_errors(term, grade, errors)
    _date_errors(participant, onset=onset_date, resolution=resolution_date, today=today, errors=errors)
    _cycle_errors(participant, phase, cycle_number, errors)
    drugs = _attribution_errors(participant, attribution or {}, errors)
    _raise(errors)
    event = AdverseEvent(
        participant=participant,
        term=term,
        grade=grade,
        onset_date=onset_date,
        resolution_date=resolution_date,
        phase=phase,
        cycle_number=cycle_number,
        serious=serious,
        notes=notes,
        recorded_by=by,
        recorded_at=now,
    )
    _full_clean(event)
    event._change_reason = gettext_noop("recorded")  # type: ignore[attr-defined]
    event._history_user = by  # type: ignore[attr-defined]  # whatever the door (task, command, API)
    event.save()
    for drug, relatedness in drugs.items():
        Attribution.objects.create(adverse_event=event, drug=drug, relatedness=relatedness)
    if serious:
        _alerts_create(event, now=now)
    return event


@transaction.atomic
def ae_update(
    *,
    adverse_event: AdverseEvent,
    by: User | None,
    now: dt.datetime,
    today: dt.date,
    reason: str = "",
    grade: int = UNSET,
    resolution_date: dt.date | None = UNSET,
    serious: bool = UNSET,
    attribution: Mapping[str, str] = UNSET,
) -> AdverseEvent:
    """Change what follows a toxicity: its resolution date, its grade, its seriousness or its
    attribution. A grade or seriousness change needs a reason; each change is one history row
    with the reason (the record before it stays in the history). An event turned serious alerts
    the site's investigators."""
    event = AdverseEvent.objects.select_for_update(of=("self",)).select_related("term").get(pk=adverse_event.pk)
    participant = Participant.objects.select_related("protocol_version").get(pk=event.participant_id)
    roles.require(by, "adverse_events.change_adverseevent", site=participant.site_id)
    errors: dict[str, list[str]] = {}
    reason = _text("reason", reason, max_length=REASON_MAX, errors=errors)
    changes: dict[str, Any] = {}
    if grade is not UNSET and grade != event.grade:
        _grade_errors(event.term, grade, errors)
        changes["grade"] = grade
    if resolution_date is not UNSET and resolution_date != event.resolution_date:
        _date_errors(participant, onset=event.onset_date, resolution=resolution_date, today=today, errors=errors)
        changes["resolution_date"] = resolution_date
    if serious is not UNSET and bool(serious) != event.serious:
        if event.acknowledged_at is not None:
            errors.setdefault("serious", []).append(_("An acknowledged SAE stays serious."))
        changes["serious"] = bool(serious)
    new_attribution: dict[str, str] | None = None
    if attribution is not UNSET:
        new_attribution = _attribution_errors(participant, attribution, errors)
        current = dict(event.attributions.values_list("drug", "relatedness"))
        if new_attribution == current:
            new_attribution = None
    if ("grade" in changes or "serious" in changes) and not reason:
        errors.setdefault("reason", []).append(_("Give the reason for changing the grade or the seriousness."))
    _raise(errors)
    if not changes and new_attribution is None:
        raise InvalidInput(_("Nothing to change."), code=Code.NOTHING_TO_CHANGE)
    for name, value in changes.items():
        setattr(event, name, value)
    _full_clean(event)
    # Stored in English (a system phrase, shown translated by the history page) or as typed.
    event._change_reason = reason or gettext_noop("resolution date recorded")  # type: ignore[attr-defined]
    event._history_user = by  # type: ignore[attr-defined]
    if changes:
        event.save(update_fields=list(changes))
    if new_attribution is not None:
        event.attributions.all().delete()
        for drug, relatedness in new_attribution.items():
            Attribution.objects.create(adverse_event=event, drug=drug, relatedness=relatedness)
        if not changes:
            event._change_reason = reason or gettext_noop("attribution changed")  # type: ignore[attr-defined]
            event.save()  # one history row says who changed the attribution, and why (update_fields=[] saves nothing)
    if changes.get("serious"):
        _alerts_create(event, now=now)
    return event


@transaction.atomic
def ae_acknowledge(*, adverse_event: AdverseEvent, by: User | None, now: dt.datetime) -> AdverseEvent:
    """An investigator of the site acknowledges an SAE: it leaves the investigators' worklist."""
    event = AdverseEvent.objects.select_for_update(of=("self",)).select_related("participant").get(pk=adverse_event.pk)
    roles.require(by, "adverse_events.acknowledge_adverseevent", site=event.participant.site_id)
    if not event.serious:
        raise RuleViolation(_("Only a serious adverse event is acknowledged."), code=Code.NOT_SERIOUS)
    if event.acknowledged_at is not None:
        raise Conflict(_("This SAE has already been acknowledged."), code=Code.ALREADY_ACKNOWLEDGED)
    event.acknowledged_by = by
    event.acknowledged_at = now
    event._change_reason = gettext_noop("SAE acknowledged")  # type: ignore[attr-defined]
    event._history_user = by  # type: ignore[attr-defined]
    event.save(update_fields=["acknowledged_by", "acknowledged_at"])
    return event


# --- Terms ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TermLoad:
    created: int
    updated: int
    unchanged: int


@transaction.atomic
def terms_load(*, specs: list[ctcae.TermSpec], source: str, by: User | None) -> TermLoad:
    """Create or update terms by their English name (the system or a superuser: reference data of
    the whole trial). A Chinese term already loaded is kept unless the file has one."""
    roles.require(by, "adverse_events.change_term")
    existing = {t.term.lower(): t for t in Term.objects.select_for_update()}
    created = updated = unchanged = 0
    for spec in specs:
        row = existing.get(spec.term.lower())
        values = {"soc": spec.soc, "meddra_code": spec.meddra_code, "grades": spec.grades, "source": source[:200]}
        if spec.term_zh:
            values["term_zh"] = spec.term_zh
        if row is None:
            row = Term(term=spec.term, **values)
            _full_clean(row, validate_unique=False, validate_constraints=False)
            row.save()
            created += 1
            continue
        if not spec.meddra_code and row.meddra_code:
            values.pop("meddra_code")  # a code known from an earlier file is not blanked
        if all(getattr(row, k) == v for k, v in values.items() if k != "source"):
            unchanged += 1
            continue
        for key, value in values.items():
            setattr(row, key, value)
        _full_clean(row, validate_unique=False, validate_constraints=False)
        row.save()
        updated += 1
    return TermLoad(created=created, updated=updated, unchanged=unchanged)


# --- SAE alerts ----------------------------------------------------------------------------------


def _alerts_create(event: AdverseEvent, *, now: dt.datetime) -> list[SaeAlert]:
    """One alert per investigator of the participant's site with an email address (staff have no
    phone number in the registry yet, so SMS alerts are not written), and the send after commit."""
    investigators = (
        User.objects.filter(
            is_active=True,
            groups__name=roles.INVESTIGATOR,
            site_memberships__site_id=event.participant.site_id,
        )
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )
    alerts = []
    for user in investigators:
        alert, _created = SaeAlert.objects.get_or_create(
            adverse_event=event,
            recipient=user,
            channel=AlertChannel.EMAIL,
            defaults={"address": user.email, "created_at": now},
        )
        alerts.append(alert)
    if alerts:
        from adverse_events.tasks import enqueue_alerts

        ids = [a.pk for a in alerts]
        transaction.on_commit(lambda: enqueue_alerts(ids))
    else:
        log.warning(
            "SAE %s at site %s: no investigator with an email address to alert", event.pk, event.participant.site_id
        )
    return alerts


def _language_of(user: User) -> str:
    profile = getattr(user, "staff_profile", None) if hasattr(user, "staff_profile") else None
    return getattr(profile, "language", None) or "en"


def alert_message(alert: SaeAlert) -> tuple[str, str]:
    """Subject and body in the recipient's language. No name or birth date of the participant:
    the screening number, the site and the toxicity are enough to open the record."""
    event = alert.adverse_event
    language = _language_of(alert.recipient)
    with translation.override(language):
        params = {
            "number": event.participant.screening_number,
            "site": event.participant.site.code,
            "term": event.term.name_in(language),
            "grade": event.grade,
            "onset": event.onset_date.isoformat(),
        }
        subject = _("SAE: %(number)s at %(site)s, %(term)s grade %(grade)s") % params
        body = (
            _(
                "A serious adverse event was recorded for participant %(number)s at site %(site)s: "
                "%(term)s, CTCAE grade %(grade)s, onset %(onset)s. "
                "Open TrialSite to review and acknowledge it."
            )
            % params
        )
    return subject, body


# A "sending" row whose worker died is taken back after this (longer than a task's time limit).
SEND_LEASE = dt.timedelta(minutes=5)


def sae_alert_send(*, alert_id: int, now: Callable[[], dt.datetime], send: notify.Sender = notify.send) -> str:
    """Send one alert exactly once: claim it (pending → sending, one row changed), send it through
    the reminder transports, then mark it sent; a temporary failure puts it back to pending (the
    task retries), a permanent one marks it failed. Returns the row's status."""
    claimed = SaeAlert.objects.filter(pk=alert_id, status=AlertStatus.PENDING).update(
        status=AlertStatus.SENDING, claimed_at=now(), attempts=F("attempts") + 1
    )
    if claimed != 1:
        return SaeAlert.objects.filter(pk=alert_id).values_list("status", flat=True).first() or "missing"
    alert = SaeAlert.objects.select_related("adverse_event__participant__site", "adverse_event__term", "recipient").get(
        pk=alert_id
    )
    subject, body = alert_message(alert)
    try:
        provider_id = send(alert.channel, alert.address, subject, body, f"sae-{alert.pk}")
    except notify.TemporaryError as exc:
        SaeAlert.objects.filter(pk=alert_id).update(status=AlertStatus.PENDING, detail=str(exc)[:500])
        raise
    except notify.PermanentError as exc:
        SaeAlert.objects.filter(pk=alert_id).update(status=AlertStatus.FAILED, detail=str(exc)[:500])
        return AlertStatus.FAILED
    SaeAlert.objects.filter(pk=alert_id).update(
        status=AlertStatus.SENT, sent_at=now(), provider_id=provider_id[:200], detail=""
    )
    return AlertStatus.SENT


def sae_alerts_due(*, now: dt.datetime) -> list[int]:
    """Alerts to (re)send: pending ones, and ones left "sending" by a worker that died."""
    SaeAlert.objects.filter(status=AlertStatus.SENDING, claimed_at__lt=now - SEND_LEASE).update(
        status=AlertStatus.PENDING
    )
    return list(SaeAlert.objects.filter(status=AlertStatus.PENDING).order_by("pk").values_list("pk", flat=True))
