"""Create (or update) a user with a role and sites, and print their API token as the last line."""

from typing import Any

from django.contrib.auth.models import Group, User
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

    @transaction.atomic
    def handle(self, *args: Any, username: str, role: str, site: list[str], **options: Any) -> None:
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
        token, _ = Token.objects.get_or_create(user=user)
        where = ", ".join(s.code for s in sites) or "no sites"
        self.stdout.write(f"{'created' if created else 'updated'} {username} as {role} at {where}")
        self.stdout.write(token.key)
