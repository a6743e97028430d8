"""Admin of the reminders: the trial's reminder rules (edited here, with a preview of their
template in both languages; saving re-computes the participants' reminders through the same
service), the reminder rows of the user's sites with a "resend" action for failed or expired
ones, and the staff digests sent."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from reminders import services as reminder_services
from reminders.models import Reminder, ReminderChannel, ReminderRule, ReminderStatus, StaffDigest
from schedules.models import ScheduledEvent
from schedules.selectors import event_kind_name
from trialsite import clock, roles
from trialsite.admin import NoDeleteMixin, SiteScopedAdminMixin, UserSitesFilter, code_column, code_filter
from trialsite.admin_forms import ServiceFormAdminMixin
from trialsite.admin_guard import GuardedAdmin, GuardedHistoryAdmin
from trialsite.i18n import html_lang


def _event_kind_name(code: str) -> str:
    return event_kind_name(code)


def _channel_name(code: str) -> str:
    return str(ReminderChannel(code).label) if code in ReminderChannel.values else code


def _status_name(code: str) -> str:
    return str(ReminderStatus(code).label) if code in ReminderStatus.values else code


EVENT_KIND_COLUMN = code_column("event_kind", _("event kind"), _event_kind_name)
EVENT_KIND_FILTER = code_filter("event_kind", _("event kind"), _event_kind_name)
# The reminder list's filters offer the rules' kinds and the channels there are, not a DISTINCT
# over every reminder of the user's sites (two scans of 180,000 rows per page, issue 16).
RULE_EVENT_KIND_FILTER = code_filter(
    "rule__event_kind",
    _("event kind"),
    _event_kind_name,
    codes=lambda: ReminderRule.objects.order_by().values_list("event_kind", flat=True).distinct(),
)
CHANNEL_COLUMN = code_column("channel", _("channel"), _channel_name)
CHANNEL_FILTER = code_filter("channel", _("channel"), _channel_name, codes=lambda: ReminderChannel.values)


@admin.register(ReminderRule)
class ReminderRuleAdmin(ServiceFormAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    list_display = [
        "display_name",
        "trial",
        EVENT_KIND_COLUMN,
        "event_number",
        "days_from_event",
        "time_of_day",
        "channel",
        "template",
        "active",
    ]
    list_filter = ["trial", "active", EVENT_KIND_FILTER, "channel"]
    readonly_fields = ["preview"]
    fields = [
        "trial",
        "name",
        "event_kind",
        "event_number",
        "oral_drug",
        "days_from_event",
        "time_of_day",
        "channel",
        "template",
        "grace_minutes",
        "max_attempts",
        "active",
        "preview",
    ]

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, obj: ReminderRule) -> str:
        return obj.display_name

    @admin.display(description=_("preview"))
    def preview(self, obj: ReminderRule) -> str:
        if obj.pk is None:
            return "—"
        names = dict(settings.LANGUAGES)
        parts = []
        for language in reminder_services.LANGUAGES:
            subject, body = reminder_services.reminder_preview(rule=obj, language=language)
            # Each preview is in its own language: say so (screen readers, and the i18n scan).
            parts.append((html_lang(language), names.get(language, language), subject, body))
        return format_html_join(
            "",
            "<p lang='{}'><b>{}</b> — <i>{}</i><br><span style='white-space:pre-wrap'>{}</span></p>",
            parts,
        )

    def save_model(self, request: HttpRequest, obj: ReminderRule, form: Any, change: bool) -> None:
        # The same service as everywhere: saving re-computes the trial's pending reminders.
        with self.refusal(request, form):
            reminder_services.reminder_rule_save(rule=obj, by=roles.actor(request.user), now=clock.now())
        if obj.job is not None:
            messages.info(
                request,
                format_html(
                    '{} <a href="{}">{}</a>',
                    _("The participants' reminders are being re-computed in the background."),
                    reverse("admin:trialsite_trialjob_change", args=[obj.job.pk]),
                    _("Follow its progress"),
                ),
            )


class UnjoinedChangeList(ChangeList):
    """A changelist that joins nothing: Django's ChangeList joins every foreign key a column
    shows when `list_select_related` is empty; the admin prefetches them instead."""

    def apply_select_related(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs


@admin.register(Reminder)
class ReminderAdmin(SiteScopedAdminMixin, NoDeleteMixin, GuardedAdmin):
    list_display = ["participant", "event", CHANNEL_COLUMN, "local_send_at", "status", "attempts", "short_error"]
    list_filter = ["status", CHANNEL_FILTER, ("site", UserSitesFilter), RULE_EVENT_KIND_FILTER]
    search_fields = ["participant__screening_number"]
    # No date_hierarchy: its links scan every reminder of the user's sites. Nothing is joined
    # (see get_changelist): with the participant, event and site joined, PostgreSQL joined every
    # reminder of the user's sites before sorting them for one page (213–269 ms at 10,000
    # participants, issue 16). They are fetched for the page's rows in get_queryset (the event's
    # participant is read by the event column's __str__, the site's time zone by local_send_at).
    actions = ["resend"]
    readonly_fields = [
        "rule",
        "event",
        "participant",
        "site",
        "channel_name",
        "event_date",
        "send_at",
        "due_at",
        "expires_at",
        "status",
        "attempts",
        "max_attempts",
        "lease_until",
        "sent_at",
        "provider_message_id",
        "last_error",
        "cancel_reason_text",
        "created_at",
        "updated_at",
    ]
    # Shown translated above (channel_name, cancel_reason_text); left out of the form so that
    # nothing on this page is editable.
    exclude = ["channel", "cancel_reason"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Reminder]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                "participant", "site", Prefetch("event", ScheduledEvent.objects.select_related("participant"))
            )
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return UnjoinedChangeList

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from the plan (reminders_sync), never by hand

    @admin.display(description=_("send at (site time)"), ordering="send_at")
    def local_send_at(self, obj: Reminder) -> str:
        return format_html("{}", timezone.localtime(obj.send_at, timezone=_zone(obj)).strftime("%Y-%m-%d %H:%M"))

    @admin.display(description=_("last error"))
    def short_error(self, obj: Reminder) -> str:
        return obj.last_error[:80]

    @admin.display(description=_("channel"))
    def channel_name(self, obj: Reminder) -> str:
        return _channel_name(obj.channel)

    @admin.display(description=_("cancel reason"))
    def cancel_reason_text(self, obj: Reminder) -> str:
        return obj.cancel_reason_text or "—"

    @admin.action(description=_("Resend the selected failed or expired reminders"), permissions=["change"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Reminder]) -> None:
        count = reminder_services.reminder_resend(reminders_=queryset, by=roles.actor(request.user), now=clock.now())
        skipped = queryset.count() - count
        self.message_user(request, _("%(n)s reminder(s) will be sent at the next dispatch.") % {"n": count})
        if skipped:
            messages.warning(request, _("%(n)s were not failed or expired and were left alone.") % {"n": skipped})


def _zone(obj: Reminder) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(obj.site.time_zone)


@admin.register(StaffDigest)
class StaffDigestAdmin(SiteScopedAdminMixin, GuardedAdmin):
    list_display = ["day", "kind", "site", "user", "status_name", "sent_at"]
    list_select_related = ["site", "user"]
    list_filter = ["kind", "status", ("site", UserSitesFilter)]
    readonly_fields = ["kind", "site", "user", "day", "status_name", "sent_at", "lease_until", "last_error", "body"]
    exclude = ["status"]  # shown translated as status_name

    @admin.display(description=_("status"), ordering="status")
    def status_name(self, obj: StaffDigest) -> str:
        return _status_name(obj.status)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
