"""The demo network: three organizations, one person per role in each, and synthetic cases.

Everything here is invented. It is used by `make run` (through seed_demo) and by the benchmarks.
"""

from __future__ import annotations

import contextlib
import datetime
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.hashers import make_password
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models.base import ModelState

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
                else [
                    ContactChannel.PHONE_CALL,
                    ContactChannel.TEXT,
                    ContactChannel.EMAIL,
                    ContactChannel.IN_PERSON,
                ],
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


# Realistic caseloads for the scale data set: a keeper carries about 20-25 open cases (some 160 over six
# years), a safety advocate works with three keepers, a supervisor with eight. The demo accounts (keeper@,
# advocate@, supervisor@ of each organization) are the first of each, so they see what a real one would.
CASES_PER_KEEPER = 160
KEEPERS_PER_ADVOCATE = 3
KEEPERS_PER_SUPERVISOR = 8
# A case is open for months, not years: recent cases are mostly open, older ones mostly ended (about 12 % open).
RECENT_DAYS = 300
OPEN_WHEN_RECENT = 0.7
OPEN_WHEN_OLDER = 0.03


@dataclass(frozen=True)
class ScaleTeam:
    keeper: User
    advocate: User
    supervisor: User

    def members(self) -> list[tuple[User, str]]:
        return [
            (self.keeper, TeamRole.KEEPER),
            (self.advocate, TeamRole.SAFETY_ADVOCATE),
            (self.supervisor, TeamRole.SUPERVISOR),
        ]


def _synthetic_staff(organization: Organization, role: str, count: int, first: User | None) -> list[User]:
    """`count` staff of `role` in the organization: the demo account first, then synthetic colleagues (made once,
    with no usable password: nobody signs in as them)."""
    prefix = {
        TeamRole.KEEPER.value: "keeper",
        TeamRole.SAFETY_ADVOCATE.value: "advocate",
        TeamRole.SUPERVISOR.value: "supervisor",
    }[role]
    emails = [f"{prefix}-{n:04d}@{organization.slug}.example" for n in range(1, count)]
    found = {u.email: u for u in User.objects.filter(email__in=emails)}
    unusable = make_password(None)
    missing = [
        User(email=email, display_name=email.split("@")[0].replace("-", " ").title(), password=unusable)
        for email in emails
        if email not in found
    ]
    User.objects.bulk_create(missing, batch_size=500)
    Membership.objects.bulk_create(
        [
            Membership(user=u, network_id=organization.network_id, organization=organization, role=role)
            for u in missing
        ],
        batch_size=500,
    )
    found.update({u.email: u for u in User.objects.filter(email__in=[u.email for u in missing])})
    staff = [found[email] for email in emails]
    return ([first] if first is not None else []) + staff


