from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trialsite.error_codes import CommonErrorCode


class UserLanguageMiddleware:
    """Activate a signed-in staff member's chosen language (StaffProfile.language), after
    LocaleMiddleware has picked one from the browser for anonymous pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            profile = getattr(user, "staff_profile", None) if hasattr(user, "staff_profile") else None
            if profile is not None:
                translation.activate(profile.language)
                request.LANGUAGE_CODE = profile.language
        response = self.get_response(request)
        return response


class IntegrityFailureMiddleware:
    """A page (the admin's, not the API, whose exception handler answers JSON) that met a record
    failing its integrity check (trialsite.errors.IntegrityFailure) answers 500 with the message
    and its code instead of the record; the finder has logged it at CRITICAL."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.contrib import admin
        from django.template.response import TemplateResponse

        from trialsite.errors import IntegrityFailure

        if not isinstance(exception, IntegrityFailure):
            return None
        context = {
            **admin.site.each_context(request),
            "title": _("Integrity check failed"),
            "detail": exception.detail,
            "code": exception.code,
        }
        return TemplateResponse(request, "integrity_failure.html", context, status=500).render()


class RefuseNulMiddleware:
    """Answer 400 to a request with a NUL character in its path, query string, headers or cookies.

    PostgreSQL refuses NUL in text, so `/api/v1/calendar-feeds/%00.ics` reached the database as a
    lookup and came back a 500. No URL, header or cookie of this service may contain one; JSON
    bodies are checked by trialsite.api.parsers, form fields by Django's own validator."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        part = _nul_in(request)
        if part is None:
            return self.get_response(request)
        detail = _("The request's %(part)s contains a NUL character.") % {"part": REQUEST_PARTS[part]}
        if request.path_info.startswith("/api/"):
            return JsonResponse(
                {"code": CommonErrorCode.INVALID, "detail": detail, "errors": {part: [detail]}}, status=400
            )
        return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")


REQUEST_PARTS = {
    "path": gettext_lazy("path"),
    "query": gettext_lazy("query string"),
    "headers": gettext_lazy("headers"),
    "cookies": gettext_lazy("cookies"),
}


def _nul_in(request: HttpRequest) -> str | None:
    if "\x00" in request.path_info:
        return "path"
    query = request.META.get("QUERY_STRING", "")
    if "\x00" in query or "%00" in query:
        return "query"
    if any(isinstance(v, str) and "\x00" in v for k, v in request.META.items() if k.startswith("HTTP_")):
        return "headers"
    if any("\x00" in k or "\x00" in v for k, v in request.COOKIES.items()):
        return "cookies"
    return None


# Session keys of SessionTimeoutMiddleware: when the session was signed in, and last used (epoch s).
SESSION_STARTED_KEY = "_trialsite_session_started"
SESSION_SEEN_KEY = "_trialsite_session_seen"
# The last-use time is written at most this often, so that a burst of requests is not a burst of
# session writes; the idle timeout is therefore exact to within this many seconds.
SESSION_TOUCH_EVERY_S = 30


class SessionTimeoutMiddleware:
    """Sign a staff member out after SESSION_IDLE_TIMEOUT_MINUTES without a request and after
    SESSION_MAX_AGE_HOURS since signing in, whatever they do (21 CFR 11.300: a session left open
    on a ward PC must not stay usable). The request then goes on anonymously: the admin asks for
    the password again, the API answers 401/403. Token-authenticated API calls have no session
    and are not affected."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings
        from django.contrib.auth import logout

        from trialsite import clock

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            session = request.session
            now = clock.now().timestamp()
            started = session.get(SESSION_STARTED_KEY)
            seen = session.get(SESSION_SEEN_KEY)
            if not isinstance(started, int | float) or not isinstance(seen, int | float):
                session[SESSION_STARTED_KEY] = session[SESSION_SEEN_KEY] = now
            elif (
                now - seen > settings.SESSION_IDLE_TIMEOUT_MINUTES * 60
                or now - started > settings.SESSION_MAX_AGE_HOURS * 3600
            ):
                logout(request)  # flushes the session and sets request.user to AnonymousUser
            elif now - seen >= SESSION_TOUCH_EVERY_S:
                session[SESSION_SEEN_KEY] = now
        return self.get_response(request)


def start_session_clock(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    """user_logged_in receiver: a new sign-in is a new session for the timeouts, even when Django
    keeps the session's data (signing in again as the same user)."""
    from trialsite import clock

    session = getattr(request, "session", None)
    if session is not None:
        session[SESSION_STARTED_KEY] = session[SESSION_SEEN_KEY] = clock.now().timestamp()
