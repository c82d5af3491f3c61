from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.accounts.models import Organization
from circlekeeper.lib import keys


class Command(BaseCommand):
    help = (
        "Rotate the data and index keys of every organization (or one) and re-encrypt its data under them. "
        "Safe to interrupt: running it again continues an unfinished rotation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", metavar="SLUG", help="rotate only this organization's keys")
        parser.add_argument(
            "--batch-size", type=int, default=500, help="rows re-encrypted per transaction (default 500)"
        )

    def handle(self, *args: Any, organization: str | None, batch_size: int, **options: Any) -> None:
        keys.clear_key_cache()
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if organization:
            found = Organization.objects.filter(slug=organization).first()
            if found is None:
                raise CommandError(f"No organization with the short name {organization!r}.")
            destroyed = keys.keys_destroyed_at(found.pk)
            if destroyed is not None:
                raise CommandError(
                    f"The keys of {found.slug} were destroyed on {destroyed:%Y-%m-%d}; nothing to rotate."
                )
            organization_ids = [found.pk]
        else:
            organization_ids = keys.organizations_with_keys()
        slugs = dict(Organization.objects.filter(pk__in=organization_ids).values_list("pk", "slug"))
        total = 0
        for organization_id in organization_ids:
            name = slugs.get(organization_id, f"organization {organization_id}")

            def progress(done: keys.BatchDone, name: str = name) -> None:
                self.stdout.write(
                    f"  {name}: batch {done.batch} of {done.model}: "
                    f"{done.rows_rewritten} of {done.rows_checked} rows re-encrypted"
                )

            self.stdout.write(f"{name}: rotating keys…")
            report = keys.rotate_organization_keys(organization_id, batch_size=batch_size, on_batch=progress)
            if not report.data_version:
                self.stdout.write(f"{name}: no keys yet, nothing to rotate.")
                continue
            total += report.rows_rewritten
            retired = ", ".join(f"v{v}" for v in report.retired_versions) or "none"
            self.stdout.write(
                f"{name}: {'continued an unfinished rotation; ' if report.resumed else ''}"
                f"now on data key v{report.data_version} and index key v{report.index_version}; "
                f"{report.rows_rewritten} rows re-encrypted; retired versions: {retired}."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Done: {len(organization_ids)} organizations, {total} rows re-encrypted.")
        )
