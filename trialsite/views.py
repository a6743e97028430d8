"""Plain Django views of the registry: the health check."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from trialsite import clock, roles
from trialsite.celery import app as celery_app
from trialsite.error_codes import CommonErrorCode
from trialsite.models import StaffProfile, WorkerHeartbeat

BROKER_TIMEOUT_S = 2.0
HEARTBEAT_STALE_AFTER = dt.timedelta(minutes=15)


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any driver error means "down"; the page itself must still answer
        return {"ok": False, "vendor": connection.vendor, "error": exc.__class__.__name__}


def _check_broker() -> dict[str, Any]:
    try:
        # The URL is read from settings at call time, so a changed setting is what is checked.
        with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
            transport = conn.transport_cls
        return {"ok": True, "transport": str(transport)}
    except Exception as exc:  # a stopped broker is reported, not raised
        return {"ok": False, "error": exc.__class__.__name__}


def _check_worker(now: dt.datetime) -> dict[str, Any]:
    try:
        row = WorkerHeartbeat.objects.filter(pk=1).first()
    except Exception:
        return {"ok": False, "last_heartbeat": None}
    if row is None:
        return {"ok": False, "last_heartbeat": None}
    return {"ok": now - row.seen_at < HEARTBEAT_STALE_AFTER, "last_heartbeat": row.seen_at.isoformat()}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the database answers (the broker or worker being down is reported, because web
    requests keep working and reminders catch up later); 503 when the database is down.

    Anonymous callers (the load balancer, compose's health check) learn only the status; which
    part is down, the database vendor, driver errors and the worker's last heartbeat are for
    signed-in staff, not for whoever can reach the URL."""
    database = _check_database()
    broker = _check_broker()
    worker = _check_worker(clock.now()) if database["ok"] else {"ok": False, "last_heartbeat": None}
    overall = "ok" if database["ok"] and broker["ok"] else ("degraded" if database["ok"] else "down")
    body: dict[str, Any] = {"status": overall}
    if _is_staff(request):
        body |= {"database": database, "broker": broker, "worker": worker}
    return JsonResponse(body, status=200 if database["ok"] else 503)


def _is_staff(request: HttpRequest) -> bool:
    try:
        user = request.user
        return bool(user.is_authenticated and user.is_active and user.is_staff)
    except Exception:  # the session table is unreachable when the database is down
        return False


@require_POST
@login_required
def set_user_language(request: HttpRequest) -> HttpResponse:
    """Save the signed-in user's language (StaffProfile) and go back to where they were."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        message = _("Unknown language.")
        return JsonResponse(
            {"code": CommonErrorCode.INVALID, "detail": message, "errors": {"language": [message]}}, status=400
        )
    StaffProfile.objects.update_or_create(user=roles.actor(request.user), defaults={"language": language})
    target = request.POST.get("next") or "/admin/"
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/admin/"
    response = HttpResponseRedirect(target)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax", secure=not settings.DEBUG)
    return response


def _api_error(request: HttpRequest, status: int, code: str, detail: str) -> HttpResponse | None:
    if request.path.startswith("/api/"):
        return JsonResponse({"code": code, "detail": detail, "errors": {}}, status=status)
    return None


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 for URLs that match no route: JSON under /api/ (the API's one error shape), HTML elsewhere."""
    from django.views.defaults import page_not_found

    return _api_error(request, 404, CommonErrorCode.NOT_FOUND, _("Not found.")) or page_not_found(
        request, exception or Exception()
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403: JSON under /api/; elsewhere a page in the reader's language that says which role the
    refused page needs (trialsite/denied.py), inside the admin's frame."""
    from django.contrib import admin
    from django.template.response import TemplateResponse

    from trialsite import denied

    api = _api_error(request, 403, CommonErrorCode.PERMISSION_DENIED, _("Your role does not allow this."))
    if api is not None:
        return api
    context = {**admin.site.each_context(request), **denied.context(request, exception), "title": _("Not allowed")}
    response = TemplateResponse(request, "403.html", context, status=403)
    response.render()
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """500, or 503 `database_unavailable` with Retry-After when the database is down (Django
    calls this inside its `except`, so the exception is the one being handled)."""
    import sys

    from django.template.response import SimpleTemplateResponse
    from django.views.defaults import server_error as html_server_error

    from trialsite import outage

    if outage.is_database_outage(sys.exc_info()[1]):
        response = _api_error(request, 503, outage.CODE, str(outage.MESSAGE))
        if response is None:
            # A page of its own that needs no database (the admin's base template reads the user).
            context = {"message": outage.MESSAGE, "LANGUAGE_CODE": translation.get_language()}
            response = SimpleTemplateResponse("503.html", context, status=503).render()
        response["Retry-After"] = str(outage.RETRY_AFTER_S)
        return response
    detail = _("Server error; it has been logged.")
    return _api_error(request, 500, "server_error", detail) or html_server_error(request)
