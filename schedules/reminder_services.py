"""Writes of the reminders: default rules, keeping a participant's reminder rows in step with
their events (reminders_sync), the dispatcher's claim, one send, resend and cancel.

Delivery guarantees, honestly:
- The database decides: a row is claimed by conditional updates (pending → queued by the
  dispatcher with SKIP LOCKED, queued → sending by the send task), so a duplicated task message
  or two dispatchers never send one row twice.
- The claim is committed before the transport is called, and `sent` is written after it answers.
  A worker killed between the provider's "accepted" and our commit leaves the row `sending`; the
  dispatcher re-queues it once its lease (longer than the task's hard time limit) has run out, and
  it is sent again: in that one window delivery is at-least-once. The message carries the same
  idempotency key (SMTP Message-ID, SMS gateway Idempotency-Key), so a provider that honours it
  drops the copy. The alternative (mark sent before sending) would lose reminders on a crash,
  which is worse for a patient than a rare duplicate.
- Retries live in the database (due_at moves by an exponential backoff), not in Celery
  countdowns: an ETA task held by a worker is lost or duplicated across broker restarts and
  Redis visibility timeouts, while a row with a due time survives everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_noop

from schedules import reminders
from schedules.models import Booking, BookingStatus, EventKind, PlanStatus, ScheduledEvent, TreatmentPlan
from schedules.reminder_models import Reminder, ReminderRule, ReminderStatus
from schedules.transports import OutgoingMessage, PermanentTransportError, TemporaryTransportError, Transport
from trialsite.models import Participant, Trial

# A queued row whose task message never ran (broker lost it, queue purged) is re-queued after
# this; a sending row whose worker died is re-sent after SEND_LEASE, which must exceed
# CELERY_TASK_TIME_LIMIT (120 s) so that a slow but alive send is never doubled.
LANGUAGES = ("zh-hans", "en")
QUEUE_LEASE = dt.timedelta(minutes=10)
SEND_LEASE = dt.timedelta(minutes=3)
DISPATCH_BATCH = 1000

# The trial's defaults (PRODUCT.md §5 and the issue): 3 days and 1 day before each visit a
# participant attends, 09:00 site time; capecitabine is taken from the evening of day 1 to the
# morning of day 15 (label, reference/capecitabine.md), so day 15 morning is the stop reminder.
VISIT_KINDS: Sequence[tuple[str, int | None, str]] = (
    (EventKind.SCRT_FRACTION, 1, gettext_noop("SCRT start")),
    (EventKind.PRE_CYCLE_LABS, None, gettext_noop("lab draw")),
    (EventKind.CYCLE_DAY1, None, gettext_noop("cycle day 1")),
    (EventKind.SURGERY, None, gettext_noop("surgery admission")),
    (EventKind.FOLLOW_UP, None, gettext_noop("follow-up visit")),
)


@transaction.atomic
def reminder_rules_for_trial(*, trial: Trial) -> list[ReminderRule]:
    """The trial's active rules; a trial without any rule gets the defaults (seed on first use,
    so a trial loaded after the migrations has them too). To switch one off, untick `active`."""
    if not ReminderRule.objects.filter(trial=trial).exists():
        # Lock the trial only on first use (not on every sync: that would serialize all bookings
        # of the trial), then look again: two first uses at once seed once.
        Trial.objects.select_for_update().get(pk=trial.pk)
    if not ReminderRule.objects.filter(trial=trial).exists():
        rules = [
            ReminderRule(
                trial=trial,
                name=f"{label}, {abs(days)} day{'s' if abs(days) > 1 else ''} before",
                event_kind=kind,
                event_number=number,
                days_from_event=days,
                time_of_day=dt.time(9, 0),
            )
            for kind, number, label in VISIT_KINDS
            for days in (-3, -1)
        ]
        rules.append(
            ReminderRule(
                trial=trial,
                name=gettext_noop("stop capecitabine after the morning dose of day 15"),
                event_kind=EventKind.CYCLE_DAY1,
                oral_drug="capecitabine",
                days_from_event=14,
                time_of_day=dt.time(8, 0),
                template="capecitabine_stop",
            )
        )
        for rule in rules:
            rule.full_clean()
        ReminderRule.objects.bulk_create(rules)
    return list(ReminderRule.objects.filter(trial=trial, active=True).order_by("id"))


def _recipient(participant: Participant, plan_active: bool) -> reminders.Recipient:
    return reminders.Recipient(
        active=plan_active and not participant.is_off_study,
        sms=participant.reminders_by_sms and bool(participant.phone.strip()),
        email=participant.reminders_by_email and bool(participant.email.strip()),
    )


@dataclass(frozen=True)
class SyncResult:
    created: int
    cancelled: int
    retimed: int


@transaction.atomic
def reminders_sync(*, participant: Participant, now: dt.datetime) -> SyncResult:
    """Make the participant's reminder rows match their events, rules and preferences: cancel
    pending rows nobody wants any more (a moved or cancelled visit), create the missing ones.
    Runs inside the schedules service's transaction (plan_changed), so the rows commit or roll
    back with the change that caused them; it never talks to the broker."""
    participant = Participant.objects.select_related("site").get(pk=participant.pk)
    plan = TreatmentPlan.objects.filter(participant=participant).only("status").first()
    rules = reminder_rules_for_trial(trial=participant.trial) if plan is not None else []
    events = [
        reminders.Event(e.pk, e.kind, e.number, e.actual_date or e.planned_date, e.status, e.details)
        for e in ScheduledEvent.objects.filter(participant=participant).only(
            "pk", "kind", "number", "planned_date", "actual_date", "status", "details"
        )
    ]
    desired = reminders.desired_reminders(
        events=events,
        rules=[r.as_pure() for r in rules],
        recipient=_recipient(participant, plan is not None and plan.status == PlanStatus.ACTIVE),
        time_zone=participant.site.time_zone,
        now=now,
    )
    rows = list(
        Reminder.objects.select_for_update()
        .filter(participant=participant)
        .exclude(status=ReminderStatus.CANCELLED)
        .values_list("pk", "event_id", "rule_id", "channel", "event_date", "status", "send_at")
    )
    changes = reminders.plan_changes(desired=desired, existing=[reminders.Existing(*row) for row in rows])
    cancelled = 0
    if changes.cancel:
        # Only rows not yet handed to a transport; a `sending` row is in flight and stays.
        cancelled = Reminder.objects.filter(pk__in=changes.cancel, status__in=reminders.CHANGEABLE).update(
            status=ReminderStatus.CANCELLED,
            cancel_reason=gettext_noop("no longer wanted (visit moved or cancelled)"),
            updated_at=now,
        )
    for pk, d in changes.retime:
        Reminder.objects.filter(pk=pk, status=ReminderStatus.PENDING).update(
            send_at=d.send_at, due_at=d.send_at, expires_at=d.expires_at, updated_at=now
        )
    max_attempts = {r.pk: r.max_attempts for r in rules}
    Reminder.objects.bulk_create(
        [
            Reminder(
                rule_id=d.rule_id,
                event_id=d.event_id,
                participant=participant,
                site_id=participant.site_id,
                channel=d.channel,
                event_date=d.event_date,
                send_at=d.send_at,
                due_at=d.send_at,
                expires_at=d.expires_at,
                max_attempts=max_attempts[d.rule_id],
            )
            for d in changes.create
        ],
        ignore_conflicts=True,  # the constraint is the last word if two syncs ever race
    )
    return SyncResult(len(changes.create), cancelled, len(changes.retime))


@transaction.atomic
def reminders_cancel_for_participant(*, participant: Participant, reason: str, now: dt.datetime) -> int:
    """Withdrawal: nothing more is sent (pending and queued rows; a send in flight completes)."""
    return Reminder.objects.filter(participant=participant, status__in=reminders.CHANGEABLE).update(
        status=ReminderStatus.CANCELLED, cancel_reason=reason[:200], updated_at=now
    )


@transaction.atomic
def reminder_rule_save(*, rule: ReminderRule, now: dt.datetime) -> ReminderRule:
    """Save a rule edited in the admin and re-compute the trial's participants' reminders."""
    rule.full_clean()
    rule.save()
    for participant in Participant.objects.filter(trial=rule.trial, treatment_plan__status=PlanStatus.ACTIVE):
        reminders_sync(participant=participant, now=now)
    return rule


# --- Dispatching -----------------------------------------------------------------------------


@dataclass
class DispatchResult:
    expired: int = 0
    claimed: int = 0
    enqueued: int = 0
    released: int = 0  # claimed but could not be enqueued (broker down): back to pending


def reminders_expire(*, now: dt.datetime) -> int:
    """Rows whose moment has passed by more than the grace are never sent late."""
    return Reminder.objects.filter(
        status__in=[ReminderStatus.PENDING, ReminderStatus.QUEUED], expires_at__lte=now
    ).update(status=ReminderStatus.EXPIRED, lease_until=None, updated_at=now)


def reminders_claim_due(*, now: dt.datetime, limit: int = DISPATCH_BATCH) -> list[int]:
    """Claim up to `limit` due rows: pending rows whose due time has come, and queued or
    sending rows whose lease ran out (a lost message, a killed worker). SKIP LOCKED lets two
    dispatchers (or a dispatcher and the sync) work side by side without waiting or sharing."""
    with transaction.atomic():
        ids = list(
            Reminder.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=ReminderStatus.PENDING, due_at__lte=now)
                | Q(status__in=[ReminderStatus.QUEUED, ReminderStatus.SENDING], lease_until__lt=now)
            )
            .order_by("due_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Reminder.objects.filter(pk__in=ids).update(
                status=ReminderStatus.QUEUED, lease_until=now + QUEUE_LEASE, updated_at=now
            )
    return ids


def reminders_release(*, ids: Iterable[int], now: dt.datetime) -> int:
    """Put claimed rows back when their task could not be enqueued: the next run retries."""
    return Reminder.objects.filter(pk__in=list(ids), status=ReminderStatus.QUEUED).update(
        status=ReminderStatus.PENDING, lease_until=None, updated_at=now
    )


def reminders_dispatch(
    *, now: dt.datetime, enqueue: Callable[[Sequence[int]], int], max_batches: int = 100
) -> DispatchResult:
    """Expire, then claim and enqueue in batches. `enqueue(ids)` publishes one send task per id
    and returns how many it published; it is called after the claim committed (so a task never
    looks for an uncommitted row). Whatever it did not publish goes back to pending."""
    result = DispatchResult(expired=reminders_expire(now=now))
    for _ in range(max_batches):
        ids = reminders_claim_due(now=now)
        if not ids:
            break
        result.claimed += len(ids)
        published = 0
        try:
            published = enqueue(ids)
        finally:
            result.enqueued += published
            if published < len(ids):
                result.released += reminders_release(ids=ids[published:], now=now)
        if published < len(ids) or len(ids) < DISPATCH_BATCH:
            break
    return result


# --- Sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    status: str
    detail: str = ""


def render_text(template: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of a reminder template in `language`: the first line is the subject."""
    with translation.override(language):
        text = render_to_string(f"schedules/reminders/{template}.{language}.txt", context).strip()
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip()


