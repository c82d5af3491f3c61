"""Issue 22, end to end: every REDCap data dictionary and XLSForm in ../shared/fixtures imports through the
command and through the web upload (/instruments/import/), with the same grouped report on both."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from circlekeeper.instruments.models import InstrumentVersion, Source
from circlekeeper.instruments.tests.helpers import fixture_files, require_fixtures
from circlekeeper.instruments.tests.test_xls_import import page_report
from circlekeeper.testing import PersonaTestCase

COMMANDS = {Source.REDCAP: "import_redcap_dictionary", Source.XLSFORM: "import_xlsform"}


class FixtureImportTests(PersonaTestCase):
    def files(self):
        require_fixtures()
        found = [(Source.REDCAP, path) for path in fixture_files("redcap", "*dictionary*.csv")]
        found += [(Source.XLSFORM, path) for path in fixture_files("xlsform", "*.xls*")]
        self.assertEqual(len(found), 4)
        return found

    def test_every_fixture_imports_by_command_and_upload_with_the_same_report(self):
        self.login(self.pat)
        for source, path in self.files():
            with self.subTest(path.name):
                out = io.StringIO()
                call_command(COMMANDS[source], str(path), "--organization", "harbor", stdout=out)
                printed = out.getvalue()
                self.assertIn("v1 (new version)", printed)
                page = self.client.post(
                    reverse("instruments:instrument_import"),
                    {
                        "source": source,
                        "file": SimpleUploadedFile(path.name, path.read_bytes()),
                        "code": "",
                        "title": "",
                        "language": "en",
                    },
                )
                content = page.content.decode()
                self.assertEqual(page.status_code, 200)
                self.assertNotIn('id="import-problems"', content)
                report = page_report(content)
                if f"{path.name}:\n" in printed:
                    expected = printed.split(f"{path.name}:\n", 1)[1].rsplit("\n", 2)[0].strip()
                else:
                    expected = ""
                self.assertEqual(expected, report)
        # The upload found each definition the command had saved: one version each.
        self.assertEqual(InstrumentVersion.objects.filter(instrument__owner=self.harbor).count(), 4)
