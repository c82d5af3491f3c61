"""A version never changes: the same file gives the same version, a changed one the next version."""

import csv
import io
import tempfile
from pathlib import Path

from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import TestCase

from circlekeeper.instruments.definition import DefinitionError
from circlekeeper.instruments.models import Instrument, InstrumentVersion, Source
from circlekeeper.instruments.redcap import COLUMNS
from circlekeeper.instruments.services import save_version
from circlekeeper.instruments.tests.helpers import make_definition
from circlekeeper.testing import make_organization, make_user


def dictionary_file(folder, label):
    path = Path(folder) / "mood.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerow(["record_id", "mood", "", "text", "Record ID"] + [""] * 13)
        writer.writerow(["feel", "mood", "", "radio", label, "1, Good | 2, Bad"] + [""] * 12)
    return path


class VersioningTests(TestCase):
    def setUp(self):
        self.folder = self.enterContext(tempfile.TemporaryDirectory())
        self.harbor = make_organization(slug="harbor")

    def import_file(self, path, *args):
        out = io.StringIO()
        call_command("import_redcap_dictionary", str(path), "--organization", "harbor", *args, stdout=out)
        return out.getvalue()

    def test_the_same_file_twice_is_one_version(self):
        path = dictionary_file(self.folder, "How do you feel?")
        self.assertIn("mood v1 (new version)", self.import_file(path))
        self.assertIn("mood v1 (unchanged", self.import_file(path))
        self.assertEqual(InstrumentVersion.objects.count(), 1)

    def test_a_changed_file_is_a_new_version_and_the_old_one_is_untouched(self):
        self.import_file(dictionary_file(self.folder, "How do you feel?"))
        self.assertIn(
            "mood v2 (new version)", self.import_file(dictionary_file(self.folder, "How do you feel today?"))
        )
        instrument = Instrument.objects.get(owner=self.harbor, code="mood")
        first, second = instrument.versions.order_by("number")
        self.assertEqual(first.definition["sections"][0]["items"][1]["label"], {"en": "How do you feel?"})
        self.assertEqual(
            second.definition["sections"][0]["items"][1]["label"], {"en": "How do you feel today?"}
        )
        self.assertNotEqual(first.content_hash, second.content_hash)

    def test_each_organization_has_its_own_instrument_of_a_code(self):
        path = dictionary_file(self.folder, "How do you feel?")
        self.import_file(path)
        make_organization(slug="valley")
        call_command("import_redcap_dictionary", str(path), "--organization", "valley", stdout=io.StringIO())
        call_command("import_redcap_dictionary", str(path), stdout=io.StringIO())
        self.assertEqual(Instrument.objects.filter(code="mood").count(), 3)
        self.assertEqual(Instrument.objects.available_to(self.harbor).count(), 2)

    def test_the_database_refuses_a_second_version_with_the_same_content_or_number(self):
        version, created = save_version(definition=make_definition(), source=Source.MANUAL, owner=self.harbor)
        self.assertTrue(created)
        for number, digest in ((1, "other"), (2, version.content_hash)):
            with self.assertRaises(IntegrityError), transaction.atomic():
                InstrumentVersion.objects.create(
                    instrument=version.instrument,
                    number=number,
                    definition={},
                    content_hash=digest,
                    source=Source.MANUAL,
                )

    def test_a_new_version_records_who_imported_it(self):
        pat = make_user(organization=self.harbor)
        version, _created = save_version(
            definition=make_definition(), source=Source.MANUAL, owner=self.harbor, imported_by=pat
        )
        self.assertEqual(version.imported_by, pat)
        self.assertEqual(version.instrument.name, "Check")

    def test_an_invalid_definition_writes_nothing(self):
        with self.assertRaises(DefinitionError):
            save_version(definition=make_definition(languages=[]), source=Source.MANUAL, owner=None)
        self.assertFalse(Instrument.objects.exists())
