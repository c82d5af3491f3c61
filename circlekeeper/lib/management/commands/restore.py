from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.lib.backup import BackupError, restore_backup


class Command(BaseCommand):
    help = (
        "Restore an archive written by `backup` into the configured database, which must be empty (a database "
        "holding any table is refused). Needs the backup key, and the master key of the time to read the data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the archive (.ckbackup)")

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        try:
            header = restore_backup(Path(file))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Restored {file} (made {header['created_at']}): {sum(header['tables'].values())} rows. "
            "Run `manage.py verify_audit` and sign in to check."
        )
