"""Program admins import REDCap dictionaries and XLSForms on a page, and see their instruments and versions."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from circlekeeper.instruments.models import InstrumentVersion
from circlekeeper.instruments.tests.helpers import fixture_files, require_fixtures
from circlekeeper.instruments.tests.survey import make_survey_version
from circlekeeper.testing import PersonaTestCase, audit_log

HEADER = (
    '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels","Field Note","Text Validation Type OR Show Slider Number",'
    '"Text Validation Min","Text Validation Max",Identifier?,"Branching Logic (Show field only if...)",'
    '"Required Field?","Custom Alignment","Question Number (surveys only)","Matrix Group Name","Matrix Ranking?",'
    '"Field Annotation"\n'
)


def dictionary_file(*rows: str, name: str = "check.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (HEADER + "".join(rows)).encode(), content_type="text/csv")


class InstrumentPageTests(PersonaTestCase):
    def setUp(self):
        self.login(self.pat)

    def upload(self, upload, **data):
        data = {"source": "redcap", "language": "en", "code": "", "title": "", "file": upload, **data}
        return self.client.post(reverse("instruments:instrument_import"), data)

    def test_a_dictionary_is_imported_as_a_version_of_the_organizations_own(self):
        upload = dictionary_file(
            "record_id,intake,,text,Record ID,,,,,,,,,,,,,\n",
            'felt_safe,intake,,yesno,"Do you feel safe?",,,,,,,,y,,,,,\n',
        )

        page = self.upload(upload, title="Intake check")

        self.assertContains(page, "Imported Intake check, version 1.")
        version = InstrumentVersion.objects.get()
        self.assertEqual(version.instrument.owner, self.harbor)
        self.assertEqual(version.imported_by, self.pat)
        event = audit_log().get(action="instrument.import")
        self.assertEqual((event.object_type, event.object_id), ("instrument_version", str(version.pk)))
        listing = self.client.get(reverse("instruments:instrument_list"))
        self.assertContains(listing, "Intake check")
        self.assertContains(listing, reverse("instruments:version_detail", args=[version.pk]))
        preview = self.client.get(reverse("instruments:version_detail", args=[version.pk]))
        self.assertContains(preview, "Do you feel safe?")

    def test_the_same_file_again_changes_nothing(self):
        rows = ("record_id,intake,,text,Record ID,,,,,,,,,,,,,\n",)
        self.upload(dictionary_file(*rows), title="Intake check")
        page = self.upload(dictionary_file(*rows), title="Intake check")
        self.assertContains(page, "nothing changed")
        self.assertEqual(InstrumentVersion.objects.count(), 1)

    def test_a_file_that_cannot_be_imported_is_refused_whole_naming_its_rows(self):
        upload = dictionary_file(
            "record_id,intake,,text,Record ID,,,,,,,,,,,,,\n",
            "mood,intake,,hologram,How are you?,,,,,,,,,,,,,\n",
        )

        page = self.upload(upload)

        self.assertContains(page, "The file was not imported")
        problems = page.context["problems"]
        self.assertTrue(problems)
        self.assertTrue(any("line 3" in problem for problem in problems), problems)
        self.assertFalse(InstrumentVersion.objects.exists())
        self.assertFalse(audit_log().filter(action="instrument.import").exists())

    def test_the_type_of_a_file_is_checked_by_its_content(self):
        # Issue 22: CSV text may be an XLSForm (pyxform reads .csv forms); this one is not, and its reader says so.
        page = self.upload(SimpleUploadedFile("form.xlsx", b"name,label\nq1,Question\n"), source="xlsform")
        self.assertContains(page, "the XLSForm cannot be read")
        page = self.upload(SimpleUploadedFile("form.xlsx", b"\x89PNG\r\n\x1a\n\x00\x00"), source="xlsform")
        self.assertContains(page, "This is not an XLSForm: an .xlsx or .xls workbook, or a CSV text file.")
        page = self.upload(SimpleUploadedFile("dict.csv", b"\xff\xfe\x00binary"))
        self.assertContains(page, "This is not a CSV text file (UTF-8).")
        self.assertFalse(InstrumentVersion.objects.exists())

    def test_every_shared_fixture_imports_through_the_page(self):
        require_fixtures()
        paths = [("redcap", p) for p in fixture_files("redcap", "*_dictionary.csv")]
        paths += [("xlsform", p) for p in fixture_files("xlsform", "*.xlsx")]
        for source, path in paths:
            with self.subTest(path.name):
                page = self.upload(SimpleUploadedFile(path.name, path.read_bytes()), source=source)
                self.assertNotIn("problems", page.context, page.context.get("problems"))
                self.assertTrue(page.context["result"].version.pk)

    def test_the_list_shows_shared_instruments_but_no_other_organizations(self):
        make_survey_version()
        listing = self.client.get(reverse("instruments:instrument_list"))
        self.assertContains(listing, "Check-in")
        self.assertContains(listing, "Shared")

    def test_only_program_admins_may_import(self):
        for person in (self.alice, self.eve, self.nora):
            self.login(person)
            upload = dictionary_file("record_id,intake,,text,Record ID,,,,,,,,,,,,,\n")
            self.assertEqual(self.upload(upload).status_code, 403, person)
        self.assertFalse(InstrumentVersion.objects.exists())
