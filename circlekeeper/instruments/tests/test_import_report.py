"""Issue 22, findings 1, 2, 9 and 10: dictionaries REDCap accepts import (empty labels, the API's headers), and
every import gives one grouped report, the same on the page and from the command.

The files are synthetic, with the traits of the held-out files: empty labels on descriptive, checkbox and
notes rows, the API's snake_case header, duplicate warnings, logic that cannot be translated.
"""

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import TestCase
from django.urls import reverse

from circlekeeper.instruments.definition import (
    Imported,
    ImportRejected,
    import_report,
    iter_items,
    validate_definition,
)
from circlekeeper.instruments.forms import SectionForm
from circlekeeper.instruments.models import Instrument
from circlekeeper.instruments.redcap import read_dictionary
from circlekeeper.instruments.tests.helpers import fixture_files, require_fixtures
from circlekeeper.instruments.xlsform import read_xlsform
from circlekeeper.testing import PersonaTestCase

# Written out here, as REDCap's page and its API write them (the oracle is the REDCap format, not our code).
UI_HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]
API_HEADER = [
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
]


def row(name, kind, label="", choices="", *, form="consent", header="", logic="", annotation=""):
    cells = [name, form, header, kind, label, choices] + [""] * 12
    cells[11] = logic
    cells[17] = annotation
    return cells


# A consent page as real dictionaries have it: a descriptive row whose text is all in its section header, a
# checkbox whose text is in its one choice, a notes box under a header: three empty labels REDCap accepts.
ROWS = [
    row("record_id", "text", "Record ID"),
    row("consent_text", "descriptive", header="<b>Consent</b><br>Please read the page below."),
    row("agree", "checkbox", "", "1, I agree to take part"),
    row("comments", "notes", "", header="Anything else?"),
    row("age", "text", "Age"),
]


def dictionary(rows, header=UI_HEADER):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def test_empty_labels_that_redcap_accepts_are_imported_with_one_note():
    imported = read_dictionary(dictionary(ROWS), code="consent")
    items = {item["code"]: item for _section, item in iter_items(imported.definition)}
    assert list(items) == ["record_id", "consent_text", "agree", "comments", "age"]
    assert "label" not in items["consent_text"]
    assert items["consent_text"]["heading"] == {"en": "Consent\nPlease read the page below."}
    assert items["agree"]["type"] == "multiple_choice" and "label" not in items["agree"]
    assert items["comments"]["type"] == "long_text" and "label" not in items["comments"]
    # One note names both asked fields without a label, by line; the descriptive row needs none.
    notes = [w for w in imported.warnings if "empty label" in w]
    assert len(notes) == 1
    assert "line 4 (agree)" in notes[0] and "line 5 (comments)" in notes[0]
    assert "consent_text" not in notes[0]


def test_the_api_header_reads_the_same_dictionary_as_the_page_header():
    from_page = read_dictionary(dictionary(ROWS), code="consent")
    from_api = read_dictionary(dictionary(ROWS, header=API_HEADER), code="consent")
    assert from_api.definition == from_page.definition
    # The 16-column API header of older REDCap versions too.
    short = [r[:16] for r in ROWS]
    assert read_dictionary(dictionary(short, header=API_HEADER[:16]), code="consent").definition == (
        from_page.definition
    )


def test_the_api_header_with_a_byte_order_mark_and_upper_case_reads():
    content = "\ufeff" + dictionary(ROWS, header=[h.upper() for h in API_HEADER]).decode()
    assert read_dictionary(content.encode("utf-8"), code="consent").definition["sections"]


def test_a_header_that_is_neither_names_both_styles_and_what_it_found():
    with pytest.raises(ImportRejected) as caught:
        read_dictionary(dictionary(ROWS, header=["name", "form", "type", "label"] + [""] * 14), code="x")
    (problem,) = caught.value.problems
    assert problem.startswith("line 1: ")
    assert "Variable / Field Name" in problem and "field_name" in problem
    assert "“name”, “form”, “type”, “label”" in problem


