"""Reminder rules (per trial, edited in the admin), the reminder rows the dispatcher sends, and
the log of staff digests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from simple_history.models import HistoricalRecords

from reminders import planning as maths
from trialsite import phrases
from trialsite.models import Participant, Site, Trial

# Templates under reminders/templates/reminders/<name>.<language>.txt (first line: the
# email subject; the rest: the body, also the SMS text).
TEMPLATE_CHOICES = [("visit", _("visit reminder")), ("oral_course_end", _("end of an oral drug's course"))]


# The message ids of the default rules' names (reminders.services.reminder_rules_for_trial stores
# them as phrases, trialsite/phrases.py, in ReminderRule.name_phrase).
RULE_NAME_TEMPLATES = (
    gettext_noop("%(visit)s, %(n)s days before"),
    gettext_noop("%(visit)s, 1 day before"),
)
# An oral drug's last-dose reminder, from the protocol's last administration of the drug.
STOP_RULE_NAME = gettext_noop("stop %(drug)s after the %(time)s dose of day %(day)s")


class ReminderChannel(models.TextChoices):
    PREFERRED = maths.PREFERRED, _("participant's preferred channels")
    SMS = maths.SMS, _("SMS")
    EMAIL = maths.EMAIL, _("email")


def default_time_of_day() -> dt.time:
    """09:00 site time (a callable default: Django warns about fixed time defaults)."""
    return dt.time(9, 0)


class ReminderRule(models.Model):
    """When a participant is reminded of an event: the event's date + `days_from_event` (negative:
    before) at `time_of_day` in the site's time zone. Seeded with the trial's defaults on first
    use (reminder_services.reminder_rules_for_trial); switch a rule off with `active`."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="reminder_rules", verbose_name=_("trial"))
    # `name` is what the admin shows in its form and searches: a person's typed name, or the
    # English of `name_phrase` for a rule the system seeded. `name_phrase` (a stored phrase,
    # trialsite/phrases.py) is how a seeded name is said in the reader's language; it is dropped
    # when someone changes `name` (reminders.services.reminder_rule_save), so a typed name is
    # always shown as typed and nothing is parsed back from the English.
    name = models.CharField(_("name"), max_length=100)
    name_phrase = models.JSONField(_("name as a phrase"), null=True, blank=True, editable=False)
    event_kind = models.CharField(_("event kind"), max_length=16)  # schedules.models.EventKind
    event_number = models.PositiveSmallIntegerField(
        _("only event number"), null=True, blank=True, help_text=_("e.g. 1 with SCRT fraction = the SCRT start")
    )
    oral_drug = models.CharField(
        _("only cycles with oral drug"),
        max_length=32,
        blank=True,
        help_text=_("the code of a drug taken by mouth in the protocol"),
    )
    days_from_event = models.SmallIntegerField(_("days from the event"), help_text=_("-3 = three days before"))
    time_of_day = models.TimeField(_("time of day (site time)"), default=default_time_of_day)
    channel = models.CharField(
        _("channel"), max_length=16, choices=ReminderChannel.choices, default=ReminderChannel.PREFERRED
    )
    template = models.CharField(_("template"), max_length=32, choices=TEMPLATE_CHOICES, default="visit")
    grace_minutes = models.PositiveIntegerField(
        _("grace (minutes)"), default=360, help_text=_("Not sent at all when this late.")
    )
    max_attempts = models.PositiveSmallIntegerField(_("maximum attempts"), default=5)
    active = models.BooleanField(_("active"), default=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("reminder rule")
        verbose_name_plural = _("reminder rules")
        ordering = ["trial", "event_kind", "days_from_event", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="reminder_rule_attempts_positive"),
            models.CheckConstraint(
                condition=Q(channel__in=[c.value for c in ReminderChannel]), name="reminder_rule_channel_valid"
            ),
        ]

    # The background job re-computing reminders after the last save (set by reminder_rule_save).
    job: Any = None

    def __str__(self) -> str:
        return f"{self.trial} {self.display_name}"

    @property
    def display_name(self) -> str:
        return phrases.render(self.name_phrase) if self.name_phrase else self.name

    def as_pure(self) -> maths.Rule:
        return maths.Rule(
            id=self.pk,
            event_kind=self.event_kind,
            days_from_event=self.days_from_event,
            time_of_day=self.time_of_day,
            channel=self.channel,
            event_number=self.event_number,
            oral_drug=self.oral_drug,
            grace=dt.timedelta(minutes=self.grace_minutes),
        )


class ReminderStatus(models.TextChoices):
    PENDING = "pending", _("pending")  # waiting for due_at
    QUEUED = "queued", _("queued")  # claimed by the dispatcher, a send task is on its way
    SENDING = "sending", _("sending")  # claimed by a send task, the transport is being called
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    EXPIRED = "expired", _("expired")
    CANCELLED = "cancelled", _("cancelled")


