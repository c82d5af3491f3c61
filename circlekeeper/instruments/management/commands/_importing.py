"""What the two import commands share: arguments, reading the file, and saying what happened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.accounts.models import Organization
from circlekeeper.instruments.definition import ImportRejected, import_report, report_as_text
from circlekeeper.instruments.importing import import_instrument_file


class ImportCommand(BaseCommand):
    source = ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE")
        parser.add_argument(
            "--organization", metavar="SLUG", help="the organization that owns it (default: shared by all)"
        )
        parser.add_argument("--code", help="the instrument's code (default: from the file)")
        parser.add_argument("--title", help="the instrument's title (default: from the file)")

    def import_file(self, options: dict[str, Any], **extra: Any) -> None:
        path = Path(options["file"])
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
        owner = None
        if options["organization"]:
            owner = Organization.objects.filter(slug=options["organization"]).first()
            if owner is None:
                raise CommandError(f"No organization with the short name {options['organization']!r}.")
        try:
            result = import_instrument_file(
                content=content,
                file_name=path.name,
                source=self.source,
                owner=owner,
                code=options["code"] or "",
                title=options["title"] or "",
                **extra,
            )
        except ImportRejected as exc:
            raise CommandError(
                f"{path.name} was not imported; nothing was written:\n"
                + report_as_text(import_report(problems=exc.problems))
            ) from None
        if result.report:
            self.stdout.write(self.style.WARNING(f"{path.name}:\n{report_as_text(result.report)}"))
        version = result.version
        definition = version.definition
        items = sum(len(section["items"]) for section in definition["sections"])
        warnings = sum(len(group.lines) for group in result.report if group.key == "warnings")
        state = "new version" if result.created else "unchanged: this definition is already that version"
        self.stdout.write(
            self.style.SUCCESS(
                f"{version.instrument.code} v{version.number} ({state}): {len(definition['sections'])} sections, "
                f"{items} items, {warnings} warnings."
            )
        )
