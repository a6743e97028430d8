"""Staff roles and what each may do. A role is a Django group; `PERMISSIONS` below is the one place
its rights are written: the admin and the API read it (through Django's permissions, which the
role migrations set from it: `manage.py role_migration <app_label>`), and every write service
checks it with `require`. Site membership is data (SiteMembership)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

from trialsite.error_codes import CommonErrorCode

RESEARCH_NURSE = "research_nurse"
PHARMACIST = "pharmacist"
INVESTIGATOR = "investigator"
STATISTICIAN = "statistician"
API_CLIENT = "api_client"

ROLES: tuple[str, ...] = (RESEARCH_NURSE, PHARMACIST, INVESTIGATOR, STATISTICIAN, API_CLIENT)

# The role sets, declared once.
EVERY_ROLE = frozenset(ROLES)
# Roles that work in the admin (is_staff); an API client only has a token.
ADMIN_ROLES = frozenset({RESEARCH_NURSE, PHARMACIST, INVESTIGATOR, STATISTICIAN})
STAFF_ROLES = ADMIN_ROLES
# Roles whose members work for the whole trial, not one site: only they (and superusers) hold the
# permissions that change trial-wide settings (reminder rules, sites, the trial itself).
TRIAL_WIDE_ROLES = frozenset({INVESTIGATOR})
# Roles that record clinical data at their sites.
CLINICAL_ROLES = frozenset({RESEARCH_NURSE, INVESTIGATOR})
# Roles that take a clinical decision against the protocol's default: record a protocol deviation
# (a visit outside its window, an SCRT course over its time), correct a date later ones depend on.
# (Not Django permissions yet: see `may`.)
DEVIATION_ROLES = frozenset({INVESTIGATOR})
NONE: frozenset[str] = frozenset()

_I = frozenset({INVESTIGATOR})
_P = frozenset({PHARMACIST})
_S = frozenset({STATISTICIAN})

# Who holds each "app_label.codename" permission: one line per permission, so that moving a model
# to another app (or a right to another role) is a one-line change. A permission not listed here
# is held by no role (a superuser's, such as trialsite.change_trial). `test_role_table` fails when
# the migrated groups and this table disagree; `manage.py role_migration <app>` writes the
# migration that makes them agree.
PERMISSIONS: dict[str, frozenset[str]] = {
    # trialsite: the registry
    "trialsite.view_trial": STAFF_ROLES,
    "trialsite.view_protocolversion": _S,
    "trialsite.view_site": STAFF_ROLES,
    "trialsite.view_sitereferencerange": STAFF_ROLES,
    "trialsite.add_sitereferencerange": _I,
    "trialsite.change_sitereferencerange": _I,
    "trialsite.raise_enrollment_cap": _S,
    "trialsite.view_participant": STAFF_ROLES,
    "trialsite.view_participant_identity": STAFF_ROLES,
    "trialsite.add_participant": CLINICAL_ROLES,
    "trialsite.change_participant": CLINICAL_ROLES,
    "trialsite.withdraw_participant": CLINICAL_ROLES,
    "trialsite.view_measurement": STAFF_ROLES,
    "trialsite.add_measurement": CLINICAL_ROLES,
    "trialsite.change_measurement": CLINICAL_ROLES,
    "trialsite.view_labresult": STAFF_ROLES,
    "trialsite.add_labresult": CLINICAL_ROLES,
    "trialsite.change_labresult": CLINICAL_ROLES,
    "trialsite.view_trialjob": TRIAL_WIDE_ROLES,
    "trialsite.view_audit_log": _I | _S,
    # randomization: eligibility and allocation
    "randomization.view_screeningassessment": CLINICAL_ROLES | _S,
    "randomization.add_screeningassessment": CLINICAL_ROLES,
    "randomization.randomize_participant": CLINICAL_ROLES,
    "randomization.view_randomizationscheme": _S,
    "randomization.add_randomizationscheme": _S,
    "randomization.change_randomizationscheme": _S,
    "randomization.activate_scheme": _S,
    "randomization.view_allocation": _S,
    "randomization.view_allocation_secret": _S,
    # dosing: calculations, regimens, dose sheets
    "dosing.view_dosesheet": CLINICAL_ROLES | _P,
    "dosing.prepare_dosesheet": _I | _P,
    "dosing.verify_dosesheet": _P,
    "dosing.release_dosesheet": _P,
    "dosing.view_dosemodification": CLINICAL_ROLES | _P,
    "dosing.add_dosemodification": _I,
    "dosing.view_renaldecision": CLINICAL_ROLES | _P,
    "dosing.add_renaldecision": _I,
    # schedules: treatment plans, bookings
    "schedules.view_treatmentplan": STAFF_ROLES,
    "schedules.add_treatmentplan": CLINICAL_ROLES,
    "schedules.change_treatmentplan": CLINICAL_ROLES,
    "schedules.view_scheduledevent": STAFF_ROLES,
    "schedules.add_scheduledevent": CLINICAL_ROLES,
    "schedules.change_scheduledevent": CLINICAL_ROLES,
    "schedules.view_booking": STAFF_ROLES,
    "schedules.add_booking": CLINICAL_ROLES | {API_CLIENT},
    "schedules.change_booking": CLINICAL_ROLES | {API_CLIENT},
    "schedules.view_siteclosure": STAFF_ROLES,
    "schedules.add_siteclosure": CLINICAL_ROLES,
    "schedules.change_siteclosure": CLINICAL_ROLES,
    # adverse_events: the toxicity log
    "adverse_events.view_term": STAFF_ROLES,
    "adverse_events.view_adverseevent": STAFF_ROLES,
    "adverse_events.add_adverseevent": CLINICAL_ROLES,
    "adverse_events.change_adverseevent": CLINICAL_ROLES,
    "adverse_events.acknowledge_adverseevent": _I,
    "adverse_events.view_saealert": _I,
    # reminders: rules, reminders, staff digests
    "reminders.view_reminder": CLINICAL_ROLES,
    "reminders.change_reminder": CLINICAL_ROLES,
    "reminders.view_reminderrule": CLINICAL_ROLES,
    "reminders.add_reminderrule": TRIAL_WIDE_ROLES,
    "reminders.change_reminderrule": TRIAL_WIDE_ROLES,
    "reminders.view_staffdigest": CLINICAL_ROLES,
}


def role_permissions(role: str, app_label: str | None = None) -> frozenset[str]:
    """The "app_label.codename" permissions `role` holds (in one app, if given)."""
    return frozenset(
        perm
        for perm, holders in PERMISSIONS.items()
        if role in holders and (app_label is None or perm.split(".", 1)[0] == app_label)
    )


def roles_holding(perm: str) -> frozenset[str]:
    """The roles whose members hold `perm` (none for a permission the table does not list)."""
    return PERMISSIONS.get(perm, NONE)


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


def may(by: Any, role_set: frozenset[str]) -> bool:
    """Whether `by` acts with one of `role_set`'s roles, for a rule inside a service that no
    Django permission names: `by=None` (the system) and a superuser may."""
    return by is None or bool(getattr(by, "is_superuser", False)) or bool(user_roles(by) & role_set)


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
        raise NotPermitted(gettext("Sign in first."), code=CommonErrorCode.NOT_AUTHENTICATED)
    return user


def require(by: User | None, perm: str, *, site: Any = None) -> None:
    """The check every write service makes itself, whichever door called it (admin, API, task,
    command): `by` holds the permission "app_label.codename" (the role table's, through the
    migrated groups) and, if `site` (a Site or its id) is given, works there. `by=None` is the
    system itself (a Celery task, a management command, a receiver); a superuser may do anything.
    A role that may not act is NotPermitted (403, role_required); another site's record "does
    not exist" for the user (NotFound, 404), as the selectors answer, so that no door tells
    whether it exists."""
    from django.utils.translation import gettext

    from trialsite.errors import NotFound, NotPermitted
    from trialsite.selectors import user_site_ids

    if by is None:
        return
    if not by.is_authenticated or not by.is_active:
        raise NotPermitted(gettext("Sign in first."), code=CommonErrorCode.NOT_AUTHENTICATED)
    if by.is_superuser:
        return
    if not by.has_perm(perm):
        raise NotPermitted(gettext("Your role does not allow this."), code=CommonErrorCode.ROLE_REQUIRED)
    if site is not None:
        site_id = site if isinstance(site, int) else site.pk
        if site_id not in user_site_ids(by):
            raise NotFound(gettext("Not found."))


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


def set_app_permissions(apps: Any, app_label: str, mapping: Mapping[str, Iterable[str]]) -> None:
    """For the generated role migrations (`manage.py role_migration`): each role (group) of
    `mapping` holds exactly the listed "app_label.codename" permissions of `app_label`, no more
    (rights of the app not listed are taken away) and no fewer; other apps' rights are left alone."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    create_permissions(global_apps.get_app_config(app_label), verbosity=0, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    of_app = Permission.objects.filter(content_type__app_label=app_label)
    for role, perms in mapping.items():
        group, _ = Group.objects.get_or_create(name=role)
        codenames = {perm.split(".", 1)[1] for perm in perms}
        wanted = list(of_app.filter(codename__in=codenames))
        missing = codenames - {p.codename for p in wanted}
        if missing:
            raise LookupError(f"{app_label} has no permissions {sorted(missing)}")
        group.permissions.remove(
            *group.permissions.filter(content_type__app_label=app_label).exclude(codename__in=codenames)
        )
        group.permissions.add(*wanted)
