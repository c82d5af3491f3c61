"""A case's history in words: each CaseEvent's codes turned into labels, nothing fetched per line.

Used by the case page (the last events) and by the protocol app's case timeline (every event).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from circlekeeper.cases.models import (
    CaseEvent,
    ConsentKind,
    EventKind,
    ParticipantRole,
    ReachedOutBy,
    Stage,
    Track,
)

# The words for codes the apps above this one write on the case (Case.risk_level, and the facts of its history
# lines). This app may not import them (ARCHITECTURE.md: imports never point up), so their labels are
# repeated here with the same message ids; tests check they cover the safety and protocol apps' codes.
RISK_LEVELS: dict[str, Promise] = {
    "low": gettext_lazy("Low"),
    "elevated": gettext_lazy("Elevated"),
    "high": gettext_lazy("High"),
    "severe": gettext_lazy("Severe"),
}
HOLD_REASONS: dict[str, Promise] = {
    "risk": gettext_lazy("A safety check came out high or severe"),
    "new_violence": gettext_lazy("New violence was reported"),
    "broken_commitment": gettext_lazy("A commitment was broken"),
    "meeting_check": gettext_lazy("A meeting check-in or check-out signalled danger"),
    "survivor_report": gettext_lazy("The survivor said something made them feel less safe"),
}
MEETING_KINDS: dict[str, Promise] = {
    "preparation": gettext_lazy("Preparation meeting (one party and their supporters)"),
    "circle": gettext_lazy("Circle (both parties)"),
    "conference": gettext_lazy("Conference (both parties)"),
    "shuttle": gettext_lazy("Shuttle session (the keeper meets each side in turn)"),
    "pod": gettext_lazy("Support-pod meeting"),
}
CHECK_MOMENTS: dict[str, Promise] = {
    "in": gettext_lazy("Check-in at the start"),
    "out": gettext_lazy("Check-out at the end"),
}
COMMITMENT_STATUSES: dict[str, Promise] = {
    "kept": gettext_lazy("Kept"),
    "partly": gettext_lazy("Partly kept"),
    "not_kept": gettext_lazy("Not kept"),
    "unknown": gettext_lazy("Not known"),
}
STAIRCASE_STEPS: dict[str, Promise] = {
    "1": gettext_lazy("1 · Stop the immediate violence"),
    "2": gettext_lazy("2 · Recognize the violence"),
    "3": gettext_lazy("3 · Recognize its consequences without excuses"),
    "4": gettext_lazy("4 · Make repairs"),
    "5": gettext_lazy("5 · Change harmful attitudes and behavior"),
    "6": gettext_lazy("6 · Take part in the community in a healthier way"),
}
POD_SIDES: dict[str, Promise] = {
    "survivor": gettext_lazy("The survivor's pod"),
    "harm": gettext_lazy("The pod of the person who caused harm"),
    "both": gettext_lazy("Both pods"),
}
STANCES: dict[str, Promise] = {
    "ally": gettext_lazy("Ally"),
    "barrier": gettext_lazy("Barrier"),
    "unsure": gettext_lazy("Unsure"),
}
TIE_CHANGES: dict[str, Promise] = {
    "added": gettext_lazy("They know each other (added)"),
    "removed": gettext_lazy("They know each other (removed)"),
}
# Who of the other side reached out themselves, and how (protocol.models.ReachedOutSide, ReachedOutHow).
OTHER_SIDE_REACHED: dict[str, Promise] = {
    "person_who_caused_harm": gettext_lazy("The person who caused harm"),
    "supporter": gettext_lazy("A supporter of theirs"),
    "on_their_behalf": gettext_lazy("Someone else on their behalf"),
}
REACHED_HOW: dict[str, Promise] = {
    "phone_call": gettext_lazy("Phone call"),
    "text": gettext_lazy("Text message"),
    "email": gettext_lazy("Email"),
    "in_person": gettext_lazy("In person"),
    "letter": gettext_lazy("Letter"),
    "social_media": gettext_lazy("Social media message"),
    "other": gettext_lazy("Another way"),
}
# In this order on every line: PostgreSQL's jsonb keeps no key order, and a line must read the same everywhere.
FACT_NAMES: dict[str, Promise] = {
    "participant": gettext_lazy("Participant"),
    "role": gettext_lazy("Role"),
    "consent": gettext_lazy("Consent"),
    "track": gettext_lazy("Track"),
    "stage": gettext_lazy("Stage"),
    "previous": gettext_lazy("Before"),
    "meeting_kind": gettext_lazy("Meeting"),
    "moment": gettext_lazy("Check"),
    "level": gettext_lazy("Risk level"),
    "reason": gettext_lazy("Why"),
    "revision": gettext_lazy("Revision"),
    "version": gettext_lazy("Version"),
    "commitment": gettext_lazy("Commitment"),
    "status": gettext_lazy("Progress"),
    "step": gettext_lazy("Staircase step"),
    "member": gettext_lazy("Person"),
    "side": gettext_lazy("Pod"),
    "stance": gettext_lazy("Ally or barrier"),
    "tie": gettext_lazy("Tie"),
    "reached_out_by": gettext_lazy("Who reached out"),
    "record": gettext_lazy("Record"),
    "other_side": gettext_lazy("Who of the other side"),
    "how": gettext_lazy("How"),
    "on": gettext_lazy("When"),
}
RECORDS: dict[str, Promise] = {
    "participant": gettext_lazy("Participant"),
    "note": gettext_lazy("Note"),
    "consent": gettext_lazy("Consent"),
    "meeting": gettext_lazy("Meeting"),
    "track_choice": gettext_lazy("Choice of track"),
    "plan_revision": gettext_lazy("Safety plan revision"),
}
# Facts that only identify a record (to link to it), never shown as words.
LINK_FACTS = frozenset({"meeting"})
# Events whose `previous` fact is a stage; on a track choice it is the previous track.
STAGE_EVENTS = frozenset({EventKind.STAGE_CHANGED, EventKind.REOPENED})


@dataclass(frozen=True)
class HistoryLine:
    """One line of a case's history in words."""

    event: CaseEvent
    what: str
    facts: list[tuple[str, str]]


