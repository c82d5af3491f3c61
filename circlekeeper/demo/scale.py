"""The rest of a case for the benchmark's synthetic cases: `seed_demo --scale N` (issue 10).

`cases.demo.seed_scale` makes the cases themselves (with their team and two notes); `fill_scale` then gives each
of them, in bulk, what a real program records around a case, from the first call to the close: its people and
their consents, safety checks over time (a few rising, a few opening a safety hold), the stages it went through
on the survivor's chosen track, the meetings of preparation and dialogue, the support pods, the agreement and
its progress, the case history, and, for part of the recent cases, the evaluation's timepoints and answers.

Each case follows one invented story, drawn from a random generator seeded by its id (so the same case always gets
the same story), laid along its own dates: from its opening to its closing day (or to now, for an open case), every
stage in order. The rows are written in bulk (`cases.demo.insert`), two thousand cases per transaction, with no
full_clean or service call; they are nonetheless the rows the services would have made for that story: every gate of
PROTOCOL.md held when the case left its stage (a survivor check before intake, a full check and a track before
safety planning, a reviewed plan, consenting supporters and a safety monitor, preparation meetings and an
acknowledgment, a supervisor's approval after every other condition of the joint-dialogue gate, the dialogue held,
an affirmed agreement, an exit check), a change of the survivor's risk level marks the plan due and gives the team a
task (done when the plan is reviewed), a hold is lifted only by a supervisor after a newer check below high, and
nothing with the other side happens while a hold is open. Encrypted fields are assigned as plain values, and their
field encrypts them for their row on insert; every row carries its case's organization.

Each case keeps the status, dates and team `seed_scale` gave it (at 100,000 cases: 12% open, 44% closed after the
whole path, 24% withdrawn and 20% referred out, at whatever stage they had reached); the stage reached by an open
case is drawn with more of them early on and many in monitoring, the longest stage. Per case, on average
(measured at 100,000 cases; `tests/test_seed_scale.py` checks the proportions at 300):

    participants 3.6 (survivor, person who caused harm, a child in one case in four, and from mapping support on
        a supporter for the survivor, and on a track with contact one for the other side and a safety monitor),
        consents 5.4 (the parties to take part and to be contacted, supporters to take part), safe-contact
        rules 2 (the parties), track choices 0.9;
    safety checks 3.9, each with its response (a screen at referral, a full check at intake, then one every
        45 days or so, at most two a stage, and an exit check), safety plans 0.76 (each with its revision),
        holds 0.02 (each with its alert), plan-review tasks 0.06;
    stage transitions 5.2, meetings 0.95 (held ones with 1.6 invitations and the survivor's check-in and
        check-out, 1.1; a few scheduled for the coming days), acknowledgments 0.32, approvals 0.11;
    pod members 1.8, ties 0.2, pod measures 2.6;
    agreements 0.28 (each with its version, 3 commitments, and once affirmed by both parties, 4 progress
        check-ins and 1.4 staircase steps);
    evaluation: 4% of the cases enrolled (recent open or closed ones), each with 36 timepoints and 17 answered
        questionnaires;
    case history 9 (its milestones: see HISTORY_KINDS).

That is 50 rows per case beyond the case, its team and its notes: 5.0 million at 100,000 cases, 5.6 million
rows in the database in all.
Idempotent: only the demo network's cases that have no participant yet are filled, so running seed_demo again
adds nothing to cases already filled.
"""

from __future__ import annotations

import datetime
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone

from circlekeeper.accountability.models import (
    Affirmation,
    Agreement,
    AgreementVersion,
    CheckIn,
    Commitment,
    HowAffirmed,
    ProgressStatus,
    ReportedBy,
    StaircaseStep,
    StepCommitment,
)
from circlekeeper.accounts.models import Organization, Role, User
from circlekeeper.cases.models import (
    TRACK_CONTACT,
    Case,
    CaseAssignment,
    CaseEvent,
    CaseStatus,
    CaseTask,
    Consent,
    ConsentKind,
    ContactChannel,
    ContactRules,
    EventKind,
    HarmType,
    HowGiven,
    Intake,
    Participant,
    ParticipantRole,
    Stage,
    TaskKind,
    TeamRole,
    Track,
    TrackChoice,
)
from circlekeeper.demo.accountability import DEMO_COMMITMENTS
from circlekeeper.demo.cases import NETWORK, bulk_cursor, insert, new
from circlekeeper.demo.protocol import ACKNOWLEDGMENT, builtin_version, demo_member
from circlekeeper.demo.safety import DEMO_PLAN
from circlekeeper.demo.schedule import demo_answers, scored_response
from circlekeeper.evaluation import scheduling
from circlekeeper.evaluation.models import Enrollment, PlanTimepoint, Timepoint, TimepointStatus
from circlekeeper.instruments.models import InstrumentVersion, Response, ResponseStatus
from circlekeeper.protocol.gates import FULL_PATH, SUPPORT_PATH
from circlekeeper.protocol.models import (
    Acknowledgment,
    Answer,
    Approval,
    CheckMoment,
    Invitation,
    Meeting,
    MeetingKind,
    MeetingStatus,
    SafetyCheckIn,
    Transition,
    TransitionKind,
)
from circlekeeper.safety.models import (
    CheckKind,
    HoldReason,
    RiskLevel,
    SafetyAlert,
    SafetyCheck,
    SafetyHold,
    SafetyPlan,
    SafetyPlanRevision,
    is_high,
)
from circlekeeper.support.measures import PodData, graph_from, pod_measures
from circlekeeper.support.models import POD_SIDES, PodMeasure, PodMember, PodSide, PodTie, Stance

# One step of a story, done at a moment with some room before the next (what it returns is not used).
Action = Callable[[datetime.datetime, datetime.timedelta], object]
DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)
MINUTE = datetime.timedelta(minutes=1)

# The survivor's choice of track, among the cases that chose one.
TRACK_WEIGHTS = {
    Track.SUPPORT_ONLY: 35,
    Track.COMMUNITY_ACCOUNTABILITY: 15,
    Track.INDIRECT_DIALOGUE: 20,
    Track.DIRECT_DIALOGUE: 20,
    Track.REFERRAL_OUT: 10,
}
# Where the open cases are: more of them early on, many in monitoring (the longest stage).
OPEN_STAGE_WEIGHTS = {
    Stage.REFERRAL: 8,
    Stage.INTAKE: 12,
    Stage.SAFETY_PLANNING: 12,
    Stage.MAPPING_SUPPORT: 14,
    Stage.PREPARATION: 14,
    Stage.DIALOGUE: 8,
    Stage.AGREEMENT: 8,
    Stage.MONITORING: 16,
    Stage.CLOSURE: 8,
}
# How long each stage usually lasts, in days (the dates of a case are laid out from these).
STAGE_DAYS = {
    Stage.REFERRAL: 7,
    Stage.INTAKE: 14,
    Stage.SAFETY_PLANNING: 14,
    Stage.MAPPING_SUPPORT: 21,
    Stage.PREPARATION: 30,
    Stage.DIALOGUE: 21,
    Stage.AGREEMENT: 21,
    Stage.MONITORING: 90,
    Stage.CLOSURE: 21,
}
# About one safety check every six weeks while a case is open, at most this many in one stage.
CHECK_EVERY_DAYS = 45
MAX_CHECKS_PER_STAGE = 2
# The survivor's risk over time: steady and low for most; rising to elevated; or high once, opening a hold.
RISING_SHARE = 0.12
HOLD_SHARE = 0.05
# Of the holds on an open case's current stage, this share is still open now.
OPEN_HOLD_SHARE = 0.4
CHILD_SHARE = 0.25
AUNT_SHARE = 0.6
BARRIER_SHARE = 0.25
TIE_SHARE = 0.5
DECLINED_PLAN_SHARE = 0.1
# The evaluation enrols part of the cases opened in its time (schedule_demo.EVALUATION_DAYS): open and closed
# cases only (a withdrawal ends an enrolment), and one in four of those.
EVALUATION_DAYS = 425
ENROLLED_SHARE = 0.25
MISSED_SHARE = 0.15
ANSWER_VARIANTS = 6