class Reminder(models.Model):
    """One message to one participant through one channel for one event on one date.

    Life: pending → queued (dispatcher) → sending (send task) → sent | pending again (temporary
    error, due after a backoff) | failed; pending/queued → cancelled (the visit moved or was
    cancelled, withdrawal, opt-out) or expired (too late). `lease_until` bounds how long a row may
    stay queued or sending: a lost task message or a worker killed mid-send leaves the row there,
    and the dispatcher takes it back once the lease has run out."""

    rule = models.ForeignKey(
        ReminderRule, on_delete=models.PROTECT, verbose_name=_("reminder rule"), related_name="reminders"
    )
    event = models.ForeignKey(
        "schedules.ScheduledEvent", on_delete=models.PROTECT, verbose_name=_("event"), related_name="reminders"
    )
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, verbose_name=_("participant"), related_name="reminders"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, verbose_name=_("site"), related_name="+")
    channel = models.CharField(_("channel"), max_length=8)
    event_date = models.DateField(_("event date"))
    send_at = models.DateTimeField(_("send at"))
    due_at = models.DateTimeField(_("due at"))  # send_at, or the next retry
    expires_at = models.DateTimeField(_("expires at"))  # send_at + the rule's grace
    status = models.CharField(
        _("status"), max_length=16, choices=ReminderStatus.choices, default=ReminderStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("maximum attempts"), default=5)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=200, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # Why the system cancelled the row: a message id (every one is written by the system, none
    # has parameters), said in the reader's language by `cancel_reason_text`.
    cancel_reason = models.CharField(_("cancel reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["send_at", "id"]
        constraints = [
            # One reminder per (event, rule, channel) for the same visit date. The date is part of
            # the key so that a moved visit gets a new row (its old pending rows are cancelled);
            # cancelled rows are left out so that a visit moved away and back again can have a
            # live row for its first date again. A row that was sent, failed or expired for that
            # date still counts: the participant is never reminded twice of the same visit.
            models.UniqueConstraint(
                fields=["event", "rule", "channel", "event_date"],
                condition=~Q(status="cancelled"),
                name="reminder_one_per_event_rule_channel_date",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in ReminderStatus]), name="reminder_status_valid"
            ),
            models.CheckConstraint(condition=Q(channel__in=list(maths.CHANNELS)), name="reminder_channel_valid"),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="reminder_sent_has_sent_at"
            ),
        ]
        indexes = [
            # The dispatcher's two scans, each over a small partial index.
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="reminder_pending_due"),
            models.Index(fields=["lease_until"], condition=Q(status__in=["queued", "sending"]), name="reminder_leased"),
            models.Index(fields=["participant", "status"], name="reminder_participant_status"),
        ]

    def __str__(self) -> str:
        channel = ReminderChannel(self.channel).label if self.channel in ReminderChannel.values else self.channel
        return f"{self.participant} {channel} {self.send_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def cancel_reason_text(self) -> str:
        return phrases.render(phrases.phrase(self.cancel_reason)) if self.cancel_reason else ""

    @property
    def idempotency_key(self) -> str:
        """Stable across retries and re-sends of this row: the SMTP Message-ID and the SMS
        gateway's idempotency key, so a provider (or a mail client) can drop a duplicate."""
        return f"{self.pk}-{self.event_date:%Y%m%d}"


class DigestKind(models.TextChoices):
    NURSE = "nurse", _("research nurse digest")
    PHARMACIST = "pharmacist", _("pharmacist digest")


class StaffDigest(models.Model):
    """One morning digest to one staff member for one site and local day. The row is created
    before the email leaves (unique per kind/site/user/day), so a second beat tick or a redelivered
    task does not send it twice; a row left `sending` by a dead worker is taken back after its
    lease."""

    kind = models.CharField(_("kind"), max_length=16, choices=DigestKind.choices)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, verbose_name=_("site"), related_name="+")
    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, verbose_name=_("staff member"), related_name="+")
    day = models.DateField(_("day"))
    status = models.CharField(_("status"), max_length=16, default="pending")
    # Set when claimed (pending → sending): a worker killed mid-send leaves the row `sending`, and
    # a later tick of the same local day takes it back once this has passed.
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    body = models.TextField(_("text"), blank=True)

    class Meta:
        verbose_name = _("staff digest")
        verbose_name_plural = _("staff digests")
        constraints = [
            models.UniqueConstraint(fields=["kind", "site", "user", "day"], name="staff_digest_once_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.site_id} {self.user_id} {self.day}"


__all__ = ["DigestKind", "Reminder", "ReminderChannel", "ReminderRule", "ReminderStatus", "StaffDigest"]
