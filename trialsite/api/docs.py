"""The OpenAPI schema and its Swagger UI, behind login in production (API_DOCS_PUBLIC)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class DocsPermission(BasePermission):
    """The OpenAPI schema and Swagger UI: open when API_DOCS_PUBLIC (development), else to a
    signed-in caller (a session or an API token) only; the schema maps every endpoint and its
    error codes, which is no one's business outside the hospital."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if settings.API_DOCS_PUBLIC:
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)


class SchemaView(SpectacularAPIView):
    permission_classes = [DocsPermission]


class DocsView(SpectacularSwaggerView):
    permission_classes = [DocsPermission]
