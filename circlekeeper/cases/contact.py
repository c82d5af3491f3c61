"""Whether a participant may be contacted, and whether anything may involve the person who caused harm.

`contact_allowed` is the one check every outbound contact goes through (survey links now, reminders and
anything later): it names the rule an attempt breaks, so staff can act on it. `harm_action_refusal` is the
survivor's-choice rule (PROTOCOL.md, principle 1): nothing that involves the person who caused harm or
their supporters starts without the survivor's current consent and a chosen track with contact, and
nothing while a safety hold is open.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext as _

from circlekeeper.cases.models import (
    LEAVES_MESSAGE,
    Case,
    ConsentKind,
    ContactChannel,
    ContactRules,
    Participant,
)
from circlekeeper.lib.hooks import hooks


@dataclass(frozen=True)
class ContactDecision:
    allowed: bool
    reason: str = ""


def harm_action_refusal(case: Case, *, contact_level: int = 1) -> str | None:
    """Why nothing involving the person who caused harm may start on this case now, or None if it may.

    `contact_level` is what the action needs from the survivor's track: 1 for indirect contact (a message, a
    link, a meeting with them alone), 2 for a joint activity with both parties. The rules are the contact
    policy's (protocol.policy, through settings.CASE_CONTACT_POLICY): this app may not import it.
    """
    for check in hooks("CASE_CONTACT_POLICY"):
        found = check(case, contact_level=contact_level)
        if found:
            return str(found[0])
    return None


def policy_refusals(
    case: Case,
    *,
    kind: str,
    participants: Iterable[Participant],
    when: datetime.datetime | None = None,
    now: datetime.datetime | None = None,
    channel: str = "",
    meeting_kind: str = "",
) -> list[str]:
    """Every condition of the contact policy (protocol.policy, settings.CONTACT_POLICY) this contact breaks."""
    people = list(participants)
    found: list[str] = []
    for check in hooks("CONTACT_POLICY"):
        found += check(
            case,
            kind=kind,
            participants=people,
            when=when,
            now=now,
            channel=channel,
            meeting_kind=meeting_kind,
        )
    return found


def report_safety_event(
    case: Case, reason: str, *, by: object = None, people: list[Participant] | None = None
) -> None:
    """A safety event happened (settings.SAFETY_EVENT_HANDLERS cascade it at once, in this transaction)."""
    for handler in hooks("SAFETY_EVENT_HANDLERS"):
        handler(case=case, reason=reason, by=by, people=people)


def _time_window(rules: ContactRules) -> str:
    days = ", ".join(rules.day_labels)
    if rules.from_time is None or rules.until_time is None:
        return days
    return _("%(days)s, %(start)s–%(end)s") % {
        "days": days,
        "start": time_format(rules.from_time, "TIME_FORMAT"),
        "end": time_format(rules.until_time, "TIME_FORMAT"),
    }


def rules_refusal(rules: ContactRules, channel: str, when: datetime.datetime) -> str | None:
    """The safe-contact rule this contact would break, in words, or None."""
    if channel not in ContactChannel.values:
        return _("This is not a way the program contacts people.")
    label = ContactChannel(channel).label
    if channel not in rules.channels:
        allowed = ", ".join(rules.channel_labels) or _("none")
        return _("Safe-contact rule: %(channel)s is not an allowed way (allowed: %(allowed)s).") % {
            "channel": label,
            "allowed": allowed,
        }
    if rules.never_leave_messages and channel in LEAVES_MESSAGE:
        return _(
            "Safe-contact rule: never leave messages. A %(channel)s stays where someone else may read it."
        ) % {"channel": str(label).lower()}
    if channel == ContactChannel.NAMED_PERSON and not rules.named_person:
        return _("Safe-contact rule: contact through a named person, but no person is named.")
    local = timezone.localtime(when)
    in_day = local.weekday() in rules.days
    in_hours = rules.from_time is None or (
        rules.until_time is not None and rules.from_time <= local.time() < rules.until_time
    )
    if not (in_day and in_hours):
        return _("Safe-contact rule: only at the allowed times (%(window)s).") % {
            "window": _time_window(rules) or _("no day is allowed")
        }
    return None


def contact_allowed(
    participant: Participant, channel: str, when: datetime.datetime, *, kind: str = "link"
) -> ContactDecision:
    """Whether this participant may be contacted through this channel at this time, and if not, why.

    The contact policy first (children by role or age, barriers, and for the other side the survivor's choice,
    safety and the stage reached), then this person's consent to be contacted and safe-contact rules.
    """
    refused = policy_refusals(participant.case, kind=kind, participants=[participant], when=when)
    if refused:
        return ContactDecision(False, " ".join(refused))
    if not participant.has_consent(ConsentKind.CONTACT):
        return ContactDecision(
            False, _("%(label)s has no current consent to be contacted.") % {"label": participant.label}
        )
    rules = ContactRules.objects.filter(participant=participant).first()
    if rules is None:
        return ContactDecision(
            False,
            _("No safe-contact rules are recorded for %(label)s: record how they may be contacted first.")
            % {"label": participant.label},
        )
    refusal = rules_refusal(rules, channel, when)
    return ContactDecision(refusal is None, refusal or "")


# How far ahead the next allowed time is looked for: every allowed day comes round within a week.
NEXT_ALLOWED_WITHIN_DAYS = 8


def next_allowed_time(
    participant: Participant, channel: str, after: datetime.datetime
) -> datetime.datetime | None:
    """The first moment from `after` at which this contact is allowed: `after` itself, or the start of the next
    allowed window of the safe-contact rules. None when no time would do (no consent, a channel the rules forbid,
    a hold, no allowed day): only the time of day and the day of the week can be waited out."""
    if contact_allowed(participant, channel, after).allowed:
        return after
    rules = ContactRules.objects.filter(participant=participant).first()
    if rules is None:
        return None
    local = timezone.localtime(after)
    start = rules.from_time or datetime.time.min
    for offset in range(NEXT_ALLOWED_WITHIN_DAYS):
        day = local.date() + datetime.timedelta(days=offset)
        if day.weekday() not in rules.days:
            continue
        candidate = timezone.make_aware(
            datetime.datetime.combine(day, start), timezone.get_current_timezone()
        )
        if candidate <= after:
            continue
        if contact_allowed(participant, channel, candidate).allowed:
            return candidate
        # Allowed by the clock but refused: refused for a reason no waiting changes.
        return None
    return None
