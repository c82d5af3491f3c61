"""Piping (REDCap's [field] in a label): an earlier answer shown inside a text (issue 22).

`[first_name]` shows the answer as REDCap does: a choice's label for a choice item, the value otherwise;
`[sex:label]` the choice's label, `[sex:value]` its code. A question not answered yet (or answered "prefer
not to say") shows a blank line, "______", as REDCap does. Only the answers given are used, and they are
always the answers of the response being filled, by the person filling it: the caller passes that
response's answers and nothing else. A bracketed name that is not an item of the definition (a smart
variable such as [event-name]) is left as written. [event][field] is the same person's answer at that REDCap
event (instruments/events.py), blank where there is none; a choice there is shown with its label in the
definition it was answered with (another instrument's too), in the reader's language. The result is plain
text: pages escape it as any text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from circlekeeper.instruments.definition import PNTS, choices_for, items_by_code, localized
from circlekeeper.instruments.expressions import NO_EVENTS, EventAnswers

# [field], [field:label], [field:value], and each of them after an event: [t0_arm_1][field].
_PIPE = re.compile(r"\[(?:([a-z0-9][a-z0-9_]*)\]\[)?([A-Za-z][A-Za-z0-9_]*)(?::(label|value))?\]")
BLANK = "______"


def pipe(
    text: str,
    definition: dict[str, Any],
    answers: Mapping[str, Any],
    language: str,
    events: EventAnswers | None = None,
) -> str:
    """`text` with every [field], [field:label] and [field:value] of the definition's items replaced, and
    [event][field] (and its :label, :value) by the same person's answer at that event (`events`), else blank."""
    if "[" not in text:
        return text
    items = items_by_code(definition)
    events = events or NO_EVENTS

    def shown(name: str, value: Any, option: str | None, source: Mapping[str, Any] | None = None) -> str:
        """The answer as text; a choice item's labels come from `source`, the definition it was answered
        with (another instrument's, for [event][field]), else this one."""
        if value is None or value == "" or value == [] or value == PNTS:
            return BLANK
        codes = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        of = dict(source) if source is not None else definition
        item = items_by_code(of).get(name) if source is not None else items.get(name)
        if (
            item is None
            or option == "value"
            or item["type"] not in ("single_choice", "multiple_choice", "yes_no")
        ):
            return ", ".join(codes)
        labels = {
            str(c["code"]): localized(c.get("label"), language, of) or str(c["code"])
            for c in choices_for(of, item, with_pnts=False)
        }
        return ", ".join(labels.get(code, code) for code in codes)

    def replace(match: re.Match[str]) -> str:
        event, name, option = match.groups()
        if event is None:
            if name not in items:
                return match.group(0)
            return shown(name, answers.get(name), option)
        second = _PIPE.match(match.group(0), len(event) + 2)
        if event in items and second is not None:  # [first_name][last_name]: two items side by side
            return shown(event, answers.get(event), None) + replace(second)
        if event in events.own_events:
            return shown(name, answers.get(name), option)
        return shown(name, events.answers.get((event, name)), option, events.definitions.get((event, name)))

    # One pass: an answer shown is never read again for brackets.
    return _PIPE.sub(replace, text)
