"""Missing values, one concept (issue 22): "prefer not to say", "not applicable" and "don't know".

An item offers "prefer not to say" with `prefer_not_to_say` (the reserved answer PNTS); a choice is a
missing code with `missing: not_applicable | dont_know | prefer_not_to_say` (a scale's "6, Not applicable" or
"9, Don't know"). Every such answer is missing everywhere:

- scores leave it out (a missing choice has no value, and does not widen the item's range);
- tables and the flat CSV hold its marker (`_pnts`, `_na`, `_dk`), which no program reads as a number;
- SPSS writes its number (-9, -7, -8) and declares it user-missing; Stata writes an extended missing value
  (`.a`, `.b`, `.c`) with its label; REDCap records write REDCap's missing-data code (`DECL`, `NA`, `UNK`),
  the codes a project lists under "Missing Data Codes".

`missing_codes()` is the one place these are decided: the exports and a REDCap-compatible API read it.
`guess_reason()` reads a choice label the way importers recognise these codes in real files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext_noop

PREFER_NOT_TO_SAY = "prefer_not_to_say"
NOT_APPLICABLE = "not_applicable"
DONT_KNOW = "dont_know"
REASONS = (PREFER_NOT_TO_SAY, NOT_APPLICABLE, DONT_KNOW)


@dataclass(frozen=True)
class MissingCode:
    """How one reason for a missing answer is written in each format."""

    reason: str
    marker: str  # in tables and the flat CSV
    number: int  # the SPSS value, declared user-missing (another is used if a real code takes it)
    stata: str  # the Stata extended missing value's letter (.a, .b, ...)
    redcap: str  # the REDCap missing-data code
    label: str  # to translate with gettext


_CODES = (
    MissingCode(PREFER_NOT_TO_SAY, "_pnts", -9, "a", "DECL", gettext_noop("Prefer not to say")),
    MissingCode(NOT_APPLICABLE, "_na", -7, "b", "NA", gettext_noop("Not applicable")),
    MissingCode(DONT_KNOW, "_dk", -8, "c", "UNK", gettext_noop("Don't know")),
)


def missing_codes() -> dict[str, MissingCode]:
    """Each reason's codes, by reason, in a fixed order (prefer not to say, not applicable, don't know)."""
    return {code.reason: code for code in _CODES}


def by_marker(value: object) -> MissingCode | None:
    """The missing code a table cell holds, if it holds one."""
    if not isinstance(value, str):
        return None
    return next((code for code in _CODES if code.marker == value), None)


_PATTERNS = (
    (
        PREFER_NOT_TO_SAY,
        r"prefer not to (say|answer|respond)|rather not (say|answer)|decline[sd]? to answer|refused|"
        r"prefiero no (decir|responder|contestar)|no desea responder|keine angabe|möchte ich nicht sagen",
    ),
    (
        NOT_APPLICABLE,
        r"not applicable|\bn/a\b|does not apply|doesn't apply|no aplica|trifft nicht zu|nicht zutreffend|"
        r"entfällt",
    ),
    (
        DONT_KNOW,
        r"don't know|do not know|not sure|no sé|no sabe|weiß nicht|weiss nicht",
    ),
)


def guess_reason(label: str) -> str | None:
    """The reason a choice label names ("Not applicable (no children)" → not_applicable), or None."""
    text = " ".join(label.lower().replace("\u2019", "'").split())
    for reason, pattern in _PATTERNS:
        if re.search(pattern, text):
            return reason
    return None
