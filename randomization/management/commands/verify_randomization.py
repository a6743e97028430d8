"""`manage.py verify_randomization --trial NCT06850103 [--head N:HASH] [--heads-file PATH]`: replay
the allocation record against the published commitment and against chain heads published earlier
(the statisticians' emails, the ALLOCATION_HEAD_FILE export); exit non-zero naming the first
mismatch. On success it prints the current head, to be kept outside the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from randomization import heads
from randomization.verification import verify_trial
from trialsite.models import Trial


def _head(text: str) -> tuple[int, str]:
    try:
        return heads.parse_head(text)
    except ValueError as exc:
        raise CommandError(f"--head: {exc}") from exc


class Command(BaseCommand):
    help = "Verify a trial's allocation record: commitment, keyed hash chain, published heads and replay from the seed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trial", required=True, help="Registry id, e.g. NCT06850103.")
        parser.add_argument(
            "--head",
            action="append",
            default=[],
            metavar="N:HASH",
            help="A chain head published earlier (randomization number and entry hash); may be repeated.",
        )
        parser.add_argument(
            "--heads-file",
            type=Path,
            help="A chain-head export file (ALLOCATION_HEAD_FILE, or a copy of it): every head of the trial in it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(registry_id=options["trial"]).first()
        if trial is None:
            raise CommandError(f"Unknown trial {options['trial']!r}.")
        published = [_head(text) for text in options["head"]]
        if options["heads_file"] is not None:
            try:
                published += list(heads.read_heads(options["heads_file"], trial.registry_id))
            except (OSError, ValueError) as exc:
                raise CommandError(f"--heads-file: {exc}") from exc
        report = verify_trial(trial, published=published)
        line = report.line(trial.registry_id, published=len(published))
        if not report.ok:
            raise CommandError(line)
        self.stdout.write(line)
