"""`manage.py verify_randomization --trial NCT06850103`: replay the allocation record against
the published commitment; exit non-zero naming the first mismatch."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from randomization.verification import verify_trial
from trialsite.models import Trial


class Command(BaseCommand):
    help = "Verify a trial's allocation record: commitment, hash chain and replay from the seed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trial", required=True, help="Registry id, e.g. NCT06850103.")

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(registry_id=options["trial"]).first()
        if trial is None:
            raise CommandError(f"Unknown trial {options['trial']!r}.")
        report = verify_trial(trial)
        if not report.ok:
            raise CommandError(f"{trial.registry_id}: MISMATCH: {report.problem}")
        self.stdout.write(
            f"{trial.registry_id}: OK — {report.allocations} allocations replayed from the seed under "
            f"{report.schemes} activated scheme(s); commitments and hash chain verified."
        )