def _scale_teams(organization: Organization, cases: int) -> list[ScaleTeam]:
    keepers = max(1, -(-cases // CASES_PER_KEEPER))
    demo: dict[str, User] = {}
    for m in (
        Membership.objects.filter(organization=organization, role__in=list(TeamRole.values))
        .select_related("user")
        .order_by("pk")
    ):
        demo.setdefault(m.role, m.user)  # the first of each role: keeper@, advocate@, supervisor@
    keeper_list = _synthetic_staff(organization, TeamRole.KEEPER, keepers, demo.get(TeamRole.KEEPER))[
        :keepers
    ]
    advocates = _synthetic_staff(
        organization,
        TeamRole.SAFETY_ADVOCATE,
        -(-keepers // KEEPERS_PER_ADVOCATE),
        demo.get(TeamRole.SAFETY_ADVOCATE),
    )
    supervisors = _synthetic_staff(
        organization,
        TeamRole.SUPERVISOR,
        -(-keepers // KEEPERS_PER_SUPERVISOR),
        demo.get(TeamRole.SUPERVISOR),
    )
    return [
        ScaleTeam(keeper, advocates[n // KEEPERS_PER_ADVOCATE], supervisors[n // KEEPERS_PER_SUPERVISOR])
        for n, keeper in enumerate(keeper_list)
    ]


def _scale_status(rng: random.Random, opened: datetime.date, today: datetime.date) -> str:
    recent = (today - opened).days <= RECENT_DAYS
    if rng.random() < (OPEN_WHEN_RECENT if recent else OPEN_WHEN_OLDER):
        return CaseStatus.OPEN
    ended = [(status, weight) for status, weight in STATUS_WEIGHTS if status != CaseStatus.OPEN]
    statuses, weights = zip(*ended, strict=True)
    return rng.choices(statuses, weights)[0]


def seed_scale(total: int, today: datetime.date, *, batch_size: int = 5000) -> int:
    """Make the demo network hold at least `total` cases, with teams of realistic caseloads, in bulk (for
    benchmarks)."""
    organizations = list(Organization.objects.filter(network__slug=NETWORK[1]).order_by("pk"))
    existing = Case.objects.filter(organization__in=organizations).count()
    missing = max(0, total - existing)
    if not organizations or not missing:
        return 0
    teams = {org.pk: _scale_teams(org, -(-total // len(organizations))) for org in organizations}
    rng = random.Random(total)  # noqa: S311  # nosec B311
    next_number = {
        (org.pk, year): _max_number(org, year)
        for org in organizations
        for year in range(today.year - 6, today.year + 1)
    }
    made = 0
    for chunk in _chunks(missing, batch_size):
        with transaction.atomic():
            cases, case_teams = [], []
            for _ in range(chunk):
                org = organizations[rng.randrange(len(organizations))]
                opened = today - datetime.timedelta(days=rng.randint(0, 6 * 365))
                status = _scale_status(rng, opened, today)
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
                case_teams.append(rng.choice(teams[org.pk]))
            insert(cases)
            insert(
                [
                    CaseAssignment(
                        organization_id=case.organization_id, case_id=case.pk, user=user, role=role
                    )
                    for case, team in zip(cases, case_teams, strict=True)
                    for user, role in team.members()
                ]
            )
            # Notes are written by the team's keeper and safety advocate, as on the hand-made demo cases.
            insert(
                [
                    note
                    for case, team in zip(cases, case_teams, strict=True)
                    for note in _demo_notes([case], {case.organization_id: [team.keeper, team.advocate]}, rng)
                ]
            )
        made += chunk
    return made


def _max_number(organization: Organization, year: int) -> int:
    return int(Case.next_reference(organization, year).rsplit("-", 1)[1]) - 1


def _chunks(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(size, total)
        total -= size


# --- writing rows in bulk, fast (seed_scale here, and community.scale for everything around its cases) ---------

M = TypeVar("M", bound=models.Model)


def new(model: type[M], **values: Any) -> M:
    """An unsaved row, as `model(**values)` makes it but without Model.__init__'s generic work (a third of the
    time at this scale): every field not given gets its default, a related row given by name is cached and its
    id (None until it is written) kept, and an encrypted field holds the plain value, encrypted on insert."""
    fields = _FIELDS.get(model)
    if fields is None:
        fields = _FIELDS[model] = [(f, f.attname, f.name, f.is_relation) for f in model._meta.concrete_fields]
    row = model.__new__(model)
    row._state = ModelState()
    data = row.__dict__
    for model_field, attname, name, is_relation in fields:
        if name in values and is_relation:
            target = values.pop(name)
            data[attname] = None if target is None else target.pk
            model_field.set_cached_value(row, target)
        elif attname in values:
            data[attname] = values.pop(attname)
        elif name in values:
            data[attname] = values.pop(name)
        else:
            data[attname] = model_field.get_default()
    if values:
        raise TypeError(f"{model.__name__} has no field {sorted(values)}")
    return row


_FIELDS: dict[type[models.Model], list[tuple[Any, str, str, bool]]] = {}


# The most rows in one INSERT (SQLite also caps the values in one statement: connection.ops says how many).
INSERT_ROWS = 1000


# Fields whose value is already what the database driver takes, and whose pre_save only reads it: the insert
# reads them as they are (what get_db_prep_save would return for them), and every other field goes through its
# own pre_save and get_db_prep_save (encryption, blind indexes, dates, JSON, UUIDs).
PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.IntegerField,
    models.FloatField,
    models.ForeignKey,
)


def _reader(field: Any, db: Any) -> Callable[[models.Model], Any]:
    attname = field.attname
    if isinstance(field, PLAIN_FIELDS) and type(field).pre_save is models.Field.pre_save:
        return lambda row: row.__dict__[attname]
    if type(field) is models.DateTimeField and not (field.auto_now or field.auto_now_add):
        # An aware datetime set here: what get_db_prep_save makes of it, without re-checking it.
        adapt = db.ops.adapt_datetimefield_value
        return lambda row: adapt(row.__dict__[attname])
    return lambda row: field.get_db_prep_save(field.pre_save(row, True), db)


@contextlib.contextmanager
def bulk_cursor(db: Any) -> Iterator[Any]:
    """A cursor for statements with thousands of values, in the connection's transaction. On PostgreSQL one that
    sends the values as parameters of the statement (server-side binding) rather than Django's default, which
    quotes each of them into the SQL text in Python."""
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    import psycopg  # the PostgreSQL backend's own driver

    db.ensure_connection()
    with psycopg.Cursor(db.connection) as cursor:
        yield cursor


def insert(rows: list[Any]) -> None:
    """Insert rows of one model, as bulk_create does but without its per-value SQL compiler (the costly part at
    this scale): each value still goes through its field's pre_save and get_db_prep_save, so encrypted fields
    encrypt for their row and blind indexes are computed, and each row gets its id back (RETURNING), so that
    rows written later can point at it.

    On PostgreSQL the values go as one array per column (INSERT ... SELECT FROM UNNEST, as Django's bulk_create
    does there), so the statement stays short: the driver parses a statement of thousands of placeholders again
    for every chunk."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the per-thread proxy, read once
    meta = rows[0]._meta
    if not db.features.can_return_rows_from_bulk_insert:
        # SQLite and PostgreSQL (the two the project runs on) both can; the rows written later point at these ids.
        raise RuntimeError(
            f"{db.vendor} cannot return the ids of rows inserted in bulk: use SQLite or PostgreSQL"
        )
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    relations = [f for f in fields if f.is_relation]
    readers = [_reader(f, db) for f in fields]
    quote = db.ops.quote_name
    # Only table and column names and types from the models go into the SQL; every value is a parameter.
    columns = ", ".join(quote(f.column) for f in fields)
    into = f"INSERT INTO {quote(meta.db_table)} ({columns}) "
    tail = f" RETURNING {quote(meta.pk.column)}"
    unnest = db.vendor == "postgresql"
    if unnest:
        # Without a length (varchar[], not varchar(20)[]), as Django does, so that nothing is cut.
        arrays = ", ".join(f"%s::{f.db_type(db).split('(')[0]}[]" for f in fields)
        sql = f"{into}SELECT * FROM UNNEST({arrays}){tail}"  # noqa: S608  # nosec B608
        size = INSERT_ROWS
    else:
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        size = max(1, min(INSERT_ROWS, db.ops.bulk_batch_size(fields, rows)))
    with bulk_cursor(db) as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            values: list[list[Any]] = []
            for row in chunk:
                for relation in relations:
                    # A row pointed at before it was written: its id, now known (as bulk_create takes it), kept
                    # in __dict__ so the related object stays cached.
                    if row.__dict__.get(relation.attname) is None and relation.is_cached(row):
                        target = relation.get_cached_value(row)
                        row.__dict__[relation.attname] = target.pk if target is not None else None
                values.append([read(row) for read in readers])
            if unnest:
                cursor.execute(sql, [list(column) for column in zip(*values, strict=True)])
            else:
                statement = into + "VALUES " + ", ".join([one] * len(chunk)) + tail
                cursor.execute(statement, [value for row_values in values for value in row_values])
            for row, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                row.pk = pk
                row._state.adding, row._state.db = False, db.alias
