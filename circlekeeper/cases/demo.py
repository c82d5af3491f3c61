"""The demo network: three organizations, one person per role in each, and synthetic cases.

Everything here is invented. It is used by `make run` (through seed_demo) and by the benchmarks.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db import transaction

from circlekeeper.accounts.models import Membership, Network, Organization, Role, User
from circlekeeper.cases.models import (
    Case,
    CaseAssignment,
    CaseNote,
    CaseStatus,
    Consent,
    ConsentKind,
    ContactChannel,
    ContactRules,
    HowGiven,
    Participant,
    ParticipantRole,
    ReleasableField,
    ReleaseOfInformation,
    TeamRole,
    Track,
    TrackChoice,
)

NETWORK = ("Bay Area Restorative Network", "bay-area")
ORGANIZATIONS = [
    ("Harbor Community Circle", "harbor", "HAR"),
    ("Valley Healing Alliance", "valley", "VAL"),
    ("Bridge Family Collective", "bridge", "BRI"),
]
# The role word in a demo email, and the role it stands for.
ROLE_WORDS = {
    "keeper": Role.KEEPER,
    "advocate": Role.SAFETY_ADVOCATE,
    "supervisor": Role.SUPERVISOR,
    "admin": Role.PROGRAM_ADMIN,
    "evaluator": Role.EVALUATOR,
}
FIRST_NAMES = ["Ana", "Bo", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kiri", "Luz"]
CASES_PER_ORGANIZATION = 40
# Most cases are open; the rest show every way a case can end.
STATUS_WEIGHTS = [
    (CaseStatus.OPEN, 70),
    (CaseStatus.CLOSED, 15),
    (CaseStatus.WITHDRAWN, 8),
    (CaseStatus.REFERRED_OUT, 7),
]
# Every organization shows every status at least once.
FIRST_STATUSES = [CaseStatus.OPEN] * 4 + [CaseStatus.CLOSED, CaseStatus.WITHDRAWN, CaseStatus.REFERRED_OUT]
# Invented narratives, put together from parts, so every demo case has an (encrypted) summary and notes.
SUMMARY_OPENINGS = [
    "Demo summary. She says the arguments started after the move",
    "Demo summary. He describes years of being put down in front of the children",
    "Demo summary. They say the shouting turned into threats last winter",
    "Demo summary. She says her partner took her phone and her car keys",
    "Demo summary. He says his partner controlled every dollar",
]
SUMMARY_ENDINGS = [
    "and the survivor wants the person who caused harm to understand what it did to the family.",
    "and what matters most now is that the children feel safe.",
    "and they want an apology and a plan that keeps everyone safe.",
    "and the survivor does not want the police involved, but wants it to stop.",
    "and the survivor hopes a circle can help them part without more harm.",
]
NOTE_TEXTS = [
    "Demo note: first call went well; wants to think about a circle.",
    "Demo note: safety check done, no new concerns today.",
    "Demo note: asked for meetings in the afternoon, after school pick-up.",
    "Demo note: prefers text messages to calls; safe number confirmed.",
    "Demo note: support person (sister) will come to the next meeting.",
    "Demo note: feeling stronger; wants to wait a few weeks before deciding.",
]
NOTES_PER_CASE = 2


@dataclass
class SeedReport:
    users_created: int = 0
    cases_created: int = 0


def demo_email(role_word: str, slug: str) -> str:
    return f"{role_word}@{slug}.example"


@transaction.atomic
def seed_network(password: str, today: datetime.date) -> SeedReport:
    report = SeedReport()
    password_hash = make_password(password)  # hashed once: the demo users share one password
    network, _ = Network.objects.get_or_create(slug=NETWORK[1], defaults={"name": NETWORK[0]})
    network_admin, created = _user("network@network.example", "Noor (network admin)", password_hash)
    report.users_created += created
    Membership.objects.get_or_create(
        user=network_admin, network=network, organization=None, role=Role.NETWORK_ADMIN
    )
    for index, (name, slug, prefix) in enumerate(ORGANIZATIONS):
        organization, _ = Organization.objects.get_or_create(
            slug=slug, defaults={"name": name, "network": network, "case_prefix": prefix}
        )
        people: dict[str, User] = {}
        for word, role in ROLE_WORDS.items():
            display = f"{FIRST_NAMES[(index * 4 + len(people)) % len(FIRST_NAMES)]} ({role.label} · {name.split()[0]})"
            user, created = _user(demo_email(word, slug), str(display), password_hash)
            report.users_created += created
            Membership.objects.get_or_create(user=user, organization=organization, network=network, role=role)
            people[word] = user
        if not Case.objects.filter(organization=organization).exists():
            report.cases_created += _demo_cases(organization, people, random.Random(slug), today)  # noqa: S311  # nosec B311
    return report


def _user(email: str, display_name: str, password_hash: str) -> tuple[User, bool]:
    user, created = User.objects.get_or_create(
        email=email, defaults={"display_name": display_name, "password": password_hash}
    )
    return user, created


def _demo_cases(
    organization: Organization, people: dict[str, User], rng: random.Random, today: datetime.date
) -> int:
    statuses, weights = zip(*STATUS_WEIGHTS, strict=True)
    cases = []
    for n in range(CASES_PER_ORGANIZATION):
        opened = today - datetime.timedelta(days=rng.randint(0, 700))
        status = FIRST_STATUSES[n] if n < len(FIRST_STATUSES) else rng.choices(statuses, weights)[0]
        closed = (
            None
            if status == CaseStatus.OPEN
            else min(today, opened + datetime.timedelta(days=rng.randint(20, 300)))
        )
        cases.append((opened, status, closed))
    cases.sort()
    numbers: dict[int, int] = {}
    created = []
    for opened, status, closed in cases:
        numbers[opened.year] = numbers.get(opened.year, 0) + 1
        reference = f"{organization.case_prefix}-{opened.year}-{numbers[opened.year]:04d}"
        created.append(
            Case(
                organization=organization,
                reference=reference,
                status=status,
                opened_on=opened,
                closed_on=closed,
                summary=_demo_summary(rng),
            )
        )
    Case.objects.bulk_create(created)
    saved = list(Case.objects.filter(organization=organization).order_by("opened_on", "reference"))
    assignments = []
    for position, case in enumerate(saved):
        # The demo keeper is on three cases in four, so the list shows that teams limit what one sees.
        if position % 4 != 3:
            assignments.append(
                CaseAssignment(
                    organization=organization, case=case, user=people["keeper"], role=TeamRole.KEEPER
                )
            )
        assignments.append(
            CaseAssignment(
                organization=organization, case=case, user=people["advocate"], role=TeamRole.SAFETY_ADVOCATE
            )
        )
        assignments.append(
            CaseAssignment(
                organization=organization, case=case, user=people["supervisor"], role=TeamRole.SUPERVISOR
            )
        )
    CaseAssignment.objects.bulk_create(assignments)
    authors = {organization.pk: [people["keeper"], people["advocate"]]}
    CaseNote.objects.bulk_create(_demo_notes(saved, authors, rng))
    _demo_participants(organization, saved, people["keeper"], today)
    _demo_choices(organization, saved, people, today)
    return len(saved)


def _demo_participants(
    organization: Organization, cases: list[Case], recorder: User, today: datetime.date
) -> None:
    """Every demo case has a survivor and a person who caused harm; one in three survivors gave a release."""
    participants = Participant.objects.bulk_create(
        Participant(organization=organization, case=case, role=role, label=label)
        for case in cases
        for role, label in (
            (ParticipantRole.SURVIVOR, "Survivor A"),
            (ParticipantRole.PERSON_WHO_CAUSED_HARM, "Person B"),
        )
    )
    ReleaseOfInformation.objects.bulk_create(
        ReleaseOfInformation(
            organization=organization,
            participant=participant,
            recipient="Community Legal Aid",
            fields=[ReleasableField.NAME, ReleasableField.CONTACT],
            purpose="Help with a protective order",
            how_given="signed",
            affirmed_on=today - datetime.timedelta(days=30),
            expires_on=today + datetime.timedelta(days=150),
            recorded_by=recorder,
        )
        for position, participant in enumerate(participants)
        if participant.role == ParticipantRole.SURVIVOR and position % 3 == 0
    )


# The track each open demo case is on, in turn; some survivors have not chosen yet.
DEMO_TRACKS = [
    Track.SUPPORT_ONLY,
    Track.COMMUNITY_ACCOUNTABILITY,
    "",
    Track.INDIRECT_DIALOGUE,
    Track.DIRECT_DIALOGUE,
    Track.SUPPORT_ONLY,
    Track.REFERRAL_OUT,
]


def _demo_choices(
    organization: Organization, cases: list[Case], people: dict[str, User], today: datetime.date
) -> None:
    """Consent to take part and to be contacted, safe-contact rules, and a track on most open cases."""
    participants = list(
        Participant.objects.filter(case__in=cases).select_related("case").order_by("case_id", "id")
    )
    consents, rules = [], []
    for participant in participants:
        given = participant.case.opened_on
        for kind in (ConsentKind.TAKE_PART, ConsentKind.CONTACT):
            consents.append(
                Consent(
                    organization=organization,
                    participant=participant,
                    kind=kind,
                    how_given=HowGiven.ORAL,
                    given_on=given,
                    recorded_by=people["keeper"],
                )
            )
        survivor = participant.role == ParticipantRole.SURVIVOR
        rules.append(
            ContactRules(
                organization=organization,
                participant=participant,
                channels=[ContactChannel.PHONE_CALL, ContactChannel.IN_PERSON]
                if survivor
                else [ContactChannel.PHONE_CALL, ContactChannel.TEXT, ContactChannel.EMAIL],
                days=[0, 1, 2, 3, 4] if survivor else list(range(7)),
                from_time=datetime.time(9) if survivor else None,
                until_time=datetime.time(17) if survivor else None,
                never_leave_messages=survivor,
                code_word="Demo code word: ask about the book club" if survivor else None,
                updated_by=people["keeper"],
            )
        )
    Consent.objects.bulk_create(consents)
    ContactRules.objects.bulk_create(rules)
    survivors = {p.case_id: p for p in participants if p.role == ParticipantRole.SURVIVOR}
    choices = []
    open_cases = [case for case in cases if case.status == CaseStatus.OPEN]
    for position, case in enumerate(open_cases):
        track = DEMO_TRACKS[position % len(DEMO_TRACKS)]
        if not track:
            continue
        choices.append(
            TrackChoice(
                organization=organization,
                case=case,
                track=track,
                survivor=survivors[case.pk],
                explained_by=people["advocate"],
                explained_on=min(today, case.opened_on + datetime.timedelta(days=14)),
                recorded_by=people["advocate"],
            )
        )
        case.track = track
    TrackChoice.objects.bulk_create(choices)
    Case.objects.bulk_update(open_cases, ["track"])


def _demo_summary(rng: random.Random) -> str:
    return f"{rng.choice(SUMMARY_OPENINGS)}, {rng.choice(SUMMARY_ENDINGS)}"


def _demo_notes(cases: list[Case], authors: dict[int, list[User]], rng: random.Random) -> Iterator[CaseNote]:
    for case in cases:
        writers = authors[case.organization_id]
        for n in range(NOTES_PER_CASE):
            yield CaseNote(
                organization_id=case.organization_id,
                case_id=case.pk,
                author=writers[n % len(writers)],
                text=rng.choice(NOTE_TEXTS),
                created_at=datetime.datetime.combine(
                    case.opened_on + datetime.timedelta(days=7 * (n + 1)), datetime.time(12), datetime.UTC
                ),
            )


def seed_scale(total: int, today: datetime.date, *, batch_size: int = 5000) -> int:
    """Make the demo network hold at least `total` cases, with teams, in bulk (for benchmarks)."""
    organizations = list(Organization.objects.filter(network__slug=NETWORK[1]).order_by("pk"))
    existing = Case.objects.filter(organization__in=organizations).count()
    missing = max(0, total - existing)
    if not organizations or not missing:
        return 0
    teams = {
        org.pk: [
            (m.user, m.role)
            for m in Membership.objects.filter(
                organization=org, role__in=list(TeamRole.values)
            ).select_related("user")
        ]
        for org in organizations
    }
    # Notes are written by the team's keeper and safety advocate, as on the hand-made demo cases.
    note_authors = {
        org_pk: [user for user, role in team if role in (TeamRole.KEEPER, TeamRole.SAFETY_ADVOCATE)]
        or [user for user, _role in team]
        for org_pk, team in teams.items()
    }
    rng = random.Random(total)  # noqa: S311  # nosec B311
    statuses, weights = zip(*STATUS_WEIGHTS, strict=True)
    next_number = {
        (org.pk, year): _max_number(org, year)
        for org in organizations
        for year in range(today.year - 6, today.year + 1)
    }
    made = 0
    for chunk in _chunks(missing, batch_size):
        with transaction.atomic():
            cases = []
            for _ in range(chunk):
                org = organizations[rng.randrange(len(organizations))]
                opened = today - datetime.timedelta(days=rng.randint(0, 6 * 365))
                status = rng.choices(statuses, weights)[0]
                closed = (
                    None
                    if status == CaseStatus.OPEN
                    else min(today, opened + datetime.timedelta(days=rng.randint(20, 400)))
                )
                next_number[(org.pk, opened.year)] += 1
                reference = f"{org.case_prefix}-{opened.year}-{next_number[(org.pk, opened.year)]:04d}"
                cases.append(
                    Case(
                        organization=org,
                        reference=reference,
                        status=status,
                        opened_on=opened,
                        closed_on=closed,
                        summary=_demo_summary(rng),
                    )
                )
            Case.objects.bulk_create(cases, batch_size=1000)
            CaseAssignment.objects.bulk_create(
                (
                    CaseAssignment(
                        organization_id=case.organization_id, case_id=case.pk, user=user, role=role
                    )
                    for case in cases
                    for user, role in teams[case.organization_id]
                ),
                batch_size=2000,
            )
            CaseNote.objects.bulk_create(_demo_notes(cases, note_authors, rng), batch_size=2000)
        made += chunk
    return made


def _max_number(organization: Organization, year: int) -> int:
    return int(Case.next_reference(organization, year).rsplit("-", 1)[1]) - 1


def _chunks(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(size, total)
        total -= size
