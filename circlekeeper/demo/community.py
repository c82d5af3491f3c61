"""The community part of the demo network: for each demo organization, a year of community events and trainings,
readiness requirements, and eight community facilitators with their training records (some ready for a dialogue,
some not). At Harbor, one facilitator has an account (facilitator@harbor.example, the demo password) and is on
the team of a demo case, where they work as a keeper and see nothing else.

Everything here is invented, and made through the real services. Runs after `cases.demo.seed_network` (it
needs the demo staff and cases); an organization that already has events is left as it is (idempotent).
"""

from __future__ import annotations

import datetime
import random
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from circlekeeper.accounts.models import Membership, Organization, Role, User
from circlekeeper.cases.models import Case, CaseAssignment, CaseStatus
from circlekeeper.community import activities
from circlekeeper.community.models import (
    AttendeeRole,
    CommunityEvent,
    Competency,
    EventKind,
    Facilitator,
    FacilitatorRole,
)
from circlekeeper.demo.cases import ORGANIZATIONS, demo_email

FACILITATOR_ACCOUNT = ("facilitator", "harbor")
FACILITATOR_NAMES = ["Rosa", "Tomás", "Amira", "Kofi", "Lin", "Marisol", "Dev", "Hannah"]
LANGUAGES = ["English", "Spanish", "English, Spanish", "English, Arabic", "English, Tagalog"]
REQUIREMENTS = [
    (Competency.CIRCLE_KEEPING, Decimal(12)),
    (Competency.DV_DYNAMICS, Decimal(4)),
    (Competency.SAFETY_PLANNING, Decimal(4)),
    (Competency.SURVIVOR_CENTERED, Decimal(0)),
]
# (kind, title, hours, competencies, how many in the year)
TRAININGS = [
    (
        EventKind.KEEPER_TRAINING,
        "Demo: keeping circles (part {n})",
        Decimal(8),
        [Competency.CIRCLE_KEEPING, Competency.SURVIVOR_CENTERED, Competency.TRAUMA_INFORMED],
        4,
    ),
    (
        EventKind.KEEPER_TRAINING,
        "Demo: domestic violence, coercive control and safety planning ({n})",
        Decimal(6),
        [Competency.DV_DYNAMICS, Competency.SAFETY_PLANNING, Competency.CHILDREN],
        2,
    ),
    (
        EventKind.ALLY_TRAINING,
        "Demo: being an ally when someone discloses ({n})",
        Decimal(3),
        [Competency.BYSTANDER, Competency.CULTURAL_HUMILITY],
        3,
    ),
]
EVENTS = [
    (EventKind.COMMUNITY_CONVERSATION, "Demo: community conversation on safety at home ({n})", 8),
    (EventKind.WORKSHOP, "Demo: workshop for parents ({n})", 4),
    (EventKind.OUTREACH, "Demo: outreach at the market ({n})", 5),
]
PLACES = ["Demo: public library", "Demo: community center", "Demo: church hall", "Demo: school gym"]


def seed_community(today: datetime.date | None = None) -> int:
    """The community demo for every demo organization; the number of events made (0 when already there)."""
    today = today or timezone.localdate()
    made = 0
    for _name, slug, _prefix in ORGANIZATIONS:
        organization = Organization.objects.filter(slug=slug).first()
        admin = User.objects.filter(email=demo_email("admin", slug)).first()
        if organization is None or admin is None:
            continue
        made += _seed_organization(organization, admin, random.Random(f"community-{slug}"), today)  # noqa: S311  # nosec B311
    return made


