"""Treatment plans and their dated events, bookings of those events at a site, the per-site-day
infusion counter that makes capacity hold under concurrency, site closures, and the secret
calendar-feed keys of staff."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext
from simple_history.models import HistoricalRecords

from schedules import calendar
from trialsite import phrases
from trialsite.i18n import arm_name, phase_name
from trialsite.models import Participant, Site


class PlanStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    STOPPED = "stopped", _("stopped")


class TreatmentPlan(models.Model):
    """A participant's calendar, made from their protocol version, arm and SCRT start date."""

    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, verbose_name=_("participant"), related_name="treatment_plan"
    )
    arm = models.CharField(_("arm"), max_length=32)
    scrt_start_date = models.DateField(_("SCRT start date"))
    status = models.CharField(_("status"), max_length=16, choices=PlanStatus.choices, default=PlanStatus.ACTIVE)
    stopped_on = models.DateField(_("stopped on"), null=True, blank=True)
    # Stored phrases (trialsite/phrases.py): a reason a person typed, or the system's message id;
    # shown with `stop_reason_text` in the reader's language.
    stop_reason = models.JSONField(_("stop reason"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        related_name="+",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("treatment plan")
        verbose_name_plural = _("treatment plans")
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["active", "stopped"]), name="treatment_plan_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.participant} ({arm_name(self.arm)})"

    @property
    def stop_reason_text(self) -> str:
        return phrases.render(self.stop_reason)


class EventKind(models.TextChoices):
    SCRT_FRACTION = calendar.FRACTION, _("SCRT fraction")
    PRE_CYCLE_LABS = calendar.LABS, _("pre-cycle labs")
    CYCLE_DAY1 = calendar.CYCLE_DAY1, _("cycle day 1")
    RESTAGING = calendar.RESTAGING, _("restaging")
    SURGERY = calendar.SURGERY, _("surgery")
    FOLLOW_UP = calendar.FOLLOW_UP, _("follow-up visit")


class EventStatus(models.TextChoices):
    PLANNED = "planned", _("planned")
    BOOKED = "booked", _("booked")
    DONE = "done", _("done")
    CANCELLED = "cancelled", _("cancelled")


class ScheduledEvent(models.Model):
    """One dated event of a plan: a target and window from the protocol, the planned date (the
    target moved to a working day, or the booked date), and the actual date once it happened.

    `participant` and `site` are copies of the plan's, so that site calendars and the dosing
    interface read events without joins. `uid` and `ics_sequence` make iCalendar clients update
    the event in place (RFC 5545 §3.8.4.7 and §3.8.7.4) instead of duplicating it."""

    # No single-column indexes on plan, participant and site: the unique key (plan, …) and the
    # composite indexes below start with them, and every index slows the bulk plan creation.
    plan = models.ForeignKey(
        TreatmentPlan, on_delete=models.PROTECT, verbose_name=_("treatment plan"), related_name="events", db_index=False
    )
    participant = models.ForeignKey(
        Participant,
        on_delete=models.PROTECT,
        verbose_name=_("participant"),
        related_name="scheduled_events",
        db_index=False,
    )
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, verbose_name=_("site"), related_name="scheduled_events", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=16, choices=EventKind.choices)
    phase = models.CharField(_("phase"), max_length=32, blank=True)
    number = models.PositiveSmallIntegerField(_("number"))  # fraction, cycle or visit number
    order = models.PositiveSmallIntegerField(_("order"))
    target_date = models.DateField(_("target date"))
    window_start = models.DateField(_("window start"))
    window_end = models.DateField(_("window end"))
    planned_date = models.DateField(_("planned date"))
    # The date the plan first gave this event; delays, bookings and actual dates change
    # planned_date and actual_date, never this (re-making the plan before treatment resets it).
    original_planned_date = models.DateField(_("originally planned date"))
    actual_date = models.DateField(_("actual date"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=EventStatus.choices, default=EventStatus.PLANNED)
    # A delay recentres the target and window on the delayed date (calendar.Fixed(recentre=True)).
    delayed = models.BooleanField(_("delayed"), default=False)
    delay_reason = models.CharField(_("delay reason"), max_length=200, blank=True)
    # An investigator's protocol deviation for a delay the protocol does not allow (an SCRT
    # fraction past the maximum overall time).
    deviation_reason = models.TextField(_("protocol deviation reason"), blank=True)
    deviation_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("deviation recorded by"),
        null=True,
        blank=True,
        related_name="+",
    )
    details = models.JSONField(_("details"), default=dict, blank=True)
    # Random (uuid4), hence unique without an index: none reads an event by its UID.
    uid = models.UUIDField(_("calendar UID"), default=uuid.uuid4, editable=False)
    ics_sequence = models.PositiveIntegerField(_("calendar revision"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    # History rows are read per event (by id) only; the other copied indexes would just slow the
    # bulk inserts (simple-history's no_db_index).
    history = HistoricalRecords(no_db_index=["plan", "participant", "site", "uid"])

    class Meta:
        verbose_name = _("scheduled event")
        verbose_name_plural = _("scheduled events")
        ordering = ["plan", "order"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "kind", "phase", "number"], name="scheduled_event_unique_key"),
            models.CheckConstraint(condition=Q(window_start__lte=models.F("window_end")), name="event_window_ordered"),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in EventStatus]), name="scheduled_event_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="done", actual_date__isnull=False)
                | (~Q(status="done") & Q(actual_date__isnull=True)),
                name="scheduled_event_done_has_actual_date",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "kind", "planned_date"]),
            models.Index(fields=["participant", "order"]),
        ]

    def __str__(self) -> str:
        return f"{self.participant} {self.label}"

    @property
    def key(self) -> calendar.EventKey:
        return calendar.EventKey(self.kind, self.phase, self.number)

    @property
    def date(self) -> calendar.dt.date:
        """The actual date once it happened, else the planned one."""
        return self.actual_date or self.planned_date

    @property
    def label(self) -> str:
        """The event's name in the active language, made when it is read (never stored): the
        reminder task, the calendar feed and the admin each read it in their reader's language.
        English keeps the protocol's phase code ("neoadjuvant C1 cycle day 1")."""
        params = {"phase": phase_name(self.phase), "number": self.number}
        if self.kind == EventKind.CYCLE_DAY1:
            return pgettext("event label", "%(phase)s C%(number)s cycle day 1") % params
        if self.kind == EventKind.PRE_CYCLE_LABS:
            return pgettext("event label", "%(phase)s C%(number)s pre-cycle labs") % params
        if self.kind == EventKind.SCRT_FRACTION:
            return pgettext("event label", "SCRT fraction %(number)s") % params
        if self.kind == EventKind.FOLLOW_UP:
            return pgettext("event label", "follow-up visit %(number)s") % params
        return str(EventKind(self.kind).label)

    @property
    def is_open(self) -> bool:
        return self.status in (EventStatus.PLANNED, EventStatus.BOOKED)


class BookingStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    CANCELLED = "cancelled", _("cancelled")


class Booking(models.Model):
    """A date and time at the participant's site for one event. At most one active booking per
    event (a partial unique index backs the service's check). Cycle day-1 bookings take one of
    the site's infusion chairs that day."""

    event = models.ForeignKey(
        ScheduledEvent, on_delete=models.PROTECT, verbose_name=_("event"), related_name="bookings"
    )
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, verbose_name=_("participant"), related_name="bookings"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, verbose_name=_("site"), related_name="bookings")
    date = models.DateField(_("date"))
    time = models.TimeField(_("time"))
    uses_infusion_chair = models.BooleanField(_("uses an infusion chair"), default=False)
    status = models.CharField(_("status"), max_length=16, choices=BookingStatus.choices, default=BookingStatus.ACTIVE)
    # A date outside the protocol window needs an investigator's protocol deviation.
    deviation_reason = models.TextField(_("protocol deviation reason"), blank=True)
    deviation_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("deviation recorded by"),
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.JSONField(_("cancel reason"), null=True, blank=True)  # a stored phrase, as stop_reason

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        ordering = ["date", "time", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event"], condition=Q(status="active"), name="booking_one_active_per_event"
            ),
            models.CheckConstraint(condition=Q(status__in=["active", "cancelled"]), name="booking_status_valid"),
        ]
        indexes = [models.Index(fields=["site", "date", "status"])]

    def __str__(self) -> str:
        return f"{self.participant} {self.date} {self.time:%H:%M}"

    @property
    def cancel_reason_text(self) -> str:
        return phrases.render(self.cancel_reason)


