from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _


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