def test_a_repeated_choice_code_names_its_line_and_the_code():
    bad = [*ROWS, row("colour", "radio", "Colour", "1, Red | 2, Blue | 1, Green")]
    with pytest.raises(ImportRejected) as caught:
        read_dictionary(dictionary(bad), code="x")
    assert caught.value.problems == [
        "line 7 (colour): choice code '1' is used twice in '1, Red | 2, Blue | 1, Green'; each code must be unique"
    ]


def test_the_report_groups_and_says_each_line_once():
    imported = Imported(
        {},
        ["line 3 (a): kept", "line 3 (a): kept", "line 4 (b): other"],
        translated=["line 5 (c): branching logic '[a] = 1' → 'a == 1'"],
        kept_as_text=["line 6 (d): x", "line 6 (d): x"],
    )
    groups = import_report(imported=imported)
    assert [(g.key, g.lines) for g in groups] == [
        ("warnings", ["line 3 (a): kept", "line 4 (b): other"]),
        ("kept_as_text", ["line 6 (d): x"]),
        ("translated", ["line 5 (c): branching logic '[a] = 1' → 'a == 1'"]),
    ]
    assert [g.key for g in import_report(problems=["line 2: bad", "line 2: bad"])] == ["errors"]
    assert import_report(problems=["line 2: bad", "line 2: bad"])[0].lines == ["line 2: bad"]


LOGIC_ROWS = [
    *ROWS,
    row("smoker", "yesno", "Do you smoke?", form="habits"),
    row("cigs", "text", "How many a day?", form="habits", logic="[smoker] = '1'"),
    row("why", "text", "Why?", form="habits", logic="[smoker] = '1' and [nothere] = '2'"),
]


def test_translated_and_kept_logic_are_reported_apart_with_their_lines():
    imported = read_dictionary(dictionary(LOGIC_ROWS), code="habits")
    assert imported.translated == ["line 8 (cigs): branching logic \"[smoker] = '1'\" → \"smoker = '1'\""]
    assert len(imported.kept_as_text) == 1 and imported.kept_as_text[0].startswith("line 9 (why): ")
    assert not any("cannot be translated" in w for w in imported.warnings)


class CommandAndPageReportTests(TestCase):
    def write(self, name, content):
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        path = folder / name
        path.write_bytes(content)
        return path

    def test_the_command_prints_the_grouped_report(self):
        path = self.write("habits.csv", dictionary(LOGIC_ROWS, header=API_HEADER))
        out = io.StringIO()
        call_command("import_redcap_dictionary", str(path), stdout=out)
        text = out.getvalue()
        self.assertIn("Warnings: imported, with these changes (1)", text)
        self.assertIn("Logic kept as text, not applied (1)", text)
        self.assertIn("  - line 9 (why): ", text)
        self.assertIn("Logic translated (1)", text)
        self.assertIn("v1 (new version)", text)

    def test_the_command_names_every_error_in_the_errors_group(self):
        bad = [*ROWS, row("colour", "radio", "Colour", "1, Red | 1, Blue")]
        path = self.write("bad.csv", dictionary(bad))
        with self.assertRaises(CommandError) as caught:
            call_command("import_redcap_dictionary", str(path), stdout=io.StringIO())
        self.assertIn("Errors: nothing was imported (1)", str(caught.exception))
        self.assertIn("  - line 7 (colour): choice code '1' is used twice", str(caught.exception))
        self.assertFalse(Instrument.objects.exists())


