"""The restore drill (issue 20 item 6, SECURITY.md 25), on whichever database the suite runs on (CI runs both):
back up, restore into an empty database, compare row counts, decrypt a sample with the restored keys, verify the
restored audit chain. Also: the archive is encrypted and authenticated, under a key that is not the master key,
`--verify` checks it without restoring, and a non-empty database is refused."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import secrets
import sqlite3
import tempfile
import uuid
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import TransactionTestCase

from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import CaseNote, TeamRole
from circlekeeper.cases.services import add_case_note
from circlekeeper.lib import audit as lib_audit
from circlekeeper.lib import backup, crypto
from circlekeeper.lib.keys import DataKey, _label
from circlekeeper.testing import make_case, make_organization, make_user

SECRET_TEXT = "She asked that the meeting be moved to the library on Elm Street."


def _chain_intact(rows: list[tuple]) -> bool:
    """The audit chain, re-verified from the restored rows alone with the rule of lib/audit.py."""
    previous = lib_audit.GENESIS
    for expected, row in enumerate(rows, start=1):
        values = dict(zip((*lib_audit.HASHED_FIELDS, "hash"), row, strict=True))
        if isinstance(values["occurred_at"], str):  # SQLite's driver returns the text it stores (UTC)
            moment = datetime.datetime.fromisoformat(values["occurred_at"])
            values["occurred_at"] = moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
        event = lib_audit.AuditEvent(**values)
        if event.sequence != expected or event.prev_hash != previous or event.compute_hash() != event.hash:
            return False
        previous = event.hash
    return bool(rows)


def _dsn(target: dict, name: str) -> dict:
    return {
        "host": target["HOST"] or "127.0.0.1",
        "port": target["PORT"] or 5432,
        "user": target["USER"],
        "password": target["PASSWORD"] or None,
        "dbname": name,
    }


class RestoreDrillTests(TransactionTestCase):
    def setUp(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ck-backup-"))
        environment = mock.patch.dict(os.environ, {"CIRCLEKEEPER_BACKUP_KEY": secrets.token_urlsafe(32)})
        environment.start()
        self.addCleanup(environment.stop)
        harbor = make_organization(name="Harbor", case_prefix="HAR")
        keeper = make_user("keeper@harbor.example", organization=harbor, roles=(Role.KEEPER,))
        case = make_case(harbor, team=((keeper, TeamRole.KEEPER),))
        self.note = add_case_note(case=case, author=keeper, text=SECRET_TEXT)
        for n in range(5):
            lib_audit.record(
                None, action="note.add", object_type="case", object_id=case.pk, organization_id=harbor.pk
            )
        self.organization_id = harbor.pk

    def _restored_rows(self, header: dict, target: dict) -> tuple[dict[str, int], bytes, bytes, list[tuple]]:
        """Row counts, the note's ciphertext, its organization's wrapped data key and the audit rows, read
        from the restored database with its own driver (nothing of the live database)."""
        note_table, key_table, audit_table = (
            CaseNote._meta.db_table,
            DataKey._meta.db_table,
            lib_audit.AuditEvent._meta.db_table,
        )
        fields = ", ".join((*lib_audit.HASHED_FIELDS, "hash"))
        key_query = (
            f"SELECT wrapped, version FROM {key_table} WHERE organization_id = %s AND purpose = 'data' "  # noqa: S608
            "AND retired_at IS NULL ORDER BY version DESC"
        )
        if target["ENGINE"].endswith("sqlite3"):
            db = sqlite3.connect(target["NAME"])
            q = lambda sql, *args: db.execute(sql.replace("%s", "?"), args).fetchall()  # noqa: E731
        else:
            import psycopg

            db = psycopg.connect(
                host=target["HOST"] or "127.0.0.1",
                port=target["PORT"] or 5432,
                user=target["USER"],
                dbname=target["NAME"],
                password=target["PASSWORD"] or None,
            )
            q = lambda sql, *args: db.execute(sql, args).fetchall()  # noqa: E731
        try:
            counts = {table: q(f'SELECT COUNT(*) FROM "{table}"')[0][0] for table in header["tables"]}  # noqa: S608
            token = bytes(q(f"SELECT text FROM {note_table} WHERE id = %s", self.note.pk)[0][0])  # noqa: S608
            wrapped, version = q(key_query, self.organization_id)[0]
            audit_rows = q(f"SELECT {fields} FROM {audit_table} ORDER BY sequence")  # noqa: S608
        finally:
            db.close()
        return counts, token, bytes(wrapped), version, audit_rows

    def _empty_target(self) -> dict:
        target = dict(connection.settings_dict)
        if connection.vendor == "sqlite":
            target["NAME"] = str(self.folder / "restored.sqlite3")
            return target
        import psycopg

        name = f"ck_drill_{uuid.uuid4().hex[:8]}"
        admin = {**_dsn(target, "postgres"), "autocommit": True}
        with psycopg.connect(**admin) as db:
            db.execute(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with psycopg.connect(**admin) as db:
                db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        self.addCleanup(drop)
        target["NAME"] = name
        return target

    def test_back_up_restore_into_an_empty_database_and_everything_is_there(self):
        archive = backup.write_backup(self.folder)
        self.assertTrue(archive.name.endswith(".ckbackup"))
        live_counts = backup.row_counts()
        target = self._empty_target()
        header = backup.restore_backup(archive, into=target)
        self.assertEqual(header["tables"], live_counts)

        counts, token, wrapped, version, audit_rows = self._restored_rows(header, target)
        self.assertEqual(counts, live_counts)
        self.assertGreater(counts[CaseNote._meta.db_table], 0)
        # Decrypt a sample with the restored organization key, unwrapped by the master key.
        data_key = crypto.unwrap_key(
            bytes(settings.MASTER_KEY), wrapped, label=_label(self.organization_id, "data", version)
        )
        context = CaseNote._meta.get_field("text").context_for(self.organization_id, self.note.uid)
        self.assertEqual(
            crypto.decode_value(crypto.decrypt({version: data_key}, token, context)), SECRET_TEXT
        )
        self.assertTrue(_chain_intact(audit_rows))
        self.assertEqual(len(audit_rows), lib_audit.AuditEvent.objects.count())

    def test_the_archive_is_encrypted_authenticated_and_verified_without_restoring(self):
        archive = backup.write_backup(self.folder / "one.ckbackup")
        data = archive.read_bytes()
        for clear in (SECRET_TEXT.encode(), b"keeper@harbor.example", b"HAR-", b"note.add", b"CREATE TABLE"):
            self.assertNotIn(clear, data)
        out = __import__("io").StringIO()
        call_command("backup", "--verify", str(archive), stdout=out)
        self.assertIn("intact", out.getvalue())
        damaged = self.folder / "damaged.ckbackup"
        damaged.write_bytes(data[:-40] + bytes([data[-40] ^ 1]) + data[-39:])
        with self.assertRaisesMessage(CommandError, "changed or damaged"):
            call_command("backup", "--verify", str(damaged))
        # The header is authenticated too: a changed row count is caught.
        header_at = data.index(b"{")
        forged = data.replace(b'"format": 1', b'"format": 2', 1) if header_at else data
        (self.folder / "forged.ckbackup").write_bytes(forged)
        with self.assertRaisesMessage(CommandError, "changed or damaged"):
            call_command("backup", "--verify", str(self.folder / "forged.ckbackup"))
        other_key = {"CIRCLEKEEPER_BACKUP_KEY": secrets.token_urlsafe(32)}
        with (
            mock.patch.dict(os.environ, other_key),
            self.assertRaisesMessage(CommandError, "another backup key"),
        ):
            call_command("backup", "--verify", str(archive))
        self.assertEqual(
            json.loads(data[data.index(b"{") : data.index(b"}}") + 2])["database"], connection.vendor
        )

    def test_the_backup_key_must_not_be_the_master_key(self):
        master = __import__("base64").urlsafe_b64encode(bytes(settings.MASTER_KEY)).decode().rstrip("=")
        with (
            mock.patch.dict(os.environ, {"CIRCLEKEEPER_BACKUP_KEY": master}),
            self.assertRaisesMessage(CommandError, "is the master key"),
        ):
            call_command("backup", "--output", str(self.folder / "x.ckbackup"))

    def test_restore_refuses_a_database_that_is_not_empty(self):
        archive = backup.write_backup(self.folder)
        with self.assertRaisesMessage(backup.BackupError, "not empty"):
            backup.restore_backup(archive)  # the live database itself
        self.assertEqual(CaseNote.objects.count(), 1)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        self.assertEqual(len(digest), 64)
