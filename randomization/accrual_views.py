"""The accrual page's doors: /admin/accrual/ and GET /api/v1/trials/{registry_id}/accrual/."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from randomization import accrual
from trialsite import clock, roles
from trialsite.api.permissions import ALL_ROLES
from trialsite.errors import NotPermitted
from trialsite.models import Trial
from trialsite.selectors import default_trial


def accrual_view(request: HttpRequest) -> HttpResponse:
    trial = default_trial()
    if request.GET.get("trial"):
        trial = Trial.objects.filter(registry_id=request.GET["trial"]).first()
    if trial is None:
        raise PermissionDenied(_("No trial is loaded."))
    try:
        data = accrual.accrual(trial=trial, user=roles.actor(request.user), today=clock.today())
    except NotPermitted as exc:
        raise PermissionDenied(exc.detail) from exc
    svgs = accrual.charts(data, today=clock.today())
    context = {
        **admin.site.each_context(request),
        "title": _("Accrual"),
        "data": data,
        # Drawn by matplotlib from aggregate numbers and translated labels: no user input.
        "accrual_svg": mark_safe(svgs["accrual"]),  # noqa: S308
        "balance_svg": mark_safe(svgs.get("balance", "")),  # noqa: S308
    }
    return TemplateResponse(request, "admin/randomization/accrual.html", context)


class TrialAccrual(APIView):
    """Cumulative enrolment per month, per site, against the target and the planned accrual; with
    arm balance overall and per stratification factor for the statistician only."""

    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, registry_id: str) -> Response:
        trial = get_object_or_404(Trial, registry_id=registry_id)
        data = accrual.accrual(trial=trial, user=roles.actor(request.user), today=clock.today())
        return Response(accrual.as_json(data))
