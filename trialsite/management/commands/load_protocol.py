from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trialsite import services
from trialsite.errors import ApplicationError


class Command(BaseCommand):
    help = "Load a protocol definition file (YAML). Loading the same version again changes nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        try:
            version, created = services.protocol_load(path=path, by=None)  # the system
        except ApplicationError as exc:
            raise CommandError(exc.detail) from exc
        state = "loaded" if created else "already loaded, unchanged"
        self.stdout.write(f"{version} ({state}; sha256 {version.sha256})")
