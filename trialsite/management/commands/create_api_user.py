"""Create (or update) a user with a role and sites, and print their API token as the last line."""

import argparse
from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

from trialsite import roles
from trialsite.models import Site, SiteMembership


class Command(BaseCommand):
    help = "Create or update an API user with ROLE and sites; prints the API token as its last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=roles.ROLES)
        parser.add_argument("--site", action="append", default=[], metavar="CODE", help="Repeat for several sites.")
        parser.add_argument(
            "--identity",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Let this user see participants' full names and birth dates (API clients do not by default); "
            "--no-identity takes it away. Left as it is when not given.",
        )

    @transaction.atomic
    def handle(
        self, *args: Any, username: str, role: str, site: list[str], identity: bool | None = None, **options: Any
    ) -> None:
        sites = list(Site.objects.filter(code__in=site))
        unknown = sorted(set(site) - {s.code for s in sites})
        if unknown:
            known = ", ".join(Site.objects.order_by("code").values_list("code", flat=True)) or "none (run seed_demo)"
            raise CommandError(f"Unknown site code(s): {', '.join(unknown)}. Known: {known}.")
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
        user.is_staff = user.is_staff or role in roles.ADMIN_ROLES
        user.save()
        user.groups.add(Group.objects.get(name=role))
        for s in sites:
            SiteMembership.objects.get_or_create(user=user, site=s)
        if identity is not None:
            app_label, codename = roles.IDENTITY_PERMISSION.split(".")
            permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
            (user.user_permissions.add if identity else user.user_permissions.remove)(permission)
        token, _ = Token.objects.get_or_create(user=user)
        where = ", ".join(s.code for s in sites) or "no sites"
        user = User.objects.get(pk=user.pk)  # a fresh permission cache
        sees = "sees" if roles.can_see_identity(user) else "does not see"
        self.stdout.write(f"{'created' if created else 'updated'} {username} as {role} at {where}; {sees} identities")
        self.stdout.write(token.key)
