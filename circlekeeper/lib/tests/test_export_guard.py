"""Issue 19 finding 5: one export guard for every file that leaves the system.

Cells: what spreadsheets skip before deciding a cell is a formula (a non-breaking space, U+3000, a zero-width space,
a byte-order mark, a line feed) does not let = + - @ through, in any writer: the generic CSV, the REDCap dictionary
(web and `manage.py export_redcap_dictionary`), REDCap records, SPSS and Stata.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.test import TestCase

from circlekeeper.evaluation import exports
from circlekeeper.instruments.models import Source
from circlekeeper.instruments.redcap import export_dictionary
from circlekeeper.instruments.services import save_version
from circlekeeper.instruments.tests.helpers import make_definition
from circlekeeper.lib.csv_safety import escape_cell

HIDDEN_STARTS = ["\u00a0", "\u3000", "\u200b", "\ufeff", "\n", " \u00a0", "\u2060", "\r\n", "\u202f"]
FORMULAS = ['=HYPERLINK("http://attacker.example","x")', "+1+1", "-1+1", "@SUM(1)"]


@pytest.mark.parametrize("start", HIDDEN_STARTS)
@pytest.mark.parametrize("formula", FORMULAS)
def test_a_formula_behind_invisible_characters_is_written_as_text(start, formula):
    assert escape_cell(start + formula) == "'" + start + formula


@pytest.mark.parametrize("text", ["\u00a0plain", "\u3000テキスト", "\nnote", "a=b"])
def test_invisible_starts_before_ordinary_text_are_left_alone(text):
    assert escape_cell(text) == text


def test_redcap_action_tags_pass_only_where_allowed_and_only_as_tags():
    assert escape_cell("@READONLY", action_tags=True) == "@READONLY"
    assert escape_cell("@HIDDEN @CHARLIMIT(20)", action_tags=True) == "@HIDDEN @CHARLIMIT(20)"
    assert escape_cell("@READONLY") == "'@READONLY"
    for hostile in ('=HYPERLINK("x")', "@HIDDEN =cmd|' /C calc'!A0", "\u00a0=1+1"):
        assert escape_cell(hostile, action_tags=True) == "'" + hostile


def hostile_definition():
    definition = make_definition()
    item = definition["sections"][0]["items"][0]
    item["label"] = {"en": '\u00a0=HYPERLINK("http://attacker.example","x")', "es": "x"}
    item["help"] = {"en": "\n@SUM(1)", "es": "x"}
    item["annotation"] = '=HYPERLINK("http://attacker.example")'
    return definition


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_no_formula(text: str) -> None:
    for cell in cells(text):
        visible = cell.lstrip(" \u00a0\u3000\u200b\ufeff\u2060\u202f\r\n\t")
        assert not visible.startswith(("=", "+", "-")), repr(cell)
        if visible.startswith("@"):
            assert cell == visible and all(word.startswith("@") for word in cell.split()), repr(cell)


def test_the_redcap_dictionary_of_an_imported_instrument_is_guarded():
    text, _warnings = export_dictionary(hostile_definition())
    assert_no_formula(text)
    assert "'\u00a0=HYPERLINK" in text


class ExportCommandTests(TestCase):
    def test_the_export_redcap_dictionary_command_is_guarded(self):
        save_version(definition=hostile_definition(), source=Source.MANUAL, owner=None)
        out = io.StringIO()
        call_command("export_redcap_dictionary", "check", stdout=out, stderr=io.StringIO())
        assert_no_formula(out.getvalue())
        self.assertIn('\'=HYPERLINK("http://attacker.example") @CK-PREFER-NOT-TO-SAY', cells(out.getvalue()))


def test_generic_csv_and_spss_text_cells_are_guarded():
    chunks = b"".join(exports.csv_stream(["a"], [{"a": "\ufeff=1+1"}, {"a": "\u3000@x"}])).decode()
    assert_no_formula(chunks)
    assert escape_cell("\u200b-2") == "'\u200b-2"