def _label(choices: type[models.TextChoices], code: str) -> str:
    return str(choices(code).label) if code in choices.values else code


def fact_words(name: str, value: object, kind: str = "") -> str:
    code = str(value)
    if name == "stage" or (name == "previous" and kind in STAGE_EVENTS):
        return _label(Stage, code)
    if name in ("track", "previous"):
        return _label(Track, code) if code else _("none yet")
    if name == "consent":
        return _label(ConsentKind, code)
    if name == "role":
        return _label(ParticipantRole, code)
    if name == "reached_out_by":
        return _label(ReachedOutBy, code)
    if name == "level":
        return str(RISK_LEVELS.get(code, code)) if code else _("no level")
    if name == "reason":
        return str(HOLD_REASONS.get(code, code))
    if name == "meeting_kind":
        return str(MEETING_KINDS.get(code, code))
    if name == "moment":
        return str(CHECK_MOMENTS.get(code, code))
    words = {
        "status": COMMITMENT_STATUSES,
        "step": STAIRCASE_STEPS,
        "side": POD_SIDES,
        "stance": STANCES,
        "tie": TIE_CHANGES,
        "record": RECORDS,
        "other_side": OTHER_SIDE_REACHED,
        "how": REACHED_HOW,
    }
    if name in words:
        return str(words[name].get(code, code))
    return code


def describe_event(event: CaseEvent) -> HistoryLine:
    what = str(EventKind(event.kind).label) if event.kind in EventKind.values else event.kind
    order = list(FACT_NAMES)
    names = sorted(
        (name for name in event.facts if name not in LINK_FACTS),
        key=lambda name: (order.index(name) if name in order else len(order), name),
    )
    facts = [
        (str(FACT_NAMES.get(name, name)), fact_words(name, event.facts[name], event.kind)) for name in names
    ]
    return HistoryLine(event, what, facts)
