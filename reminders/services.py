"""Writes of the reminders: default rules, keeping a participant's reminder rows in step with
their events (reminders_sync), the dispatcher's claim, the send of a batch (reminders_send),
resend and cancel.

Delivery guarantees, honestly:
- The database decides: a row is claimed by conditional updates (pending → queued by the
  dispatcher with SKIP LOCKED, queued → sending by the send task), so a duplicated task message
  or two dispatchers never send one row twice.
- A send task carries a batch of ids (REMINDER_SEND_BATCH) and claims them in one statement, but
  everything after the claim is per row: re-check, transport call, outcome. Its email rows share
  one SMTP session.
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
- A batch keeps the guarantees of one task per row: each row is `sending` (committed) before its
  transport call and `sent` is committed right after it answers, row by row, so a worker killed
  mid-batch leaves at most the one row whose call was in flight in doubt (re-sent after its lease,
  with the same idempotency key); the rows it had not reached yet were never handed to a
  transport and are sent once when their lease runs out.
- The staff digests (reminders/digests.py) follow the same rules with one row per digest.

This is the one place these guarantees are written; the README, the tasks and the tests point here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction
from django.db.models import F, OuterRef, Q
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import get_template
from django.utils import translation
from django.utils.translation import gettext_noop

from reminders import planning
from reminders.models import RULE_NAME_TEMPLATES, STOP_RULE_NAME, Reminder, ReminderRule, ReminderStatus
from schedules import selectors
from schedules.models import EventKind, PlanStatus, ScheduledEvent  # value types; rows are read through selectors
from trialsite import courses, phrases, roles
from trialsite.i18n import TIMES_OF_DAY, drug_name
from trialsite.models import Participant, Trial
from trialsite.transports import OutgoingMessage, PermanentTransportError, TemporaryTransportError, Transport

log = logging.getLogger(__name__)

# A queued row whose task message never ran (broker lost it, queue purged) is re-queued after
# this; a sending row whose worker died is re-sent after SEND_LEASE, which must exceed
# CELERY_TASK_TIME_LIMIT (120 s) so that a slow but alive send is never doubled.
LANGUAGES = ("zh-hans", "en")
QUEUE_LEASE = dt.timedelta(minutes=10)
SEND_LEASE = dt.timedelta(minutes=3)
DISPATCH_BATCH = 1000

# The trial's defaults (PRODUCT.md §5 and the issue): 3 days and 1 day before each visit a
# participant attends, 09:00 site time; and for each oral drug whose course the protocol gives
# (first and last administration), a stop reminder on the day of its last administration.
VISIT_KINDS: Sequence[tuple[str, int | None, str]] = (
    (EventKind.SCRT_FRACTION, 1, gettext_noop("SCRT start")),
    (EventKind.PRE_CYCLE_LABS, None, gettext_noop("lab draw")),
    (EventKind.CYCLE_DAY1, None, gettext_noop("cycle day 1")),
    (EventKind.SURGERY, None, gettext_noop("surgery admission")),
    (EventKind.FOLLOW_UP, None, gettext_noop("follow-up visit")),
)


@transaction.atomic(savepoint=False)  # inside a sync: a failure rolls the caller back anyway
def reminder_rules_for_trial(*, trial: Trial) -> list[ReminderRule]:
    """The trial's active rules; a trial without any rule gets the defaults (seed on first use,
    so a trial loaded after the migrations has them too). To switch one off, untick `active`."""
    rules = list(ReminderRule.objects.filter(trial=trial).order_by("id"))  # every sync: one query
    if rules:
        return [r for r in rules if r.active]
    # Lock the trial only on first use (not on every sync: that would serialize all bookings
    # of the trial), then look again: two first uses at once seed once.
    Trial.objects.select_for_update().get(pk=trial.pk)
    if not ReminderRule.objects.filter(trial=trial).exists():
        rules = [
            ReminderRule(
                trial=trial,
                **_named(
                    phrases.phrase(
                        RULE_NAME_TEMPLATES[0 if abs(days) > 1 else 1], visit=phrases.phrase(label), n=abs(days)
                    )
                ),
                event_kind=kind,
                event_number=number,
                days_from_event=days,
                time_of_day=dt.time(9, 0),
            )
            for kind, number, label in VISIT_KINDS
            for days in (-3, -1)
        ]
        # One last-dose reminder per oral drug whose course the protocol gives (a last
        # administration the morning of day 15 → day 1 + 14, 08:00; 18:00 for an evening one).
        for code, drug in (trial.definition.get("drugs") or {}).items():
            course = courses.administration_course(drug)
            if course is None:
                continue
            rules.append(
                ReminderRule(
                    trial=trial,
                    **_named(
                        phrases.phrase(
                            STOP_RULE_NAME,
                            drug=phrases.code("drug", code),
                            time=phrases.code("time", course["last_time"]),
                            day=course["last_day"],
                        )
                    ),
                    event_kind=EventKind.CYCLE_DAY1,
                    oral_drug=code,
                    days_from_event=course["last_day"] - 1,
                    time_of_day=dt.time(8, 0) if course["last_time"] == "morning" else dt.time(18, 0),
                    template="oral_course_end",
                )
            )
        for rule in rules:
            rule.full_clean()
        ReminderRule.objects.bulk_create(rules)
    return list(ReminderRule.objects.filter(trial=trial, active=True).order_by("id"))


def _named(name: phrases.Phrase) -> dict[str, Any]:
    """A seeded rule's name: its English in `name` (the admin's form and search), the phrase in
    `name_phrase` (the reader's language)."""
    return {"name": phrases.english(name), "name_phrase": name}


def _recipient(participant: Participant, plan_active: bool) -> planning.Recipient:
    return planning.Recipient(
        active=plan_active and not participant.is_off_study,
        sms=participant.reminders_by_sms and bool(participant.phone.strip()),
        email=participant.reminders_by_email and bool(participant.email.strip()),
    )


@dataclass(frozen=True)
class SyncResult:
    created: int
    cancelled: int
    retimed: int


@transaction.atomic(savepoint=False)  # inside a schedules service: no SAVEPOINT round trips
def reminders_sync(*, participant: Participant, now: dt.datetime, events: Sequence[int] | None = None) -> SyncResult:
    """Make the participant's reminder rows match their events, rules and preferences: cancel
    pending rows nobody wants any more (a moved or cancelled visit), create the missing ones.
    Runs inside the schedules service's transaction (plan_changed), so the rows commit or roll
    back with the change that caused them; it never talks to the broker.

    `events` limits the sync to those event ids (a booking and the events its re-plan moved):
    a row belongs to one event, so the other events' rows are left as they are, unread and
    unlocked. None (a new plan, a delay, changed preferences) syncs every event."""
    participant = Participant.objects.select_related("site", "trial").get(pk=participant.pk)
    plan_status = selectors.plan_status(participant.pk)
    reminder_rows = Reminder.objects.filter(participant=participant)
    if events is not None:
        reminder_rows = reminder_rows.filter(event_id__in=list(events))
    recipient = _recipient(participant, plan_status == PlanStatus.ACTIVE)
    if not (recipient.sms or recipient.email) and not reminder_rows.exclude(status=ReminderStatus.CANCELLED).exists():
        # Nobody to remind and nothing to cancel (no phone or email, or reminders switched off):
        # no rules or events to read (issue 16: most of a bulk plan creation's statements).
        return SyncResult(0, 0, 0)
    rules = reminder_rules_for_trial(trial=participant.trial) if plan_status is not None else []
    events_now = [
        planning.Event(e.pk, e.kind, e.number, e.actual_date or e.planned_date, e.status, e.details)
        for e in selectors.reminder_events(participant.pk, events)
    ]
    desired = planning.desired_reminders(
        events=events_now,
        rules=[r.as_pure() for r in rules],
        recipient=recipient,
        time_zone=participant.site.time_zone,
        now=now,
    )
    rows = list(
        reminder_rows.select_for_update()
        .exclude(status=ReminderStatus.CANCELLED)
        .values_list("pk", "event_id", "rule_id", "channel", "event_date", "status", "send_at")
    )
    changes = planning.plan_changes(desired=desired, existing=[planning.Existing(*row) for row in rows])
    cancelled = 0
    if changes.cancel:
        # Only rows not yet handed to a transport; a `sending` row is in flight and stays.
        cancelled = Reminder.objects.filter(pk__in=changes.cancel, status__in=planning.CHANGEABLE).update(
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
def reminders_cancel_for_participant(
    *, participant: Participant, reason: str, by: User | None, now: dt.datetime
) -> int:
    """Withdrawal: nothing more is sent (pending and queued rows; a send in flight completes)."""
    roles.require(by, "reminders.change_reminder", site=participant.site_id)  # another site: 404
    return Reminder.objects.filter(participant=participant, status__in=planning.CHANGEABLE).update(
        status=ReminderStatus.CANCELLED, cancel_reason=reason[:200], updated_at=now
    )


@transaction.atomic
def reminder_rule_save(*, rule: ReminderRule, by: User | None, now: dt.datetime) -> ReminderRule:
    """Save a rule edited in the admin; the trial's participants' reminders are re-computed by a
    background job after commit (reminders.jobs: work proportional to the trial is never done in
    a request), whose progress the admin shows; `rule.job` is that job. A rule is a trial-wide
    setting: only a trial-wide role holds add/change_reminderrule (the role table)."""
    from reminders import jobs as reminder_jobs

    roles.require(by, "reminders.change_reminderrule" if rule.pk else "reminders.add_reminderrule")
    if rule.name_phrase and rule.name != phrases.english(rule.name_phrase):
        rule.name_phrase = None  # renamed by a person: shown as typed from now on
    rule.full_clean()
    with transaction.atomic():
        rule.save()
        rule.job = reminder_jobs.reminders_resync_start(trial_id=rule.trial_id, now=now)
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
    """Expire, then claim and enqueue in batches. `enqueue(ids)` publishes send tasks for the
    ids in order and returns how many ids (a prefix of `ids`) it published; it is called after
    the claim committed (so a task never looks for an uncommitted row). Whatever it did not
    publish goes back to pending."""
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

# A batch stops starting transport calls once it has run for SEND_BUDGET and puts its untried
# rows back to pending (the next dispatcher tick takes them): a slow provider must not keep a
# batch running into the task's soft time limit (90 s). The rows' data (participant, event,
# preferences) is read again when the batch's copy is older than RECHECK_AFTER, so the re-check
# before a send is never more than a few seconds old.
SEND_BUDGET = dt.timedelta(seconds=60)
RECHECK_AFTER = dt.timedelta(seconds=5)


@dataclass(frozen=True)
class SendOutcome:
    status: str
    detail: str = ""


def render_text(template: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of a reminder template in `language`: the first line is the subject."""
    with translation.override(language):
        text = _template(f"reminders/{template}.{language}.txt").render(context).strip()
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip()


@functools.cache
def _template(name: str) -> Any:
    """Compiled once per process: a batch renders the same two or three templates many times,
    and even the cached loader's lookup (engine, loaders, origin) costs more than the rendering."""
    return get_template(name)


def _language(participant: Participant) -> str:
    return participant.preferred_language if participant.preferred_language in LANGUAGES else "zh-hans"


def _render(reminder: Reminder) -> OutgoingMessage:
    participant = reminder.participant
    event = reminder.event
    # Annotated by _load_for_send (one query for the rows, their rules, events, participants,
    # sites and bookings).
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
            "site_name": site.name_in(language),
            "event_label": label,
            "event_date": reminder.event_date,
            "time": booking_time,
            **_last_dose(
                _event_courses(event, participant) if reminder.rule.oral_drug else {},
                reminder.rule.oral_drug,
                reminder.event_date,
                language,
            ),
        },
    )
    to = participant.phone if reminder.channel == planning.SMS else participant.email
    return OutgoingMessage(to=to.strip(), subject=subject, body=body, idempotency_key=reminder.idempotency_key)


def reminder_preview(*, rule: ReminderRule, language: str) -> tuple[str, str]:
    """The admin's preview of a rule's template with sample data (no participant's data)."""
    day = dt.date(2026, 3, 17)
    with translation.override(language):
        label = selectors.event_kind_name(rule.event_kind)
    return render_text(
        rule.template,
        language,
        {
            "site_name": "示例医院" if language == "zh-hans" else "Sample Hospital",
            "event_label": label,
            "event_date": day,
            "time": dt.time(8, 30),
            **_last_dose(
                {
                    code: course
                    for code, drug in (rule.trial.definition.get("drugs") or {}).items()
                    if (course := courses.administration_course(drug)) is not None
                },
                rule.oral_drug,
                day,
                language,
            ),
        },
    )


def _event_courses(event: ScheduledEvent, participant: Participant) -> Mapping[str, Mapping[str, Any]]:
    """The oral drugs' courses of a cycle: in the plan's event (no query), or, for a plan made
    before the plan recorded them, from the participant's protocol version."""
    stored = {o["drug"]: o["course"] for o in event.details.get("oral", []) if o.get("course")}
    return stored or selectors.schedule_rules(participant.protocol_version_id).drug_courses


def _last_dose(
    drug_courses: Mapping[str, Mapping[str, Any]], drug: str, day1: dt.date, language: str
) -> dict[str, Any]:
    """What a last-dose reminder says, from the protocol's course of the drug (the same data the
    dose sheet and the timeline read): the drug, the day, its date and the time of day."""
    course = drug_courses.get(drug)
    if not drug or course is None:
        return {}
    last_date = day1 + dt.timedelta(days=int(course["last_day"]) - 1)
    with translation.override(language):
        return {
            "drug": drug_name(drug),
            "last_day": course["last_day"],
            "last_time": str(TIMES_OF_DAY.get(course["last_time"], course["last_time"])),
            "last_date": last_date,
            "administrations": course["administrations"],
            "day15": last_date,  # the name older edited templates use
        }


def _still_wanted(reminder: Reminder) -> str:
    """Why a claimed row must not be sent after all ('' when it must)."""
    participant = reminder.participant
    if participant.is_off_study:
        return gettext_noop("participant withdrawn")
    if reminder.event.status == "cancelled":
        return gettext_noop("visit cancelled")
    if (reminder.event.actual_date or reminder.event.planned_date) != reminder.event_date:
        return gettext_noop("visit moved")
    if reminder.channel == planning.SMS and not (participant.reminders_by_sms and participant.phone.strip()):
        return gettext_noop("participant opted out of SMS")
    if reminder.channel == planning.EMAIL and not (participant.reminders_by_email and participant.email.strip()):
        return gettext_noop("participant opted out of email")
    return ""


def reminders_claim_for_send(*, ids: Sequence[int], now: dt.datetime) -> list[int]:
    """queued → sending for those of `ids` that are still queued, in one conditional
    `UPDATE … RETURNING`; returns the ids claimed. The send task runs in autocommit, so the claim
    is committed before any transport is called. A duplicated task message, or a row cancelled
    or re-claimed meanwhile, is not queued any more and is left out. Every row of the batch gets
    the same lease: SEND_LEASE exceeds the task's hard time limit, so the dispatcher never takes
    back a row of a batch that is still running."""
    if not ids:
        return []
    table = connection.ops.quote_name(Reminder._meta.db_table)
    placeholders = ", ".join(["%s"] * len(ids))
    # Only the table name (from the model) and a run of placeholders are formatted in; every
    # value is a parameter. (Django's update() cannot return the rows it changed.)
    sql = (
        f"UPDATE {table} SET status = %s, lease_until = %s, attempts = attempts + 1, updated_at = %s "  # noqa: S608
        f"WHERE id IN ({placeholders}) AND status = %s RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ReminderStatus.SENDING, now + SEND_LEASE, now, *ids, ReminderStatus.QUEUED])
        return [row[0] for row in cursor.fetchall()]


def _load_for_send(ids: Iterable[int]) -> dict[int, Reminder]:
    """The rows with their rule, event, participant, site and the event's active booking time,
    in one query."""
    rows = (
        Reminder.objects.select_related("participant__site", "event", "rule")
        .annotate(booking_time=selectors.active_booking_time(OuterRef("event")))
        .filter(pk__in=list(ids))
    )
    return {r.pk: r for r in rows}


class _Transports:
    """One transport per channel for the whole batch, opened at its first use: inside the batch
    the email transport keeps one SMTP session for all its messages."""

    def __init__(self, stack: contextlib.ExitStack[Any], get_transport: Callable[[str], Transport]) -> None:
        self.stack = stack
        self.get_transport = get_transport
        self.by_channel: dict[str, Transport] = {}

    def __call__(self, channel: str) -> Transport:
        if channel not in self.by_channel:
            transport = self.get_transport(channel)
            if isinstance(transport, contextlib.AbstractContextManager):
                transport = self.stack.enter_context(transport)
            self.by_channel[channel] = transport
        return self.by_channel[channel]


def reminders_send(
    *, reminder_ids: Sequence[int], now: Callable[[], dt.datetime], get_transport: Callable[[str], Transport]
) -> dict[int, SendOutcome]:
    """Send a batch of queued reminders; returns each id's outcome.

    1. Claim them all (queued → sending, one statement, committed). Ids no longer queued are
       "skipped": a duplicated task message or a second task with the same ids sends nothing.
    2. Read them with everything a message needs (one joined query).
    3. For each row in turn: re-check it (expired, withdrawn, visit cancelled or moved, opted
       out), render it, send it through its channel's transport (all email rows over one SMTP
       session), and record its own outcome at once: sent with the provider's id; a temporary
       error puts it back to pending after a backoff (failed at the attempt limit); a permanent
       one fails it. One row's failure does not touch the others.

    Why the batch keeps the delivery guarantees: the module docstring.

    `now` is a clock, read at the claim and again for each row."""
    start = now()
    wanted = list(dict.fromkeys(reminder_ids))
    claimed = set(reminders_claim_for_send(ids=wanted, now=start))
    outcomes = {
        pk: SendOutcome("skipped", "not queued (already sent, cancelled or claimed by another task)")
        for pk in wanted
        if pk not in claimed
    }
    untried = [pk for pk in wanted if pk in claimed]
    if not untried:
        return outcomes
    rows = _load_for_send(untried)
    loaded_at = start
    with contextlib.ExitStack() as stack:
        transport_for = _Transports(stack, get_transport)
        try:
            while untried:
                at = now()
                if at - start >= SEND_BUDGET:
                    break
                if at - loaded_at >= RECHECK_AFTER:
                    rows = _load_for_send(untried)
                    loaded_at = at
                pk = untried.pop(0)
                # From here the row is tried: its outcome is written below, or (the process dies,
                # the transport raised something unexpected) it stays `sending` until its lease.
                reminder = rows.get(pk)
                if reminder is None:  # deleted since the claim (only a scratch database does that)
                    outcomes[pk] = SendOutcome("skipped", "row vanished")
                    continue
                outcomes[pk] = _send_one(reminder, at=at, now=now, transport_for=transport_for)
        finally:
            if untried:
                # Out of time, or an unexpected error on an earlier row: the rows not reached yet
                # were never handed to a transport; put them back (their attempt did not happen).
                _release(untried, now=now())
                outcomes.update((pk, SendOutcome(ReminderStatus.PENDING, "released, not tried")) for pk in untried)
    return outcomes


def _send_one(
    reminder: Reminder, *, at: dt.datetime, now: Callable[[], dt.datetime], transport_for: Callable[[str], Transport]
) -> SendOutcome:
    pk = reminder.pk
    if planning.is_expired(expires_at=reminder.expires_at, now=at):
        _finish(pk, status=ReminderStatus.EXPIRED, now=at)
        return SendOutcome(ReminderStatus.EXPIRED)
    reason = _still_wanted(reminder)
    if reason:
        _finish(pk, status=ReminderStatus.CANCELLED, now=at, cancel_reason=reason)
        return SendOutcome(ReminderStatus.CANCELLED, reason)
    try:
        message = _render(reminder)
    except (TemplateDoesNotExist, TemplateSyntaxError, LookupError, ValueError, TypeError, AttributeError) as exc:
        # A broken template or rule: nothing left, and retrying cannot help; the admin shows it
        # (and resends it once fixed). Caught here so that the rest of the batch still goes.
        # (Not every Exception: Celery's soft time limit is one, and must not fail the row.)
        log.exception("reminder %s could not be rendered", pk)
        _finish(pk, status=ReminderStatus.FAILED, now=at, error=f"could not render the message: {exc!r}")
        return SendOutcome(ReminderStatus.FAILED, str(exc))
    try:
        provider_id = transport_for(reminder.channel).send(message)
    except TemporaryTransportError as exc:
        done = now()
        if reminder.attempts >= reminder.max_attempts:
            error = f"gave up after {reminder.attempts} attempts: {exc}"
            _finish(pk, status=ReminderStatus.FAILED, now=done, error=error)
            return SendOutcome(ReminderStatus.FAILED, str(exc))
        # The retry is the row itself, due again after the backoff: the dispatcher claims it
        # like any due row, so it cannot be sent twice by a retry and a redelivered message.
        Reminder.objects.filter(pk=pk, status=ReminderStatus.SENDING).update(
            status=ReminderStatus.PENDING,
            due_at=done + planning.backoff(reminder.attempts),
            lease_until=None,
            last_error=str(exc)[:2000],
            updated_at=done,
        )
        return SendOutcome("retry", str(exc))
    except PermanentTransportError as exc:
        _finish(pk, status=ReminderStatus.FAILED, now=now(), error=str(exc))
        return SendOutcome(ReminderStatus.FAILED, str(exc))
    _mark_sent(pk, provider_id=provider_id, now=now())
    return SendOutcome(ReminderStatus.SENT, provider_id)


def _mark_sent(reminder_id: int, *, provider_id: str, now: dt.datetime) -> None:
    # The one statement every sent row pays for, so plain SQL (the ORM's compilation of this
    # update costs more than the database's work); conditional on `sending` like _finish.
    table = connection.ops.quote_name(Reminder._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, sent_at = %s, provider_message_id = %s, lease_until = NULL, "  # noqa: S608
            "updated_at = %s WHERE id = %s AND status = %s",
            [ReminderStatus.SENT, now, provider_id[:200], now, reminder_id, ReminderStatus.SENDING],
        )


def _release(ids: Sequence[int], *, now: dt.datetime) -> int:
    try:
        return Reminder.objects.filter(pk__in=list(ids), status=ReminderStatus.SENDING).update(
            status=ReminderStatus.PENDING, attempts=F("attempts") - 1, lease_until=None, updated_at=now
        )
    except DatabaseError:
        # The database is gone too: the rows stay `sending` and come back after their lease.
        log.warning("could not release %s untried reminders; their lease will", len(ids))
        return 0


def _finish(reminder_id: int, *, status: str, now: dt.datetime, error: str = "", cancel_reason: str = "") -> None:
    Reminder.objects.filter(pk=reminder_id, status=ReminderStatus.SENDING).update(
        status=status, lease_until=None, last_error=error[:2000], cancel_reason=cancel_reason[:200], updated_at=now
    )


@transaction.atomic
def reminder_resend(
    *,
    reminders_: Iterable[Reminder],
    by: User | None,
    now: dt.datetime,
    grace: dt.timedelta = dt.timedelta(hours=6),
) -> int:
    """Admin "resend": failed (or expired) rows go back to pending, due now, with a fresh attempt
    budget and a new grace from now. The next dispatcher run sends them. Each row must be of one
    of `by`'s sites."""
    rows = list(reminders_)
    for site_id in sorted({r.site_id for r in rows}):
        roles.require(by, "reminders.change_reminder", site=site_id)  # another site: 404
    ids = [r.pk for r in rows]
    return Reminder.objects.filter(pk__in=ids, status__in=[ReminderStatus.FAILED, ReminderStatus.EXPIRED]).update(
        status=ReminderStatus.PENDING,
        due_at=now,
        expires_at=now + grace,
        attempts=0,
        lease_until=None,
        last_error="",
        updated_at=now,
    )
