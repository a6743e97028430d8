"""`manage.py grant_app_role ROLE`: give the application's database role its privileges (read and
write rows, use sequences; no DDL), now and for every table the owner creates later. Run as the
owner (DATABASE_OWNER_URL, else DATABASE_URL's role) after `migrate`; idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from trialsite.db import RoleError, grant_application_role, use_owner_role


class Command(BaseCommand):
    help = "Grant the application role row privileges only (README: Database roles)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="The role web, worker and beat connect as (e.g. trialsite_app).")
        parser.add_argument("--database", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        use_owner_role(options["database"])
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            raise CommandError("Database roles need PostgreSQL.")
        try:
            with connection.cursor() as cursor:
                grant_application_role(options["role"], cursor)
        except RoleError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Role {options['role']} may read and write rows; it cannot alter tables or triggers.")
