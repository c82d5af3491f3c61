"""A reference model of PROTOCOL.md's contact rules, written for the property test from the document alone.

It reads the records (participants, consents, holds, plans, checks, meetings, acknowledgments, approvals, the case
history) and never the code under test: nothing here imports `protocol.gates`, `protocol.policy` or
`cases.contact`. It is deliberately a *necessary* reading of the rules: whatever it refuses, the system must refuse;
where PROTOCOL.md leaves room (the exact lapsing of an approval), it asks the least the document states.
"""

from __future__ import annotations

import datetime

from django.db.models import Exists, OuterRef
from django.utils import timezone

from circlekeeper.cases.models import Case, CaseEvent, Consent, ContactRules, Participant
from circlekeeper.protocol.models import Acknowledgment, Approval, Invitation, Meeting
from circlekeeper.safety.models import SafetyCheck, SafetyHold, SafetyPlan

# PROTOCOL.md, "Tracks": how much contact with the person who caused harm each track brings.
CONTACT = {
    "support_only": 0,
    "referral_out": 0,
    "community_accountability": 1,
    "indirect_dialogue": 1,
    "direct_dialogue": 2,
}
OTHER_SIDE = {"person_who_caused_harm", "harm_supporter"}
HIGH = {"high", "severe"}
# PROTOCOL.md, the joint-dialogue gate.
CHECK_DAYS, PLAN_DAYS = 7, 30


def consents(person: Participant) -> bool:
    return Consent.objects.filter(participant=person, kind="take_part", revoked_at__isnull=True).exists()


def _consenting():
    """A current consent to take part, for the participant of the outer query (one query for many people)."""
    return Exists(
        Consent.objects.filter(participant=OuterRef("pk"), kind="take_part", revoked_at__isnull=True)
    )


def is_child(person: Participant, day: datetime.date) -> bool:
    """A child by role, or under 18 on that day by date of birth."""
    if person.role == "child":
        return True
    born = person.date_of_birth
    if born is None:
        return False
    return (day.year - born.year - ((day.month, day.day) < (born.month, born.day))) < 18


def survivors(case: Case) -> list[Participant]:
    return list(Participant.objects.filter(case=case, role="survivor"))


def hold_open(case: Case) -> bool:
    return SafetyHold.objects.filter(case=case, lifted_at__isnull=True).exists()


def stops_everything(case: Case) -> list[str]:
    """The safety events after which nothing with the other side may be live (PROTOCOL.md: cascades at once)."""
    case.refresh_from_db()
    why = []
    if case.status != "open":
        why.append("not open")
    if hold_open(case):
        why.append("hold")
    if Participant.objects.filter(case=case, role="survivor").exclude(_consenting()).exists():
        why.append("survivor consent")
    if CONTACT.get(case.track or "", 0) == 0:
        why.append("no contact track")
    return why


def plan_current(survivor: Participant, now: datetime.datetime, within_days: int | None) -> bool:
    plan = SafetyPlan.objects.filter(participant=survivor).first()
    latest = plan.revisions.order_by("-number").first() if plan else None
    if latest is None:
        return False
    if latest.declined:
        return True
    if plan is None or plan.review_due_since is not None or plan.last_reviewed_at is None:
        return False
    return within_days is None or plan.last_reviewed_at >= now - datetime.timedelta(days=within_days)


def prepared(person: Participant) -> bool:
    return Invitation.objects.filter(
        participant=person, attended=True, meeting__kind="preparation", meeting__status="held"
    ).exists()


def other_side_reasons(case: Case, level: int, now: datetime.datetime) -> list[str]:
    """Why staff may not arrange contact with the other side now (empty if they may)."""
    why = stops_everything(case)
    if CONTACT.get(case.track or "", 0) < level:
        why.append("track")
    people = survivors(case)
    if not people:
        why.append("no survivor")
    if not all(plan_current(s, now, None) for s in people):
        why.append("plan")
    if (
        not Participant.objects.filter(case=case, role="safety_monitor", barrier=False)
        .filter(_consenting())
        .exists()
    ):
        why.append("monitor")
    return why


def approval_valid(case: Case, now: datetime.datetime) -> bool:
    """A supervisor's approval, after which nothing that makes it lapse happened (a hold, a withdrawal of
    consent or of the case, a new track, a check at high)."""
    approval = Approval.objects.filter(case=case, approved_at__lte=now).order_by("-approved_at").first()
    if approval is None:
        return False
    lapses = CaseEvent.objects.filter(
        case=case,
        at__gt=approval.approved_at,
        kind__in=["safety.hold.opened", "consent.withdrawn", "track.chosen", "protocol.withdrawn"],
    ).exists()
    high = SafetyCheck.objects.filter(case=case, checked_at__gt=approval.approved_at, level__in=HIGH).exists()
    return not lapses and not high


