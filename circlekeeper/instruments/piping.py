"""Piping (REDCap's [field] in a label): an earlier answer shown inside a text (issue 22).

`[first_name]` shows the answer as REDCap does: a choice's label for a choice item, the value otherwise;
`[sex:label]` the choice's label, `[sex:value]` its code. A question not answered yet (or answered "prefer
not to say") shows a blank line, "______", as REDCap does. Only the answers given are used, and they are
always the answers of the response being filled, by the person filling it: the caller passes that
response's answers and nothing else. A bracketed name that is not an item of the definition (a smart
variable such as [event-name]) is left as written. The result is plain text: pages escape it as any text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from circlekeeper.instruments.definition import PNTS, choices_for, items_by_code, localized

_PIPE = re.compile(r"\[([A-Za-z][A-Za-z0-9_]*)(?::(label|value))?\]")
BLANK = "______"


def pipe(text: str, definition: dict[str, Any], answers: Mapping[str, Any], language: str) -> str:
    """`text` with every [field], [field:label] and [field:value] of the definition's items replaced."""
    if "[" not in text:
        return text
    items = items_by_code(definition)

    def replace(match: re.Match[str]) -> str:
        item = items.get(match.group(1))
        if item is None:
            return match.group(0)
        value = answers.get(item["code"])
        if value is None or value == "" or value == [] or value == PNTS:
            return BLANK
        codes = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        if match.group(2) == "value" or item["type"] not in ("single_choice", "multiple_choice", "yes_no"):
            return ", ".join(codes)
        labels = {
            str(c["code"]): localized(c.get("label"), language, definition) or str(c["code"])
            for c in choices_for(definition, item, with_pnts=False)
        }
        return ", ".join(labels.get(code, code) for code in codes)

    return _PIPE.sub(replace, text)
