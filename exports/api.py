"""Export endpoints (thin: exports/selectors.py and exports/allocations.py decide who reads what).

- `GET /api/v1/exports/`: the datasets the caller may export, with their columns and URLs.
- `GET /api/v1/exports/<dataset>.csv` and `.xlsx` (optional `?site=CODE`): one route per
  declared dataset and format, so that the URL configuration lists them (the security and
  concealment scans walk it).
- `GET /api/v1/trials/<registry_id>/allocations.csv` and `.odm.xml`: the statistician's record.

A file answers 200 with an attachment; any refusal answers in the API's JSON error shape, even to
a client that asked for `Accept: text/csv` (the negotiation below always picks JSON for errors)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trialsite import clock, roles
from trialsite.api.permissions import STAFF_ROLES
from trialsite.errors import NotFound
from trialsite.models import Trial

from . import allocations, selectors
from .tables import FORMATS, REGISTRY

STATISTICIANS = frozenset({roles.STATISTICIAN})


class JsonForErrors(BaseContentNegotiation):
    """Files are written by the views themselves; whatever the client accepts, an error (the only
    thing DRF renders here) is JSON."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class ExportView(APIView):
    renderer_classes: list[type[BaseRenderer]] = [JSONRenderer]
    content_negotiation_class = JsonForErrors


def attachment(export: selectors.ExportFile) -> HttpResponse:
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "private, no-store"  # clinical data: no shared cache keeps a copy
    return response


SITE_PARAMETER = OpenApiParameter(
    "site", str, description="Only this site's rows (one of the caller's sites), e.g. ZJU1.", required=False
)


class DatasetExport(ExportView):
    """A dataset as a file. Rows of the caller's sites; columns as documented in the README
    ("Exports"); datetimes in each row's site time zone."""

    required_roles = {"GET": STAFF_ROLES}
    dataset_name = ""
    fmt = ""

    def get(self, request: Request) -> HttpResponse:
        export = selectors.dataset_file(
            selectors.dataset_named(self.dataset_name),
            self.fmt,
            by=request.user,
            site_code=request.query_params.get("site") or None,
        )
        return attachment(export)


class DatasetCsv(DatasetExport):
    fmt = "csv"

    @extend_schema(parameters=[SITE_PARAMETER], responses={(200, "text/csv"): OpenApiTypes.BINARY})
    def get(self, request: Request) -> HttpResponse:
        return super().get(request)


class DatasetXlsx(DatasetExport):
    fmt = "xlsx"

    @extend_schema(parameters=[SITE_PARAMETER], responses={(200, FORMATS["xlsx"]): OpenApiTypes.BINARY})
    def get(self, request: Request) -> HttpResponse:
        return super().get(request)


class ExportIndex(ExportView):
    """The datasets the caller may export: name, title, columns (for this caller) and URLs."""

    required_roles = {"GET": STAFF_ROLES}

    @extend_schema(
        responses={
            200: inline_serializer(
                "ExportDataset",
                {
                    "name": serializers.CharField(),
                    "title": serializers.CharField(),
                    "columns": serializers.ListField(child=serializers.CharField()),
                    "urls": serializers.DictField(child=serializers.CharField()),
                },
                many=True,
            )
        }
    )
    def get(self, request: Request) -> Response:
        user = request.user
        body = [
            {
                "name": d.name,
                "title": str(d.title),
                "columns": [c.name for c in d.columns_for(user)],
                "urls": {fmt: reverse(f"export-{d.name}-{fmt}") for fmt in FORMATS},
            }
            for d in REGISTRY.values()
            if user.is_superuser or user.has_perm(d.permission)
        ]
        return Response(body)


class ExportUnknown(ExportView):
    """Any other /exports/… URL: 400 for a known dataset in an unknown format, else 404."""

    required_roles = {"GET": STAFF_ROLES}

    @extend_schema(exclude=True)
    def get(self, request: Request, rest: str) -> Response:
        name, _dot, fmt = rest.partition(".")
        if name in REGISTRY:
            selectors.check_format(fmt)
        selectors.dataset_named(name)
        raise NotFound(_("Not found."))


def _trial(registry_id: str) -> Trial:
    return get_object_or_404(Trial.objects.select_related("current_protocol"), registry_id=registry_id)


class AllocationRecordCsv(ExportView):
    """The allocation record as CSV (statistician only): two "# " lines first (what, and the
    `verify_randomization` line), then one row per allocation."""

    required_roles = {"GET": STATISTICIANS}

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY})
    def get(self, request: Request, registry_id: str) -> HttpResponse:
        return attachment(allocations.record_csv(_trial(registry_id), by=request.user, now=clock.now()))


class AllocationRecordOdm(ExportView):
    """The allocation record as a CDISC ODM 1.3.2 snapshot (statistician only): one SubjectData
    per allocated participant; the verification line is ClinicalData's first Annotation."""

    required_roles = {"GET": STATISTICIANS}

    @extend_schema(responses={(200, "application/xml"): OpenApiTypes.BINARY})
    def get(self, request: Request, registry_id: str) -> HttpResponse:
        return attachment(allocations.record_odm(_trial(registry_id), by=request.user, now=clock.now()))
