from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.accounts.models import Organization
from circlekeeper.evaluation.outcome_file import OutcomeFileRejected, header_text
from circlekeeper.evaluation.services import import_outcomes


class Command(BaseCommand):
    help = (
        f"Import external outcomes (e.g. re-arrests from court records, or a comparison group) from a CSV with "
        f"the header {header_text()}: one row per person. All or nothing: a file with any bad row is "
        f"rejected whole, each problem named by its row."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE")
        parser.add_argument(
            "--organization", metavar="SLUG", required=True, help="the organization the outcomes belong to"
        )
        parser.add_argument("--note", default="", help="where the data came from (kept encrypted)")

    def handle(self, *args: Any, file: str, organization: str, note: str, **options: Any) -> None:
        path = Path(file)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
        owner = Organization.objects.filter(slug=organization).first()
        if owner is None:
            raise CommandError(f"No organization with the short name {organization!r}.")
        try:
            batch = import_outcomes(
                organization=owner, file_name=path.name, content=content, source_note=note
            )
        except OutcomeFileRejected as exc:
            raise CommandError(
                f"{path.name} was not imported; nothing was written:\n" + "\n".join(exc.problems)
            ) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {batch.rows} rows from {path.name} for {owner.slug} (import {batch.pk})."
            )
        )
