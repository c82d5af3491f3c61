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
from collections import defaultdict
from collections.abc import Collection

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q

from circlekeeper.accounts.models import Organization
from circlekeeper.evaluation.items import REDCAP_PURPOSE as PURPOSE_PREFIX
from circlekeeper.evaluation.items import safe_name
from circlekeeper.evaluation.models import EvaluationPlan, PlanTimepoint, Timepoint
from circlekeeper.instruments.definition import items_by_code
from circlekeeper.instruments.models import Response, ResponseStatus

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


# --- [event][field] read at the timepoint an event maps to (issue 22) -----------------------------------------


def timepoint_events(organization: Organization | None) -> dict[str, str]:
    """Unique event name → timepoint code, for the configured map and the timepoints of the evaluation plans
    the organization may use (every plan when it is None, for an instrument shared by all)."""
    mapping = event_map()
    plans = (
        EvaluationPlan.objects.all()
        if organization is None
        else EvaluationPlan.objects.for_organization(organization)
    )
    codes = PlanTimepoint.objects.filter(plan__in=plans, retired_at__isnull=True).values_list(
        "code", flat=True
    )
    events = {redcap_event_name(code, mapping=mapping): code for code in sorted(set(codes))}
    events.update({event: timepoint for timepoint, event in mapping.items()})
    return events


def sources_at_events(
    response: Response, wanted: Collection[tuple[str, str]]
) -> dict[tuple[str, str], Response]:
    """For each (event, item) wanted, the response of the same participant that answers it at that event.

    settings.RESPONSE_EVENT_SOURCES. The event is the one the participant's timepoint is exported as (or, for a
    response imported from REDCap with no timepoint, the event it came from). At that event: the response
    itself, if it is there (its live answers are read); else the participant's submitted response to the same
    instrument, if it holds the item; else one to the instrument that holds the item. Only this participant's
    responses, in this organization, are ever looked at.
    """
    if response.participant_id is None:
        return {}
    mapping = event_map()
    at: dict[str, list[Response]] = defaultdict(list)
    # A response not saved yet (a link's first page) is at no timepoint yet, and has no answers to read.
    own = Q(response_id=response.pk) | Q(link__response_id=response.pk) if response.pk else Q(pk__in=[])
    rows = (
        Timepoint.objects.filter(
            organization_id=response.organization_id, participant_id=response.participant_id
        )
        .filter(own | Q(response__status=ResponseStatus.SUBMITTED))
        .select_related("response__version", "link")
    )
    for row in rows:
        event = redcap_event_name(row.code, mapping=mapping)
        is_own = response.pk is not None and (
            row.response_id == response.pk or (row.link is not None and row.link.response_id == response.pk)
        )
        if is_own:
            at[event].insert(0, response)
        elif row.response is not None:
            at[event].append(row.response)
    imported = (
        Response.objects.filter(
            organization_id=response.organization_id,
            participant_id=response.participant_id,
            purpose__startswith=PURPOSE_PREFIX,
        )
        .filter(Q(pk=response.pk or 0) | Q(status=ResponseStatus.SUBMITTED))
        .select_related("version")
    )
    for other in imported:
        event = redcap_event_name("", purpose=other.purpose)
        if event and other.pk == response.pk:
            at[event].insert(0, response)
        elif event:
            at[event].append(other)
    found: dict[tuple[str, str], Response] = {}
    for event, item in wanted:
        candidates = at.get(event, [])
        if any(candidate.pk == response.pk for candidate in candidates):
            found[(event, item)] = response
            continue
        holders = sorted(
            (c for c in candidates if item in items_by_code(c.version.definition)),
            key=lambda c: (
                c.version.instrument_id == response.version.instrument_id,
                c.submitted_at or c.started_at,
            ),
            reverse=True,
        )
        if holders:
            found[(event, item)] = holders[0]
    return found
