"""API authentication: DRF's token authentication, reading the user's roles and site ids in the
same query as the token and the user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from rest_framework import authentication
from rest_framework.authtoken.models import Token

from trialsite import roles
from trialsite.models import SiteMembership


class TokenAuthentication(authentication.TokenAuthentication):
    """Every API request needs the caller's roles (HasRole) and, for nearly every answer, their
    sites (the selectors' site scoping); DRF's token look-up followed by those two look-ups made
    three queries before the view began. Here one query reads all three, and whether the caller
    may see participants' identities, and primes the per-request caches of `roles.user_roles`,
    `roles.can_see_identity` and `selectors.user_site_ids`. Nothing is cached
    beyond the request: a role or site taken away applies to the next request.

    (PostgreSQL array subqueries; the SQLite of `make run` keeps DRF's look-up.)"""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        if connection.vendor != "postgresql":
            return super().authenticate_credentials(key)
        token = (
            Token.objects.select_related("user")
            .annotate(
                role_names=ArraySubquery(
                    Group.objects.filter(user=OuterRef("user_id"), name__in=roles.ROLES).values("name")
                ),
                member_of=ArraySubquery(SiteMembership.objects.filter(user=OuterRef("user_id")).values("site_id")),
                sees_identity=Exists(
                    _identity_permission().filter(Q(user=OuterRef("user_id")) | Q(group__user=OuterRef("user_id")))
                ),
            )
            .filter(key=key)
            .first()
        )
        if token is None or not token.user.is_active:
            return super().authenticate_credentials(key)  # DRF's own refusal, with its translated message
        user = token.user
        user._trialsite_roles = frozenset(token.role_names)
        user._trialsite_site_ids = frozenset(token.member_of)
        user._trialsite_sees_identity = user.is_superuser or token.sees_identity
        return (user, token)


def _identity_permission() -> Any:
    app_label, codename = roles.IDENTITY_PERMISSION.split(".")
    return Permission.objects.filter(content_type__app_label=app_label, codename=codename)
