"""Answering an instrument one section at a time: which sections are asked, where to resume, saving, submitting.

While a response is in progress, an item shown and left blank is saved as None: it says "seen, not answered",
so a reload resumes at the first section with an item never seen. Items that skip logic hides lose their answer
as soon as their section is saved, and `Response.submit()` records every hidden item as skipped. The None
markers are dropped before submitting: a submitted response holds answers, never empty ones.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import User
from circlekeeper.cases.contact import policy_refusals
from circlekeeper.cases.models import Participant
from circlekeeper.instruments import expressions
from circlekeeper.instruments.definition import NOT_ASKED
from circlekeeper.instruments.events import event_answers
from circlekeeper.instruments.expressions import EventAnswers
from circlekeeper.instruments.links import ContactRefused
from circlekeeper.instruments.models import InstrumentVersion, ParticipantLink, Response, ResponseStatus
from circlekeeper.instruments.scoring import visible_items
from circlekeeper.lib.hooks import hooks

Answers = dict[str, Any]


def asked_codes(section: dict[str, Any]) -> list[str]:
    return [item["code"] for item in section["items"] if item["type"] not in NOT_ASKED]


def shown_sections(
    definition: dict[str, Any], answers: Answers, today: datetime.date, events: EventAnswers | None = None
) -> list[int]:
    """Positions of the sections that show at least one item (asked or text) for these answers."""
    visible = set(visible_items(definition, answers, today=today, events=events))
    return [
        position
        for position, section in enumerate(definition["sections"])
        if any(item["code"] in visible for item in section["items"] if item["type"] != "calculated")
    ]


def resume_at(
    definition: dict[str, Any], answers: Answers, today: datetime.date, events: EventAnswers | None = None
) -> int | None:
    """The first section with an item shown but never seen; None when every shown item has been seen."""
    visible = set(visible_items(definition, answers, today=today, events=events))
    for position, section in enumerate(definition["sections"]):
        if any(code in visible and code not in answers for code in asked_codes(section)):
            return position
    return None


def neighbour(
    definition: dict[str, Any],
    answers: Answers,
    today: datetime.date,
    position: int,
    step: int,
    events: EventAnswers | None = None,
) -> int | None:
    """The next (step 1) or previous (step -1) shown section from this one, if any."""
    shown = shown_sections(definition, answers, today, events)
    candidates = [p for p in shown if p > position] if step > 0 else [p for p in shown if p < position][::-1]
    return candidates[0] if candidates else None


def has_live_logic(section: dict[str, Any]) -> bool:
    """Whether an answer on this page can show or hide something on this page (then htmx redraws it live)."""
    codes = {item["code"] for item in section["items"]}
    for item in section["items"]:
        if item.get("show_if"):
            try:
                if expressions.parse(item["show_if"]).variables & codes:
                    return True
            except expressions.ExpressionError:
                continue
    return False


def merge_section(
    definition: dict[str, Any],
    answers: Answers,
    position: int,
    values: Answers,
    today: datetime.date,
    events: EventAnswers | None = None,
) -> Answers:
    """The answers with this section's values in; items of the section that are now hidden lose theirs."""
    merged = {**answers, **values}
    visible = set(visible_items(definition, merged, today=today, events=events))
    for code in asked_codes(definition["sections"][position]):
        if code not in visible:
            merged.pop(code, None)
    return merged


def response_refusals(response: Response) -> list[str]:
    """Why the contact policy refuses going on with this questionnaire now (saving, submitting), if it does."""
    if response.voided_at is not None:
        return [_("This questionnaire was stopped by a safety event and cannot go on.")]
    if response.participant_id is None:
        return []
    # From the database, not a copy in hand: a hold may have opened since it was read.
    participant = Participant.objects.select_related("case").get(pk=response.participant_id)
    kind = "questionnaire" if response.entered_by_staff_id else "link"
    return policy_refusals(participant.case, kind=kind, participants=[participant])


def save_section(*, response: Response, position: int, values: Answers, today: datetime.date) -> None:
    if response.status != ResponseStatus.IN_PROGRESS:
        raise ValueError("a submitted response cannot change")
    refused = response_refusals(response)
    if refused:
        raise ContactRefused(" ".join(refused))
    definition = response.version.definition
    response.answers = merge_section(
        definition, dict(response.answers or {}), position, values, today, event_answers(response, definition)
    )
    response.save(update_fields=["answers"])


def start_entry(*, participant: Participant, version: InstrumentVersion, purpose: str, by: User) -> Response:
    """A response that staff enter on the participant's behalf, recorded as entered by them.

    Asking someone questions is contact: children never, the other side only when the survivor's choice and
    safety allow it (ContactRefused, nothing written). The channel rules do not apply: staff are with them.
    """
    refused = policy_refusals(participant.case, kind="questionnaire", participants=[participant])
    if refused:
        raise ContactRefused(" ".join(refused))
    response = Response(
        organization_id=participant.organization_id,
        version=version,
        participant=participant,
        case_id=participant.case_id,
        purpose=purpose.strip(),
        entered_by_staff=by,
    )
    response.full_clean(exclude=["answers"])  # empty until the first section is saved
    response.save()
    return response


@transaction.atomic
def submit(
    *,
    response: Response,
    today: datetime.date,
    link: ParticipantLink | None = None,
    contact: bool = True,
    events: EventAnswers | None = None,
) -> bool:
    """Submit once: the scores are computed and a link stops working. False if it was already submitted.

    `contact=False` only for answers brought in from another system (a REDCap records import): no one is asked
    anything, so the contact policy has nothing to decide; a questionnaire voided by a safety event stays voided.
    `events`: what [event][field] reads, when the caller checked the answers with it (a records import);
    otherwise the response's own participant's answers at those events are read.
    """
    locked = Response.objects.select_for_update().select_related("version").get(pk=response.pk)
    if locked.status == ResponseStatus.SUBMITTED:
        return False
    refused = response_refusals(locked) if contact else []
    if locked.voided_at is not None:
        refused = refused or [_("This questionnaire was stopped by a safety event and cannot go on.")]
    if refused:
        raise ContactRefused(" ".join(refused))
    locked.answers = {code: value for code, value in (locked.answers or {}).items() if value is not None}
    locked.submit(today=today, events=events)
    for handler in hooks("RESPONSE_SUBMITTED_HANDLERS"):
        handler(locked)
    if link is not None:
        link.submitted_at = locked.submitted_at or timezone.now()
        link.save(update_fields=["submitted_at"])
    response.refresh_from_db()
    return True
