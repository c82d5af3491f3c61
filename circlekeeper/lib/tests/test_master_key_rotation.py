"""rotate_master_key: every live key re-wrapped under a new master key in one transaction (SECURITY.md 6, 10).

After a shredding, older database backups still hold the organization's wrapped keys under the same master
key; re-wrapping everything under a new master key and destroying the old one makes those copies unusable.
"""

import base64
import os
import secrets
import stat
import threading
import unittest
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.test import TestCase, TransactionTestCase, override_settings

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, CaseNote
from circlekeeper.cases.services import add_case_note
from circlekeeper.lib import keys
from circlekeeper.lib.crypto import DecryptionError
from circlekeeper.lib.keys import DataKey, KeysDestroyed, MasterKeyError
from circlekeeper.settings import envkey
from circlekeeper.testing import make_case, make_organization, make_user


class Crash(Exception):
    pass


def key_text(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def snapshot():
    return list(
        DataKey.objects.order_by("pk").values_list(
            "pk", "organization_id", "purpose", "version", "wrapped", "retired_at", "destroyed_at"
        )
    )


class MasterKeyRotationTests(TestCase):
    keeper: User
    harbor: Organization
    valley: Organization
    shredded: Organization

    @classmethod
    def setUpTestData(cls):
        cls.keeper = make_user()
        cls.harbor = make_organization(slug="harbor-mk")
        cls.valley = make_organization(slug="valley-mk")
        cls.shredded = make_organization(slug="shredded-mk")
        for organization in (cls.harbor, cls.valley, cls.shredded):
            case = make_case(organization, summary=f"{organization.slug} story")
            add_case_note(case=case, author=cls.keeper, text=f"{organization.slug} note")
        # A retired version (no key material) and a shredded organization: neither may come back.
        keys.rotate_organization_keys(cls.harbor.pk)
        keys.destroy_keys(cls.shredded.pk)

    def setUp(self):
        self.old_key = bytes(settings.MASTER_KEY)
        self.new_key = secrets.token_bytes(32)
        self.dir = Path(settings.VAR_DIR) / f"mk-{secrets.token_hex(6)}"
        self.dir.mkdir()
        self.new_file = self.write("new.key", key_text(self.new_key) + "\n")

    def tearDown(self):
        for path in self.dir.iterdir():
            path.unlink()
        self.dir.rmdir()

    def write(self, name, text):
        path = self.dir / name
        path.write_text(text)
        path.chmod(0o600)
        return path

    def rotate(self, *args):
        out, err = StringIO(), StringIO()
        call_command("rotate_master_key", *args, stdout=out, stderr=err)
        return out.getvalue() + err.getvalue()

    def read_everything(self, master_key):
        """Every encrypted value of the live organizations, with `master_key` configured."""
        with override_settings(MASTER_KEY=master_key):
            keys.clear_key_cache(everything=True)
            try:
                return {
                    (organization.slug, Case.objects.get(organization=organization).summary)
                    for organization in (self.harbor, self.valley)
                } | {
                    (organization.slug, CaseNote.objects.get(organization=organization).text)
                    for organization in (self.harbor, self.valley)
                }
            finally:
                keys.clear_key_cache(everything=True)

    def expected_values(self):
        return {
            (o.slug, f"{o.slug} {what}") for o in (self.harbor, self.valley) for what in ("story", "note")
        }

    def test_after_rotation_data_decrypts_with_the_new_master_key_and_not_the_old(self):
        before = snapshot()
        output = self.rotate("--new-key-file", str(self.new_file))
        self.assertIn("Re-wrapped 4 keys of 2 organizations under the new master key", output)
        self.assertIn("4 retired or destroyed key versions", output)
        self.assertIn(f"CIRCLEKEEPER_MASTER_KEY_FILE={self.new_file.resolve()}", output)
        self.assertIn("Destroy the old master key file", output)
        self.assertEqual(self.read_everything(self.new_key), self.expected_values())
        with self.assertRaisesMessage(DecryptionError, "wrong master key"):
            self.read_everything(self.old_key)
        after = snapshot()
        for old, new in zip(before, after, strict=True):
            # Same rows, same versions; only the live ones' wrapping changed.
            self.assertEqual(old[:4] + old[5:], new[:4] + new[5:])
            if old[5] is None and old[6] is None:
                self.assertNotEqual(old[4], new[4])
            else:
                self.assertEqual((bytes(old[4]), bytes(new[4])), (b"", b""))

    def test_a_shredded_organization_stays_shredded(self):
        self.rotate("--new-key-file", str(self.new_file))
        with override_settings(MASTER_KEY=self.new_key):
            keys.clear_key_cache(everything=True)
            with self.assertRaises(KeysDestroyed):
                keys.keyring_for(self.shredded.pk)
            with self.assertRaises(KeysDestroyed):
                Case.objects.get(organization=self.shredded).summary  # noqa: B018
            # New organizations get keys under the new master key.
            fresh = make_organization()
            self.assertEqual(make_case(fresh, summary="new").summary, "new")

    def test_a_bad_or_wrong_new_key_file_is_a_clear_error_and_changes_nothing(self):
        before = snapshot()
        cases = {
            "missing": (self.dir / "nowhere.key", "cannot be read"),
            "empty": (self.write("empty.key", ""), "does not hold a 32-byte key"),
            "short": (self.write("short.key", "too-short"), "does not hold a 32-byte key"),
            "not base64": (self.write("bad.key", "!" * 43), "does not hold a 32-byte key"),
            "too long": (self.write("long.key", secrets.token_urlsafe(48)), "does not hold a 32-byte key"),
            "binary": (self.dir / "binary.key", "cannot be read"),
            "a folder": (self.dir, "cannot be read"),
            "the key in use": (self.write("same.key", key_text(self.old_key)), "already"),
        }
        (self.dir / "binary.key").write_bytes(b"\xff\xfe" + secrets.token_bytes(30))
        for name, (path, message) in cases.items():
            with self.subTest(name), self.assertRaisesMessage(CommandError, message) as caught:
                self.rotate("--new-key-file", str(path))
            self.assertIn("Nothing was changed.", str(caught.exception))
        self.assertEqual(snapshot(), before)
        self.assertEqual(self.read_everything(self.old_key), self.expected_values())

    def test_keys_under_neither_master_key_stop_the_rotation(self):
        before = snapshot()
        stranger = self.write("stranger.key", key_text(secrets.token_bytes(32)))
        with self.assertRaisesMessage(
            CommandError, "unwraps under neither the old master key nor the new one"
        ):
            self.rotate("--new-key-file", str(self.new_file), "--old-key-file", str(stranger))
        self.assertEqual(snapshot(), before)

    def test_an_interrupted_rotation_leaves_every_key_under_the_old_master_key(self):
        before = snapshot()
        done = []

        def crash_after_two(row):
            done.append(row.pk)
            if len(done) == 2:
                raise Crash

        with self.assertRaises(Crash):
            keys.rewrap_keys(new_master_key=self.new_key, on_key=crash_after_two)
        self.assertEqual(snapshot(), before)
        self.assertEqual(self.read_everything(self.old_key), self.expected_values())
        with self.assertRaises(DecryptionError):
            self.read_everything(self.new_key)
        # Running again completes it.
        report = keys.rewrap_keys(new_master_key=self.new_key)
        self.assertEqual((report.rewrapped, report.already_new), (4, 0))
        self.assertEqual(self.read_everything(self.new_key), self.expected_values())

    def test_running_again_keeps_keys_already_under_the_new_master_key(self):
        self.rotate("--new-key-file", str(self.new_file))
        after_first = snapshot()
        output = self.rotate("--new-key-file", str(self.new_file))
        self.assertIn("Re-wrapped 0 keys", output)
        self.assertIn("4 keys were already under the new master key", output)
        self.assertEqual(snapshot(), after_first)
        # Configured with the new key, the old one can be named to finish a rotation (here: nothing left).
        old_file = self.write("old.key", key_text(self.old_key))
        with override_settings(MASTER_KEY=self.new_key):
            with self.assertRaisesMessage(CommandError, "already"):
                self.rotate("--new-key-file", str(self.new_file))
            self.assertIn(
                "4 keys were already under",
                self.rotate("--new-key-file", str(self.new_file), "--old-key-file", str(old_file)),
            )

    def test_progress_names_each_key_but_never_a_master_key(self):
        out = StringIO()
        call_command("rotate_master_key", "--new-key-file", str(self.new_file), verbosity=2, stdout=out)
        lines = [line for line in out.getvalue().splitlines() if "re-wrapped org:" in line]
        self.assertEqual(len(lines), 4)
        self.assertIn(f"re-wrapped org:{self.harbor.pk}:data:v2", out.getvalue())
        for key in (self.old_key, self.new_key):
            self.assertNotIn(key_text(key), out.getvalue())
            self.assertNotIn(key.hex(), out.getvalue())

    def test_in_demo_mode_the_next_steps_name_the_demo_key_file(self):
        with override_settings(DEMO_MODE=True):
            output = self.rotate("--new-key-file", str(self.new_file))
        self.assertIn(
            f"In demo mode, replacing {Path(settings.VAR_DIR) / 'master_key'} by the new file", output
        )

    def test_a_key_file_readable_by_others_is_warned_about(self):
        self.new_file.chmod(0o644)
        self.assertIn("can be read by other users", self.rotate("--new-key-file", str(self.new_file)))

    def test_generate_writes_a_fresh_key_readable_by_its_owner_only_and_changes_nothing(self):
        before = snapshot()
        path = self.dir / "generated.key"
        output = self.rotate("--generate", str(path))
        self.assertIn(f"Wrote a new master key to {path}", output)
        self.assertIn(f"rotate_master_key --new-key-file {path}", output)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600)
        generated = keys.read_master_key_file(path)
        self.assertEqual(len(generated), 32)
        self.assertEqual(envkey("TEST", path.read_text().strip()), generated)  # what start-up will read
        self.assertNotEqual(generated, self.old_key)
        self.assertEqual(snapshot(), before)
        other = self.dir / "other.key"
        self.rotate("--generate", str(other))
        self.assertNotEqual(keys.read_master_key_file(other), generated)

    def test_generate_never_overwrites_a_file(self):
        content = self.new_file.read_text()
        with self.assertRaisesMessage(CommandError, "already exists"):
            self.rotate("--generate", str(self.new_file))
        self.assertEqual(self.new_file.read_text(), content)
        with self.assertRaisesMessage(CommandError, "cannot be written"):
            self.rotate("--generate", str(self.dir / "no-such-folder" / "x.key"))

    def test_the_command_needs_exactly_one_of_new_key_file_and_generate(self):
        with self.assertRaises(CommandError):
            self.rotate()
        with self.assertRaises(CommandError):
            self.rotate("--generate", str(self.dir / "a.key"), "--new-key-file", str(self.new_file))


