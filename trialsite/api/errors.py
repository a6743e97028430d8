"""One JSON error shape for the whole API: {"code": …, "detail": …, "errors": {field: […]}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from trialsite import outage
from trialsite.error_codes import CommonErrorCode
from trialsite.errors import ApplicationError


def _flatten(detail: Any) -> dict[str, list[str]]:
    """DRF's nested error detail → {field: [messages]} with dotted paths for nested fields."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            if all(not isinstance(v, dict | list) for v in value):
                out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
            else:
                for i, sub in enumerate(value):
                    walk(f"{prefix}[{i}]", sub)
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return out


def error_body(code: str, detail: str, errors: dict[str, list[str]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"code": code, "detail": detail, "errors": errors or {}, **extra}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if outage.is_database_outage(exc):
        request = context.get("request")
        outage.log_outage(exc, getattr(request, "path", ""))
        return Response(
            error_body(outage.CODE, str(outage.MESSAGE)),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(outage.RETRY_AFTER_S)},
        )
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.detail, exc.errors, **exc.extra), status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(
            error_body(CommonErrorCode.INVALID, _("Invalid input."), errors), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(CommonErrorCode.INVALID, _("Invalid input."), _flatten(exc.detail))
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else _("Error.")
        errors = _flatten(detail) if isinstance(detail, dict | list) else {}
        code = exc.get_codes() if not isinstance(detail, dict | list) else exc.default_code
        response.data = error_body(str(code), message, errors)
    return response
