"""Record new migrations in circlekeeper/migrations.sha256 (`make migration-checksums`); never change a listed one.

A migration that has landed is never edited (issue 20: an edited `cases/0007` broke upgrades with "no such
column"). The list holds the SHA-256 of every landed migration file; tests/test_migrations_landed.py fails when a
listed file changed or disappeared, and when a migration is not listed yet. This script only adds the files that
are not listed; it refuses to run while a listed one differs, so a changed migration cannot be blessed here.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "circlekeeper" / "migrations.sha256"


def migration_files() -> list[Path]:
    return sorted(p for p in ROOT.glob("circlekeeper/*/migrations/[0-9]*.py"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_list() -> dict[str, str]:
    if not LIST.exists():
        return {}
    entries = {}
    for line in LIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            value, name = line.split(maxsplit=1)
            entries[name] = value
    return entries


def main() -> int:
    listed = read_list()
    changed = [
        name for name, value in listed.items() if not (ROOT / name).exists() or digest(ROOT / name) != value
    ]
    if changed:
        print("These landed migrations changed or disappeared; restore them and add a new migration instead:")
        for name in changed:
            print(f"  {name}")
        return 1
    added = 0
    for path in migration_files():
        name = path.relative_to(ROOT).as_posix()
        if name not in listed:
            listed[name] = digest(path)
            added += 1
            print(f"added {name}")
    lines = [
        "# SHA-256 of every landed migration (scripts/migration_checksums.py). Never edit a line by hand."
    ]
    lines += [f"{listed[name]}  {name}" for name in sorted(listed)]
    LIST.write_text("\n".join(lines) + "\n")
    print(f"{added} new migration(s) listed; {len(listed)} in all.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