def _language(participant: Participant) -> str:
    return participant.preferred_language if participant.preferred_language in LANGUAGES else "zh-hans"


def _render(reminder: Reminder) -> OutgoingMessage:
    participant = reminder.participant
    event = reminder.event
    # Annotated by reminder_send (one query for the row, its rule, event, participant and booking).
    booking_time = getattr(reminder, "booking_time", None)
    language = _language(participant)
    with translation.override(language):
        label = event.label
    site = participant.site
    subject, body = render_text(
        reminder.rule.template,
        language,
        {
            "participant": participant,
            "site_name": site.name_zh if language == "zh-hans" and site.name_zh else site.name,
            "event_label": label,
            "event_date": reminder.event_date,
            "day15": reminder.event_date + dt.timedelta(days=14),
            "time": booking_time,
        },
    )
    to = participant.phone if reminder.channel == reminders.SMS else participant.email
    return OutgoingMessage(to=to.strip(), subject=subject, body=body, idempotency_key=reminder.idempotency_key)


def reminder_preview(*, rule: ReminderRule, language: str) -> tuple[str, str]:
    """The admin's preview of a rule's template with sample data (no participant's data)."""
    day = dt.date(2026, 3, 17)
    with translation.override(language):
        label = str(EventKind(rule.event_kind).label) if rule.event_kind in EventKind.values else rule.event_kind
    return render_text(
        rule.template,
        language,
        {
            "site_name": "示例医院" if language == "zh-hans" else "Sample Hospital",
            "event_label": label,
            "event_date": day,
            "day15": day + dt.timedelta(days=14),
            "time": dt.time(8, 30),
        },
    )


