"""`manage.py migrate`, as Django's, but connected as the owner role when DATABASE_OWNER_URL is
set (trialsite/db.py): the tables and their triggers belong to the owner, never to the role the
application connects as."""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate

from trialsite.db import use_owner_role


class Command(migrate.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        if use_owner_role(options["database"]) and options["verbosity"] >= 1:
            self.stdout.write("Connected as the owner role (DATABASE_OWNER_URL).")
        super().handle(*args, **options)
