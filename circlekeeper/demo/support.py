"""The support part of the demo network: both pods on every open case that has reached mapping support.

Everything here is invented. Each pod is built with the real services, change by change, spread over the past
weeks (through `at`), so that the measures show a pod growing and changing. Runs after
`protocol.demo.seed_protocol`, whose supporters and safety monitors it places in the pods.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from circlekeeper.accounts.models import Membership, Organization, Role, User
from circlekeeper.cases.models import Case, CaseAssignment, CaseStatus, Participant, Stage, TeamRole
from circlekeeper.demo.cases import ORGANIZATIONS
from circlekeeper.support import services
from circlekeeper.support.models import HelpKind, PodMember, PodSide, Stance

WEEKS = 6
# Stages at which a case has (or had) its pods mapped.
MAPPED_STAGES = [s for s in Stage if list(Stage).index(s) >= list(Stage).index(Stage.MAPPING_SUPPORT)]
BOTH_REASON = "Demo: the neighbour both families trust; the survivor agreed to share her with his pod."


@dataclass(frozen=True)
class Person:
    """One person in a demo pod: a participant the protocol demo recorded (by label), or someone not yet one."""

    label: str
    side: str
    stance: str
    relationship: str
    help: tuple[str, ...]
    participant: bool = False


# In the order they are added, one change each, spread over the weeks.
PEOPLE = [
    Person(
        "Supporter C",
        PodSide.SURVIVOR,
        Stance.ALLY,
        "Demo: her sister",
        ("emotional_support", "transport"),
        True,
    ),
    Person("Aunt R", PodSide.SURVIVOR, Stance.ALLY, "Demo: her aunt", ("safe_place", "childcare")),
    Person(
        "Supporter D",
        PodSide.HARM,
        Stance.ALLY,
        "Demo: his brother",
        ("talk_with_harm", "emotional_support"),
        True,
    ),
    Person("Friend K", PodSide.HARM, Stance.BARRIER, "Demo: a drinking friend who makes excuses for him", ()),
    Person("Cousin T", PodSide.HARM, Stance.UNSURE, "Demo: his cousin", ("transport",)),
    Person("Monitor E", PodSide.SURVIVOR, Stance.ALLY, "Demo: a neighbour", ("monitoring_safety",), True),
]
TIES = [("Supporter C", "Aunt R")]
# Where the cases that went furthest show a later change in the pod of the person who caused harm.
LATER_STAGES = (Stage.AGREEMENT, Stage.MONITORING, Stage.CLOSURE)
MONITOR = "Monitor E"


def _keeper(case: Case, organization: Organization) -> User | None:
    assignment = (
        CaseAssignment.objects.filter(case=case, role=TeamRole.KEEPER)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    if assignment is not None:
        return assignment.user
    membership = (
        Membership.objects.filter(organization=organization, role=Role.KEEPER)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    return membership.user if membership else None


def _fields(person: Person, participant: Participant | None, *, both: bool) -> services.MemberFields:
    return services.MemberFields(
        side=PodSide.BOTH if both else person.side,
        label="" if participant else person.label,
        relationship=person.relationship,
        stance=person.stance,
        help=list(person.help),
        active=True,
        both_reason=BOTH_REASON if both else "",
        participant=participant,
    )


def _build(case: Case, by: User, now: datetime.datetime, *, with_both: bool) -> None:
    """Both pods of one case, then who knows whom, then a later change: up to eight moments over the weeks."""
    opened = timezone.make_aware(datetime.datetime.combine(case.opened_on, datetime.time(10)))
    # Within the past weeks, after the case opened, and always before now (a case opened today: this morning).
    start = min(max(opened, now - datetime.timedelta(weeks=WEEKS)), now - datetime.timedelta(hours=8))
    moments = iter(start + (now - start) * step / 10 for step in range(1, 10))
    recorded = {
        p.label: p for p in Participant.objects.filter(case=case, label__in=[p.label for p in PEOPLE])
    }
    members: dict[str, PodMember] = {}
    for person in PEOPLE:
        participant = recorded.get(person.label) if person.participant else None
        if person.participant and participant is None:
            continue  # not recorded on this case (e.g. no safety monitor on a track without contact)
        fields = _fields(person, participant, both=with_both and person.label == MONITOR)
        members[person.label] = services.add_member(case=case, fields=fields, by=by, at=next(moments))
    for a, b in TIES:
        if a in members and b in members:
            services.add_tie(case=case, a=members[a], b=members[b], by=by, at=next(moments))
    if case.stage not in LATER_STAGES:
        return
    # Later, the cousin came round: an ally now, who can talk with him.
    cousin = members["Cousin T"]
    fields = services.MemberFields(
        side=cousin.side,
        label=cousin.label,
        relationship=cousin.relationship,
        stance=Stance.ALLY,
        help=[HelpKind.TRANSPORT, HelpKind.TALK_WITH_HARM],
        participant=None,
    )
    services.change_member(member=cousin, version=cousin.version, fields=fields, by=by, at=next(moments))


def seed_support(now: datetime.datetime | None = None) -> int:
    """Pods for the demo organizations' open cases at or past mapping support that have none; returns how many."""
    now = now or timezone.now()
    given = 0
    for _name, slug, _prefix in ORGANIZATIONS:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            continue
        cases = list(
            Case.objects.filter(organization=organization, status=CaseStatus.OPEN, stage__in=MAPPED_STAGES)
            .exclude(pk__in=PodMember.objects.filter(organization=organization).values("case_id"))
            .order_by("opened_on", "id")
        )
        with transaction.atomic():
            # One case in each organization shows a person in both pods (its safety monitor, with a reason).
            monitors = set(
                Participant.objects.filter(case__in=cases, label=MONITOR).values_list("case_id", flat=True)
            )
            both_case = next((case.pk for case in cases if case.pk in monitors), None)
            for case in cases:
                keeper = _keeper(case, organization)
                if keeper is None:
                    continue
                _build(case, keeper, now, with_both=case.pk == both_case)
                given += 1
    return given