BOTH_CONSENTS = (ConsentKind.TAKE_PART, ConsentKind.CONTACT)
# The case history of a synthetic case keeps its milestones (what the timeline is read for); the services also
# write a line for every consent, check, pod change and meeting scheduled, which would make the history alone
# three times the rest of the rows.
HISTORY_KINDS = frozenset(
    {
        EventKind.STAGE_CHANGED,
        EventKind.WITHDRAWN,
        EventKind.REFERRED_OUT,
        EventKind.CLOSED,
        EventKind.TRACK_CHOSEN,
        EventKind.HOLD_OPENED,
        EventKind.HOLD_LIFTED,
        EventKind.ALERT_RAISED,
        EventKind.ALERT_SEEN,
        EventKind.PLAN_SAVED,
        EventKind.PLAN_DECLINED,
        EventKind.MEETING_HELD,
        EventKind.APPROVED,
        EventKind.ACKNOWLEDGED,
        EventKind.AGREEMENT_AFFIRMED,
        EventKind.STAIRCASE_STEP,
    }
)
LEVEL_ANSWERS: dict[str, dict[str, list[tuple[str, ...]]]] = {
    # What the survivor said "yes" to, for each level the check gives (checked against the scoring at start).
    "safety_check": {
        RiskLevel.LOW: [(), ("separation",), ("jealousy",)],
        RiskLevel.ELEVATED: [("escalation", "stalking"), ("separation", "jealousy")],
        RiskLevel.HIGH: [("strangulation",), ("weapon",)],
        RiskLevel.SEVERE: [("danger_now",)],
    },
    "immediate_danger": {RiskLevel.LOW: [()]},
}
PLACES = [
    "Demo place: the community centre, room 2",
    "Demo place: the program office, small room",
    "Demo place: the library's meeting room",
]
WITHDRAW_REASONS = [
    "Demo: she called to say she wants to stop for now.",
    "Demo: he moved away; she does not want to go on.",
]
REFERRALS = [
    (
        "Demo: the county family justice center",
        "Demo: she needs legal help first; referred with her consent.",
    ),
    ("Demo: a counselling service in her language", "Demo: what she wants is counselling, not a process."),
]
CLOSE_REASONS = [
    "Demo: the plan is complete; she feels safe at home.",
    "Demo: commitments kept for six months; both agree to end monitoring.",
]
STEP_NOTE = "Demo: he talks about what he did without blaming her."
CHECKIN_NOTE = "Demo: reported at the weekly check-in."
HOLD_LIFT_REASON = "Demo: talked it through with her; the new check is below high and she wants to go on."
CODE_WORD = "Demo code word: ask about the book club"
INTAKE_ACCOUNT = "Demo: in her words, shouting most weeks, and he took her phone."


# --- what is shared by every case ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Team:
    keeper: User
    advocate: User
    supervisor: User


@dataclass
class Template:
    """A scored answer set, computed once and given to many responses (scoring is the costly part)."""

    answers: dict[str, Any]
    skipped: list[str]
    scores: dict[str, Any]


@dataclass
class Shared:
    now: datetime.datetime
    today: datetime.date
    teams: dict[int, Team]
    versions: dict[str, InstrumentVersion]
    # (instrument code, level) -> answer sets giving that level.
    checks: dict[tuple[str, str], list[Template]]
    # organization id -> its evaluation plan's timepoints (with their instruments), or none.
    plans: dict[int, list[PlanTimepoint]] = field(default_factory=dict)
    plan_ids: dict[int, int] = field(default_factory=dict)
    # The staff of the cases' teams, by id, loaded as the chunks need them.
    users: dict[int, User] = field(default_factory=dict)
    # instrument id -> latest version of the built-in questionnaires the plans ask.
    outcome_versions: dict[int, InstrumentVersion] = field(default_factory=dict)
    # (instrument id, role, timepoint code) -> answer sets.
    outcome_answers: dict[tuple[int, str, str], list[Template]] = field(default_factory=dict)


def _templates(version: InstrumentVersion, today: datetime.date) -> dict[tuple[str, str], list[Template]]:
    code = version.instrument.code
    asked = [
        i["code"] for s in version.definition["sections"] for i in s["items"] if i["type"] == "single_choice"
    ]
    found: dict[tuple[str, str], list[Template]] = {}
    for level, variants in LEVEL_ANSWERS[code].items():
        for yes in variants:
            response = scored_response(version, {item: "1" if item in yes else "0" for item in asked}, today)
            given = (response.scores or {}).get("risk")
            if given != level:
                raise ValueError(f"{code}: {yes} gives {given!r}, not {level!r}")
            found.setdefault((code, level), []).append(
                Template(dict(response.answers), list(response.skipped), dict(response.scores))
            )
    return found


def _shared(organizations: list[Organization], now: datetime.datetime) -> Shared:
    today = timezone.localdate(now)
    teams = {}
    for organization in organizations:
        keeper = demo_member(organization, Role.KEEPER)
        advocate = demo_member(organization, Role.SAFETY_ADVOCATE)
        supervisor = demo_member(organization, Role.SUPERVISOR)
        if keeper and advocate and supervisor:
            teams[organization.pk] = Team(keeper, advocate, supervisor)
    versions = {code: builtin_version(code) for code in ("safety_check", "immediate_danger")}
    checks: dict[tuple[str, str], list[Template]] = {}
    for version in versions.values():
        checks.update(_templates(version, today))
    shared = Shared(now=now, today=today, teams=teams, versions=versions, checks=checks)
    for organization in organizations:
        plan = scheduling.default_plan_for(organization)
        shared.plan_ids[organization.pk] = plan.pk
        shared.plans[organization.pk] = [
            t
            for t in plan.timepoints.prefetch_related("instruments").order_by("position")
            if not t.retired_at
        ]
    instrument_ids = {i.pk for ts in shared.plans.values() for t in ts for i in t.instruments.all()}
    for version in (
        InstrumentVersion.objects.filter(instrument_id__in=instrument_ids)
        .select_related("instrument")
        .order_by("number")
    ):
        shared.outcome_versions[version.instrument_id] = version  # the latest wins
    return shared


def _outcome_answers(
    shared: Shared, instrument_id: int, role: str, code: str, months: float
) -> list[Template]:
    """A few scored answer sets for one questionnaire, role and timepoint, made by the evaluation demo's own
    answer generator (its trajectories over months), so that analyses of the synthetic data show change."""
    key = (instrument_id, role, code)
    if key not in shared.outcome_answers:
        version = shared.outcome_versions[instrument_id]
        rng = random.Random(f"scale-answers-{version.pk}-{role}-{code}")  # noqa: S311  # nosec B311
        made = []
        for _ in range(ANSWER_VARIANTS):
            answers = demo_answers(version.definition, role, months, rng.gauss(0, 1), rng)
            response = scored_response(version, answers, shared.today)
            made.append(Template(dict(response.answers), list(response.skipped), dict(response.scores)))
        shared.outcome_answers[key] = made
    return shared.outcome_answers[key]


# --- the rows of one chunk -----------------------------------------------------------------------------------


