"""Issue 22, finding 9: a legacy .xls XLSForm (as Kobo exports them) imports the same through the web upload
(/instruments/import/) and the import_xlsform command, with the same report; a bad one is refused by both,
naming the sheet and the row, with the same report.

The workbook is written here with xlwt, with the traits of a real Kobo form: `label::English (en)` and
`label::Español (es)` columns, Kobo's `$kuid`/`$autoname` columns, metadata rows (start, end, today, deviceid),
a field-list group, a constraint with its message, a relevant on a select_one, a calculate, a note that pipes
an answer, a settings sheet naming the default language, and, for the bad one, a question name used twice, the
second time on row 62 (the message a real Kobo form gave).
"""

from __future__ import annotations

import html
import io
import re
import tempfile
from pathlib import Path

import xlwt
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from circlekeeper.instruments.models import Instrument, InstrumentVersion, Source
from circlekeeper.testing import PersonaTestCase

XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE2 compound file: what an .xls is
HEADER = [
    "type", "name", "label::English (en)", "label::Español (es)", "hint::English (en)", "required", "relevant",
    "constraint", "constraint_message::English (en)", "calculation", "appearance", "$kuid", "$autoname",
]  # fmt: skip
DUPLICATE_ROW = 62


def kobo_xls(*, duplicate_at: int | None = None) -> bytes:
    rows = [
        ["start", "start"],
        ["end", "end"],
        ["today", "today"],
        ["deviceid", "deviceid"],
        ["begin_group", "household", "Household", "Hogar", "", "", "", "", "", "", "field-list", "g1", "household"],
        ["integer", "age", "Age of respondent", "Edad", "In years", "true", "", ". >= 18 and . <= 120",
         "Must be 18 to 120", "", "", "k1", "age"],
        ["select_one yesno", "consent", "Do you agree?", "¿Está de acuerdo?", "", "true", "", "", "", "", "", "k2",
         "consent"],
    ]  # fmt: skip
    for number in range(1, 60):
        rows.append(
            ["select_one scale", f"q{number}", f"Question {number}", f"Pregunta {number}", "", "false",
             "${consent} = 'yes'", "", "", "", "", f"k{number + 2}", f"q{number}"]
        )  # fmt: skip
    if duplicate_at is not None:
        # Row numbers as the spreadsheet shows them: the header is row 1.
        rows.insert(
            duplicate_at - 2, ["text", "q5", "Again", "Otra vez", "", "", "", "", "", "", "", "kx", "q5"]
        )
    rows += [
        ["calculate", "total", "", "", "", "", "", "", "", "${q1} + ${q2}", "", "kt", "total"],
        [
            "note",
            "thanks",
            "Thank you. You are ${age}.",
            "Gracias",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "kn",
            "thanks",
        ],
        ["end_group"],
        [],  # sheets padded with empty rows
        [],
    ]
    book = xlwt.Workbook(encoding="utf-8")
    survey = book.add_sheet("survey")
    for row_number, row in enumerate([HEADER, *rows]):
        for column, value in enumerate(row):
            if value:
                survey.write(row_number, column, value)
    choices = book.add_sheet("choices")
    choice_rows = [
        ["list_name", "name", "label::English (en)", "label::Español (es)"],
        ["yesno", "yes", "Yes", "Sí"],
        ["yesno", "no", "No", "No"],
        *(["scale", str(level), f"Level {level}", f"Nivel {level}"] for level in range(1, 6)),
    ]
    for row_number, row in enumerate(choice_rows):
        for column, value in enumerate(row):
            choices.write(row_number, column, value)
    settings = book.add_sheet("settings")
    for column, (key, value) in enumerate(
        [("form_title", "Household survey"), ("form_id", "household_survey"), ("version", "2024-01-01"),
         ("default_language", "English (en)")]
    ):  # fmt: skip
        settings.write(0, column, key)
        settings.write(1, column, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def page_report(page: str) -> str:
    """The import report on the page, written as the command writes it (definition.report_as_text)."""
    lines = []
    for group in re.findall(r'<section class="import-report-group".*?</section>', page, re.DOTALL):
        title = re.search(r"<h3>(.*?)</h3>", group, re.DOTALL)
        assert title is not None
        lines.append(html.unescape(title.group(1)).strip())
        lines += [
            f"  - {html.unescape(line).strip()}" for line in re.findall(r"<li>(.*?)</li>", group, re.DOTALL)
        ]
    return "\n".join(lines)


class LegacyXlsImportTests(PersonaTestCase):
    def setUp(self):
        self.folder = Path(self.enterContext(tempfile.TemporaryDirectory()))

    def command(self, name: str, content: bytes) -> str:
        path = self.folder / name
        path.write_bytes(content)
        out = io.StringIO()
        call_command("import_xlsform", str(path), "--organization", "harbor", stdout=out)
        return out.getvalue()

    def upload(self, name: str, content: bytes) -> str:
        self.login(self.pat)
        page = self.client.post(
            reverse("instruments:instrument_import"),
            {
                "source": Source.XLSFORM,
                "file": SimpleUploadedFile(name, content, content_type="application/vnd.ms-excel"),
                "code": "",
                "title": "",
                "language": "en",
            },
        )
        self.assertEqual(page.status_code, 200)
        return page.content.decode()

    def test_the_workbook_is_a_real_legacy_xls(self):
        content = kobo_xls()
        self.assertTrue(content.startswith(XLS_MAGIC))
        self.assertNotIn(b"PK\x03\x04", content[:4])

    def test_the_command_and_the_upload_import_a_good_xls_with_the_same_report(self):
        printed = self.command("household.xls", kobo_xls())
        self.assertIn("household_survey v1 (new version)", printed)
        version = InstrumentVersion.objects.get(
            instrument__code="household_survey", instrument__owner=self.harbor
        )
        codes = [item["code"] for section in version.definition["sections"] for item in section["items"]]
        self.assertEqual(codes[:3], ["age", "consent", "q1"])
        self.assertIn("total", codes)
        self.assertEqual(sorted(version.definition["languages"]), ["en", "es"])
        page = self.upload("household.xls", kobo_xls())
        self.assertIn("import-report", page)
        # The same report, word for word: the command prints "<file>:" then the report.
        report = page_report(page)
        self.assertTrue(report)
        self.assertIn("survey sheet, row 2 (start)", report)
        self.assertEqual(
            printed.split("household.xls:\n", 1)[1].split("\nhousehold_survey v1")[0].strip(), report
        )
        # The upload found the same definition: no second version.
        self.assertEqual(version.instrument.versions.count(), 1)

    def test_both_refuse_a_bad_xls_naming_the_sheet_and_the_row_with_the_same_report(self):
        bad = kobo_xls(duplicate_at=DUPLICATE_ROW)
        with self.assertRaises(CommandError) as refused:
            self.command("household.xls", bad)
        message = str(refused.exception)
        expected = f"survey sheet, row {DUPLICATE_ROW}: The 'name' value 'q5' is invalid."
        self.assertIn(expected, message)
        self.assertEqual(message.count("sheet"), 1)  # the sheet named once
        page = self.upload("household.xls", bad)
        self.assertIn('id="import-problems"', page)
        report = page_report(page)
        self.assertIn(expected, report)
        self.assertEqual(message.split("nothing was written:\n", 1)[1].strip(), report)
        self.assertFalse(Instrument.objects.filter(code="household_survey").exists())