class SiteDay(models.Model):
    """The infusion bookings of one site on one day. The booking service counts a chair with one
    conditional UPDATE, which locks this row, so concurrent bookings for the same day queue behind
    each other instead of all seeing a free chair; the check constraint is the last line."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    infusions = models.PositiveIntegerField(default=0)
    chairs = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("site day")
        constraints = [
            models.UniqueConstraint(fields=["site", "date"], name="site_day_unique"),
            models.CheckConstraint(condition=Q(infusions__lte=models.F("chairs")), name="site_day_within_capacity"),
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.date}: {self.infusions}/{self.chairs}"


class SiteDayKind(models.TextChoices):
    CLOSED = "closed", _("closed")
    WORKING = "working", _("make-up working day")


class SiteClosure(models.Model):
    """A day a site does not treat (local holiday, move, maintenance), on top of public holidays;
    or, with kind "working", a day it treats although the national calendar says it is off
    (a local make-up working day)."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, verbose_name=_("site"), related_name="closures")
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=8, choices=SiteDayKind.choices, default=SiteDayKind.CLOSED)
    reason = models.CharField(_("reason"), max_length=200)
    # Not stored: the background job re-checking the site's plans (services.closures.site_closure_create).
    job: Any = None

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("site closure")
        verbose_name_plural = _("site closures")
        ordering = ["site", "date"]
        constraints = [
            models.UniqueConstraint(fields=["site", "date"], name="site_closure_unique"),
            models.CheckConstraint(condition=Q(kind__in=["closed", "working"]), name="site_closure_kind_valid"),
        ]

    def __str__(self) -> str:
        if self.kind == SiteDayKind.WORKING:
            return _("%(site)s works on %(date)s") % {"site": self.site.code, "date": self.date}
        return _("%(site)s closed on %(date)s") % {"site": self.site.code, "date": self.date}


class NationalCalendarYear(models.Model):
    """A country's official calendar for one year as its government published it (for China the
    State Council General Office's yearly notice, 国务院办公厅关于…年部分节假日安排的通知). When
    present it replaces the `holidays` package's days for that year, so the calendar can be
    brought up to date before the package is released."""

    country = models.CharField(_("country"), max_length=2, default="CN")
    year = models.PositiveSmallIntegerField(_("year"))
    source = models.CharField(_("source"), max_length=300, help_text=_("The notice's title and number."))
    source_url = models.URLField(_("source URL"), blank=True)
    published_on = models.DateField(_("published on"), null=True, blank=True)
    loaded_at = models.DateTimeField(_("loaded at"), auto_now=True)
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("loaded by"),
        null=True,
        blank=True,
        related_name="+",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("national calendar year")
        verbose_name_plural = _("national calendar years")
        ordering = ["country", "year"]
        constraints = [
            models.UniqueConstraint(fields=["country", "year"], name="national_calendar_year_unique"),
            models.CheckConstraint(condition=Q(year__gte=2000, year__lte=2100), name="national_calendar_year_range"),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.year}"


class NationalDayKind(models.TextChoices):
    HOLIDAY = "holiday", _("public holiday")
    WORKING = "working", _("make-up working day")


class NationalCalendarDay(models.Model):
    """One day of a national calendar year: a day off (holiday or 调休 day off) or a weekend day
    that becomes a working day (调休上班)."""

    calendar_year = models.ForeignKey(
        NationalCalendarYear, on_delete=models.CASCADE, verbose_name=_("national calendar year"), related_name="days"
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=8, choices=NationalDayKind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("national calendar day")
        verbose_name_plural = _("national calendar days")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar_year", "date"], name="national_calendar_day_unique"),
            models.CheckConstraint(condition=Q(kind__in=["holiday", "working"]), name="national_calendar_day_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        # The parent may be unsaved (the admin's inline on "add"): read the cached instance.
        year = getattr(self._state.fields_cache.get("calendar_year"), "year", None)
        if year is None and self.calendar_year_id:
            year = self.calendar_year.year
        if year is not None and self.date and self.date.year != year:
            raise ValidationError({"date": _("The date is not in %(y)s.") % {"y": year}})
        if self.date and self.kind == NationalDayKind.WORKING and self.date.weekday() < 5:
            raise ValidationError({"date": _("A make-up working day is a Saturday or a Sunday.")})


def _new_feed_key() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A staff member's secret iCalendar URL for their sites' calendar. The key is the only
    credential (calendar clients cannot send tokens), so it can be revoked and replaced."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds")
    key = models.CharField(max_length=64, unique=True, default=_new_feed_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")

    def __str__(self) -> str:
        if self.revoked_at:
            return _("calendar feed of %(user)s (revoked)") % {"user": self.user}
        return _("calendar feed of %(user)s") % {"user": self.user}
