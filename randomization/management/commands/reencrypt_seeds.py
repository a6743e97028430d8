"""`manage.py reencrypt_seeds`: after SEED_ENCRYPTION_KEY was rotated (the new key current, the old
one in SEED_ENCRYPTION_OLD_KEYS), encrypt every scheme's seed under the current key, so that the
old key can be retired. Idempotent; the seeds themselves, and so the commitments, do not change."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from randomization import keyring
from randomization.models import SchemeSecret


class Command(BaseCommand):
    help = "Re-encrypt the randomization seeds under the current SEED_ENCRYPTION_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        current = keyring.seed_key_id()
        moved = 0
        with transaction.atomic():
            for secret in SchemeSecret.objects.select_for_update().order_by("pk"):
                if secret.key_id == current:
                    continue
                try:
                    seed = secret.seed()
                except keyring.KeyringError as exc:
                    raise CommandError(f"scheme {secret.scheme_id}: {exc}; nothing was changed") from exc
                secret.key_id, secret.seed_encrypted = keyring.seed_encrypt(seed, scheme_id=secret.scheme_id)
                secret.save(update_fields=["key_id", "seed_encrypted"])
                moved += 1
        self.stdout.write(f"{moved} seed(s) re-encrypted under key {current!r}; the others already were.")
