from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.accounts.models import Organization
from circlekeeper.evaluation.redcap_records import (
    RecordsRejected,
    import_redcap_records,
    parse_event_options,
    read_events_map,
    read_record_map,
)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None


class Command(BaseCommand):
    help = (
        "Import a flat REDCap record export (CSV) as submitted responses to an instrument imported from the "
        "project's data dictionary. Records name participants through --map (record_id,case,participant) or "
        "as 'case reference/participant label'. Events may be mapped to timepoint codes (--event or "
        "--events-map): an open or scheduled timepoint then gets the response. All or nothing: a file with "
        "any bad row is rejected whole, each problem named by its line and column."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE")
        parser.add_argument("--instrument", metavar="CODE", required=True, help="the instrument's code")
        parser.add_argument(
            "--organization", metavar="SLUG", required=True, help="the organization the records belong to"
        )
        parser.add_argument(
            "--map",
            metavar="FILE",
            help="a CSV record_id,case,participant (case reference, participant label)",
        )
        parser.add_argument(
            "--event",
            metavar="EVENT=TIMEPOINT",
            action="append",
            default=[],
            help="file a REDCap event under a timepoint code, e.g. enrollment_arm_1=T0 (repeatable)",
        )
        parser.add_argument(
            "--events-map",
            metavar="FILE",
            help="a CSV redcap_event_name,timepoint mapping events to timepoints",
        )
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        content = _read(options["file"])
        owner = Organization.objects.filter(slug=options["organization"]).first()
        if owner is None:
            raise CommandError(f"No organization with the short name {options['organization']!r}.")
        try:
            record_map = read_record_map(_read(options["map"])) if options["map"] else None
            events = read_events_map(_read(options["events_map"])) if options["events_map"] else {}
            for event, code in parse_event_options(options["event"]).items():
                if events.get(event, code) != code:
                    raise RecordsRejected(
                        [f"--event {event}={code}: the events map files {event!r} under {events[event]}"]
                    )
                events[event] = code
            result = import_redcap_records(
                organization=owner,
                instrument=options["instrument"],
                content=content,
                record_map=record_map,
                events=events,
                dry_run=options["dry_run"],
            )
        except RecordsRejected as exc:
            raise CommandError(
                f"{path.name} was not imported; nothing was written:\n" + "\n".join(exc.problems)
            ) from None
        for warning in result.warnings:
            self.stdout.write(self.style.WARNING(f"{path.name}: {warning}"))
        counts = (
            f"{result.imported} responses to {result.instrument} v{result.version} "
            f"({result.linked} filed under timepoints); {result.skipped} rows skipped "
            f"(no answer for {result.instrument}); {len(result.warnings)} warnings."
        )
        if result.dry_run:
            self.stdout.write(
                f"Dry run of {path.name} for {owner.slug}, nothing was written: would import {counts}"
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported from {path.name} for {owner.slug}: {counts}"))
