from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from circlekeeper.accounts.models import Organization
from circlekeeper.cases.retention import PurgeResult, RuleCounts, purge_expired


class Command(BaseCommand):
    help = (
        "Apply each organization's retention rules: erase the case narratives and whole cases that are past "
        "them, leaving counts only. The worker runs this every night; --dry-run only counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be erased; change nothing"
        )
        parser.add_argument("--organization", metavar="SLUG", help="only this organization")
        parser.add_argument(
            "--today",
            metavar="YYYY-MM-DD",
            help="apply the rules as of this date (default: today, local time)",
        )

    def handle(
        self, *args: Any, dry_run: bool, organization: str | None, today: str | None, **options: Any
    ) -> None:
        real_today = timezone.localdate()
        day = _parse_date(today) if today else real_today
        if day > real_today and not dry_run:
            raise CommandError("--today can be in the future only with --dry-run: a purge cannot be undone.")
        organization_ids = None
        if organization:
            found = Organization.objects.filter(slug=organization).first()
            if found is None:
                raise CommandError(f"No organization with the short name {organization!r}.")
            organization_ids = [found.pk]
        results = purge_expired(today=day, dry_run=dry_run, organization_ids=organization_ids)
        if organization and not results:
            self.stdout.write(f"{organization}: no retention rules, nothing to erase.")
        for result in results:
            self.stdout.write(_describe(result))
        rules = [rule for result in results for rule in result.rules]
        verb = "would be erased (dry run, nothing changed)" if dry_run else "erased"
        self.stdout.write(
            self.style.SUCCESS(
                f"Done as of {day:%Y-%m-%d}: {_n(len(results), 'organization', 'organizations')} with rules; "
                f"{_n(sum(r.cases for r in rules), 'case', 'cases')}, "
                f"{_n(sum(r.narratives for r in rules), 'summary', 'summaries')} and "
                f"{_n(sum(r.notes for r in rules), 'note', 'notes')} {verb}."
            )
        )


def _parse_date(value: str) -> datetime.date:
    try:
        return datetime.datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"--today must be a date like 2026-03-31, not {value!r}.") from None


def _describe(result: PurgeResult) -> str:
    slug = result.organization.slug
    if not result.anything:
        return f"{slug}: nothing to erase."
    verb = "would erase" if result.dry_run else "erased"
    return "\n".join(f"{slug}: {rule.description}: {verb} {_counts(rule)}." for rule in result.rules)


def _counts(rule: RuleCounts) -> str:
    parts = f"{_n(rule.narratives, 'summary', 'summaries')} and {_n(rule.notes, 'note', 'notes')}"
    return f"{_n(rule.cases, 'case', 'cases')} (with {parts})" if rule.erases_whole_cases else parts


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
