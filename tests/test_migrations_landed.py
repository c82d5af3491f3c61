"""Landed migrations never change (issue 20 item 7): every migration file listed in
circlekeeper/migrations.sha256 still has its recorded SHA-256, and every migration file is listed (after
makemigrations, `make migration-checksums` adds it). An edited landed migration once broke upgrades from an
earlier release with "no such column": the database had run the old text, the new one was never run."""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "circlekeeper" / "migrations.sha256"


def _listed() -> dict[str, str]:
    entries = {}
    for line in LIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            value, name = line.split(maxsplit=1)
            entries[name] = value
    return entries


def test_no_landed_migration_changed_or_disappeared() -> None:
    changed = [
        name
        for name, value in _listed().items()
        if not (ROOT / name).is_file() or hashlib.sha256((ROOT / name).read_bytes()).hexdigest() != value
    ]
    assert changed == [], (
        f"landed migrations changed or disappeared: {changed}. Put them back as they were and make a new "
        "migration for the change (README: Operations, upgrades)."
    )


def test_every_migration_is_listed() -> None:
    on_disk = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("circlekeeper/*/migrations/[0-9]*.py")}
    unlisted = sorted(on_disk - set(_listed()))
    assert unlisted == [], f"new migrations not listed yet: {unlisted}. Run `make migration-checksums`."
