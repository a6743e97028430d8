"""Load CTCAE v5.0 terms: the NCI spreadsheet when a site has it (xlsx or CSV with the columns
MedDRA Code, MedDRA SOC, CTCAE Term, Grade 1 … Grade 5), by default the subset shipped in
adverse_events/data (its source is in the README there). Terms are matched by name; loading the
same file again changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adverse_events import ctcae, services
from trialsite.errors import ApplicationError


class Command(BaseCommand):
    help = "Load CTCAE v5.0 terms from the NCI spreadsheet (xlsx or CSV), or the shipped subset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(ctcae.SHIPPED), help="xlsx or CSV file")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            specs = ctcae.read(path)
            result = services.terms_load(specs=specs, source=path.name, by=None)
        except ctcae.TermFileError as exc:
            raise CommandError("\n".join([str(exc), *exc.problems])) from exc
        except ApplicationError as exc:
            raise CommandError(f"{exc.detail} {exc.errors}") from exc
        self.stdout.write(
            f"{path.name}: {result.created} terms created, {result.updated} updated, {result.unchanged} unchanged"
        )
