"""`manage.py verify_dose_sheets`: check every written dose sheet (any status, any version) against
the fingerprint taken when it was written; exit non-zero naming the sheets whose content changed."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dosing.models import DoseSheet, content_fingerprint

logger = logging.getLogger(__name__)
SHOWN = 20  # sheet ids named in the error; the count covers the rest


class Command(BaseCommand):
    help = "Verify every dose sheet's content against its fingerprint."

    def handle(self, *args: Any, **options: Any) -> None:
        checked = 0
        altered: list[int] = []
        rows = DoseSheet.objects.order_by("pk").values_list("pk", "content", "fingerprint")
        for pk, content, fingerprint in rows.iterator(chunk_size=500):
            checked += 1
            if content_fingerprint(content) != fingerprint:
                altered.append(pk)
        if altered:
            logger.critical("verify_dose_sheets: %s sheet(s) do not match their fingerprint: %s", len(altered), altered)
            named = ", ".join(str(pk) for pk in altered[:SHOWN]) + (" …" if len(altered) > SHOWN else "")
            raise CommandError(
                f"MISMATCH: {len(altered)} of {checked} dose sheets do not match their fingerprint "
                f"(content altered): {named}"
            )
        self.stdout.write(f"OK — {checked} dose sheets match their fingerprints.")
