"""Generated from the URL configuration: every API endpoint has a permission decision, and every
one is closed to anonymous callers (except the documented public ones)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from trialsite import roles

PUBLIC = {"/api/schema/", "/api/docs/", "/healthz"}


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for p in patterns:
        if isinstance(p, URLResolver):
            out += _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            out.append((prefix + str(p.pattern), p.callback))
    return out


def api_endpoints() -> list[tuple[str, type[APIView]]]:
    found = []
    for route, callback in _walk(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if route.startswith("api/v1/") and view_class is not None and issubclass(view_class, APIView):
            found.append((route, view_class))
    return found


def _concrete(route: str) -> str:
    import re

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", "999999", route).replace("^", "").replace("$", "")


def test_the_api_has_endpoints() -> None:
    routes = [r for r, _ in api_endpoints()]
    assert "api/v1/participants/" in routes
    assert len(routes) >= 8


@pytest.mark.parametrize(("route", "view"), api_endpoints(), ids=[r for r, _ in api_endpoints()])
def test_every_api_view_declares_its_roles(route: str, view: type[APIView]) -> None:
    declared = getattr(view, "required_roles", None)
    assert declared, f"{view.__name__} ({route}) declares no required_roles: it would be closed to all"
    methods = {m.upper() for m in view.http_method_names if hasattr(view, m) and m not in ("options", "head")}
    for method, allowed in declared.items():
        assert method == "*" or method in methods, f"{view.__name__}: roles for {method}, which it does not serve"
        assert set(allowed) <= set(roles.ROLES), f"{view.__name__}: unknown role in {allowed}"
    missing = {m for m in methods if m not in declared and "*" not in declared}
    assert not missing, f"{view.__name__} ({route}) has no permission decision for {missing}"


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "view"), api_endpoints(), ids=[r for r, _ in api_endpoints()])
def test_anonymous_callers_get_401_everywhere(route: str, view: type[APIView]) -> None:
    client = APIClient()
    for method in ("get", "post", "patch", "delete"):
        if not hasattr(view, method):
            continue
        response = getattr(client, method)(_concrete(route), {}, format="json")
        assert response.status_code == 401, f"{method.upper()} {route}: {response.status_code}"


@pytest.mark.django_db
def test_every_admin_page_needs_a_staff_login() -> None:
    client = Client()
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


@pytest.mark.django_db
def test_admin_login_is_throttled(client: Client, nurse: Any) -> None:
    for _ in range(5):
        client.post("/admin/login/?next=/admin/", {"username": "nurse", "password": "wrong"})
    # Locked out now, even with the right password.
    locked = client.post("/admin/login/?next=/admin/", {"username": "nurse", "password": "pw-for-tests-1"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


# Registry and feature-app models that are configuration or account data, not clinical records.
NOT_CLINICAL = {
    "trialsite.staffprofile",
    "trialsite.sitemembership",
    "trialsite.sitereferencerange",
    "schedules.siteclosure",
    "schedules.calendarfeed",
    "reminders.reminderrule",
}
CLINICAL_APPS = {"trialsite", "randomization", "dosing", "schedules", "reminders", "adverse_events"}


@pytest.mark.django_db
def test_no_clinical_record_can_be_deleted_in_the_admin(rf: Any) -> None:
    from django.contrib.auth.models import User

    request = rf.get("/admin/")
    request.user = User(username="root", is_superuser=True, is_staff=True, is_active=True)
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        if model._meta.app_label not in CLINICAL_APPS or label in NOT_CLINICAL:
            continue
        assert not model_admin.has_delete_permission(request), f"{label} can be deleted in the admin"
        assert "delete_selected" not in model_admin.get_actions(request), f"{label} has the bulk delete action"


@pytest.mark.django_db
def test_feed_keys_never_reach_the_logs(client: Client) -> None:
    import io
    import logging

    from trialsite.logging import RedactSecretsFilter, redact

    key = "Zq8-secret-feed-key_123"
    assert (
        redact(f"Unauthorized: /api/v1/calendar-feeds/{key}.ics")
        == "Unauthorized: /api/v1/calendar-feeds/<redacted>.ics"
    )
    # Through the real stack: an unknown key's 401 is logged by django.request to the console
    # handler configured in settings; read what that handler writes.
    [console] = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecretsFilter) for f in h.filters)]
    buffer = io.StringIO()
    old = console.setStream(buffer)  # type: ignore[attr-defined]
    try:
        assert client.get(f"/api/v1/calendar-feeds/{key}.ics").status_code == 401
    finally:
        console.setStream(old)  # type: ignore[attr-defined]
    assert "calendar-feeds/<redacted>.ics" in buffer.getvalue()
    assert key not in buffer.getvalue()
