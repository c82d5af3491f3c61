"""REDCap's [event][field]: the same person's answer at another event, where the event maps to a timepoint.

Logic translated from REDCap reads it as answer_at('t0_arm_1', 'score') (expressions.py), and labels pipe it
as [t0_arm_1][score] (piping.py). Which timepoint an event is, and which of the person's responses answers
there, the evaluation app knows (settings.RESPONSE_EVENT_SOURCES; imports never point up): this module asks it
only for definitions that read another event, and only about the participant the response belongs to. A
response with no participant, an event that maps to no timepoint, or a question not answered there reads as
blank, as an empty value does in REDCap.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from circlekeeper.accounts.models import Organization
from circlekeeper.instruments import expressions
from circlekeeper.instruments.definition import PNTS, Imported, iter_items
from circlekeeper.instruments.models import Response
from circlekeeper.lib.hooks import hooks

# [event][field] or [event][field:label] in a text (a label, a note): piped from that event's answer.
PIPED_AT_EVENT = re.compile(r"\[([a-z0-9][a-z0-9_]*)\]\[([A-Za-z][A-Za-z0-9_]*)(?::(label|value))?\]")
_LOGIC_KEYS = ("show_if", "calculation", "constraint")


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for text in value.values() if isinstance(text, str)]
    return []


def event_references(definition: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """Every (event, item) the definition's logic and texts read from another event."""
    found: set[tuple[str, str]] = set()
    logic = [section.get("show_if") for section in definition["sections"]]
    texts: list[str] = []
    for _section, item in iter_items(definition):
        logic += [item.get(key) for key in _LOGIC_KEYS]
        for key in ("label", "help", "heading", "constraint_message"):
            texts += _texts(item.get(key))
    for text in logic:
        if not text:
            continue
        try:
            found |= expressions.parse(text).event_references
        except expressions.ExpressionError:
            continue
    for text in texts:
        found |= {(match.group(1), match.group(2)) for match in PIPED_AT_EVENT.finditer(text)}
    return frozenset(found)


def event_answers(response: Response | None, definition: dict[str, Any]) -> expressions.EventAnswers:
    """What answer_at() reads for this response: its participant's own answers at the events it names."""
    wanted = event_references(definition)
    if response is None or response.participant_id is None or not wanted:
        return expressions.NO_EVENTS
    answers: dict[tuple[str, str], object] = {}
    definitions: dict[tuple[str, str], dict[str, Any]] = {}
    own: set[str] = set()
    for source_of in hooks("RESPONSE_EVENT_SOURCES"):
        for (event, item), source in source_of(response, wanted).items():
            # Never another person's: the sources are asked for by this response's participant, and checked.
            if source.participant_id != response.participant_id:
                continue
            if source.pk == response.pk:
                own.add(event)
                continue
            value = (source.answers or {}).get(item)
            if value is not None and value != "" and value != [] and value != PNTS:
                answers[(event, item)] = value
                # The version it was answered with (loaded with it: no query), for its choices' labels.
                definitions[(event, item)] = source.version.definition
    return expressions.EventAnswers(answers=answers, own_events=frozenset(own), definitions=definitions)


def event_report(imported: Imported, owner: Organization | None) -> tuple[list[str], list[str]]:
    """(warnings, translated lines) on the events an imported definition reads: each event that maps to no
    timepoint is named, with where it is read (it reads as blank); each that maps says to which timepoint."""
    events = {event: list(wheres) for event, wheres in imported.events.items()}
    for event, _item in sorted(event_references(imported.definition)):
        events.setdefault(event, [])
    if not events:
        return [], []
    timepoints: dict[str, str] = {}
    for mapped in hooks("REDCAP_EVENT_TIMEPOINTS"):
        timepoints.update(mapped(owner))
    warnings, translated = [], []
    for event in sorted(events):
        wheres = "; ".join(dict.fromkeys(events[event])) or _("a label")
        if event in timepoints:
            translated.append(
                _("%(where)s: [%(event)s][…] reads the same participant's answer at timepoint %(timepoint)s")
                % {"where": wheres, "event": event, "timepoint": timepoints[event]}
            )
        else:
            warnings.append(
                _(
                    "%(where)s: the REDCap event %(event)r maps to no timepoint, so [%(event)s][…] reads as "
                    "empty, as a blank answer does in REDCap. Name its timepoint in CIRCLEKEEPER_REDCAP_EVENTS "
                    "(for example T0=%(event)s)"
                )
                % {"where": wheres, "event": event}
            )
    return warnings, translated
