"""Background jobs in the admin: what runs, how far it got, what it refused (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from trialsite import jobs
from trialsite.admin_guard import GuardedAdmin
from trialsite.models import TrialJob


@admin.register(TrialJob)
class TrialJobAdmin(GuardedAdmin):
    list_display = ["pk", "what", "status", "progress", "created_at", "started_at", "finished_at", "created_by"]
    list_select_related = ["created_by"]
    list_filter = ["status", "kind"]
    show_full_result_count = False
    fields = [
        "what",
        "status",
        "progress",
        "params",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "refusals_text",
        "error",
    ]
    readonly_fields = fields

    @admin.display(description=_("job"), ordering="kind")
    def what(self, job: TrialJob) -> str:
        spec = jobs.kind_of(job)
        return gettext(spec.label) if spec else job.kind

    @admin.display(description=_("progress"))
    def progress(self, job: TrialJob) -> str:
        if job.total is None:
            return gettext("not started")
        percent = round(100 * job.processed / job.total) if job.total else 100
        text = gettext("%(n)s of %(total)s (%(percent)s%%)") % {
            "n": job.processed,
            "total": job.total,
            "percent": percent,
        }
        if job.refused:
            text += "; " + gettext("%(n)s refused") % {"n": job.refused}
        return text

    @admin.display(description=_("refusals"))
    def refusals_text(self, job: TrialJob) -> str:
        rows = [(r.get("item"), r.get("message")) for r in job.refusals]
        return format_html_join("", "<div>#{}: {}</div>", rows) if rows else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
