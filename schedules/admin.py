"""Admin of the schedules app: a participant's timeline (planned vs actual, bookings; making the
plan, delays, actual dates and bookings through the same services as the API), a site calendar
per day and week, bookings, site closures. Nothing here is hard-deleted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from schedules import selectors
from schedules.models import (
    Booking,
    BookingStatus,
    NationalCalendarDay,
    NationalCalendarYear,
    ScheduledEvent,
    SiteClosure,
    SiteDayKind,
    TreatmentPlan,
)
from schedules.services.actual_dates import event_record_actual, event_record_actual_preview
from schedules.services.bookings import booking_cancel, booking_create, booking_move
from schedules.services.closures import national_calendar_changed, site_closure_create, site_closure_update_reason
from schedules.services.plans import event_delay, treatment_plan_create
from trialsite import clock, i18n, roles
from trialsite import selectors as registry
from trialsite.admin import (
    ARM_COLUMN,
    ARM_FILTER,
    PHASE_COLUMN,
    NoDeleteMixin,
    SiteScopedAdminMixin,
    stored_json,
)
from trialsite.admin_forms import ServiceFormAdminMixin, attempt
from trialsite.admin_guard import GuardedHistoryAdmin
from trialsite.errors import ApplicationError
from trialsite.models import RANDOMIZED_STATUSES, Participant

EDITORS = (roles.RESEARCH_NURSE, roles.INVESTIGATOR)


class PlanForm(forms.Form):
    scrt_start_date = forms.DateField(label=_("SCRT start date"), widget=forms.DateInput(attrs={"type": "date"}))


class DelayForm(forms.Form):
    event = forms.IntegerField(widget=forms.HiddenInput)
    new_date = forms.DateField(
        label=_("new date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: the protocol's delay (1 week)."),
    )
    reason = forms.CharField(label=_("reason"), max_length=200)
    deviation_reason = forms.CharField(label=_("protocol deviation (investigators)"), required=False)


class ActualForm(forms.Form):
    event = forms.IntegerField(widget=forms.HiddenInput)
    # No default: the date is typed, never assumed to be today.
    actual_date = forms.DateField(label=_("actual date"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("reason for the correction"), max_length=100, required=False)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class BookForm(forms.Form):
    event = forms.IntegerField(widget=forms.HiddenInput)
    date = forms.DateField(label=_("date"), widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(label=_("time"), widget=forms.TimeInput(attrs={"type": "time"}))
    deviation_reason = forms.CharField(label=_("protocol deviation (investigators)"), required=False)


@dataclasses.dataclass
class Kept:
    """A refused timeline form, shown again in its row with what was typed and why it was refused
    (a redirect would lose a typed reason)."""

    action: str
    event: int | None
    values: dict[str, str]
    errors: list[str]


def _kept(request: HttpRequest, action: str, errors: list[str]) -> Kept:
    try:
        event = int(request.POST.get("event", ""))
    except ValueError:
        event = None
    values = {k: str(v) for k, v in request.POST.items() if k not in ("csrfmiddlewaretoken", "action", "event")}
    return Kept(action=action, event=event, values=values, errors=errors)


def _refusal_lines(exc: ApplicationError) -> list[str]:
    lines = [exc.detail]
    for field, msgs in exc.errors.items():
        label = i18n.field_label(field)
        lines += [f"{label}: {msg}" if label else msg for msg in msgs if msg not in exc.detail]
    return lines


def _form_lines(form: forms.Form) -> list[str]:
    return [
        f"{form.fields[name].label}: {msg}" if name in form.fields else str(msg)
        for name, msgs in form.errors.items()
        for msg in msgs
    ]


def _run(request: HttpRequest, action: Any, success: str) -> Kept | None:
    """Run a service call for the timeline: None when done (a success message), else what to show again."""
    try:
        action()
    except ApplicationError as exc:
        return _kept(request, request.POST.get("action", ""), _refusal_lines(exc))
    messages.success(request, success)
    return None


@admin.register(TreatmentPlan)
class TreatmentPlanAdmin(SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    site_lookup = "participant__site"
    list_display = ["participant", "site", ARM_COLUMN, "scrt_start_date", "status", "timeline_link"]
    list_select_related = ["participant", "site"]
    list_filter = ["status", ARM_FILTER, "participant__site"]
    exclude = ["arm", "stop_reason"]  # shown by ARM_COLUMN and stop_reason_text
    search_fields = ["participant__screening_number"]
    readonly_fields = [
        "participant",
        ARM_COLUMN,
        "scrt_start_date",
        "status",
        "stopped_on",
        "stop_reason_text",
        "created_at",
        "created_by",
    ]

    @admin.display(description=_("stop reason"))
    def stop_reason_text(self, plan: TreatmentPlan) -> str:
        """As typed, or the system's reason in the reader's language."""
        return plan.stop_reason_text or "—"

    @admin.display(description=_("site"))
    def site(self, plan: TreatmentPlan) -> str:
        return plan.participant.site.code

    @admin.display(description=_("timeline"))
    def timeline_link(self, plan: TreatmentPlan) -> str:
        return format_html('<a href="{}">{}</a>', _timeline_url(plan.participant_id), _("timeline"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[TreatmentPlan]:
        return super().get_queryset(request).select_related("participant__site")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # changed on the timeline, through the services

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "participant/<int:participant_id>/timeline/",
                self.admin_site.admin_view(self.timeline_view),
                name="schedules_timeline",
            ),
            path("site-calendar/", self.admin_site.admin_view(self.site_calendar_view), name="schedules_site_calendar"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """ "Add" lists the randomized participants still waiting for their SCRT start date."""
        waiting = (
            registry.participants_for_user(request.user)
            .filter(status__in=RANDOMIZED_STATUSES, treatment_plan__isnull=True)
            .order_by("randomized_at")
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Participants waiting for a treatment plan"),
            "waiting": [(p, _timeline_url(p.pk)) for p in waiting],
            "calendar_url": reverse("admin:schedules_site_calendar"),
        }
        return TemplateResponse(request, "admin/schedules/plan_picker.html", context)

    def timeline_view(self, request: HttpRequest, participant_id: int) -> HttpResponse:
        participant = get_object_or_404(registry.participants_for_user(request.user), pk=participant_id)
        can_edit = request.user.has_perm("schedules.change_scheduledevent")
        can_book = request.user.has_perm("schedules.add_booking")
        kept: Kept | None = None
        if request.method == "POST":
            if not can_book:
                messages.error(request, _("Your role can only read calendars."))
                return HttpResponseRedirect(request.get_full_path())
            answer = self._timeline_post(request, participant, can_edit=can_edit)
            if isinstance(answer, HttpResponse):
                return answer  # a confirmation step
            if answer is None:
                return HttpResponseRedirect(request.get_full_path())
            kept = answer
        plan = TreatmentPlan.objects.filter(participant=participant).first()
        events = list(selectors.plan_events(participant.pk)) if plan else []
        rows = [(e, selectors.active_booking(e), kept if kept and kept.event == e.pk else None) for e in events]
        plan_form = PlanForm(initial={"scrt_start_date": plan.scrt_start_date if plan else None})
        if kept is not None and kept.action == "plan":
            plan_form = PlanForm(kept.values)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Timeline of %(p)s") % {"p": participant},
            "participant": participant,
            "plan": plan,
            "rows": rows,
            "can_edit": can_edit and not participant.is_off_study,
            "plan_form": plan_form,
            "kept": kept,
            "today": clock.today(),
        }
        # A refused form is answered 422 with the page (Django's admin answers a refused form 200;
        # a distinct status lets API-like clients and tests tell a refusal from a plain view).
        return TemplateResponse(
            request, "admin/schedules/timeline.html", context, status=422 if kept is not None else 200
        )

    def _timeline_post(
        self, request: HttpRequest, participant: Participant, *, can_edit: bool
    ) -> HttpResponse | Kept | None:
        """Run the posted act: a response (a confirmation page), what to show again (a refusal,
        with what was typed) or None (done)."""
        by = roles.actor(request.user)
        action = request.POST.get("action")
        events = ScheduledEvent.objects.filter(participant=participant)
        if action == "plan" and can_edit:
            plan_form = PlanForm(request.POST)
            if plan_form.is_valid():
                return _run(
                    request,
                    lambda: treatment_plan_create(
                        participant=participant,
                        scrt_start_date=plan_form.cleaned_data["scrt_start_date"],
                        by=by,
                        now=clock.now(),
                    ),
                    str(_("Treatment plan saved.")),
                )
            return _kept(request, "plan", _form_lines(plan_form))
        elif action == "delay" and can_edit:
            delay_form = DelayForm(request.POST)
            if delay_form.is_valid():
                event = get_object_or_404(events, pk=delay_form.cleaned_data["event"])
                return _run(
                    request,
                    lambda: event_delay(
                        event=event,
                        reason=delay_form.cleaned_data["reason"],
                        new_date=delay_form.cleaned_data["new_date"],
                        deviation_reason=delay_form.cleaned_data["deviation_reason"],
                        by=by,
                        now=clock.now(),
                    ),
                    str(_("Event delayed; the events after it moved.")),
                )
            return _kept(request, "delay", _form_lines(delay_form))
        elif action == "actual" and can_edit:
            actual_form = ActualForm(request.POST)
            if actual_form.is_valid():
                event = get_object_or_404(events, pk=actual_form.cleaned_data["event"])
                return self._record_actual(request, participant, event, actual_form.cleaned_data, by=by)
            return _kept(request, "actual", _form_lines(actual_form))
        elif action == "book":
            book_form = BookForm(request.POST)
            if book_form.is_valid():
                event = get_object_or_404(events, pk=book_form.cleaned_data["event"])
                booking = Booking.objects.filter(event=event, status=BookingStatus.ACTIVE).first()
                data = book_form.cleaned_data
                if booking is None:
                    return _run(
                        request,
                        lambda: booking_create(
                            event=event,
                            date=data["date"],
                            time=data["time"],
                            deviation_reason=data["deviation_reason"],
                            by=by,
                            today=clock.today(),
                        ),
                        str(_("Booked.")),
                    )
                return _run(
                    request,
                    lambda: booking_move(
                        booking=booking,
                        date=data["date"],
                        time=data["time"],
                        deviation_reason=data["deviation_reason"],
                        by=by,
                        today=clock.today(),
                    ),
                    str(_("Booking moved.")),
                )
            return _kept(request, "book", _form_lines(book_form))
        elif action == "cancel_booking":
            booking = get_object_or_404(
                Booking.objects.filter(participant=participant, status=BookingStatus.ACTIVE),
                pk=request.POST.get("booking"),
            )
            return _run(
                request,
                lambda: booking_cancel(booking=booking, by=by, now=clock.now()),
                str(_("Booking cancelled.")),
            )
        messages.error(request, _("Check the form: a field is missing or not allowed for your role."))
        return None

    def _record_actual(
        self, request: HttpRequest, participant: Participant, event: ScheduledEvent, data: dict[str, Any], *, by: Any
    ) -> HttpResponse | Kept | None:
        """Record or correct an actual date; when it moves later events, starts treatment or
        corrects a recorded date, first a page that says so (from the service's own preview)."""
        try:
            event_record_actual(
                event=event,
                actual_date=data["actual_date"],
                reason=data["reason"],
                confirm=data["confirm"],
                by=by,
                today=clock.today(),
            )
        except ApplicationError as exc:
            if exc.code != "confirmation_required":
                return _kept(request, "actual", _refusal_lines(exc))
            preview = event_record_actual_preview(
                event=event, actual_date=data["actual_date"], by=by, today=clock.today()
            )
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": _("Confirm the actual date"),
                "participant": participant,
                "preview": preview,
                "reason": data["reason"],
                "timeline_url": _timeline_url(participant.pk),
            }
            return TemplateResponse(request, "admin/schedules/actual_confirm.html", context)
        messages.success(request, _("Actual date corrected.") if event.actual_date else _("Actual date recorded."))
        return None

    def site_calendar_view(self, request: HttpRequest) -> HttpResponse:
        """Who comes in per day (a day or a week), remaining infusion chairs, and cycles whose
        window closes soon without a booking."""
        sites = list(registry.sites_for_user(request.user).order_by("code"))
        if not sites:
            messages.error(request, _("You do not belong to any site."))
            return HttpResponseRedirect(reverse("admin:index"))
        site = next((s for s in sites if s.code == request.GET.get("site")), sites[0])
        today = clock.today()
        try:
            start = dt.date.fromisoformat(request.GET.get("date", "")) if request.GET.get("date") else today
        except ValueError:
            start = today
        if request.GET.get("view") == "month":
            return self._site_month(request, sites, site, start, today)
        week = request.GET.get("view") == "week"
        if week:
            start -= dt.timedelta(days=start.weekday())
        days = [start + dt.timedelta(days=i) for i in range(7 if week else 1)]
        cal = selectors.working_calendar(site, {d.year for d in days})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Site calendar %(site)s") % {"site": site.code},
            "sites": sites,
            "site": site,
            "week": week,
            "days": [{**info, "working": cal.is_working_day(info["date"])} for info in selectors.site_days(site, days)],
            "closing": selectors.windows_closing_unbooked(site, today=today, within_days=7),
            "previous": (start - dt.timedelta(days=7 if week else 1)).isoformat(),
            "next": (start + dt.timedelta(days=7 if week else 1)).isoformat(),
        }
        return TemplateResponse(request, "admin/schedules/site_calendar.html", context)

    def _site_month(
        self, request: HttpRequest, sites: list[Any], site: Any, start: dt.date, today: dt.date
    ) -> HttpResponse:
        """The month around `start` as weeks of Monday to Sunday: per day, who is booked and who
        is planned without a booking, chairs left, closures (a fixed number of queries)."""
        first = start.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        last = following - dt.timedelta(days=1)
        grid_start = first - dt.timedelta(days=first.weekday())
        grid_end = last + dt.timedelta(days=6 - last.weekday())
        per_day = selectors.site_month(site, first=grid_start, last=grid_end)
        cal = selectors.working_calendar(site, {grid_start.year, grid_end.year})
        days = [
            {**info, "in_month": d.month == first.month, "working": cal.is_working_day(d), "today": d == today}
            for d, info in per_day.items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Site calendar %(site)s") % {"site": site.code},
            "sites": sites,
            "site": site,
            "month": True,
            "month_start": first,
            "weeks": [days[i : i + 7] for i in range(0, len(days), 7)],
            "closing": selectors.windows_closing_unbooked(site, today=today, within_days=7),
            "previous": (first - dt.timedelta(days=1)).replace(day=1).isoformat(),
            "next": following.isoformat(),
        }
        return TemplateResponse(request, "admin/schedules/site_calendar.html", context)


