"""Encrypted, authenticated backups and their restore (issue 20 item 6; SECURITY.md 25).

One archive per backup: `manage.py backup` takes a consistent copy of the whole database (SQLite: `VACUUM INTO`,
which reads one snapshot even while the site writes; a plain `cp` of a live WAL database loses rows. PostgreSQL:
`pg_dump --format=custom`, one snapshot too), compresses it and encrypts it with AES-256-GCM under the backup key
(CIRCLEKEEPER_BACKUP_KEY_FILE). The backup key is not the master key, and the command refuses to run when they are
the same: a stolen backup and a stolen master key are then two separate losses, and the master key never sits
beside the backups. The archive's header (format, database kind, time, table row counts) is authenticated with
the contents, so nothing in it can be changed unnoticed; nothing in it is personal.

What stays encrypted inside the dump stays encrypted twice: the organization keys in it are wrapped by the master
key, so restoring needs the master key of the time as well (keep old master keys as long as backups made under
them, or they are unreadable; `rotate_master_key` re-wraps the live database only). Crypto-shredding an
organization destroys its keys in the live database, but a backup taken before still holds them: keep backups
only as long as the retention policy allows (README: Operations).

File layout: MAGIC, a 4-byte big-endian header length, the header (JSON), a 12-byte nonce, the ciphertext of the
zlib-compressed dump (GCM tag included), with the header as associated data.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import os
import shutil
import sqlite3
import struct
import subprocess  # nosec B404: pg_dump and pg_restore, with argument lists, never a shell
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import connection
from django.utils import timezone

MAGIC = b"CIRCLEKEEPER-BACKUP-1\n"
SUFFIX = ".ckbackup"


class BackupError(Exception):
    """A backup or restore that cannot go on, with the reason and the fix."""


@dataclass(frozen=True)
class Archive:
    header: dict[str, Any]
    dump: bytes


def backup_key() -> bytes:
    path = os.environ.get("CIRCLEKEEPER_BACKUP_KEY_FILE", "")
    text = os.environ.get("CIRCLEKEEPER_BACKUP_KEY", "")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise BackupError(f"CIRCLEKEEPER_BACKUP_KEY_FILE={path} cannot be read: {exc.strerror}") from exc
    if not text.strip():
        raise BackupError(
            "No backup key: set CIRCLEKEEPER_BACKUP_KEY_FILE to a file holding a 32-byte key in urlsafe base64 "
            '(python -c "import secrets; print(secrets.token_urlsafe(32))"), kept apart from the master key.'
        )
    value = text.strip()
    try:
        key = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise BackupError("The backup key must be 32 bytes in urlsafe base64 (secrets.token_urlsafe(32)).")
    if key == bytes(settings.MASTER_KEY):
        raise BackupError(
            "The backup key is the master key: make a separate backup key (README: Operations)."
        )
    return key


def _tables() -> list[str]:
    return sorted(connection.introspection.table_names())


def row_counts(conn: Any = None) -> dict[str, int]:
    conn = conn or connection
    counts = {}
    with conn.cursor() as cursor:
        for table in sorted(conn.introspection.table_names(cursor)):
            cursor.execute(f"SELECT COUNT(*) FROM {conn.ops.quote_name(table)}")  # noqa: S608 # nosec B608
            counts[table] = cursor.fetchone()[0]
    return counts


def _pg_env(db: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    args = ["--host", db.get("HOST") or "127.0.0.1", "--port", str(db.get("PORT") or 5432)]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return args, env


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    # An argument list (no shell), the program found on PATH by _tool, the arguments from settings and our files.
    return subprocess.run(argv, capture_output=True, env=env, check=False)  # noqa: S603 # nosec B603


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client tools (e.g. postgresql-client)."
        )
    return found


def _dump() -> bytes:
    if connection.vendor == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "copy.sqlite3"
            connection.ensure_connection()
            with connection.cursor() as cursor:
                cursor.execute("VACUUM INTO %s", [str(target)])
            return target.read_bytes()
    if connection.vendor == "postgresql":
        args, env = _pg_env(connection.settings_dict)
        done = _run(
            [
                _tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                *args,
                connection.settings_dict["NAME"],
            ],
            env,
        )
        if done.returncode:
            raise BackupError(f"pg_dump failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout
    raise BackupError(f"Backups support SQLite and PostgreSQL, not {connection.vendor}.")


def write_backup(target: Path) -> Path:
    """Write one archive of the whole database; `target` is a file, or a folder for a dated file in it."""
    key = backup_key()
    if target.is_dir():
        target = target / f"circlekeeper-{timezone.now():%Y%m%d-%H%M%S}{SUFFIX}"
    counts = row_counts()
    dump = _dump()
    header = {
        "format": 1,
        "database": connection.vendor,
        "created_at": timezone.now().isoformat(),
        "tables": counts,
    }
    header_bytes = json.dumps(header, sort_keys=True).encode()
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, zlib.compress(dump, 6), MAGIC + header_bytes)
    partial = target.with_name(target.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes + nonce + sealed)
    partial.replace(target)  # a half-written archive never carries the final name
    return target


def read_backup(path: Path) -> Archive:
    """Decrypt and check an archive (BackupError if it is not one, was changed, or the key is not its key)."""
    key = backup_key()
    data = path.read_bytes()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise BackupError(f"{path} is not a Circlekeeper backup.")
    (length,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header_bytes = data[start : start + length]
    nonce, sealed = data[start + length : start + length + 12], data[start + length + 12 :]
    try:
        dump = zlib.decompress(AESGCM(key).decrypt(nonce, sealed, MAGIC + header_bytes))
    except (InvalidTag, zlib.error, ValueError) as exc:
        raise BackupError(f"{path} was changed or damaged, or was made with another backup key.") from exc
    return Archive(json.loads(header_bytes), dump)


def verify_backup(path: Path) -> dict[str, Any]:
    """Decrypt it and check the dump inside reads back, without restoring anything; returns its header."""
    archive = read_backup(path)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "dump"
        copy.write_bytes(archive.dump)
        if archive.header["database"] == "sqlite":
            with sqlite3.connect(copy) as db:
                (result,) = db.execute("PRAGMA integrity_check").fetchone()
                if result != "ok":
                    raise BackupError(f"{path}: the database inside fails its integrity check: {result}")
                for table, count in archive.header["tables"].items():
                    (found,) = db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()  # noqa: S608 # nosec B608
                    if found != count:
                        raise BackupError(f"{path}: {table} holds {found} rows, the header says {count}")
        else:
            done = _run([_tool("pg_restore"), "--list", str(copy)])
            if done.returncode:
                raise BackupError(
                    f"{path}: pg_restore cannot read the dump: {done.stderr.decode(errors='replace')}"
                )
    return archive.header


def _is_empty_sqlite(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return True
    with sqlite3.connect(path) as db:
        return not db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()


def restore_backup(path: Path, *, into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Restore an archive into an empty database (the configured one unless `into` gives Django database
    settings); refuses a database that holds any table, so a restore never mixes with live data."""
    archive = read_backup(path)
    target = into or connection.settings_dict
    engine = target["ENGINE"].rsplit(".", 1)[-1]
    kind = {"sqlite3": "sqlite", "postgresql": "postgresql"}.get(engine, engine)
    if kind != archive.header["database"]:
        raise BackupError(f"{path} is a {archive.header['database']} backup; the target database is {kind}.")
    if into is None and connection.introspection.table_names():
        raise BackupError(
            f"The database {target['NAME']} is not empty: restore only into an empty database (a new one, or "
            "move this one aside first)."
        )
    if kind == "sqlite":
        file = Path(target["NAME"])
        if str(file).startswith("file:") or ":memory:" in str(file):
            raise BackupError(f"{file} is not a database file: restore into a file.")
        if not _is_empty_sqlite(file):
            raise BackupError(
                f"{file} is not empty: restore only into an empty database (move it aside first)."
            )
        if into is None:
            connection.close()
        partial = file.with_name(file.name + ".restoring")
        partial.write_bytes(archive.dump)
        for suffix in ("-wal", "-shm"):
            Path(f"{file}{suffix}").unlink(missing_ok=True)
        partial.replace(file)
        return archive.header
    import psycopg

    args, env = _pg_env(target)
    dsn = {
        "host": target.get("HOST") or "127.0.0.1",
        "port": target.get("PORT") or 5432,
        "dbname": target["NAME"],
    }
    if target.get("USER"):
        dsn["user"] = target["USER"]
    if target.get("PASSWORD"):
        dsn["password"] = target["PASSWORD"]
    with psycopg.connect(**dsn) as db:
        tables = db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    if tables and tables[0]:
        raise BackupError(f"The database {target['NAME']} is not empty: restore only into an empty database.")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "dump"
        copy.write_bytes(archive.dump)
        done = _run(
            [
                _tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                *args,
                "--dbname",
                target["NAME"],
                str(copy),
            ],
            env,
        )
    if done.returncode:
        raise BackupError(f"pg_restore failed: {done.stderr.decode(errors='replace').strip()}")
    return archive.header


def newest_backup_age(folder: Path) -> datetime.timedelta | None:
    newest = max((p.stat().st_mtime for p in folder.glob(f"*{SUFFIX}")), default=None)
    return (
        None if newest is None else timezone.now() - datetime.datetime.fromtimestamp(newest, tz=datetime.UTC)
    )
