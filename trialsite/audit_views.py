"""The audit log's doors: an admin page (filters, newest first, "older" by cursor) and
`GET /api/v1/audit-log/`. The rules (who reads what) are in trialsite.audit_log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trialsite import audit_log, roles
from trialsite.errors import InvalidInput, NotPermitted
from trialsite.models import Site


class AuditFilterForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, label=_("site"))
    participant = forms.CharField(required=False, max_length=32, label=_("screening number"))
    user = forms.CharField(required=False, max_length=150, label=_("user name"))
    model = forms.ChoiceField(required=False, label=_("record"))
    date_from = forms.DateField(required=False, label=_("from"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label=_("to"), widget=forms.DateInput(attrs={"type": "date"}))
    before = forms.DateTimeField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from trialsite.selectors import sites_for_user

        self.fields["site"].queryset = sites_for_user(user).order_by("code")  # type: ignore[attr-defined]
        self.fields["model"].choices = [("", "—"), *audit_log.entry_models(user)]  # type: ignore[attr-defined]
        self.user = user

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def filters(self) -> audit_log.Filters:
        from django.contrib.auth.models import User

        from trialsite.selectors import participants_for_user

        data = self.cleaned_data
        participant_id = user_id = None
        if data.get("participant"):
            found = participants_for_user(self.user).filter(screening_number=data["participant"].strip()).first()
            participant_id = found.pk if found else -1  # an unknown number matches nothing
        if data.get("user"):
            person = User.objects.filter(username=data["user"].strip()).first()
            user_id = person.pk if person else -1
        return audit_log.Filters(
            site_id=data["site"].pk if data.get("site") else None,
            participant_id=participant_id,
            user_id=user_id,
            model=data.get("model") or None,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            before=data.get("before"),
        )


def audit_log_view(request: HttpRequest) -> HttpResponse:
    if not (request.user.is_superuser or request.user.has_perm(audit_log.PERMISSION)):
        raise PermissionDenied(_("The audit log is for investigators and statisticians."))
    form = AuditFilterForm(request.GET or None, user=request.user)
    entries: list[audit_log.Entry] = []
    if not request.GET or form.is_valid():
        filters = form.filters() if request.GET else audit_log.Filters()
        entries = audit_log.audit_entries(user=roles.actor(request.user), filters=filters)
    older = None
    if len(entries) == audit_log.PAGE_SIZE:
        query = request.GET.copy()
        query["before"] = entries[-1].at.isoformat()
        older = query.urlencode()
    context = {
        **admin.site.each_context(request),
        "title": _("Audit log"),
        "form": form,
        "entries": entries,
        "older": older,
    }
    return TemplateResponse(request, "admin/trialsite/audit_log.html", context)


class AuditEntryOut(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    at_local = serializers.CharField(help_text="In the site's time zone (time_zone).")
    time_zone = serializers.CharField()
    model = serializers.CharField()
    model_label = serializers.CharField()
    object_id = serializers.CharField()
    object_text = serializers.CharField()
    site = serializers.CharField()
    participant = serializers.CharField()
    user = serializers.CharField()
    action = serializers.CharField()
    reason = serializers.CharField()
    changes = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))


class AuditLogList(APIView):
    """The trial-wide audit log, newest first, `PAGE_SIZE` entries; `?before=<at of the last
    entry>` for older ones. Filters: `site` (code), `participant` (screening number), `user`
    (user name), `model` (app_label.model), `date_from`, `date_to` (dates in Asia/Shanghai)."""

    required_roles = {"GET": frozenset({roles.INVESTIGATOR, roles.STATISTICIAN})}

    @extend_schema(
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in ("site", "participant", "user", "model", "date_from", "date_to", "before")
        ],
        responses={
            200: inline_serializer(
                "AuditLogPage",
                {"results": AuditEntryOut(many=True), "next_before": serializers.DateTimeField(allow_null=True)},
            )
        },
    )
    def get(self, request: Request) -> Response:
        user = roles.actor(request.user)
        if not (user.is_superuser or user.has_perm(audit_log.PERMISSION)):
            raise NotPermitted(str(_("The audit log is for investigators and statisticians.")), code="role_required")
        params = request.query_params.copy()
        if params.get("site"):
            from trialsite.selectors import sites_for_user

            site = sites_for_user(user).filter(code=params["site"]).first()
            params["site"] = str(site.pk) if site else "-1"
        form = AuditFilterForm(params, user=user)
        if not form.is_valid():
            raise InvalidInput(
                str(_("Check the filters.")), errors={k: [str(m) for m in v] for k, v in form.errors.items()}
            )
        entries = audit_log.audit_entries(user=user, filters=form.filters())
        data = AuditEntryOut([e.__dict__ for e in entries], many=True).data
        nxt = entries[-1].at.isoformat() if len(entries) == audit_log.PAGE_SIZE else None
        return Response({"results": data, "next_before": nxt})
