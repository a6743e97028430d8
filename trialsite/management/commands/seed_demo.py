"""Load the protocol definitions and create one demo user per role. Idempotent."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

from trialsite import roles, services
from trialsite.errors import ApplicationError
from trialsite.models import Site, SiteMembership, StaffProfile

DEMO_PASSWORD = "trialsite-demo"  # noqa: S105 - demo users only, refused with DEBUG=false
ALL_SITES = "*"
# (username, role, site codes, language). Two nurses at different sites show site isolation; two
# pharmacists show the two-person dose-sheet release.
DEMO_USERS = [
    ("nurse", roles.RESEARCH_NURSE, ["ZJU1"], "zh-hans"),
    ("nurse_nb", roles.RESEARCH_NURSE, ["NBH2"], "zh-hans"),
    ("pharmacist", roles.PHARMACIST, [ALL_SITES], "en"),
    ("pharmacist2", roles.PHARMACIST, [ALL_SITES], "en"),
    ("investigator", roles.INVESTIGATOR, [ALL_SITES], "en"),
    ("statistician", roles.STATISTICIAN, [ALL_SITES], "en"),
    ("api_client", roles.API_CLIENT, [ALL_SITES], "en"),
]


class Command(BaseCommand):
    help = "Load the NCT06850103 protocol, its sites, and one demo user per role; print the logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Create the demo users (known passwords) even with DEBUG=false.",
        )

    def handle(self, *args: Any, allow_production: bool = False, **options: Any) -> None:
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "seed_demo creates users with a known password; with DEBUG=false pass --allow-production."
            )
        for path in sorted(settings.PROTOCOL_DIR.glob("*.yaml")):
            try:
                version, created = services.protocol_load(path=path, by=None)  # the system
            except ApplicationError as exc:
                raise CommandError(exc.detail) from exc
            self.stdout.write(f"protocol {version}: {'loaded' if created else 'already loaded'}")
        with transaction.atomic():
            lines = [self._user(*spec) for spec in DEMO_USERS]
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}), admin at /admin/:")
        for line in lines:
            self.stdout.write("  " + line)

    def _user(self, username: str, role: str, site_codes: list[str], language: str) -> str:
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": role in roles.ADMIN_ROLES})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(Group.objects.get(name=role))
        sites = Site.objects.all() if site_codes == [ALL_SITES] else Site.objects.filter(code__in=site_codes)
        for site in sites:
            SiteMembership.objects.get_or_create(user=user, site=site)
        StaffProfile.objects.get_or_create(user=user, defaults={"language": language})
        where = "all sites" if site_codes == [ALL_SITES] else ", ".join(site_codes)
        token = ""
        if role == roles.API_CLIENT:
            token = f"  token {Token.objects.get_or_create(user=user)[0].key}"
        return f"{username:<13} {role:<15} {where}{token}"