# The order rows are written in: a row only points at rows written before it.
WRITE_ORDER: list[type[models.Model]] = [
    Participant,
    Consent,
    ContactRules,
    TrackChoice,
    Intake,
    Response,
    SafetyCheck,
    SafetyPlan,
    SafetyPlanRevision,
    SafetyHold,
    SafetyAlert,
    CaseTask,
    Transition,
    Meeting,
    Invitation,
    SafetyCheckIn,
    Acknowledgment,
    Approval,
    PodMember,
    Agreement,
    AgreementVersion,
    Commitment,
    Affirmation,
    CheckIn,
    StaircaseStep,
    StepCommitment,
    Enrollment,
    Timepoint,
]


@dataclass
class PodChange:
    """The pods of a case right after one change: their measures are stored (when they changed) once the members
    have their ids, as support.services.record_measures stores them."""

    case: Case
    at: datetime.datetime
    members: list[PodMember]
    ties: list[tuple[PodMember, PodMember]]
    # Each participant and their current kinds of consent.
    consents: list[tuple[Participant, set[str]]]


@dataclass
class Batch:
    rows: dict[type[models.Model], list[models.Model]] = field(default_factory=lambda: defaultdict(list))
    # (case, kind, at, by, facts); a fact may be a row, named by its id once written.
    events: list[tuple[Case, str, datetime.datetime, User | None, dict[str, Any]]] = field(
        default_factory=list
    )
    pod_changes: list[PodChange] = field(default_factory=list)
    ties: list[tuple[Case, PodMember, PodMember, User, datetime.datetime]] = field(default_factory=list)

    def add(self, row: models.Model) -> Any:
        self.rows[type(row)].append(row)
        return row

    def write(self, counts: Counter[str]) -> None:
        for model in WRITE_ORDER:
            rows = self.rows.get(model, [])
            if rows:
                insert(rows)
                counts[model.__name__] += len(rows)
        ties = [
            new(
                PodTie,
                organization_id=case.organization_id,
                case=case,
                a=min(a, b, key=_pk),
                b=max(a, b, key=_pk),
                added_by=by,
                created_at=at,
            )
            for case, a, b, by, at in self.ties
        ]
        insert(ties)
        counts[PodTie.__name__] += len(ties)
        measures = list(self._measures())
        insert(measures)
        counts[PodMeasure.__name__] += len(measures)
        events = [
            new(
                CaseEvent,
                organization_id=case.organization_id,
                case=case,
                kind=kind,
                at=at,
                by=by,
                facts={k: str(v.pk) if isinstance(v, models.Model) else v for k, v in facts.items()},
            )
            for case, kind, at, by, facts in self.events
        ]
        insert(events)
        counts[CaseEvent.__name__] += len(events)

    def _measures(self) -> Iterator[PodMeasure]:
        last: dict[tuple[int, str], tuple[Any, ...]] = {}
        for change in self.pod_changes:
            members = list(change.members)
            ties = [_StoredTie(min(a.pk, b.pk), max(a.pk, b.pk)) for a, b in change.ties]
            consents = {p.pk: kinds for p, kinds in change.consents}
            graph = graph_from(PodData(change.case, members, ties, consents))  # type: ignore[arg-type]
            for side in POD_SIDES:
                now = pod_measures(graph, side).rounded()
                numbers = (
                    now.pod_size,
                    now.consenting_active,
                    now.help_covered,
                    now.density,
                    now.in_touch_share,
                )
                if last.get((change.case.pk, side)) == numbers:
                    continue
                last[(change.case.pk, side)] = numbers
                yield new(
                    PodMeasure,
                    organization_id=change.case.organization_id,
                    case=change.case,
                    side=side,
                    computed_at=change.at,
                    pod_size=now.pod_size,
                    consenting_active=now.consenting_active,
                    help_covered=list(now.help_covered),
                    density=now.density,
                    in_touch_share=now.in_touch_share,
                )


def update(cases: list[Case], names: list[str]) -> None:
    """Write these fields of the cases (none of them encrypted), one statement run for every case."""
    fields: list[Any] = [Case._meta.get_field(name) for name in names]
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    # Only table and column names from the model go into the SQL; every value is a parameter.
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    table, pk = quote(Case._meta.db_table), quote(Case._meta.pk.column)
    sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608  # nosec B608
    values = [[*(f.get_db_prep_save(getattr(c, f.attname), db) for f in fields), c.pk] for c in cases]
    with bulk_cursor(db) as cursor:
        cursor.executemany(sql, values)


@dataclass(frozen=True)
class _StoredTie:
    """What support.measures reads of a tie: the ids of its two members."""

    a_id: int
    b_id: int


def _pk(row: models.Model) -> int:
    return int(row.pk)


# --- one case's story ----------------------------------------------------------------------------------------


def _between(start: datetime.datetime, end: datetime.datetime, count: int) -> list[datetime.datetime]:
    """`count` moments spread evenly strictly between start and end."""
    step = (end - start) / (count + 1)
    return [start + step * (n + 1) for n in range(count)]


