"""Export to a REDCap data dictionary, and the round trip: importing an export gives the same instrument."""

import csv
import io
import re
import tempfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import TestCase

from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.instruments.definition import choices_for, iter_items
from circlekeeper.instruments.redcap import COLUMNS, PNTS_TAG, export_dictionary, read_dictionary
from circlekeeper.instruments.tests.helpers import fixture_files

DICTIONARIES = fixture_files("redcap", "*dictionary*.csv")


@pytest.mark.parametrize("path", DICTIONARIES, ids=lambda p: p.name)
def test_importing_an_export_gives_the_same_definition(path):
    imported = read_dictionary(path.read_bytes(), code="fixture", title="Fixture")
    text, _warnings = export_dictionary(imported.definition)
    again = read_dictionary(text.encode("utf-8"), code="fixture", title="Fixture")
    assert again.definition == imported.definition


@pytest.mark.parametrize("path", DICTIONARIES, ids=lambda p: p.name)
def test_the_export_has_the_18_columns_on_every_row(path):
    text, _warnings = export_dictionary(read_dictionary(path.read_bytes(), code="fixture").definition)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == COLUMNS
    assert {len(row) for row in rows} == {18}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        assert len(rows) == len(list(csv.reader(handle)))


@pytest.mark.parametrize("path", fixture_files("xlsform", "*.xlsx"), ids=lambda p: p.name)
def test_an_xlsform_exports_with_redcap_names_and_imports_back(path):
    from circlekeeper.instruments.xlsform import read_xlsform

    definition = read_xlsform(path.read_bytes(), file_name=path.stem).definition
    text, warnings = export_dictionary(definition)
    again = read_dictionary(text.encode("utf-8"), code="again")
    assert again.warnings == []
    codes = [item["code"] for _section, item in iter_items(again.definition)]
    assert all(re.match(r"^[a-z][a-z0-9_]*$", code) for code in codes)
    assert len(codes) == len(list(iter_items(definition))) + 1  # and record_id, first
    if "label-test" in text or any("label-test" in w for w in warnings):
        assert (
            "label-test: written as label_test (REDCap names are lower-case letters, digits and _)"
            in warnings
        )


def test_renamed_fields_are_renamed_in_logic_too():
    definition = {
        "code": "x",
        "title": {"en": "X"},
        "languages": ["en"],
        "default_language": "en",
        "sections": [
            {
                "code": "Main-Part",
                "items": [
                    {"code": "_1", "type": "yes_no", "label": {"en": "One"}},
                    {"code": "Two", "type": "yes_no", "label": {"en": "Two"}, "show_if": "_1 = '1'"},
                    {"code": "three", "type": "calculated", "calculation": "if(Two = '1', _1 + 1, 0)"},
                ],
            }
        ],
    }
    text, _warnings = export_dictionary(definition)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["Variable / Field Name"] for row in rows] == ["record_id", "v_1", "two", "three"]
    assert {row["Form Name"] for row in rows} == {"main_part"}
    assert rows[2]["Branching Logic (Show field only if...)"] == '[v_1] = "1"'
    assert rows[3]["Choices, Calculations, OR Slider Labels"].count("[two]") == 1
    items = {i["code"]: i for _s, i in iter_items(read_dictionary(text.encode(), code="x").definition)}
    assert items["two"]["show_if"] == "v_1 = '1'"


def summary(definition):
    """What must survive a round trip, whatever the names of shared choice lists."""
    return [
        (
            item["code"],
            item["type"],
            [c["code"] for c in choices_for(definition, item)],
            item.get("required", False),
            item.get("identifying", False),
            item.get("prefer_not_to_say", False),
            item.get("validation"),
            item.get("min"),
            item.get("max"),
            item.get("show_if"),
            item.get("matrix_group"),
        )
        for _section, item in iter_items(definition)
    ]


class ExportCommandTests(TestCase):
    def setUp(self):
        self.folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        load_builtins()

    def test_a_built_in_instrument_round_trips_with_prefer_not_to_say(self):
        path = self.folder / "experience.csv"
        err = io.StringIO()
        call_command("export_redcap_dictionary", "experience_of_process", "-o", str(path), stderr=err)
        self.assertIn("only the en texts are written", err.getvalue())
        self.assertIn("scores and bands are not written", err.getvalue())
        text = path.read_text(encoding="utf-8")
        self.assertIn(PNTS_TAG, text)
        [version] = load_builtins()[:1]
        original = version.version.definition
        again = read_dictionary(text.encode(), code="experience_of_process").definition
        # REDCap needs a text field first for the record ID; everything after it is the instrument.
        self.assertEqual(summary(again)[0][:2], ("record_id", "short_text"))
        self.assertEqual(summary(again)[1:], summary(original))

    def test_the_command_writes_to_standard_output_and_picks_a_version(self):
        out = io.StringIO()
        call_command(
            "export_redcap_dictionary",
            "experience_of_process",
            "--version",
            "1",
            stdout=out,
            stderr=io.StringIO(),
        )
        self.assertTrue(
            out.getvalue().startswith('"Variable / Field Name"')
            or out.getvalue().startswith("Variable / Field Name")
        )
        with self.assertRaisesMessage(CommandError, "has no version 7"):
            call_command("export_redcap_dictionary", "experience_of_process", "--version", "7", stdout=out)
        with self.assertRaisesMessage(CommandError, "No instrument 'nope'"):
            call_command("export_redcap_dictionary", "nope", stdout=out)
        with self.assertRaisesMessage(CommandError, "not fr"):
            call_command("export_redcap_dictionary", "experience_of_process", "--language", "fr", stdout=out)

    def test_spanish_labels_can_be_exported(self):
        out = io.StringIO()
        call_command(
            "export_redcap_dictionary",
            "experience_of_process",
            "--language",
            "es",
            stdout=out,
            stderr=io.StringIO(),
        )
        self.assertIn("Me trataron con respeto.", out.getvalue())
