from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.lib.backup import BackupError, verify_backup, write_backup
from circlekeeper.lib.health import backup_dir


class Command(BaseCommand):
    help = (
        "Write one encrypted, authenticated archive of the whole database (under the backup key, never the master "
        "key), or with --verify FILE check an archive without restoring it. See circlekeeper/lib/backup.py."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", help="the archive's file name (default: a dated file in --output-dir)"
        )
        parser.add_argument("--output-dir", help="folder for a dated archive (default: var/backups)")
        parser.add_argument(
            "--verify", metavar="FILE", help="check this archive: decrypt it, read the dump back"
        )

    def handle(
        self, *args: Any, output: str | None, output_dir: str | None, verify: str | None, **options: Any
    ) -> None:
        try:
            if verify:
                header = verify_backup(Path(verify))
                rows = sum(header["tables"].values())
                self.stdout.write(
                    f"{verify}: intact ({header['database']}, made {header['created_at']}, "
                    f"{len(header['tables'])} tables, {rows} rows)."
                )
                return
            target = Path(output) if output else Path(output_dir) if output_dir else backup_dir()
            if not output:
                target.mkdir(parents=True, exist_ok=True, mode=0o700)
            written = write_backup(target)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Backup written: {written}")
