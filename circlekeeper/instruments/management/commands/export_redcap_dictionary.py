from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.instruments.models import Instrument
from circlekeeper.instruments.redcap import export_dictionary


class Command(BaseCommand):
    help = "Write an instrument version as a REDCap data dictionary (the 18-column CSV REDCap imports)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("instrument", metavar="INSTRUMENT", help="the instrument's code")
        # --version names the instrument version here, not Django's: let it replace the built-in option.
        parser.conflict_handler = parser._optionals.conflict_handler = "resolve"
        parser.add_argument("--version", dest="number", type=int, help="the version number (default: latest)")
        parser.add_argument("--organization", metavar="SLUG", help="the organization that owns it")
        parser.add_argument("--language", help="the language of the labels (default: the instrument's)")
        parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of to standard output")

    def handle(
        self,
        *args: Any,
        instrument: str,
        number: int | None,
        organization: str | None,
        language: str | None,
        output: str | None,
        **options: Any,
    ) -> None:
        found = Instrument.objects.filter(code=instrument)
        found = found.filter(owner__slug=organization) if organization else found.filter(owner__isnull=True)
        chosen = found.first()
        if chosen is None:
            where = (
                f"of {organization}" if organization else "shared (use --organization for an organization's)"
            )
            raise CommandError(f"No instrument {instrument!r} {where}.")
        versions = chosen.versions.order_by("-number")
        version = versions.filter(number=number).first() if number else versions.first()
        if version is None:
            raise CommandError(
                f"{instrument} has no version {number}." if number else f"{instrument} has no version."
            )
        definition = version.definition
        if language and language not in definition["languages"]:
            raise CommandError(
                f"{instrument} v{version.number} is in {', '.join(definition['languages'])}, not {language}."
            )
        text, warnings = export_dictionary(definition, language=language)
        for warning in warnings:
            self.stderr.write(self.style.WARNING(f"{instrument} v{version.number}: {warning}"))
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(self.style.SUCCESS(f"Wrote {instrument} v{version.number} to {output}."))
        else:
            self.stdout.write(text, ending="")