def _weighted(rng: random.Random, weights: dict[Any, int]) -> Any:
    keys = list(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


class Story:
    """One synthetic case taken from its opening to where it stands, as its team would have recorded it."""

    def __init__(self, case: Case, shared: Shared, batch: Batch, team: Team) -> None:
        self.case, self.shared, self.batch = case, shared, batch
        self.rng = random.Random(case.pk * 7919 + 17)  # noqa: S311  # nosec B311
        # Who does what: the case's own keeper, safety advocate and supervisor (a supervisor lifts a hold and
        # approves a joint dialogue only on the team).
        self.team = team
        self.org = case.organization_id
        self.people: dict[str, Participant] = {}
        # label -> the participant's current kinds of consent.
        self.consents: dict[str, set[str]] = {}
        # The survivor's safety, as safety.services keeps it.
        self.level = ""
        self.plan: SafetyPlan | None = None
        self.plan_task: CaseTask | None = None
        self.hold: SafetyHold | None = None
        self.alert: SafetyAlert | None = None
        self.choice: TrackChoice | None = None
        self.members: list[PodMember] = []
        self.ties: list[tuple[PodMember, PodMember]] = []
        self.held: dict[str, Meeting] = {}
        # role -> when the first preparation meeting with them was held.
        self.prepared: dict[str, datetime.datetime] = {}
        self.acknowledged_at: datetime.datetime | None = None
        self.last_check_at: datetime.datetime | None = None
        self.commitments: list[Commitment] = []
        self.entered: dict[str, datetime.datetime] = {}
        self.stage = Stage.REFERRAL

    # --- rows and history ---

    def add(self, row: Any) -> Any:
        return self.batch.add(row)

    def event(self, kind: str, at: datetime.datetime, by: User | None, **facts: Any) -> None:
        if kind in HISTORY_KINDS:
            self.batch.events.append((self.case, kind, at, by, facts))

    def person(
        self, role: str, label: str, at: datetime.datetime, *, consents: tuple[str, ...] = BOTH_CONSENTS
    ) -> Participant:
        participant = self.add(
            new(Participant, organization_id=self.org, case=self.case, role=role, label=label, created_at=at)
        )
        self.people[label] = participant
        self.consents[label] = set()
        self.event(EventKind.PARTICIPANT_ADDED, at, self.team.keeper, participant=label, role=role)
        for kind in consents:
            self.add(
                new(
                    Consent,
                    organization_id=self.org,
                    participant=participant,
                    kind=kind,
                    how_given=HowGiven.ORAL,
                    given_on=timezone.localdate(at),
                    recorded_by=self.team.keeper,
                    recorded_at=at,
                )
            )
            self.consents[label].add(kind)
            self.event(EventKind.CONSENT_GIVEN, at, self.team.keeper, participant=label, consent=kind)
        return participant

    @property
    def survivor(self) -> Participant:
        return self.people["Survivor A"]

    @property
    def harm(self) -> Participant:
        return self.people["Person B"]

    # --- the whole story ---

    def tell(self) -> None:
        case, rng, now = self.case, self.rng, self.shared.now
        # From the morning it opened to the afternoon it closed (or to now), always within those two days.
        opened = scheduling._midnight(case.opened_on)
        last_day = scheduling._midnight(case.closed_on or self.shared.today)
        end = min(last_day + 16 * HOUR, now - MINUTE)
        if end < last_day:  # just after midnight: still today
            end = last_day + (now - last_day) / 2
        start = min(opened + 9 * HOUR, opened + (end - opened) / 2)
        track = _weighted(rng, TRACK_WEIGHTS)
        if case.status == CaseStatus.REFERRED_OUT and rng.random() < 0.7:
            track = Track.REFERRAL_OUT
        path = SUPPORT_PATH if TRACK_CONTACT[track] == 0 else FULL_PATH
        reached = self._reached(path, track, (end - start).days)
        stages = path[: reached + 1]
        if stages[-1] == Stage.REFERRAL or (stages[-1] == Stage.INTAKE and rng.random() < 0.5):
            self.track_chosen = ""  # not chosen yet
        else:
            self.track_chosen = track
        self.track = track
        self.level_profile = rng.random()
        self.hold_stage = rng.randrange(len(stages)) if self.level_profile < HOLD_SHARE else -1
        self.rising_stage = rng.randrange(len(stages)) if self.level_profile > 1 - RISING_SHARE else -1
        # When each stage was entered: typical durations, compressed to fit the case's dates.
        days = [STAGE_DAYS[s] * rng.uniform(0.5, 1.5) for s in stages]
        unit = min((end - start) / sum(days), DAY)
        bounds = [start]
        for spent in days[:-1]:
            bounds.append(bounds[-1] + unit * spent)
        bounds.append(end)
        ended = case.status != CaseStatus.OPEN
        for index, stage in enumerate(stages):
            final = index == len(stages) - 1
            # A stage left completes its work; the current one (or the one a case ended in) only part of it.
            complete = not final or case.status == CaseStatus.CLOSED
            self.stage = stage
            self.entered[stage] = bounds[index]
            self.segment(stage, bounds[index], bounds[index + 1], index, complete=complete, final=final)
            if not final:
                self.advance(path[index + 1], bounds[index + 1])
        if ended:
            self.finish(bounds[-1])
        self.case.stage = self.stage
        self.case.track = self.track_chosen
        self.case.risk_level = self.level
        self.case.on_hold = self.hold is not None and self.hold.lifted_at is None

    def _reached(self, path: list[Stage], track: str, age_days: int) -> int:
        rng, status = self.rng, self.case.status
        if status == CaseStatus.CLOSED:
            return len(path) - 1
        if status == CaseStatus.WITHDRAWN:
            return rng.randrange(len(path) - 1)
        if status == CaseStatus.REFERRED_OUT:
            return rng.randint(1, 3) if track == Track.REFERRAL_OUT else rng.randrange(min(5, len(path) - 1))
        index = path.index(_weighted(rng, {s: OPEN_STAGE_WEIGHTS[s] for s in path}))
        # A case opened last week has not gone far.
        return min(index, age_days // 10)

    def segment(
        self,
        stage: Stage,
        start: datetime.datetime,
        end: datetime.datetime,
        index: int,
        *,
        complete: bool,
        final: bool,
    ) -> None:
        """What happens while the case is at this stage: a few actions, spread over its days, in order."""
        actions: list[Action] = []
        open_hold = False
        if index == self.hold_stage and self.plan is not None:
            open_hold = final and self.case.status == CaseStatus.OPEN and self.rng.random() < OPEN_HOLD_SHARE
            actions += self.hold_episode(keep_open=open_hold)
        elif index == self.rising_stage and self.plan is not None and self.level != RiskLevel.ELEVATED:
            actions.append(lambda at, room: self.check(at, RiskLevel.ELEVATED))
            if not final or self.rng.random() < 0.7:
                actions.append(lambda at, room: self.review_plan(at))
        if stage not in (Stage.REFERRAL, Stage.INTAKE) and not open_hold:
            spent = (end - start).days
            count = min(MAX_CHECKS_PER_STAGE, spent // CHECK_EVERY_DAYS)
            actions += [lambda at, room: self.check(at, self.level or RiskLevel.LOW)] * count
        if not open_hold:
            actions += self.work(stage, complete=complete, final=final)
        if not actions:
            return
        moments = _between(start, end, len(actions))
        room = (moments[1] - moments[0]) if len(moments) > 1 else (end - moments[0])
        for action, at in zip(actions, moments, strict=True):
            action(at, room * 0.8)

    def work(self, stage: Stage, *, complete: bool, final: bool) -> list[Action]:
        """The actions that meet the stage's gate (all of them when it is left, part of them otherwise)."""
        rng = self.rng
        some = complete or rng.random() < 0.6
        acts: list[Action] = []
        if stage == Stage.REFERRAL:
            acts.append(self.first_contact)
            if complete or rng.random() < 0.7:
                acts.append(lambda at, room: self.check(at, RiskLevel.LOW, screen=True))
        elif stage == Stage.INTAKE:
            if some:
                acts.append(self.intake)
                acts.append(lambda at, room: self.check(at, RiskLevel.LOW))
            if self.track_chosen:
                acts.append(self.choose_track)
        elif stage == Stage.SAFETY_PLANNING:
            if complete or rng.random() < 0.5:
                acts.append(self.save_plan)
            if complete:
                acts.append(lambda at, room: self.plan_fresh(at))
        elif stage == Stage.MAPPING_SUPPORT:
            if some:
                acts += self.pods(complete=complete)
        elif stage == Stage.PREPARATION:
            if some:
                acts.append(lambda at, room: self.meet(MeetingKind.PREPARATION, [self.survivor], at, room))
                if complete or rng.random() < 0.5:
                    acts.append(self.prepare_harm)
                elif final and self.case.status == CaseStatus.OPEN:
                    acts.append(lambda at, room: self.ahead(MeetingKind.PREPARATION, [self.harm], at))
        elif stage == Stage.DIALOGUE:
            if complete:
                acts.append(self.dialogue)
            elif final and self.case.status == CaseStatus.OPEN and rng.random() < 0.6:
                acts.append(self.dialogue_ahead)
        elif stage == Stage.AGREEMENT:
            if complete:
                acts.append(lambda at, room: self.agreement(at, room, affirm=True))
            elif rng.random() < 0.5:
                acts.append(lambda at, room: self.agreement(at, room, affirm=False))
        elif stage == Stage.MONITORING:
            if self.commitments and some:
                acts.append(self.progress)
        elif stage == Stage.CLOSURE and (complete or rng.random() < 0.5):
            acts.append(lambda at, room: self.check(at, self.level or RiskLevel.LOW))  # the exit check
        return acts

    # --- referral and intake ---

    def first_contact(self, at: datetime.datetime, room: datetime.timedelta) -> None:
        survivor = self.person(ParticipantRole.SURVIVOR, "Survivor A", at)
        harm = self.person(ParticipantRole.PERSON_WHO_CAUSED_HARM, "Person B", at)
        if self.rng.random() < CHILD_SHARE:
            # Children are recorded for their well-being only: never asked, never contacted.
            self.person(ParticipantRole.CHILD, "Child F", at, consents=())
        for participant, is_survivor in ((survivor, True), (harm, False)):
            self.add(
                new(
                    ContactRules,
                    organization_id=self.org,
                    participant=participant,
                    channels=[ContactChannel.PHONE_CALL, ContactChannel.IN_PERSON]
                    if is_survivor
                    else [ContactChannel.PHONE_CALL, ContactChannel.TEXT, ContactChannel.EMAIL],
                    days=[0, 1, 2, 3, 4] if is_survivor else list(range(7)),
                    from_time=datetime.time(9) if is_survivor else None,
                    until_time=datetime.time(17) if is_survivor else None,
                    never_leave_messages=is_survivor,
                    code_word=CODE_WORD if is_survivor else None,
                    updated_by=self.team.keeper,
                    updated_at=at,
                )
            )
            self.event(EventKind.CONTACT_RULES, at, self.team.keeper, participant=participant.label)

    def intake(self, at: datetime.datetime, room: datetime.timedelta) -> None:
        """The intake as cases.intake.save_intake records it: the kinds of harm, and her account."""
        self.add(
            new(
                Intake,
                organization_id=self.org,
                case=self.case,
                account=INTAKE_ACCOUNT,
                harm_types=[HarmType.EMOTIONAL, HarmType.PHYSICAL]
                if self.rng.random() < 0.6
                else [HarmType.EMOTIONAL],
                updated_by=self.team.advocate,
                updated_at=at,
            )
        )

    def choose_track(self, at: datetime.datetime, room: datetime.timedelta) -> None:
        self.choice = self.add(
            new(
                TrackChoice,
                organization_id=self.org,
                case=self.case,
                track=self.track_chosen,
                survivor=self.survivor,
                explained_by=self.team.advocate,
                explained_on=timezone.localdate(at),
                recorded_by=self.team.advocate,
                recorded_at=at,
            )
        )
        self.event(EventKind.TRACK_CHOSEN, at, self.team.advocate, track=self.track_chosen, previous="")

    # --- safety, as safety.services records it ---

    def check(self, at: datetime.datetime, level: str, *, screen: bool = False) -> SafetyCheck:
        code = "immediate_danger" if screen else "safety_check"
        template = self.rng.choice(self.shared.checks[(code, level)])
        by = self.team.advocate
        response = self.add(
            new(
                Response,
                organization_id=self.org,
                version=self.shared.versions[code],
                participant=self.survivor,
                case=self.case,
                purpose=code,
                answers=template.answers,
                skipped=template.skipped,
                scores=template.scores,
                status=ResponseStatus.SUBMITTED,
                entered_by_staff=by,
                started_at=at - 15 * MINUTE,
                submitted_at=at,
            )
        )
        check = self.add(
            new(
                SafetyCheck,
                organization_id=self.org,
                case=self.case,
                participant=self.survivor,
                response=response,
                kind=CheckKind.SCREEN if screen else CheckKind.FULL,
                level=level,
                checked_at=at,
                entered_by=by,
            )
        )
        self.event(EventKind.CHECK_RECORDED, at, by, participant=self.survivor.label, level=level)
        previous, self.level, self.last_check_at = self.level, level, at
        if previous and previous != level:
            self.plan_due(at)
        return check

    def plan_due(self, at: datetime.datetime) -> None:
        if self.plan is not None and self.plan.review_due_since is None:
            self.plan.review_due_since = at
            self.event(EventKind.PLAN_REVIEW_DUE, at, None, participant=self.survivor.label)
        if self.plan_task is None:
            self.plan_task = self.add(
                new(
                    CaseTask,
                    organization_id=self.org,
                    case=self.case,
                    participant=self.survivor,
                    kind=TaskKind.REVIEW_SAFETY_PLAN,
                    due_on=timezone.localdate(at),
                    created_at=at,
                )
            )

    def reviewed(self, at: datetime.datetime) -> None:
        assert self.plan is not None
        self.plan.last_reviewed_at, self.plan.review_due_since = at, None
        if self.plan_task is not None:
            self.plan_task.done_at = at
            self.plan_task = None

    def save_plan(self, at: datetime.datetime, room: datetime.timedelta) -> None:
        declined = self.rng.random() < DECLINED_PLAN_SHARE
        self.plan = self.add(new(SafetyPlan, organization_id=self.org, participant=self.survivor, revision=1))
        texts = (
            {"in_their_words": "Demo: I know what to do; I do not want a written plan."}
            if declined
            else DEMO_PLAN
        )
        self.add(
            new(
                SafetyPlanRevision,
                organization_id=self.org,
                plan=self.plan,
                number=1,
                declined=declined,
                saved_by=self.team.advocate,
                saved_at=at,
                **texts,
            )
        )
        self.reviewed(at)
        kind = EventKind.PLAN_DECLINED if declined else EventKind.PLAN_SAVED
        self.event(kind, at, self.team.advocate, participant=self.survivor.label, revision="1")

    def review_plan(self, at: datetime.datetime) -> None:
        if self.plan is None:
            return
        self.reviewed(at)
        self.event(EventKind.PLAN_REVIEWED, at, self.team.advocate, participant=self.survivor.label)

    def plan_fresh(self, at: datetime.datetime) -> None:
        """The plan gate: reviewed and not due (a declined plan counts as it is)."""
        if self.plan is not None and (
            self.plan.review_due_since is not None or self.plan.last_reviewed_at is None
        ):
            self.review_plan(at)

    def hold_episode(self, *, keep_open: bool) -> list[Action]:
        """A survivor's check comes out high: a hold and its alert. Unless it is still open, a newer check below
        high, the supervisor lifts it, and the plan is gone through again."""
        level = RiskLevel.SEVERE if self.rng.random() < 0.2 else RiskLevel.HIGH

        def opened(at: datetime.datetime, room: datetime.timedelta) -> None:
            check = self.check(at, level)
            by = None  # a hold opened by a check opens on its own
            self.hold = self.add(
                new(
                    SafetyHold,
                    organization_id=self.org,
                    case=self.case,
                    reason=HoldReason.RISK,
                    opening_check=check,
                    opened_at=at,
                    opened_by=by,
                )
            )
            self.event(EventKind.HOLD_OPENED, at, by, reason=HoldReason.RISK, level=level)
            self.plan_due(at)
            self.alert = self.add(
                new(
                    SafetyAlert,
                    organization_id=self.org,
                    case=self.case,
                    hold=self.hold,
                    reason=HoldReason.RISK,
                    level=level,
                    raised_at=at,
                )
            )
            self.event(EventKind.ALERT_RAISED, at, by, reason=HoldReason.RISK, level=level)
            if keep_open and self.rng.random() < 0.5:
                seen = at + room / 4
                self.alert.acknowledged_at, self.alert.acknowledged_by = seen, self.team.advocate
                self.event(EventKind.ALERT_SEEN, seen, self.team.advocate, reason=HoldReason.RISK)

        if keep_open:
            return [opened]

        def lifted(at: datetime.datetime, room: datetime.timedelta) -> None:
            newer = self.check(at, RiskLevel.ELEVATED)
            assert self.hold is not None and self.alert is not None
            when = at + room / 4
            by = self.team.supervisor
            self.hold.lifted_at, self.hold.lifted_by = when, by
            self.hold.lift_reason, self.hold.lift_check = HOLD_LIFT_REASON, newer
            self.alert.acknowledged_at, self.alert.acknowledged_by = when, by
            self.event(EventKind.HOLD_LIFTED, when, by, level=newer.level)
            self.review_plan(when + room / 4)

        return [opened, lifted]

    # --- stages ---

    def advance(self, target: Stage, at: datetime.datetime) -> None:
        reason = self.rng.choice(CLOSE_REASONS) if self.stage == Stage.MONITORING else None
        self.add(
            new(
                Transition,
                organization_id=self.org,
                case=self.case,
                kind=TransitionKind.ADVANCE,
                from_stage=self.stage,
                to_stage=target,
                reason=reason,
                by=self.team.keeper,
                at=at,
            )
        )
        self.event(EventKind.STAGE_CHANGED, at, self.team.keeper, stage=target, previous=self.stage)
        self.stage = target

    def finish(self, at: datetime.datetime) -> None:
        status = self.case.status
        referred_to, reason = None, None
        if status == CaseStatus.CLOSED:
            kind, event, by = TransitionKind.CLOSE, EventKind.CLOSED, self.team.keeper
        elif status == CaseStatus.WITHDRAWN:
            kind, event, by = TransitionKind.WITHDRAW, EventKind.WITHDRAWN, self.team.advocate
            reason = self.rng.choice(WITHDRAW_REASONS)
        else:
            kind, event, by = TransitionKind.REFER_OUT, EventKind.REFERRED_OUT, self.team.keeper
            referred_to, reason = self.rng.choice(REFERRALS)
        self.add(
            new(
                Transition,
                organization_id=self.org,
                case=self.case,
                kind=kind,
                from_stage=self.stage,
                to_stage=self.stage,
                reason=reason,
                referred_to=referred_to,
                by=by,
                at=at,
            )
        )
        self.event(event, at, by, stage=self.stage)

    # --- support: the people around each party, and their pods ---

    def pods(self, *, complete: bool) -> list[Action]:
        contact = TRACK_CONTACT[Track(self.track)] > 0
        rng = self.rng
        people: list[tuple[str, str, str, str, str, list[str]]] = [
            (
                "Supporter C",
                ParticipantRole.SURVIVOR_SUPPORTER,
                PodSide.SURVIVOR,
                Stance.ALLY,
                "Demo: her sister",
                ["emotional_support", "transport"],
            )
        ]
        if rng.random() < AUNT_SHARE:
            people.append(
                ("Aunt R", "", PodSide.SURVIVOR, Stance.ALLY, "Demo: her aunt", ["childcare", "safe_place"])
            )
        if contact and (complete or rng.random() < 0.5):
            people += [
                (
                    "Supporter D",
                    ParticipantRole.HARM_SUPPORTER,
                    PodSide.HARM,
                    Stance.ALLY,
                    "Demo: his brother",
                    ["emotional_support", "talk_with_harm"],
                ),
                (
                    "Monitor E",
                    ParticipantRole.SAFETY_MONITOR,
                    PodSide.SURVIVOR,
                    Stance.ALLY,
                    "Demo: a neighbour",
                    ["monitoring_safety"],
                ),
            ]
            if rng.random() < BARRIER_SHARE:
                people.append(
                    (
                        "Friend K",
                        "",
                        PodSide.HARM,
                        Stance.BARRIER,
                        "Demo: a drinking friend who makes excuses for him",
                        [],
                    )
                )
        acts: list[Action] = []
        for label, role, side, stance, relationship, helps in people:
            acts.append(self._member_action(label, role, side, stance, relationship, helps))
        labels = [p[0] for p in people]
        if "Aunt R" in labels and rng.random() < TIE_SHARE:
            acts.append(self._tie_action("Supporter C", "Aunt R"))
        return acts

    def _member_action(
        self, label: str, role: str, side: str, stance: str, relationship: str, helps: list[str]
    ) -> Action:
        def act(at: datetime.datetime, room: datetime.timedelta) -> None:
            # Support people consent to take part (their contact goes through the party they support).
            participant = self.person(role, label, at, consents=(ConsentKind.TAKE_PART,)) if role else None
            member = self.add(
                new(
                    PodMember,
                    organization_id=self.org,
                    case=self.case,
                    side=side,
                    label=label,
                    participant=participant,
                    relationship=relationship,
                    stance=stance,
                    help=helps,
                    active=True,
                    added_by=self.team.keeper,
                    created_at=at,
                    updated_at=at,
                )
            )
            self.members.append(member)
            self.event(EventKind.POD_CHANGED, at, self.team.keeper, member=label, side=side, stance=stance)
            self.pod_changed(at)

        return act

    def _tie_action(self, a: str, b: str) -> Action:
        def act(at: datetime.datetime, room: datetime.timedelta) -> None:
            first, second = (next(m for m in self.members if m.label == label) for label in (a, b))
            self.ties.append((first, second))
            self.batch.ties.append((self.case, first, second, self.team.keeper, at))
            # The history names the pair by label; support.services orders it by id, known only once written.
            self.event(EventKind.POD_CHANGED, at, self.team.keeper, member=f"{a} – {b}", tie="added")
            self.pod_changed(at)

        return act

    def pod_changed(self, at: datetime.datetime) -> None:
        consents = [(self.people[label], set(kinds)) for label, kinds in self.consents.items()]
        self.batch.pod_changes.append(PodChange(self.case, at, list(self.members), list(self.ties), consents))

    # --- meetings, as protocol.services records them ---

    def meet(
        self,
        kind: str,
        invitees: list[Participant],
        at: datetime.datetime,
        room: datetime.timedelta,
        *,
        scheduled_at: datetime.datetime | None = None,
        gate: dict[str, Any] | None = None,
    ) -> Meeting:
        """A meeting held: scheduled, the survivor's check-in and check-out, marked held, everyone came."""
        length = min(90 * MINUTE, room * 0.6)
        scheduled_at = scheduled_at or at - min(room, 7 * DAY) * 0.5
        meeting = self.add(
            new(
                Meeting,
                organization_id=self.org,
                case=self.case,
                kind=kind,
                starts_at=at,
                place=self.rng.choice(PLACES),
                status=MeetingStatus.HELD,
                scheduled_by=self.team.keeper,
                scheduled_at=scheduled_at,
                gate_at_scheduling=gate or {},
                gate_at_holding=gate or {},
                held_at=at + length,
                recorded_by=self.team.keeper,
                version=2,
            )
        )
        keeper = self.team.keeper
        self.event(EventKind.MEETING_SCHEDULED, scheduled_at, keeper, meeting=meeting, meeting_kind=kind)
        for participant in invitees:
            self.add(
                new(
                    Invitation,
                    organization_id=self.org,
                    meeting=meeting,
                    participant=participant,
                    attended=True,
                )
            )
        if self.survivor in invitees:
            for moment, when in ((CheckMoment.CHECK_IN, at), (CheckMoment.CHECK_OUT, at + length * 0.9)):
                self.add(
                    new(
                        SafetyCheckIn,
                        organization_id=self.org,
                        meeting=meeting,
                        participant=self.survivor,
                        moment=moment,
                        feels_safe=Answer.YES,
                        threatened=Answer.NO,
                        wants_to_stop=Answer.NO,
                        by=keeper,
                        at=when,
                    )
                )
                self.event(
                    EventKind.MEETING_CHECK,
                    when,
                    keeper,
                    meeting=meeting,
                    moment=moment,
                    participant=self.survivor.label,
                )
        self.event(EventKind.MEETING_HELD, at + length, keeper, meeting=meeting, meeting_kind=kind)
        self.held[kind] = meeting
        if kind == MeetingKind.PREPARATION:
            for participant in invitees:
                self.prepared.setdefault(participant.role, at + length)
        return meeting

    def ahead(
        self,
        kind: str,
        invitees: list[Participant],
        at: datetime.datetime,
        gate: dict[str, Any] | None = None,
    ) -> None:
        """A meeting scheduled now for the coming days."""
        starts = datetime.datetime.combine(
            timezone.localdate(self.shared.now) + self.rng.randint(1, 14) * DAY,
            datetime.time(self.rng.choice([10, 14, 17])),
            tzinfo=timezone.get_current_timezone(),
        )
        meeting = self.add(
            new(
                Meeting,
                organization_id=self.org,
                case=self.case,
                kind=kind,
                starts_at=starts,
                place=self.rng.choice(PLACES),
                scheduled_by=self.team.keeper,
                scheduled_at=at,
                gate_at_scheduling=gate or {},
            )
        )
        for participant in invitees:
            self.add(new(Invitation, organization_id=self.org, meeting=meeting, participant=participant))
        self.event(EventKind.MEETING_SCHEDULED, at, self.team.keeper, meeting=meeting, meeting_kind=kind)

    def prepare_harm(self, at: datetime.datetime, room: datetime.timedelta) -> None:
        meeting = self.meet(MeetingKind.PREPARATION, [self.harm], at, room)
        assert meeting.held_at is not None
        when = meeting.held_at + MINUTE
        self.add(
            new(
                Acknowledgment,
                organization_id=self.org,
                case=self.case,
                participant=self.harm,
                meeting=meeting,
                in_their_words=ACKNOWLEDGMENT,
                recorded_by=self.team.keeper,
                recorded_at=when,
            )
        )
        self.acknowledged_at = when
        self.event(
            EventKind.ACKNOWLEDGED, when, self.team.keeper, meeting=meeting, participant=self.harm.label
        )

    def supporters(self) -> list[Participant]:
        return [p for label, p in self.people.items() if label in ("Supporter C", "Supporter D", "Monitor E")]

    def dialogue(self, at: datetime.datetime, room: datetime.timedelta) -> None:
        if self.track == Track.DIRECT_DIALOGUE:
            # The joint-dialogue gate, within days: a fresh check, the plan gone through, the approval, the circle.
            step = min(room / 5, DAY)
            gate = self.approve(at, step)
            self.meet(
                MeetingKind.CIRCLE,
                [self.survivor, self.harm, *self.supporters()],
                at + 3 * step,
                step,
                scheduled_at=at + 2.5 * step,
                gate=gate,
            )
        elif self.track == Track.INDIRECT_DIALOGUE:
            self.meet(MeetingKind.SHUTTLE, [self.survivor, self.harm], at, room)
        else:
            others = [p for p in self.supporters() if p.label != "Monitor E"]
            self.meet(MeetingKind.POD, [self.harm, *others], at, room)

    def dialogue_ahead(self, at: datetime.datetime, room: datetime.timedelta) -> None:
        if self.track == Track.DIRECT_DIALOGUE:
            step = min(room / 5, HOUR)
            gate = self.approve(at, step)
            invitees = [self.survivor, self.harm, *self.supporters()]
            self.ahead(MeetingKind.CIRCLE, invitees, at + 2.5 * step, gate)
        elif self.track == Track.INDIRECT_DIALOGUE:
            self.ahead(MeetingKind.SHUTTLE, [self.survivor, self.harm], at)
        else:
            others = [p for p in self.supporters() if p.label != "Monitor E"]
            self.ahead(MeetingKind.POD, [self.harm, *others], at)

    def approve(self, at: datetime.datetime, step: datetime.timedelta) -> dict[str, Any]:
        """A check below high and the plan reviewed, then the supervisor's approval; the gate as it then stood."""
        self.check(at, self.level if self.level and not is_high(self.level) else RiskLevel.LOW)
        self.review_plan(at + step)
        approved_at = at + 2 * step
        conditions = self.joint_conditions()
        self.add(
            new(
                Approval,
                organization_id=self.org,
                case=self.case,
                approved_by=self.team.supervisor,
                approved_at=approved_at,
                conditions=conditions,
            )
        )
        self.event(EventKind.APPROVED, approved_at, self.team.supervisor)
        return {**conditions, "approval": {"met": True, "since": approved_at.isoformat()}}

    def joint_conditions(self) -> dict[str, Any]:
        """gates.snapshot of gates.joint_conditions, as they held at the approval."""

        def since(value: datetime.datetime | None) -> dict[str, Any]:
            return {"met": True, "since": value.isoformat() if value else None}

        monitor = self.people.get("Monitor E")
        plan_since = self.plan.last_reviewed_at if self.plan else None
        return {
            "direct_consent": since(self.choice.recorded_at if self.choice else None),
            "acknowledgment": since(self.acknowledged_at),
            "recent_check": since(self.last_check_at),
            "plan": since(plan_since),
            "monitor": since(monitor.created_at if monitor else None),
            "prep_survivor": since(self.prepared.get(ParticipantRole.SURVIVOR)),
            "prep_harm": since(self.prepared.get(ParticipantRole.PERSON_WHO_CAUSED_HARM)),
        }

    # --- accountability ---

    def agreement(self, at: datetime.datetime, room: datetime.timedelta, *, affirm: bool) -> None:
        keeper = self.team.keeper
        reached_in = (
            self.held.get(MeetingKind.CIRCLE)
            or self.held.get(MeetingKind.SHUTTLE)
            or self.held.get(MeetingKind.POD)
        )
        agreement = self.add(new(Agreement, organization_id=self.org, case=self.case, created_at=at))
        chosen = self.rng.sample(DEMO_COMMITMENTS, self.rng.randint(2, 4))
        version = self.add(
            new(
                AgreementVersion,
                organization_id=self.org,
                agreement=agreement,
                number=1,
                reached_in=reached_in,
                risk_reviewed=True,
                drafted_by=keeper,
                drafted_at=at,
                lock_version=1 + len(chosen),
            )
        )
        self.event(EventKind.AGREEMENT_DRAFTED, at, keeper, version="1")
        roles = {p.role: p for p in self.supporters()}
        for number, item in enumerate(chosen, start=1):
            self.commitments.append(
                self.add(
                    new(
                        Commitment,
                        organization_id=self.org,
                        version=version,
                        number=number,
                        kind=item.kind,
                        description=item.description,
                        supporter=roles.get(item.helper),
                        due_on=timezone.localdate(at) + item.due_days * DAY if item.due_days else None,
                        cadence=item.cadence,
                        evidence=item.evidence,
                        survivor_wants_updates=item.survivor_wants_updates,
                        concerns=list(item.concerns),
                    )
                )
            )
        if not affirm:
            self.commitments = []  # a draft: no progress is recorded on it
            return
        how = HowAffirmed.IN_MEETING if self.track == Track.DIRECT_DIALOGUE else HowAffirmed.ORAL
        moments = _between(at, at + room, 2)
        for party, when in zip((self.survivor, self.harm), moments, strict=True):
            self.add(
                new(
                    Affirmation,
                    organization_id=self.org,
                    version=version,
                    participant=party,
                    affirmed_on=timezone.localdate(when),
                    how=how,
                    recorded_by=keeper,
                    recorded_at=when,
                )
            )
            self.event(EventKind.AGREEMENT_PARTY_AFFIRMED, when, keeper, version="1", participant=party.label)
        version.frozen_at, version.affirmed_at = moments[0], moments[-1]
        self.case.agreement_affirmed_at = moments[-1]
        self.event(EventKind.AGREEMENT_AFFIRMED, moments[-1], keeper, version="1")

    def progress(self, at: datetime.datetime, room: datetime.timedelta) -> None:
        keeper = self.team.keeper
        reports: list[CheckIn] = []
        rounds = self.rng.randint(1, 2)
        moments = iter(_between(at, at + room, rounds * len(self.commitments) + 2))
        for _round in range(rounds):
            for commitment in self.commitments:
                when = next(moments)
                status = _weighted(
                    self.rng, {ProgressStatus.KEPT: 70, ProgressStatus.PARTLY: 20, ProgressStatus.UNKNOWN: 10}
                )
                reporter = commitment.supporter
                reported_by = ReportedBy.KEEPER
                if reporter is not None:
                    reported_by = (
                        ReportedBy.SAFETY_MONITOR
                        if reporter.role == ParticipantRole.SAFETY_MONITOR
                        else ReportedBy.SUPPORTER
                    )
                reports.append(
                    self.add(
                        new(
                            CheckIn,
                            organization_id=self.org,
                            commitment=commitment,
                            status=status,
                            note=CHECKIN_NOTE,
                            reported_by=reported_by,
                            reporter=reporter,
                            recorded_by=keeper,
                            at=when,
                        )
                    )
                )
                self.event(
                    EventKind.COMMITMENT_CHECKIN,
                    when,
                    keeper,
                    commitment=str(commitment.number),
                    status=status,
                )
        for step in range(1, self.rng.randint(1, 2) + 1):
            when = next(moments)
            recorded = self.add(
                new(
                    StaircaseStep,
                    organization_id=self.org,
                    case=self.case,
                    step=step,
                    note=STEP_NOTE,
                    recorded_by=keeper,
                    recorded_at=when,
                )
            )
            for commitment in self.commitments[: step + 1]:
                self.add(new(StepCommitment, organization_id=self.org, step=recorded, commitment=commitment))
            self.event(EventKind.STAIRCASE_STEP, when, keeper, step=str(step))

    # --- evaluation ---

    def evaluation(self) -> None:
        """Enrol part of the recent cases at intake, with their timepoints as the scheduler made them, the past
        ones answered (or missed), the ones open now left for the scheduler to deliver."""
        case, shared = self.case, self.shared
        timepoints = shared.plans.get(self.org)
        if (
            not timepoints
            or case.status not in (CaseStatus.OPEN, CaseStatus.CLOSED)
            or case.opened_on < shared.today - EVALUATION_DAYS * DAY
            or self.rng.random() >= ENROLLED_SHARE
            or "Survivor A" not in self.people
        ):
            return
        enrolled_on = min(shared.today, case.opened_on + self.rng.randint(0, 10) * DAY)
        if case.closed_on is not None and enrolled_on > case.closed_on:
            return
        created = scheduling._midnight(enrolled_on) + 10 * HOUR
        enrollment = self.add(
            new(
                Enrollment,
                organization_id=self.org,
                case=case,
                plan_id=shared.plan_ids[self.org],
                enrolled_on=enrolled_on,
                enrolled_by=self.team.keeper,
                created_at=min(created, shared.now),
            )
        )
        anchors = {"enrolment": enrolled_on}
        for anchor, stage in scheduling.ANCHOR_STAGES.items():
            if stage in self.entered:
                anchors[anchor] = timezone.localdate(self.entered[stage])
        asked = [
            p
            for p in self.people.values()
            if p.role != ParticipantRole.CHILD and ConsentKind.TAKE_PART in self.consents[p.label]
        ]
        for plan_timepoint in timepoints:
            day = anchors.get(plan_timepoint.anchor)
            if day is None:
                continue
            made_at = max(created, scheduling._midnight(day))
            opens_at, due_at, closes_at = scheduling.window(plan_timepoint, day)
            if closes_at <= made_at or made_at > shared.now:
                continue
            months = (due_at - scheduling._midnight(enrolled_on)).days / 30.4
            for participant in asked:
                # The scheduler makes a person's rows at its first run once they take part, if still open.
                made = max(made_at, participant.created_at)
                if closes_at <= made:
                    continue
                missed = self.rng.random() < MISSED_SHARE
                submitted = opens_at + (min(closes_at, shared.now) - opens_at) * self.rng.uniform(0.05, 0.6)
                for instrument in plan_timepoint.instruments.all():
                    if participant.role not in scheduling.respondent_roles(plan_timepoint, instrument):
                        continue
                    row = new(
                        Timepoint,
                        organization_id=self.org,
                        enrollment=enrollment,
                        case=case,
                        participant=participant,
                        plan_timepoint=plan_timepoint,
                        code=plan_timepoint.code,
                        instrument=instrument,
                        opens_at=opens_at,
                        due_at=due_at,
                        closes_at=closes_at,
                        created_at=made,
                    )
                    if closes_at <= shared.now and missed:
                        row.status, row.missed_at = TimepointStatus.MISSED, closes_at
                    elif closes_at <= shared.now and instrument.pk in shared.outcome_versions:
                        template = self.rng.choice(
                            _outcome_answers(
                                shared, instrument.pk, participant.role, plan_timepoint.code, months
                            )
                        )
                        row.response = self.add(
                            new(
                                Response,
                                organization_id=self.org,
                                version=shared.outcome_versions[instrument.pk],
                                participant=participant,
                                case=case,
                                purpose=f"evaluation {plan_timepoint.code}",
                                answers=template.answers,
                                skipped=template.skipped,
                                scores=template.scores,
                                status=ResponseStatus.SUBMITTED,
                                started_at=submitted - 12 * MINUTE,
                                submitted_at=submitted,
                            )
                        )
                        row.status, row.completed_at = TimepointStatus.COMPLETED, submitted
                    self.add(row)


# --- the whole run ---------------------------------------------------------------------------------------------


def pending_cases(organizations: Iterable[Organization]) -> list[int]:
    """The demo network's cases that have no participant yet: the synthetic ones not filled so far."""
    return list(
        Case.objects.filter(organization__in=list(organizations), participants__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _case_teams(ids: list[int], shared: Shared) -> dict[int, Team]:
    """Each case's team, from its assignments (the people are loaded once and kept for the next chunks)."""
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for case_id, role, user_id in (
        CaseAssignment.objects.filter(case_id__in=ids)
        .order_by("pk")
        .values_list("case_id", "role", "user_id")
    ):
        found[case_id].setdefault(role, user_id)
    wanted = {user_id for roles in found.values() for user_id in roles.values()} - set(shared.users)
    shared.users.update(User.objects.in_bulk(list(wanted)))
    teams = {}
    for case_id, roles in found.items():
        people = [
            roles.get(role) for role in (TeamRole.KEEPER, TeamRole.SAFETY_ADVOCATE, TeamRole.SUPERVISOR)
        ]
        if all(people):
            keeper, advocate, supervisor = (shared.users[user_id] for user_id in people if user_id)
            teams[case_id] = Team(keeper, advocate, supervisor)
    return teams


def fill_scale(now: datetime.datetime | None = None, *, batch_size: int = 2000) -> Counter[str]:
    """Fill every synthetic case of the demo network that has no participant yet; returns the rows made per
    table (and the number of cases filled, as "cases filled")."""
    now = now or timezone.now()
    organizations = list(Organization.objects.filter(network__slug=NETWORK[1]).order_by("pk"))
    counts: Counter[str] = Counter()
    pending = pending_cases(organizations)
    if not pending:
        return counts
    shared = _shared(organizations, now)
    for first in range(0, len(pending), batch_size):
        ids = pending[first : first + batch_size]
        with transaction.atomic():
            cases = list(
                Case.objects.filter(pk__in=ids, organization_id__in=list(shared.teams))
                .defer("summary")
                .order_by("pk")
            )
            batch = Batch()
            teams = _case_teams(ids, shared)
            for case in cases:
                story = Story(case, shared, batch, teams.get(case.pk) or shared.teams[case.organization_id])
                story.tell()
                story.evaluation()
            batch.write(counts)
            update(cases, ["stage", "track", "risk_level", "on_hold", "agreement_affirmed_at"])
            counts["cases filled"] += len(cases)
    return counts
