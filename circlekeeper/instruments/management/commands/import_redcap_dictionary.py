from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from circlekeeper.instruments.management.commands._importing import ImportCommand
from circlekeeper.instruments.models import Source


class Command(ImportCommand):
    help = (
        "Import a REDCap data dictionary (CSV) as a new instrument version: one section per form. "
        "A file with any unreadable row is rejected whole, each problem named by its line."
    )
    source = Source.REDCAP

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--language", default="en", help="the language of the labels (default: en)")

    def handle(self, *args: Any, **options: Any) -> None:
        self.import_file(options, language=options["language"])
