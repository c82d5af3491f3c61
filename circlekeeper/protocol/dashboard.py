"""What the dashboard shows about the protocol: a keeper's day, and the supervisor's lists that the ranked worklist
(worklist.py) takes in.

Keepers see their scheduled meetings today and in the coming week, and what each of their open cases needs next
(its stage and the first unmet condition of its gate). Supervisors see the joint dialogues waiting for their
approval and the cases with no movement for STALLED_DAYS.

Query budget: the lists of meetings and stalled cases are one query each (and a count). The gates are read by
`gates.stage_conditions` and `gates.joint_conditions`, which ask a few queries per case (participants, checks,
plans, meetings): so only the GATES_READ cases with the oldest last movement are read, and the page costs the same
with 20 cases as with 20,000. GATES_READ is ten, not the SHOWN of the other lists: reading a gate costs about a
dozen queries, and the dashboard is the page a keeper opens most (issue 10: pages under load); the rest are counted.
What every gate reads first (the survivors, their latest checks) is read for the GATES_READ cases together
(`gates.preread`, issue 23).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accounts.access import StaffContext
from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import (
    Case,
    CaseEvent,
    CaseQuerySet,
    ConsentKind,
    Participant,
    ParticipantRole,
    Stage,
    Track,
)
from circlekeeper.protocol import gates
from circlekeeper.protocol.models import Acknowledgment, Invitation, Meeting, MeetingKind, MeetingStatus
from circlekeeper.safety.dashboard import Listing
from circlekeeper.safety.models import SafetyCheck

# How many cases' gates the dashboard reads (see the module's docstring).
GATES_READ = 10

# A case with nothing recorded for this long is listed for its supervisor.
STALLED_DAYS = 30
WEEK = datetime.timedelta(days=7)


@dataclass(frozen=True)
class MeetingRow:
    meeting: Meeting
    # The invitees' pseudonymous labels (never the place: it can reveal where a survivor is).
    with_labels: list[str]
    url: str


@dataclass(frozen=True)
class NextStep:
    case: Case
    stage: str
    # The first unmet condition of the gate out of the case's stage, None when every one holds.
    needed: gates.Condition | None
    next_stage: str
    url: str


@dataclass(frozen=True)
class WaitingApproval:
    case: Case
    url: str


@dataclass
class ProtocolDashboard:
    meetings_today: list[MeetingRow] | None = None
    meetings_week: Listing[MeetingRow] | None = None
    next_steps: Listing[NextStep] | None = None


def _team_cases(context: StaffContext) -> CaseQuerySet:
    return Case.objects.for_organization(context.organization).for_team_member(context.user)


def _by_last_movement(cases: CaseQuerySet) -> CaseQuerySet:
    """Oldest last movement first (a case never moved before all), annotated with `last_moved`."""
    latest = CaseEvent.objects.filter(case_id=OuterRef("pk")).order_by("-at").values("at")[:1]
    return cases.annotate(last_moved=Subquery(latest)).order_by(
        F("last_moved").asc(nulls_first=True), "opened_on", "pk"
    )


def meetings(context: StaffContext, now: datetime.datetime) -> tuple[list[MeetingRow], list[MeetingRow]]:
    """Scheduled meetings on this person's cases: today's (from midnight), and the six days after."""
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = start + datetime.timedelta(days=1)
    rows = list(
        Meeting.objects.for_organization(context.organization)
        .scheduled()
        .filter(case__in=_team_cases(context), starts_at__gte=start, starts_at__lt=start + WEEK)
        .select_related("case")
        .order_by("starts_at", "id")
    )
    labels: dict[int, list[str]] = {}
    for meeting_id, label in (
        Invitation.objects.filter(meeting__in=[m.pk for m in rows])
        .order_by("participant_id")
        .values_list("meeting_id", "participant__label")
    ):
        labels.setdefault(meeting_id, []).append(label)
    made = [
        MeetingRow(m, labels.get(m.pk, []), reverse("protocol:meeting", args=[m.case_id, m.pk])) for m in rows
    ]
    return [r for r in made if r.meeting.starts_at < tomorrow], [
        r for r in made if r.meeting.starts_at >= tomorrow
    ]


def _condition_url(condition: gates.Condition | None, case: Case) -> str:
    """Where to act on the condition; the case's protocol page when it names no place, or every one holds."""
    if condition is not None and condition.url is not None:
        name, args = condition.url
        return reverse(name, args=args)
    return reverse("protocol:case", args=[case.pk])


