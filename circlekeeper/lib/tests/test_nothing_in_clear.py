"""A copy of the database alone reveals no survivor's story: planted markers never appear in it (SECURITY.md 6)."""

import datetime
import unittest
import uuid

from django.conf import settings
from django.db import connection
from django.test import TransactionTestCase

from circlekeeper.cases.services import add_case_note
from circlekeeper.lib.tests.example_models import ExampleModelsTestCase, Person
from circlekeeper.testing import make_case, make_organization, make_user


def every_stored_value():
    """Every value in every table, as the database holds it."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                yield from row


def leaks(markers):
    found = set()
    for value in every_stored_value():
        if isinstance(value, memoryview | bytes | bytearray):
            raw = bytes(value)
            found |= {m for m in markers if m.encode() in raw or m.encode("utf-16-le") in raw}
        elif value is not None:
            found |= {m for m in markers if m in str(value)}
    return found


class PlantedMarkerTests(ExampleModelsTestCase):
    def test_markers_in_every_kind_of_encrypted_field_never_reach_a_column(self):
        organization = make_organization()
        marker = f"MARKER-{uuid.uuid4().hex}"
        markers = {f"{marker}-{part}" for part in ("first", "last", "story", "json", "summary", "note")}
        Person._default_manager.create(
            organization_id=organization.pk,
            first_name=f"{marker}-first",
            last_name=f"{marker}-last",
            story=f"{marker}-story",
            date_of_birth=datetime.date(1971, 3, 4),
            details={"key": f"{marker}-json"},
        )
        case = make_case(organization, summary=f"{marker}-summary")
        add_case_note(case=case, author=make_user(), text=f"{marker}-note")
        self.assertEqual(leaks(markers | {"1971-03-04"}), set())
        # The scan does see what is stored in clear, so the check above means something.
        self.assertEqual(leaks({case.reference}), {case.reference})


class DatabaseFileTests(TransactionTestCase):
    def setUp(self):
        self.marker = f"PLANTED-{uuid.uuid4().hex}"
        organization = make_organization()
        case = make_case(organization, summary=f"{self.marker} in the summary")
        add_case_note(case=case, author=make_user(), text=f"{self.marker} in a note")
        self.reference = case.reference

    def test_no_table_holds_the_marker_or_the_master_key(self):
        self.assertEqual(leaks({self.marker}), set())
        master = bytes(settings.MASTER_KEY)
        for value in every_stored_value():
            if isinstance(value, memoryview | bytes | bytearray):
                self.assertNotIn(master, bytes(value))

    @unittest.skipUnless(connection.vendor == "sqlite", "the database file is SQLite's")
    def test_the_sqlite_database_file_holds_no_marker(self):
        path = settings.VAR_DIR / f"copy-{uuid.uuid4().hex}.sqlite3"
        with connection.cursor() as cursor:
            cursor.execute("VACUUM INTO %s", [str(path)])
        try:
            data = path.read_bytes()
        finally:
            path.unlink()
        self.assertIn(self.reference.encode(), data)  # the copy is a real one
        self.assertNotIn(self.marker.encode(), data)
        self.assertNotIn(bytes(settings.MASTER_KEY), data)