@transaction.atomic
def _seed_organization(
    organization: Organization, admin: User, rng: random.Random, today: datetime.date
) -> int:
    if CommunityEvent.objects.for_organization(organization).exists():
        return 0
    for competency, hours in REQUIREMENTS:
        activities.set_requirement(
            organization=organization, competency=competency, minimum_hours=hours, by=admin
        )
    facilitators = [
        activities.add_facilitator(
            organization=organization,
            by=admin,
            uid=uuid.uuid4(),
            name=f"{name} (demo facilitator)",
            role=FacilitatorRole.VOLUNTEER_KEEPER if n % 3 else FacilitatorRole.SUPPORT_PERSON,
            languages=LANGUAGES[n % len(LANGUAGES)],
            availability=rng.choice(["Demo: evenings", "Demo: weekends", "Demo: weekday mornings"]),
            competencies=[Competency.SURVIVOR_CENTERED] if n % 2 else [],
            active=n != 7,
            user=None,
        )
        for n, name in enumerate(FACILITATOR_NAMES)
    ]
    events = 0
    staff = [admin]
    for kind, title, count in EVENTS:
        for n in range(count):
            _event(
                organization, admin, rng, today, kind, title.format(n=n + 1), None, [], facilitators, staff
            )
            events += 1
    trainings: dict[str, list[CommunityEvent]] = {}
    for kind, title, hours, competencies, count in TRAININGS:
        trainings[title] = [
            _event(
                organization,
                admin,
                rng,
                today,
                kind,
                title.format(n=n + 1),
                hours,
                competencies,
                facilitators,
                staff,
            )
            for n in range(count)
        ]
        events += count
    keeping, dv, ally = (trainings[t[1]] for t in TRAININGS)
    for n, facilitator in enumerate(facilitators):
        # Five in eight are ready: two circle-keeping parts (16 h) and the DV training; the others fall short.
        ready = n in (0, 1, 3, 4, 6)
        attended = [(keeping[0], True), (keeping[1], ready)]
        if ready or n == 2:
            attended.append((dv[n % 2], ready))
        attended.append((ally[n % 3], True))
        for event, completed in attended:
            full = event.hours or Decimal(2)
            activities.record_training(
                event=event,
                facilitator=facilitator,
                hours=full if completed else full / 2,
                completed=completed,
                by=admin,
            )
    if organization.slug == FACILITATOR_ACCOUNT[1]:
        _facilitator_account(organization, facilitators[0], admin)
    return events


def _event(
    organization: Organization,
    admin: User,
    rng: random.Random,
    today: datetime.date,
    kind: str,
    title: str,
    hours: Decimal | None,
    competencies: Sequence[str],
    facilitators: list[Facilitator],
    staff: list[User],
) -> CommunityEvent:
    roles = [
        AttendeeRole.COMMUNITY_MEMBER,
        AttendeeRole.YOUTH,
        AttendeeRole.FAITH_LEADER,
        AttendeeRole.SERVICE_PROVIDER,
    ]
    attendance: Mapping[str, int] = {role.value: rng.randint(0, 25) for role in rng.sample(roles, 2)}
    if hours is not None:
        attendance = {
            AttendeeRole.FACILITATOR.value: rng.randint(4, 10),
            AttendeeRole.STAFF.value: rng.randint(1, 3),
        }
    return activities.record_event(
        organization=organization,
        by=admin,
        uid=uuid.uuid4(),
        kind=kind,
        title=title,
        # Past dates only: a training in the future cannot have been completed.
        date=today - datetime.timedelta(days=rng.randint(7, 360)),
        place=rng.choice(PLACES),
        language=rng.choice(["English", "Spanish"]),
        facilitators=rng.sample([f for f in facilitators if f.active], 2),
        staff_facilitators=staff,
        materials="Demo: handouts and a talking piece",
        follow_up=rng.choice(["", "Demo: two people asked about joining a training; call them back."]),
        hours=hours,
        competencies=list(competencies),
        attendance=attendance,
    )


def _facilitator_account(organization: Organization, facilitator: Facilitator, admin: User) -> None:
    """The demo facilitator's own account, a keeper of the organization, on the team of one open case."""
    email = demo_email(*FACILITATOR_ACCOUNT)
    user, _created = User.objects.get_or_create(
        email=email,
        defaults={
            "display_name": "Rosa (community facilitator · Harbor)",
            "password": make_password(settings.DEMO_PASSWORD),
        },
    )
    Membership.objects.get_or_create(
        user=user, organization=organization, network=organization.network, role=Role.KEEPER
    )
    activities.change_facilitator(
        facilitator=facilitator,
        by=admin,
        lock_version=facilitator.lock_version,
        name=facilitator.name,
        role=facilitator.role,
        languages=facilitator.languages,
        availability=facilitator.availability or "",
        competencies=facilitator.competencies,
        active=True,
        user=user,
    )
    facilitator.refresh_from_db()
    if CaseAssignment.objects.filter(user=user).exists():
        return
    case = (
        Case.objects.for_organization(organization)
        .filter(status=CaseStatus.OPEN)
        .order_by("reference")
        .first()
    )
    if case is not None:
        supervisor = User.objects.filter(email=demo_email("supervisor", organization.slug)).first()
        activities.add_to_team(case=case, facilitator=facilitator, by=supervisor or admin)