def test_a_key_file_is_accepted_exactly_when_start_up_accepts_it():
    from django.core.exceptions import ImproperlyConfigured

    samples = [
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(32) + "\n",
        "  " + key_text(secrets.token_bytes(32)) + "=  \n",
        base64.standard_b64encode(b"\xfb" * 32).decode(),  # "+" and "/" are not urlsafe
        "",
        "short",
        secrets.token_urlsafe(31),
        secrets.token_urlsafe(33),
        "!" * 43,
    ]
    for text in samples:
        try:
            expected = envkey("X", text.strip())
        except ImproperlyConfigured:
            expected = None
        try:
            got = keys.parse_master_key(text)
        except MasterKeyError:
            got = None
        assert got == expected, text


def test_the_generated_file_has_no_group_or_world_bits_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        call_command("rotate_master_key", "--generate", str(tmp_path / "k"), stdout=StringIO())
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600


@unittest.skipUnless(connection.vendor == "postgresql", "SQLite write transactions are exclusive already")
class NoKeysAreMadeDuringARotationTests(TransactionTestCase):
    def test_a_worker_making_first_keys_waits_for_the_rotation(self):
        make_case(make_organization(), summary="keys exist")
        newcomer = make_organization()
        outcome = []

        def other_worker():
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SET lock_timeout = '300ms'")
                keys.keyring_for(newcomer.pk)
                outcome.append("made keys")
            except OperationalError as exc:
                outcome.append(str(exc))
            finally:
                connection.close()

        def during_rotation(row):
            if not outcome:
                worker = threading.Thread(target=other_worker)
                worker.start()
                worker.join()

        new_key = secrets.token_bytes(32)
        keys.rewrap_keys(new_master_key=new_key, on_key=during_rotation)
        self.assertEqual(len(outcome), 1)
        self.assertIn("lock timeout", outcome[0])
        # Had the worker got in, its keys would be wrapped under the old master key, lost with it.
        self.assertFalse(DataKey.objects.filter(organization_id=newcomer.pk).exists())