def joint_reasons(case: Case, people: list[Participant], now: datetime.datetime) -> list[str]:
    why = []
    if case.track != "direct_dialogue":
        why.append("joint off the direct track")
    if case.stage != "dialogue":
        why.append("joint before dialogue")
    checks = SafetyCheck.objects.filter(case=case, participant__role="survivor").exclude(level="")
    latest = checks.order_by("-checked_at", "-id").first()
    if (
        latest is None
        or latest.checked_at < now - datetime.timedelta(days=CHECK_DAYS)
        or latest.level in HIGH
    ):
        why.append("no recent check below high")
    if not all(plan_current(s, now, PLAN_DAYS) for s in survivors(case)):
        why.append("plan not reviewed in 30 days")
    for person in people:
        if person.role in ("survivor", "person_who_caused_harm") and not prepared(person):
            why.append(f"{person.label} not prepared")
        if (
            person.role == "person_who_caused_harm"
            and not Acknowledgment.objects.filter(participant=person).exists()
        ):
            why.append(f"{person.label} has not acknowledged")
    if not approval_valid(case, now):
        why.append("no valid approval")
    return why


def is_joint(people: list[Participant]) -> bool:
    return any(p.role == "survivor" for p in people) and any(p.role in OTHER_SIDE for p in people)


def rules_forbid(person: Participant, channel: str, when: datetime.datetime) -> bool:
    """PROTOCOL.md, safe-contact rules: only the ways and the times the person allowed (a meeting's way is its
    channel, its time its start). No rules recorded: nothing to forbid here."""
    rules = ContactRules.objects.filter(participant=person).first()
    if rules is None:
        return False
    local = timezone.localtime(when)
    if channel not in rules.channels or local.weekday() not in rules.days:
        return True
    if rules.from_time is None:
        return False
    return rules.until_time is None or not (rules.from_time <= local.time() < rules.until_time)


def meeting_reasons(
    case: Case,
    kind: str,
    people: list[Participant],
    now: datetime.datetime,
    day: datetime.date,
    *,
    channel: str = "",
    when: datetime.datetime | None = None,
) -> list[str]:
    """Why this meeting with these people may not happen now (any kind; arranging, starting or recording it).
    With `channel` and `when` (the meeting's way and start), each person's safe-contact rules too."""
    why = []
    for person in people:
        if is_child(person, day):
            why.append(f"{person.label} is a child")
        if person.barrier:
            why.append(f"{person.label} is a barrier")
        if not consents(person):
            why.append(f"{person.label} has not consented")
        if channel and when is not None and rules_forbid(person, channel, when):
            why.append(f"{person.label}'s safe-contact rules forbid it")
    joint = is_joint(people) or kind in ("circle", "conference")
    if any(p.role in OTHER_SIDE for p in people):
        why += other_side_reasons(case, 2 if joint else 1, now)
    if joint:
        why += joint_reasons(case, people, now)
    return why


def contact_reasons(case: Case, person: Participant, now: datetime.datetime) -> list[str]:
    """Why a link or questionnaire may not reach this person now."""
    why = []
    if is_child(person, now.date()):
        why.append("child")
    if person.barrier:
        why.append("barrier")
    if person.role in OTHER_SIDE:
        why += other_side_reasons(case, 1, now)
    return why


def live_with_the_other_side(case: Case, now: datetime.datetime) -> list[str]:
    """What of the other side is still live: scheduled meetings, usable links, questionnaires in progress."""
    from circlekeeper.instruments.models import ParticipantLink, Response

    live = []
    meetings = Meeting.objects.filter(
        case=case, status="scheduled", invitations__participant__role__in=OTHER_SIDE
    ).distinct()
    live += [f"meeting {m.pk}" for m in meetings]
    links = ParticipantLink.objects.filter(
        participant__case=case,
        participant__role__in=OTHER_SIDE,
        revoked_at__isnull=True,
        submitted_at__isnull=True,
        expires_at__gt=now,
    )
    live += [f"link {link.pk}" for link in links]
    responses = Response.objects.filter(
        case=case, participant__role__in=OTHER_SIDE, status="in_progress", voided_at__isnull=True
    )
    live += [f"questionnaire {r.pk}" for r in responses]
    return live


def danger(check: object) -> bool:
    """A check-in answer that is not "safe, not threatened, not stopping" (prefer not to say counts)."""
    return (
        check.feels_safe != "yes"  # type: ignore[attr-defined]
        or check.threatened != "no"  # type: ignore[attr-defined]
        or check.wants_to_stop != "no"  # type: ignore[attr-defined]
    )
