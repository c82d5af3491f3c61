from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.accounts import shredding
from circlekeeper.accounts.models import Organization
from circlekeeper.lib import keys


class Command(BaseCommand):
    help = (
        "Crypto-shred an organization: destroy its keys, so that every encrypted value it holds, in the "
        "database and in every backup, can never be read again. This cannot be undone."
    )
    # call_command(..., stdin=StringIO("slug\n")) answers the confirmation in tests.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the organization's short name")
        parser.add_argument(
            "--confirm", metavar="SLUG", help="the short name again, instead of typing it (for scripts)"
        )

    def handle(self, *args: Any, slug: str, confirm: str | None, **options: Any) -> None:
        keys.clear_key_cache()
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            raise CommandError(f"No organization with the short name {slug!r}.")
        destroyed = keys.keys_destroyed_at(organization.pk)
        if destroyed is not None:
            self.stdout.write(
                f"The keys of {organization.slug} were already destroyed on {destroyed:%Y-%m-%d}."
            )
            return
        if confirm is None:
            stdin = options.get("stdin") or sys.stdin
            self.stdout.write(
                f"This destroys the keys of {organization.name} ({organization.slug}). Every encrypted value "
                "of it (names, contact details, narratives, notes) becomes unreadable for good, backups included."
            )
            self.stdout.write("Type the organization's short name to confirm: ", ending="")
            self.stdout.flush()
            confirm = stdin.readline().strip()
        if confirm != organization.slug:
            raise CommandError("The short name does not match; nothing was changed.")
        try:
            # The same service as the program admin's page (accounts.shredding).
            count = shredding.shred_organization(organization=organization, typed=confirm)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        except shredding.AlreadyShredded as exc:  # by someone else since the check above
            self.stdout.write(f"The keys of {organization.slug} were already destroyed on {exc.at:%Y-%m-%d}.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Destroyed {count} keys of {organization.slug}: its encrypted data can no longer be read."
            )
        )
