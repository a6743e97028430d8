"""The 403 page: what was refused and which role may do it, in the reader's language.

The roles are read from the database (the groups holding the permission the refused page needs,
as the migrations granted them), so the page never names a role that could not help."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import Resolver404, resolve
from django.utils.translation import pgettext_lazy

from trialsite import roles

ROLE_NAMES = {
    roles.RESEARCH_NURSE: pgettext_lazy("role", "research nurse"),
    roles.PHARMACIST: pgettext_lazy("role", "pharmacist"),
    roles.INVESTIGATOR: pgettext_lazy("role", "investigator"),
    roles.STATISTICIAN: pgettext_lazy("role", "statistician"),
    roles.API_CLIENT: pgettext_lazy("role", "hospital system (API)"),
}

# Custom admin pages and the permission each needs (the model's pages are read from their URL
# names: add, change, view, delete).
CUSTOM_PAGE_PERMISSIONS = {
    "trialsite_participant_death": "trialsite.withdraw_participant",
    "dosing_dosesheet_prepare": "dosing.prepare_dosesheet",
}
ACTIONS = {"add": "add", "change": "change", "delete": "delete", "changelist": "view", "history": "view"}


def role_name(code: str) -> str:
    return str(ROLE_NAMES.get(code, code))


def needed_permission(path: str, exception: Exception | None) -> str | None:
    """ "app_label.codename" the refused page needs: given by the exception ("app.codename" as
    its message), a known custom page, or the model admin page's action."""
    message = str(exception.args[0]) if exception is not None and exception.args else ""
    if message.count(".") == 1 and " " not in message:
        return message
    try:
        match = resolve(path)
    except Resolver404:
        return None
    name = match.url_name or ""
    if match.namespace != "admin" or not name:
        return None
    if name in CUSTOM_PAGE_PERMISSIONS:
        return CUSTOM_PAGE_PERMISSIONS[name]
    for model in admin.site._registry:
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(prefix):
            action = ACTIONS.get(name[len(prefix) :], "view")
            return f"{model._meta.app_label}.{action}_{model._meta.model_name}"
    return None


def roles_with_permission(permission: str) -> list[str]:
    """The roles (in ROLES order) that hold `permission`, from the role table."""
    held = roles.roles_holding(permission)
    return [r for r in roles.ROLES if r in held]


def context(request: Any, exception: Exception | None) -> dict[str, Any]:
    permission = needed_permission(request.path_info, exception)
    needed = roles_with_permission(permission) if permission else []
    mine = sorted(roles.user_roles(request.user))
    return {
        "needed_roles": [role_name(r) for r in needed],
        "my_roles": [role_name(r) for r in mine],
    }