def _still_wanted(reminder: Reminder) -> str:
    """Why a claimed row must not be sent after all ('' when it must)."""
    participant = reminder.participant
    if participant.is_off_study:
        return gettext_noop("participant withdrawn")
    if reminder.event.status == "cancelled":
        return gettext_noop("visit cancelled")
    if (reminder.event.actual_date or reminder.event.planned_date) != reminder.event_date:
        return gettext_noop("visit moved")
    if reminder.channel == reminders.SMS and not (participant.reminders_by_sms and participant.phone.strip()):
        return gettext_noop("participant opted out of SMS")
    if reminder.channel == reminders.EMAIL and not (participant.reminders_by_email and participant.email.strip()):
        return gettext_noop("participant opted out of email")
    return ""


def reminder_send(
    *, reminder_id: int, now: Callable[[], dt.datetime], get_transport: Callable[[str], Transport]
) -> SendOutcome:
    """Claim one queued row (queued → sending), re-check it, send it, record the outcome.

    `now` is a clock (read at the claim and again after the transport answered, which may take
    seconds). A second copy of the task finds the row no longer queued and does nothing."""
    start = now()
    claimed = Reminder.objects.filter(pk=reminder_id, status=ReminderStatus.QUEUED).update(
        status=ReminderStatus.SENDING, lease_until=start + SEND_LEASE, attempts=F("attempts") + 1, updated_at=start
    )
    if not claimed:
        return SendOutcome("skipped", "not queued (already sent, cancelled or claimed by another task)")
    reminder = (
        Reminder.objects.select_related("participant__site", "event", "rule")
        .annotate(
            booking_time=Subquery(
                Booking.objects.filter(event=OuterRef("event"), status=BookingStatus.ACTIVE).values("time")[:1]
            )
        )
        .get(pk=reminder_id)
    )
    if reminders.is_expired(expires_at=reminder.expires_at, now=start):
        _finish(reminder_id, status=ReminderStatus.EXPIRED, now=start)
        return SendOutcome(ReminderStatus.EXPIRED)
    reason = _still_wanted(reminder)
    if reason:
        _finish(reminder_id, status=ReminderStatus.CANCELLED, now=start, cancel_reason=reason)
        return SendOutcome(ReminderStatus.CANCELLED, reason)
    try:
        message = _render(reminder)
        provider_id = get_transport(reminder.channel).send(message)
    except TemporaryTransportError as exc:
        done = now()
        if reminder.attempts >= reminder.max_attempts:
            _finish(
                reminder_id,
                status=ReminderStatus.FAILED,
                now=done,
                error=f"gave up after {reminder.attempts} attempts: {exc}",
            )
            return SendOutcome(ReminderStatus.FAILED, str(exc))
        due = done + reminders.backoff(reminder.attempts)
        Reminder.objects.filter(pk=reminder_id, status=ReminderStatus.SENDING).update(
            status=ReminderStatus.PENDING, due_at=due, lease_until=None, last_error=str(exc)[:2000], updated_at=done
        )
        return SendOutcome("retry", str(exc))
    except PermanentTransportError as exc:
        _finish(reminder_id, status=ReminderStatus.FAILED, now=now(), error=str(exc))
        return SendOutcome(ReminderStatus.FAILED, str(exc))
    done = now()
    Reminder.objects.filter(pk=reminder_id, status=ReminderStatus.SENDING).update(
        status=ReminderStatus.SENT,
        sent_at=done,
        provider_message_id=provider_id[:200],
        lease_until=None,
        updated_at=done,
    )
    return SendOutcome(ReminderStatus.SENT, provider_id)


def _finish(reminder_id: int, *, status: str, now: dt.datetime, error: str = "", cancel_reason: str = "") -> None:
    Reminder.objects.filter(pk=reminder_id, status=ReminderStatus.SENDING).update(
        status=status, lease_until=None, last_error=error[:2000], cancel_reason=cancel_reason[:200], updated_at=now
    )


@transaction.atomic
def reminder_resend(
    *, reminders_: Iterable[Reminder], now: dt.datetime, grace: dt.timedelta = dt.timedelta(hours=6)
) -> int:
    """Admin "resend": failed (or expired) rows go back to pending, due now, with a fresh attempt
    budget and a new grace from now. The next dispatcher run sends them."""
    ids = [r.pk for r in reminders_]
    return Reminder.objects.filter(pk__in=ids, status__in=[ReminderStatus.FAILED, ReminderStatus.EXPIRED]).update(
        status=ReminderStatus.PENDING,
        due_at=now,
        expires_at=now + grace,
        attempts=0,
        lease_until=None,
        last_error="",
        updated_at=now,
    )
