"""Staff roles. A role is a Django group whose permissions are set by migrations
(see `grant_permissions`), never by hand; site membership is data (SiteMembership)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

RESEARCH_NURSE = "research_nurse"
PHARMACIST = "pharmacist"
INVESTIGATOR = "investigator"
STATISTICIAN = "statistician"
API_CLIENT = "api_client"

ROLES: tuple[str, ...] = (RESEARCH_NURSE, PHARMACIST, INVESTIGATOR, STATISTICIAN, API_CLIENT)

# Roles that work in the admin (is_staff); an API client only has a token.
ADMIN_ROLES = frozenset({RESEARCH_NURSE, PHARMACIST, INVESTIGATOR, STATISTICIAN})

AnyUser = AbstractBaseUser | AnonymousUser


def user_roles(user: Any) -> frozenset[str]:
    """The role names of `user`, cached on the instance for the request's lifetime."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_trialsite_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._trialsite_roles = cached
    return cached


def has_role(user: Any, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


IDENTITY_PERMISSION = "trialsite.view_participant_identity"


def can_see_identity(user: Any) -> bool:
    """Whether `user` may see participants' full names and birth dates through the API: the staff
    roles may (granted by migration); an API client only when given the permission itself
    (`create_api_user --identity`), because a hospital system needs the schedule, not the person."""
    if not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, "_trialsite_sees_identity", None)  # primed by the API's token look-up
    if cached is None:
        cached = user.has_perm(IDENTITY_PERMISSION)
        user._trialsite_sees_identity = cached
    return bool(cached)


def actor(user: Any) -> User:
    """The signed-in user behind a request, as the services' `by` argument."""
    from django.utils.translation import gettext

    from trialsite.errors import NotPermitted

    if not isinstance(user, User) or not user.is_authenticated:
        raise NotPermitted(gettext("Sign in first."), code="not_authenticated")
    return user


# Roles whose members work for the whole trial, not one site: only they (and superusers) hold the
# permissions that change trial-wide settings (reminder rules, sites, the trial itself).
TRIAL_WIDE_ROLES = frozenset({INVESTIGATOR})


def require(by: User | None, perm: str, *, site: Any = None, hidden: bool = False) -> None:
    """The check every write service makes itself, whichever door called it (admin, API, task,
    command): `by` holds the permission "app_label.codename" (granted to roles by migrations) and,
    if `site` (a Site or its id) is given, works there. `by=None` is the system itself (a Celery
    task, a management command, a receiver); a superuser may do anything. Raises NotPermitted;
    with `hidden`, another site's record "does not exist" for the user (NotFound, 404), as the
    selectors already answer."""
    from django.utils.translation import gettext

    from trialsite.errors import NotFound, NotPermitted
    from trialsite.selectors import user_site_ids

    if by is None:
        return
    if not by.is_authenticated or not by.is_active:
        raise NotPermitted(gettext("Sign in first."), code="not_authenticated")
    if by.is_superuser:
        return
    if not by.has_perm(perm):
        raise NotPermitted(gettext("Your role does not allow this."), code="role_required")
    if site is not None:
        site_id = site if isinstance(site, int) else site.pk
        if site_id not in user_site_ids(by):
            if hidden:
                raise NotFound(gettext("Not found."))
            raise NotPermitted(gettext("You do not work at this site."), code="site_required")


def grant_permissions(apps: Any, mapping: Mapping[str, Iterable[str]]) -> None:
    """For data migrations: give each role (group) the listed "app_label.codename" permissions.

    Permissions are normally created after `migrate` (post_migrate); a migration that grants
    them creates them first, so a fresh database ends up with the same groups as an old one.
    """
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    labels = {perm.split(".", 1)[0] for perms in mapping.values() for perm in perms}
    for label in labels:
        create_permissions(global_apps.get_app_config(label), verbosity=0, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in mapping.items():
        group, _ = Group.objects.get_or_create(name=role)
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke_permissions(apps: Any, mapping: Mapping[str, Iterable[str]]) -> None:
    """For data migrations: take the listed "app_label.codename" permissions from each role."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in mapping.items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            group.permissions.remove(*Permission.objects.filter(content_type__app_label=app_label, codename=codename))
