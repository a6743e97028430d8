"""Role permissions for API views.

Every API view declares `required_roles`: a mapping from HTTP method (or "*") to the set of role
names allowed, read from the role table: `roles.roles_holding("<the permission the service
checks>")` for a write, a role set of trialsite.roles (EVERY_ROLE, STAFF_ROLES) for a read. A view
that declares nothing is closed to everyone (fail closed), so a new endpoint without a permission
decision cannot leak. Site scoping is done by the views' querysets (selectors), which return 404
for another site's objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from trialsite import roles

READ = ("GET", "HEAD", "OPTIONS")
# The role sets of trialsite.roles under the names the views import.
ALL_ROLES = roles.EVERY_ROLE
STAFF_ROLES = roles.STAFF_ROLES


def roles_for(view: Any, method: str) -> frozenset[str]:
    mapping: Mapping[str, frozenset[str] | set[str]] = getattr(view, "required_roles", {}) or {}
    if method in ("HEAD", "OPTIONS") and method not in mapping:
        method = "GET"
    return frozenset(mapping.get(method, mapping.get("*", frozenset())))


class HasRole(BasePermission):
    message = _("Your role does not allow this operation.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        if user.is_superuser:
            return True
        return bool(roles.user_roles(user) & roles_for(view, request.method or "GET"))