def _timeline_url(participant_id: int) -> str:
    return reverse("admin:schedules_timeline", args=[participant_id])


@admin.register(ScheduledEvent)
class ScheduledEventAdmin(SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    list_display = [
        "participant",
        "event_label",
        "target_date",
        "window_start",
        "window_end",
        "original_planned_date",
        "planned_date",
        "actual_date",
        "status",
        "delayed",
    ]
    list_filter = ["kind", "status", "delayed", "site"]
    search_fields = ["participant__screening_number"]
    list_select_related = ["participant"]
    # No date_hierarchy: its year and month links scan every event of the user's sites.
    readonly_fields = [
        {"phase": PHASE_COLUMN, "details": stored_json("details", _("details"))}.get(f.name, f.name)
        for f in ScheduledEvent._meta.fields
    ]
    exclude = ["phase", "details"]  # shown by the columns above

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # changed on the timeline, through the services (history stays readable)

    @admin.display(description=_("event"))
    def event_label(self, obj: ScheduledEvent) -> str:
        return obj.label


@admin.register(Booking)
class BookingAdmin(SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    list_display = ["participant", "event", "date", "time", "site", "status", "uses_infusion_chair", "deviation_reason"]
    list_filter = ["status", "site", "uses_infusion_chair"]
    search_fields = ["participant__screening_number"]
    list_select_related = ["participant", "event", "event__participant", "site"]
    # No date_hierarchy: its year and month links scan every booking of the user's sites.
    readonly_fields = ["cancel_reason_text" if f.name == "cancel_reason" else f.name for f in Booking._meta.fields]
    exclude = ["cancel_reason"]

    @admin.display(description=_("cancel reason"))
    def cancel_reason_text(self, obj: Booking) -> str:
        """The system's reason ("plan re-made") in the reader's language; a reason a person typed
        as typed."""
        return obj.cancel_reason_text or "—"

    actions = ["cancel_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # booked on the timeline or through the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The page edits nothing (has_change_permission is False); cancelling is the one write.
        return request.user.has_perm("schedules.change_booking")

    @admin.action(description=_("Cancel the selected bookings"), permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        for booking in queryset.filter(status=BookingStatus.ACTIVE):
            attempt(
                request,
                functools.partial(booking_cancel, booking=booking, by=roles.actor(request.user), now=clock.now()),
                str(_("%(b)s cancelled.") % {"b": booking}),
            )


class SiteClosureForm(forms.ModelForm[SiteClosure]):
    class Meta:
        model = SiteClosure
        fields = ["site", "date", "kind", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:
            self.fields["kind"].required = False  # absent: a closure, as before kinds existed

    def clean_kind(self) -> str:
        return str(self.cleaned_data.get("kind") or SiteDayKind.CLOSED)


@admin.register(SiteClosure)
class SiteClosureAdmin(ServiceFormAdminMixin, SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    list_display = ["site", "date", "kind", "reason"]
    list_select_related = ["site"]
    list_filter = ["site", "kind"]
    date_hierarchy = "date"
    form = SiteClosureForm

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["site", "date", "kind"] if obj else []

    def save_model(self, request: HttpRequest, obj: SiteClosure, form: Any, change: bool) -> None:
        if change:
            with self.refusal(request, form):
                site_closure_update_reason(
                    closure=obj, reason=form.cleaned_data["reason"], by=roles.actor(request.user)
                )
            return
        with self.refusal(request, form):
            created = site_closure_create(
                site=form.cleaned_data["site"],
                date=form.cleaned_data["date"],
                kind=form.cleaned_data["kind"],
                reason=form.cleaned_data["reason"],
                by=roles.actor(request.user),
                now=clock.now(),
            )
        obj.pk = created.pk
        if created.job is not None:
            messages.info(
                request,
                format_html(
                    '{} <a href="{}">{}</a>',
                    _(
                        "The plans around this day are being re-checked in the background; plans that "
                        "cannot be re-made are listed there."
                    ),
                    reverse("admin:trialsite_trialjob_change", args=[created.job.pk]),
                    _("Follow its progress"),
                ),
            )
        conflicts = selectors.booked_on_non_working_days(created.site, date_from=created.date, date_to=created.date)
        if conflicts:
            messages.warning(
                request,
                _("%(n)s bookings fall on a day the site no longer works; move them: %(list)s")
                % {"n": len(conflicts), "list": ", ".join(str(b) for b in conflicts)},
            )


class NationalCalendarDayInline(admin.TabularInline[NationalCalendarDay, NationalCalendarYear]):
    model = NationalCalendarDay
    fields = ["date", "kind", "name"]
    extra = 0


@admin.register(NationalCalendarYear)
class NationalCalendarYearAdmin(NoDeleteMixin, GuardedHistoryAdmin):
    """A State Council notice for a year, entered by an administrator (or loaded from a YAML file
    with `manage.py load_national_calendar`). Saving it re-checks every plan in a Celery task."""

    list_display = ["country", "year", "source", "published_on", "loaded_at", "loaded_by"]
    readonly_fields = ["loaded_at", "loaded_by"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [NationalCalendarDayInline]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def save_model(self, request: HttpRequest, obj: NationalCalendarYear, form: Any, change: bool) -> None:
        obj.loaded_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        national_calendar_changed(form.instance)
        messages.info(request, _("Every treatment plan is being re-checked against this calendar."))