class WebImportTests(PersonaTestCase):
    def setUp(self):
        self.login(self.pat)

    def post(self, source, name, content):
        upload = SimpleUploadedFile(name, content)
        return self.client.post(
            reverse("instruments:instrument_import"),
            {"source": source, "file": upload, "language": "en"},
        )

    def test_the_page_shows_the_same_grouped_report_as_the_command(self):
        page = self.post("redcap", "habits.csv", dictionary(LOGIC_ROWS, header=API_HEADER))
        self.assertEqual(page.status_code, 200)
        groups = {g.key: g.lines for g in page.context["report"]}
        self.assertEqual(set(groups), {"warnings", "kept_as_text", "translated"})
        self.assertContains(page, "Logic kept as text, not applied (1)")
        self.assertContains(page, 'id="import-report-kept_as_text"')
        self.assertTrue(Instrument.objects.filter(code="habits").exists())

    def test_a_rejected_file_shows_the_errors_group_with_the_line(self):
        bad = [*ROWS, row("colour", "radio", "Colour", "1, Red | 1, Blue")]
        page = self.post("redcap", "bad.csv", dictionary(bad))
        self.assertContains(page, "Errors: nothing was imported (1)")
        self.assertContains(page, "line 7 (colour): choice code")

    def test_an_xlsform_as_csv_imports_on_the_page_as_with_the_command(self):
        content = b"survey,type,name,label\n,text,name,What is your name?\n,integer,age,How old are you?\n"
        page = self.post("xlsform", "intake.csv", content)
        self.assertEqual(page.status_code, 200)
        self.assertNotIn("problems", page.context)
        self.assertTrue(Instrument.objects.filter(code="intake").exists())

    def test_an_xls_workbook_is_not_refused_for_its_format(self):
        # An OLE2 file (the .xls format) reaches the XLSForm reader, which names what is wrong in it, instead of
        # the upload being refused as "not an .xlsx workbook".
        content = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
        page = self.post("xlsform", "kobo.xls", content)
        self.assertNotContains(page, "This is not an XLSForm")
        self.assertIn("report", page.context)
        self.assertEqual(page.context["report"][0].key, "errors")

    def test_a_binary_file_is_still_refused_as_an_xlsform(self):
        page = self.post("xlsform", "photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
        self.assertContains(page, "This is not an XLSForm")


def test_pyxform_errors_name_the_sheet_once():
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "survey"
    for cells in (["type", "name", "label"], ["text", "a", "A"], ["integer", "a", "B"]):
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(ImportRejected) as caught:
        read_xlsform(out.getvalue(), file_name="dup")
    (problem,) = caught.value.problems
    assert problem.startswith("survey sheet, row 3: ")
    assert "On the 'survey' sheet" not in problem
    assert problem.count("survey") == 1 or "'survey'" not in problem


def test_a_date_answer_in_another_format_is_told_the_format_expected():
    definition: dict[str, Any] = {
        "code": "d",
        "title": {"en": "D"},
        "languages": ["en"],
        "default_language": "en",
        "sections": [
            {
                "code": "s",
                "title": {"en": "S"},
                "items": [{"code": "when", "type": "date", "label": {"en": "When"}}],
            }
        ],
    }
    definition = validate_definition(definition)
    form = SectionForm(
        {"q-when": "31/03/2026"},
        definition=definition,
        section=definition["sections"][0],
        visible={"when"},
        language="en",
        answers={},
    )
    assert not form.is_valid()
    assert "YYYY-MM-DD" in str(form.errors)


def test_each_fixture_dictionary_reads_the_same_under_the_api_header():
    require_fixtures()
    paths = fixture_files("redcap", "*dictionary*.csv")
    assert paths
    for path in paths:
        text = path.read_bytes().decode("utf-8-sig")
        body = text.split("\n", 1)[1]
        api = (",".join(API_HEADER) + "\n" + body).encode()
        assert (
            read_dictionary(api, code="f").definition
            == read_dictionary(path.read_bytes(), code="f").definition
        )


def test_xlsform_choice_notes_name_the_row_of_the_choice():
    from openpyxl import Workbook

    book = Workbook()
    survey = book.active
    survey.title = "survey"
    for cells in (["type", "name", "label"], ["select_one agree", "q1", "Do you agree?"]):
        survey.append(cells)
    choices = book.create_sheet("choices")
    rows: list[list[str | None]] = [
        ["list_name", "name", "label"],
        ["agree", "1", "Yes"],
        ["agree", "2", None],
        ["agree", "9", "Not applicable"],
    ]
    for choice_row in rows:
        choices.append(choice_row)
    out = io.BytesIO()
    book.save(out)
    imported = read_xlsform(out.getvalue(), file_name="agree")
    assert (
        "choices sheet, row 3 (list agree): choice '2' has no label; its code is shown" in imported.warnings
    )
    assert any(
        w.startswith("choices sheet, row 4: choice '9' is read as a missing code") for w in imported.warnings
    )
    choice = imported.definition["choice_lists"]["agree"][2]
    assert choice["missing"] == "not_applicable"
