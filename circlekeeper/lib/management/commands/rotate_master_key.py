from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.lib import crypto, keys


class Command(BaseCommand):
    help = (
        "Re-wrap every organization's keys under a new master key, in one transaction, checking each before "
        "committing. Stop the web server and workers first: once it commits they cannot read any key until "
        "they restart with the new master key. --generate PATH writes a fresh key file to rotate to."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--new-key-file", metavar="PATH", help="file holding the new master key")
        action.add_argument(
            "--generate",
            metavar="PATH",
            help="write a fresh master key to PATH (mode 0600; never overwrites) and change nothing else",
        )
        parser.add_argument(
            "--old-key-file",
            metavar="PATH",
            help="file holding the master key the keys are wrapped under now (default: the one in use)",
        )

    def handle(
        self,
        *args: Any,
        new_key_file: str | None,
        generate: str | None,
        old_key_file: str | None,
        **options: Any,
    ) -> None:
        keys.clear_key_cache()
        if generate:
            self._generate(Path(generate))
            return
        assert new_key_file is not None  # the argument group requires one of the two
        try:
            new_key = keys.read_master_key_file(new_key_file)
            old_key = keys.read_master_key_file(old_key_file) if old_key_file else None
        except keys.MasterKeyError as exc:
            raise CommandError(f"{exc}. Nothing was changed.") from None
        if stat.S_IMODE(os.stat(new_key_file).st_mode) & 0o077:
            self.stderr.write(
                f"Warning: {new_key_file} can be read by other users of this machine; `chmod 600` it."
            )

        def progress(row: keys.DataKey) -> None:
            if options["verbosity"] >= 2:
                self.stdout.write(f"  re-wrapped {row}")

        try:
            report = keys.rewrap_keys(new_master_key=new_key, old_master_key=old_key, on_key=progress)
        except keys.MasterKeyError as exc:
            raise CommandError(f"{exc}. Nothing was changed.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-wrapped {report.rewrapped} keys of {report.organizations} "
                f"organization{'' if report.organizations == 1 else 's'} under the new master key; each was "
                "read back and unwrapped under it before the change was committed."
            )
        )
        if report.already_new:
            self.stdout.write(f"{report.already_new} keys were already under the new master key.")
        if report.without_material:
            self.stdout.write(
                f"{report.without_material} retired or destroyed key versions hold no key material and "
                "were left as they are (shredded organizations stay shredded)."
            )
        self._next_steps(Path(new_key_file).resolve())

    def _generate(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} already exists; it was left as it is.") from None
        except OSError as exc:
            raise CommandError(f"{path} cannot be written: {exc.strerror}.") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(crypto.KEY_SIZE) + "\n")
        self.stdout.write(self.style.SUCCESS(f"Wrote a new master key to {path} (readable by you only)."))
        self.stdout.write(
            "Nothing is wrapped under it yet. Back it up now, somewhere apart from the database backups, "
            f"then stop the web server and workers and run: manage.py rotate_master_key --new-key-file {path}"
        )

    def _next_steps(self, path: Path) -> None:
        demo = (
            f" In demo mode, replacing {settings.VAR_DIR / 'master_key'} by the new file does the same."
            if settings.DEMO_MODE
            else ""
        )
        self.stdout.write(
            "\n".join(
                [
                    "Next steps:",
                    f"  1. Set CIRCLEKEEPER_MASTER_KEY_FILE={path} for the web server and every worker, "
                    f"and unset CIRCLEKEEPER_MASTER_KEY.{demo}",
                    "  2. Restart them: until then, processes holding the old master key cannot read any "
                    "organization's keys.",
                    "  3. Check that the application reads encrypted data again (open a case).",
                    "  4. Back up the new key file apart from the database backups, and take a new database "
                    "backup.",
                    "  5. Destroy the old master key file and every copy of it. The keys in database backups "
                    "taken before now become unusable: whatever those backups hold, including the data of "
                    "shredded organizations, can never be decrypted again.",
                ]
            )
        )
