"""Spreadsheet-formula escaping for every exported CSV cell (SECURITY.md 21).

A spreadsheet opening a CSV runs a cell that starts with = + - or @ as a formula (and a leading tab or
carriage return can hide one), so text from people — a group name, a label — could call out to the network
or run a command on the reader's machine. Such a cell is written with a leading apostrophe, which makes
spreadsheets show it as text. Numbers are left alone: -3.5 written by the csv module is a number, not a
formula, and escaping it would turn data into text.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> object:
    """The value as it may go into a CSV cell: text that a spreadsheet would run gets a leading apostrophe."""
    if not isinstance(value, str):
        return value
    # Some spreadsheets skip leading spaces before deciding that a cell is a formula.
    if value.startswith(FORMULA_STARTS) or value.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def escape_row(values: Iterable[object]) -> list[object]:
    return [escape_cell(value) for value in values]