def next_steps(context: StaffContext, now: datetime.datetime) -> Listing[NextStep]:
    """What each open case on this person's teams needs next, for the GATES_READ cases that moved least recently."""
    cases = _team_cases(context).open()
    total = cases.count()
    steps = []
    read = list(_by_last_movement(cases)[:GATES_READ])
    gates.preread(read)  # their survivors and latest checks in three queries, not two a case
    for case in read:
        unmet = gates.unmet(gates.stage_conditions(case, now))
        needed = unmet[0] if unmet else None
        following = gates.next_stage(case)
        steps.append(
            NextStep(
                case=case,
                stage=str(Stage(case.stage).label),
                needed=needed,
                next_stage=str(following.label) if following else "",
                url=_condition_url(needed, case),
            )
        )
    return Listing(steps, total)


def waiting_approvals(context: StaffContext, now: datetime.datetime) -> tuple[Listing[WaitingApproval], int]:
    """Direct-track cases in preparation or dialogue where every joint-dialogue condition but the supervisor's
    approval holds, and how many candidates were left unread.

    A cheap filter on some of those conditions (not on hold, the acknowledgment, a preparation meeting with the
    survivor, a recent survivor check, a consenting safety monitor) comes first; then the whole gate is read
    (about a dozen queries a case) for the GATES_READ candidates that moved least recently.
    """
    since = now - datetime.timedelta(days=gates.CHECK_WITHIN_DAYS)
    recent_check = SafetyCheck.objects.of_survivors().filter(case_id=OuterRef("pk"), checked_at__gte=since)
    monitor = Participant.objects.filter(
        case_id=OuterRef("pk"),
        role=ParticipantRole.SAFETY_MONITOR,
        consents__kind=ConsentKind.TAKE_PART,
        consents__revoked_at=None,
        consents__error_at=None,
    )
    held_with_survivor = Invitation.objects.filter(
        meeting__case_id=OuterRef("pk"),
        meeting__kind=MeetingKind.PREPARATION,
        meeting__status=MeetingStatus.HELD,
        meeting__error_at=None,
        participant__role=ParticipantRole.SURVIVOR,
        participant__error_at=None,
        attended=True,
    )
    candidates = (
        _team_cases(context)
        .open()
        .filter(
            track=Track.DIRECT_DIALOGUE,
            stage__in=(Stage.PREPARATION, Stage.DIALOGUE),
            on_hold=False,
        )
        .filter(
            Exists(Acknowledgment.objects.filter(case_id=OuterRef("pk"))),
            Exists(held_with_survivor),
            Exists(recent_check),
            Exists(monitor),
        )
    )
    waiting = []
    read = list(_by_last_movement(candidates)[:GATES_READ])
    gates.preread(read, joint=True)  # with the rest of their joint gates: at most 5 more queries
    for case in read:
        conditions = gates.joint_conditions(case, now)
        if all(c.met for c in conditions) and not gates.approval_condition(case, conditions, now).met:
            waiting.append(WaitingApproval(case, reverse("protocol:approve", args=[case.pk])))
    return Listing(waiting, len(waiting)), max(0, candidates.count() - GATES_READ)


def stalled_cases(context: StaffContext, now: datetime.datetime) -> CaseQuerySet:
    """Open cases on this person's teams with nothing recorded for STALLED_DAYS (opened at least that long ago),
    the oldest last movement first."""
    since = now - datetime.timedelta(days=STALLED_DAYS)
    recent = CaseEvent.objects.filter(case_id=OuterRef("pk"), at__gte=since)
    cases = (
        _team_cases(context)
        .open()
        .filter(opened_on__lte=timezone.localtime(since).date())
        .exclude(Exists(recent))
    )
    return _by_last_movement(cases)


def protocol_dashboard(context: StaffContext, now: datetime.datetime) -> ProtocolDashboard:
    """The keeper's day (the supervisor's queue is in the ranked worklist, worklist.py)."""
    board = ProtocolDashboard()
    if context.organization is None:
        return board
    if context.has_role(Role.KEEPER):
        today, week = meetings(context, now)
        board.meetings_today = today
        board.meetings_week = Listing.of(week)
        board.next_steps = next_steps(context, now)
    return board
