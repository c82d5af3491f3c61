"""The one export guard for cells (SECURITY.md 21): every file that leaves the system passes its text through here.

A spreadsheet opening a CSV runs a cell that starts with = + - or @ as a formula (and a leading tab or carriage
return can hide one), so text from people — a group name, a label, an imported note — could call out to the network
or run a command on the reader's machine. Spreadsheets also skip characters they show as nothing before deciding:
spaces of every kind (a non-breaking space, the ideographic space U+3000), zero-width characters, a byte-order mark,
line breaks. Such a cell is written with a leading apostrophe, which makes spreadsheets show it as text. Numbers
are left alone, and so is text that is exactly a number ("-3.5"): a spreadsheet reads it as that number, not a
formula, and escaping it would turn data into text.

Used by: the flat CSV, REDCap dictionary and records, SPSS and Stata exports (evaluation.exports), the REDCap
dictionary of an instrument (instruments.redcap, web and `manage.py export_redcap_dictionary`) and the funder
report CSV. On the web, every export also asks for recent re-authentication (accounts.reauth.guard_export).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# REDCap action tags (@HIDDEN, @READONLY, @CALCTEXT(...)) must start with @: a cell made only of them, written by
# us into the annotation column, is allowed through where the caller says so.
# A number written as text (a REDCap minimum of -1) is read as that number, never run: it stays as it is.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_ACTION_TAGS = re.compile(r"(?:@[A-Z][A-Z0-9_-]*(?:\([^()=+@]*\))?\s*)+")


def _invisible(char: str) -> bool:
    """A character a spreadsheet may skip at the start of a cell: any space, line break, format or control one."""
    return char.isspace() or unicodedata.category(char) in ("Cf", "Cc", "Zs", "Zl", "Zp")


def _visible_start(value: str) -> str:
    index = 0
    while index < len(value) and _invisible(value[index]):
        index += 1
    return value[index:]


def escape_cell(value: object, *, action_tags: bool = False) -> object:
    """The value as it may go into a cell: text that a spreadsheet would run gets a leading apostrophe."""
    if not isinstance(value, str):
        return value
    if (action_tags and _ACTION_TAGS.fullmatch(value)) or _NUMBER.fullmatch(value):
        return value
    if value.startswith(FORMULA_STARTS) or _visible_start(value).startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """The text before `escape_cell`, for reading back a file written here (a REDCap dictionary round trip)."""
    if value.startswith("'") and escape_cell(value[1:]) == value:
        return value[1:]
    return value


def escape_row(values: Iterable[object], *, action_tag_columns: Iterable[int] = ()) -> list[object]:
    tags = set(action_tag_columns)
    return [escape_cell(value, action_tags=i in tags) for i, value in enumerate(values)]
