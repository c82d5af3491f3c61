"""REDCap event names of exported records (issue 22): the one place a timepoint becomes `redcap_event_name`.

A longitudinal REDCap project names each event `<event>_arm_<n>` (its "unique event name"). A timepoint is
written as the event the map gives it (settings.REDCAP_EVENTS, "t0=baseline_arm_1,t3=month_3_arm_1"), else as
`<timepoint>_arm_<settings.REDCAP_ARM>`. A response with no timepoint that came from REDCap keeps the event it
was imported from (its purpose "REDCap <event>", redcap_records.py), so a round trip does not lose it.

The events file and the instrument-event mapping file that go with the records (REDCap's "Upload events" and
"Upload instrument-event mappings") are written from the same names (exports.redcap_events_file,
exports.redcap_instrument_events_file).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from circlekeeper.evaluation.items import REDCAP_PURPOSE as PURPOSE_PREFIX
from circlekeeper.evaluation.items import safe_name

UNIQUE_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*_arm_([1-9][0-9]*)$")


def event_map() -> dict[str, str]:
    """The configured timepoint → unique event name map; ImproperlyConfigured names a bad entry."""
    mapping: dict[str, str] = {}
    for entry in (part.strip() for part in str(settings.REDCAP_EVENTS or "").split(",")):
        if not entry:
            continue
        timepoint, equals, event = (text.strip() for text in entry.partition("="))
        if not equals or not timepoint or not UNIQUE_EVENT_NAME.match(event):
            raise ImproperlyConfigured(
                f"CIRCLEKEEPER_REDCAP_EVENTS: {entry!r} must read timepoint=<event>_arm_<n>, e.g. t0=baseline_arm_1"
            )
        mapping[timepoint] = event
    return mapping


def redcap_event_name(timepoint: str, *, purpose: str = "", mapping: dict[str, str] | None = None) -> str:
    """The `redcap_event_name` of a record: the timepoint's mapped event, else `<timepoint>_arm_<n>`; with no
    timepoint, the REDCap event a response was imported from (its purpose), else ""."""
    mapping = event_map() if mapping is None else mapping
    if timepoint:
        return mapping.get(timepoint) or f"{safe_name(timepoint)}_arm_{settings.REDCAP_ARM}"
    if purpose.startswith(PURPOSE_PREFIX):
        event = purpose.removeprefix(PURPOSE_PREFIX).split(" #", 1)[0].strip()
        if UNIQUE_EVENT_NAME.match(event):
            return event
    return ""


def arm_of(event: str) -> int:
    match = UNIQUE_EVENT_NAME.match(event)
    return int(match.group(1)) if match else int(settings.REDCAP_ARM)
