from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation


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
