"""`manage.py generate_key --id ID`: a new key for ALLOCATION_CHAIN_KEY or SEED_ENCRYPTION_KEY, as
"<id>:<32 random bytes in base64url>" (README "Keys, backup and restore"). Printed only; store it
in the secret store, never in the database or the repository."""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Print a new 256-bit key for ALLOCATION_CHAIN_KEY or SEED_ENCRYPTION_KEY."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", required=True, help="The key's id, e.g. 2026a (letters, digits, . _ -).")

    def handle(self, *args: Any, **options: Any) -> None:
        key_id = options["id"]
        if not re.fullmatch(settings.KEY_ID_PATTERN, key_id) or key_id == "dev":
            raise CommandError("--id: 1–32 letters, digits, '.', '_' or '-', not 'dev'.")
        self.stdout.write(f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}")
