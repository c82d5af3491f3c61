"""Exported CSV cells never start a spreadsheet formula (SECURITY.md 21)."""

import csv
import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circlekeeper.lib.csv_safety import FORMULA_STARTS, escape_cell, escape_row

PAYLOADS = [
    '=HYPERLINK("http://attacker.example","click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_cell_that_would_start_a_formula_is_written_as_text(payload):
    assert escape_cell(payload) == "'" + payload


@pytest.mark.parametrize("text", ["circles", "group a", "a=b", "3 - 2", "", "'quoted", "email@example.org"])
def test_ordinary_text_is_left_as_it_is(text):
    assert escape_cell(text) == text


@pytest.mark.parametrize("number", [-3.5, -1, 0, 2.25, None, True])
def test_numbers_and_empty_values_are_left_as_they_are(number):
    assert escape_cell(number) is number


def test_a_row_is_escaped_cell_by_cell_and_read_back_as_written():
    row = escape_row(["=1+1", -2, "plain", "@x"])
    out = io.StringIO()
    csv.writer(out).writerow(row)
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=1+1", "-2", "plain", "'@x"]


NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@given(st.text())
def test_no_escaped_text_starts_with_a_formula_character(text):
    escaped = escape_cell(text)
    assert isinstance(escaped, str)
    if NUMBER_TEXT.fullmatch(text):  # exactly a number: a spreadsheet reads the number, runs nothing
        assert escaped == text
        return
    assert not escaped.startswith(FORMULA_STARTS)
    assert not escaped.lstrip(" ").startswith(FORMULA_STARTS)
    assert escaped in (text, "'" + text)


@pytest.mark.parametrize("text", ["-1", "-3.5", "+2", "1e-3", "-.5"])
def test_text_that_is_exactly_a_number_is_left_as_it_is(text):
    assert escape_cell(text) == text
