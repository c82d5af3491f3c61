"""The gates of PROTOCOL.md as checklists: what must hold to leave each stage, and the joint-dialogue gate.

Each condition says whether it holds now, in words, and where to go to make it hold; the services refuse a
transition or a meeting while any condition is unmet, and the case page shows the same list.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.cases.models import (
    TRACK_CONTACT,
    BarrierFlag,
    Case,
    CaseEvent,
    CaseStatus,
    CaseTask,
    Consent,
    ConsentKind,
    EventKind,
    Intake,
    Participant,
    ParticipantRole,
    Stage,
    TaskKind,
    Track,
    TrackChoice,
)
from circlekeeper.protocol.models import Acknowledgment, Approval, Invitation, MeetingKind, MeetingStatus
from circlekeeper.safety.models import (
    CheckKind,
    SafetyCheck,
    SafetyCheckQuerySet,
    SafetyPlan,
    SafetyPlanRevision,
    is_high,
)
from circlekeeper.safety.services import PLAN_REVIEW_DAYS

# The joint-dialogue gate's window for the survivor's last safety check.
CHECK_WITHIN_DAYS = 7

# The order of stages for each kind of track. Support only never enters preparation, dialogue or agreement.
FULL_PATH = list(Stage)
SUPPORT_PATH = [
    Stage.REFERRAL,
    Stage.INTAKE,
    Stage.SAFETY_PLANNING,
    Stage.MAPPING_SUPPORT,
    Stage.MONITORING,
    Stage.CLOSURE,
]


@dataclass(frozen=True)
class Condition:
    code: str
    label: str
    met: bool
    detail: str = ""
    # Where to act on it: a URL name and its arguments.
    url: tuple[str, tuple[object, ...]] | None = None
    # Since when it holds (for the approval, which must come after every other condition).
    since: datetime.datetime | None = field(default=None, compare=False)


def path_for(case: Case) -> list[Stage]:
    if case.track and TRACK_CONTACT[Track(case.track)] == 0:
        return SUPPORT_PATH
    return FULL_PATH


def next_stage(case: Case) -> Stage | None:
    """The stage a case moves to from its current one, on its track; None from closure."""
    path = path_for(case)
    current = Stage(case.stage)
    if current not in path:  # e.g. a support-only case chosen after reaching preparation
        later = [stage for stage in path if list(Stage).index(stage) > list(Stage).index(current)]
        return later[0] if later else None
    position = path.index(current)
    return path[position + 1] if position + 1 < len(path) else None


# Set on a case by preread(): what its gate reads first, read for a page's cases together.
PREREAD = "_gate_preread"


@dataclass(frozen=True)
class _Preread:
    survivors: list[Participant]
    # The latest survivor check by kind (None: any kind), as _latest_survivor_check reads it.
    latest_check: dict[str | None, SafetyCheck | None]
    # What the joint-dialogue gate reads besides (preread(cases, joint=True)); None when not read.
    joint: _JointPreread | None = None


@dataclass(frozen=True)
class _JointPreread:
    consenting_survivors: set[int]  # survivors with a current consent to take part
    chosen: datetime.datetime | None  # the latest choice of the direct track
    prep_survivor: datetime.datetime | None  # _held_with(case, PREPARATION, survivor)
    prep_harm: datetime.datetime | None  # _held_with(case, PREPARATION, person who caused harm)
    acknowledged: datetime.datetime | None  # the first acknowledgment's recorded_at
    plans: dict[int, SafetyPlan]  # by survivor, each with its current revision read (CURRENT_REVISION)
    monitors: list[Participant]  # _consenting(case, SAFETY_MONITOR)
    approvals: list[Approval]  # every approval, newest first (Approval's ordering)
    last_lapsing: datetime.datetime | None  # the latest event that makes an approval lapse
    last_barrier: datetime.datetime | None  # the latest naming of someone a barrier


# Set on a SafetyPlan by preread(joint=True): its current revision (SafetyPlan.current()).
CURRENT_REVISION = "_gate_current_revision"


def _survivor_checks(organization_id: Any, case_id: Any, kind: str | None) -> SafetyCheckQuerySet:
    """The case's survivors' checks that count (with a level, of a participant not entered in error), newest first."""
    # The organization too, so the (organization, case, checked_at) index gives the newest first without a sort.
    checks = SafetyCheck.objects.filter(
        organization_id=organization_id,
        case_id=case_id,
        participant__role=ParticipantRole.SURVIVOR,
        participant__error_at__isnull=True,
    ).exclude(level="")
    if kind:
        checks = checks.filter(kind=kind)
    return checks.order_by("-checked_at", "-id")


def preread(cases: list[Case], *, joint: bool = False) -> None:
    """For a page that reads the gates of several cases (the dashboards): read every case's survivors and latest
    survivor checks in three queries for all of them, instead of a few per case. Each case keeps what was read
    (PREREAD) and its gate uses it: the same rows, with the same filters and order, as the per-case reads below
    (protocol/tests/test_gates_preread.py). Only for instances read for the page, and used at once.

    With joint=True (the supervisor's approval candidates) it also reads everything else the joint-dialogue gate
    and its approval read, in at most five more queries for all the cases."""
    if not cases:
        return
    ids = [case.pk for case in cases]
    survivors: dict[int, list[Participant]] = {case.pk: [] for case in cases}
    # The default manager leaves out participants entered in error; ordered by case, then id, as case.participants.
    for participant in Participant.objects.survivors().filter(case_id__in=ids).order_by("case_id", "id"):
        survivors[participant.case_id].append(participant)
    latest = Case.objects.filter(pk__in=ids).annotate(
        latest_any=Subquery(
            _survivor_checks(OuterRef("organization_id"), OuterRef("pk"), None).values("id")[:1]
        ),
        latest_full=Subquery(
            _survivor_checks(OuterRef("organization_id"), OuterRef("pk"), CheckKind.FULL).values("id")[:1]
        ),
    )
    if joint:
        latest = latest.annotate(**_joint_heads())
    rows = {row["pk"]: row for row in latest.values("pk", *latest.query.annotations)}
    heads = {pk: (row["latest_any"], row["latest_full"]) for pk, row in rows.items()}
    joints = _joint_preread(cases, survivors, rows) if joint else {}
    checks = SafetyCheck.objects.in_bulk([pk for pair in heads.values() for pk in pair if pk is not None])
    for case in cases:
        any_kind, full = heads.get(case.pk, (None, None))
        setattr(
            case,
            PREREAD,
            _Preread(
                survivors=survivors[case.pk],
                latest_check={
                    None: checks.get(any_kind) if any_kind else None,
                    CheckKind.FULL: checks.get(full) if full else None,
                },
                joint=joints.get(case.pk),
            ),
        )


def _first_held_with(kind: str, roles: tuple[str, ...]) -> Subquery:
    """_held_with as a subquery on the case."""
    return Subquery(
        Invitation.objects.filter(
            meeting__case=OuterRef("pk"),
            meeting__kind=kind,
            meeting__status=MeetingStatus.HELD,
            meeting__error_at__isnull=True,
            participant__role__in=roles,
            participant__error_at__isnull=True,
            attended=True,
        )
        .order_by("meeting__held_at")
        .values("meeting__held_at")[:1]
    )


def _joint_heads() -> dict[str, Subquery]:
    """The joint gate's single dates, each with the filters and order of its per-case read, for one query."""
    return {
        "chosen": Subquery(
            TrackChoice.objects.filter(case=OuterRef("pk"), track=Track.DIRECT_DIALOGUE)
            .order_by("-recorded_at")
            .values("recorded_at")[:1]
        ),
        "prep_survivor": _first_held_with(MeetingKind.PREPARATION, (ParticipantRole.SURVIVOR,)),
        "prep_harm": _first_held_with(MeetingKind.PREPARATION, (ParticipantRole.PERSON_WHO_CAUSED_HARM,)),
        "acknowledged": Subquery(
            Acknowledgment.objects.filter(
                case=OuterRef("pk"), meeting__error_at__isnull=True, participant__error_at__isnull=True
            )
            .order_by("recorded_at")
            .values("recorded_at")[:1]
        ),
        # An approval lapses on any of these after it (approval_condition); the latest is enough to tell.
        "last_lapsing": Subquery(
            CaseEvent.objects.filter(case=OuterRef("pk")).filter(_LAPSING).order_by("-at").values("at")[:1]
        ),
        "last_barrier": Subquery(
            BarrierFlag.objects.filter(case=OuterRef("pk"), barrier=True).order_by("-at").values("at")[:1]
        ),
    }


def _joint_preread(
    cases: list[Case], survivors: dict[int, list[Participant]], heads: dict[int, dict[str, Any]]
) -> dict[int, _JointPreread]:
    """The rest of the joint gate for every case: consents, plans, monitors and approvals, four queries."""
    ids = [case.pk for case in cases]
    survivor_ids = [p.pk for people in survivors.values() for p in people]
    consenting = set(
        Consent.objects.filter(participant_id__in=survivor_ids, kind=ConsentKind.TAKE_PART)
        .current()
        .values_list("participant_id", flat=True)
    )
    plans: dict[int, SafetyPlan] = {}
    current = SafetyPlanRevision._default_manager.filter(plan=OuterRef("pk"), error_at__isnull=True)
    for plan in SafetyPlan.objects.filter(participant_id__in=survivor_ids).annotate(
        current_id=Subquery(current.order_by("-number").values("id")[:1])
    ):
        plans[plan.participant_id] = plan
    revisions = SafetyPlanRevision._default_manager.in_bulk(
        [plan.current_id for plan in plans.values() if plan.revision and plan.current_id]  # type: ignore[attr-defined]
    )
    for plan in plans.values():
        setattr(plan, CURRENT_REVISION, revisions.get(plan.current_id) if plan.revision else None)  # type: ignore[attr-defined]
    monitors: dict[int, list[Participant]] = {pk: [] for pk in ids}
    for monitor in _consenting_in(
        Participant._default_manager.filter(case_id__in=ids), ParticipantRole.SAFETY_MONITOR
    ):
        monitors[monitor.case_id].append(monitor)
    approvals: dict[int, list[Approval]] = {pk: [] for pk in ids}
    for approval in Approval.objects.filter(case_id__in=ids):  # newest first, as Approval orders them
        approvals[approval.case_id].append(approval)
    return {
        pk: _JointPreread(
            consenting_survivors=consenting,
            chosen=heads[pk]["chosen"],
            prep_survivor=heads[pk]["prep_survivor"],
            prep_harm=heads[pk]["prep_harm"],
            acknowledged=heads[pk]["acknowledged"],
            plans=plans,
            monitors=monitors[pk],
            approvals=approvals[pk],
            last_lapsing=heads[pk]["last_lapsing"],
            last_barrier=heads[pk]["last_barrier"],
        )
        for pk in ids
    }


def _joint(case: Case) -> _JointPreread | None:
    read: _Preread | None = getattr(case, PREREAD, None)
    return read.joint if read is not None else None


def _survivors(case: Case) -> list[Participant]:
    read: _Preread | None = getattr(case, PREREAD, None)
    if read is not None:
        return list(read.survivors)
    return list(case.participants.survivors())


def _consenting_in(people: Any, *roles: str) -> list[Participant]:
    return list(
        people.filter(
            role__in=roles,
            consents__kind=ConsentKind.TAKE_PART,
            consents__revoked_at=None,
            consents__error_at=None,
            barrier=False,
        )
        .distinct()
        .order_by("id")
    )


def _consenting(case: Case, *roles: str) -> list[Participant]:
    joint = _joint(case)
    if joint is not None and roles == (ParticipantRole.SAFETY_MONITOR,):
        return list(joint.monitors)
    return _consenting_in(case.participants, *roles)


def _has_consent(case: Case, survivor: Participant) -> bool:
    joint = _joint(case)
    if joint is not None:
        return survivor.pk in joint.consenting_survivors
    return survivor.has_consent(ConsentKind.TAKE_PART)


def _current_revision(plan: SafetyPlan) -> SafetyPlanRevision | None:
    if hasattr(plan, CURRENT_REVISION):
        revision: SafetyPlanRevision | None = getattr(plan, CURRENT_REVISION)
        return revision
    return plan.current()


def _latest_survivor_check(case: Case, *, kind: str | None = None) -> SafetyCheck | None:
    read: _Preread | None = getattr(case, PREREAD, None)
    if read is not None and (kind or None) in read.latest_check:
        return read.latest_check[kind or None]
    return _survivor_checks(case.organization_id, case.pk, kind).first()


def _plan_condition(case: Case, now: datetime.datetime, *, within_days: int | None) -> Condition:
    """A current safety plan for every survivor (reviewed recently, not due), or their recorded decision."""
    survivors = _survivors(case)
    joint = _joint(case)
    plans = (
        joint.plans
        if joint is not None
        else {p.participant_id: p for p in SafetyPlan.objects.filter(participant__in=survivors)}
    )
    missing, since = [], None
    for survivor in survivors:
        plan = plans.get(survivor.pk)
        current = _current_revision(plan) if plan else None
        if current is not None and current.declined:
            since = max(filter(None, [since, current.saved_at]))
            continue
        fresh = (
            plan is not None
            and current is not None
            and plan.review_due_since is None
            and plan.last_reviewed_at is not None
            and (within_days is None or plan.last_reviewed_at >= now - datetime.timedelta(days=within_days))
        )
        if not fresh:
            missing.append(survivor.label)
        elif plan is not None and plan.last_reviewed_at is not None:
            since = max(filter(None, [since, plan.last_reviewed_at]))
    label = (
        _("A safety plan reviewed in the last %(days)s days, or the survivor's decision not to have one")
        % {"days": within_days}
        if within_days
        else _("A current safety plan, or the survivor's decision not to have one")
    )
    first = survivors[0] if survivors else None
    return Condition(
        "plan",
        label,
        bool(survivors) and not missing,
        _("Missing for: %(labels)s") % {"labels": ", ".join(missing)} if missing else "",
        ("safety:plan", (case.pk, first.pk)) if first else None,
        since,
    )


def _held_with(case: Case, kind: str, roles: tuple[str, ...]) -> datetime.datetime | None:
    """When the first meeting of this kind was held with someone of these roles attending, if ever."""
    joint = _joint(case)
    if joint is not None and kind == MeetingKind.PREPARATION:
        if roles == (ParticipantRole.SURVIVOR,):
            return joint.prep_survivor
        if roles == (ParticipantRole.PERSON_WHO_CAUSED_HARM,):
            return joint.prep_harm
    invitation = (
        Invitation.objects.filter(
            meeting__case=case,
            meeting__kind=kind,
            meeting__status=MeetingStatus.HELD,
            meeting__error_at__isnull=True,
            participant__role__in=roles,
            participant__error_at__isnull=True,
            attended=True,
        )
        .select_related("meeting")
        .order_by("meeting__held_at")
        .first()
    )
    return invitation.meeting.held_at if invitation else None


def stage_conditions(case: Case, now: datetime.datetime | None = None) -> list[Condition]:
    """What must hold to leave the case's current stage (PROTOCOL.md, the gate column)."""
    now = now or timezone.now()
    stage = Stage(case.stage)
    survivors = _survivors(case)
    first = survivors[0] if survivors else None
    contact = bool(case.track) and TRACK_CONTACT[Track(case.track)] > 0
    conditions: list[Condition] = []
    if case.status != CaseStatus.OPEN:
        return [Condition("open", _("The case is open"), False, str(CaseStatus(case.status).label))]
    if stage == Stage.REFERRAL:
        conditions.append(
            Condition(
                "survivor",
                _("The survivor is recorded"),
                bool(survivors),
                url=("cases:participant_add", (case.pk,)),
            )
        )
        screened = _latest_survivor_check(case)
        conditions.append(
            Condition(
                "screen",
                _("The immediate-danger screen (or a full safety check) with the survivor"),
                screened is not None,
                url=("safety:case", (case.pk,)),
            )
        )
        if screened is not None and is_high(screened.level):
            open_tasks = CaseTask.objects.filter(
                case=case, kind=TaskKind.REVIEW_SAFETY_PLAN, done_at__isnull=True
            ).exists()
            conditions.append(
                Condition(
                    "safety_first",
                    _("Danger was found: safety actions first (the safety plan reviewed with the survivor)"),
                    not open_tasks,
                    url=("safety:plan", (case.pk, first.pk)) if first else None,
                )
            )
    elif stage == Stage.INTAKE:
        intake = Intake.objects.filter(case=case).first()
        conditions.append(
            Condition(
                "intake",
                _(
                    "What happened, in the survivor's words, or the types of harm (“prefer not to say” counts)"
                ),
                intake is not None and intake.recorded,
                url=("cases:intake", (case.pk,)),
            )
        )
        full = _latest_survivor_check(case, kind=CheckKind.FULL)
        conditions.append(
            Condition(
                "assessment",
                _("A full safety check with the survivor, giving a risk level"),
                full is not None,
                url=("safety:case", (case.pk,)),
            )
        )
        conditions.append(
            Condition(
                "track",
                _("The survivor was told of every track and chose one"),
                bool(case.track),
                url=("cases:track_choice", (case.pk,)),
            )
        )
    elif stage == Stage.SAFETY_PLANNING:
        conditions.append(_plan_condition(case, now, within_days=None))
    elif stage == Stage.MAPPING_SUPPORT:
        conditions.append(
            Condition(
                "survivor_supporter",
                _("At least one consenting support person for the survivor"),
                bool(_consenting(case, ParticipantRole.SURVIVOR_SUPPORTER)),
                url=("cases:participant_add", (case.pk,)),
            )
        )
        if contact:
            conditions.append(
                Condition(
                    "harm_supporter",
                    _("At least one consenting support person for the person who caused harm"),
                    bool(_consenting(case, ParticipantRole.HARM_SUPPORTER)),
                    url=("cases:participant_add", (case.pk,)),
                )
            )
            conditions.append(_monitor_condition(case))
    elif stage == Stage.PREPARATION:
        conditions.extend(_preparation_conditions(case))
    elif stage == Stage.DIALOGUE:
        wanted = {
            Track.DIRECT_DIALOGUE: (MeetingKind.CIRCLE, MeetingKind.CONFERENCE),
            Track.INDIRECT_DIALOGUE: (MeetingKind.SHUTTLE,),
            Track.COMMUNITY_ACCOUNTABILITY: (MeetingKind.POD,),
        }.get(Track(case.track) if case.track else Track.SUPPORT_ONLY, ())
        held = case.meetings.filter(
            kind__in=wanted, status=MeetingStatus.HELD, error_at__isnull=True
        ).exists()
        conditions.append(
            Condition(
                "dialogue_held",
                _(
                    "The dialogue was held (a circle or conference; shuttle sessions on the indirect track; a pod "
                    "meeting with the person who caused harm on community accountability)"
                ),
                held,
                url=("protocol:meetings", (case.pk,)),
            )
        )
    elif stage == Stage.AGREEMENT:
        # Kept on the case by circlekeeper.accountability when every party affirms a version (this app may not
        # import it); a newer version still being drafted does not undo the one in force.
        conditions.append(
            Condition(
                "agreement",
                _("An agreement affirmed by the parties"),
                case.agreement_affirmed_at is not None,
                url=("accountability:agreement", (case.pk,)),
                since=case.agreement_affirmed_at,
            )
        )
    elif stage == Stage.MONITORING:
        conditions.append(
            Condition(
                "ended",
                _("The plan is complete, or it ended: say which, and why, when moving on"),
                True,
            )
        )
    elif stage == Stage.CLOSURE:
        entered = (
            case.transitions.filter(to_stage=Stage.CLOSURE)
            .order_by("-at")
            .values_list("at", flat=True)
            .first()
        )
        exit_check = SafetyCheck.objects.filter(
            case=case,
            participant__role=ParticipantRole.SURVIVOR,
            participant__error_at__isnull=True,
            kind=CheckKind.FULL,
        ).exclude(level="")
        if entered:
            exit_check = exit_check.filter(checked_at__gte=entered)
        conditions.append(
            Condition(
                "exit_check",
                _("An exit safety check with the survivor"),
                exit_check.exists(),
                url=("safety:case", (case.pk,)),
            )
        )
    return conditions


def _monitor_condition(case: Case) -> Condition:
    monitors = _consenting(case, ParticipantRole.SAFETY_MONITOR)
    return Condition(
        "monitor",
        _("A safety monitor appointed (consenting)"),
        bool(monitors),
        url=("cases:participant_add", (case.pk,)),
        since=min((m.created_at for m in monitors), default=None),
    )


def _preparation_conditions(case: Case) -> list[Condition]:
    survivor_side = (ParticipantRole.SURVIVOR,)
    harm_side = (ParticipantRole.PERSON_WHO_CAUSED_HARM,)
    with_survivor = _held_with(case, MeetingKind.PREPARATION, survivor_side)
    with_harm = _held_with(case, MeetingKind.PREPARATION, harm_side)
    joint = _joint(case)
    if joint is not None:
        acknowledged_at = joint.acknowledged
    else:
        acknowledged = (
            Acknowledgment.objects.filter(
                case=case, meeting__error_at__isnull=True, participant__error_at__isnull=True
            )
            .order_by("recorded_at")
            .first()
        )
        acknowledged_at = acknowledged.recorded_at if acknowledged else None
    return [
        Condition(
            "prep_survivor",
            _("At least one preparation meeting held with the survivor"),
            with_survivor is not None,
            url=("protocol:meetings", (case.pk,)),
            since=with_survivor,
        ),
        Condition(
            "prep_harm",
            _("At least one preparation meeting held with the person who caused harm"),
            with_harm is not None,
            url=("protocol:meetings", (case.pk,)),
            since=with_harm,
        ),
        Condition(
            "acknowledgment",
            _("The person who caused harm acknowledged responsibility (recorded in a preparation meeting)"),
            acknowledged_at is not None,
            url=("protocol:meetings", (case.pk,)),
            since=acknowledged_at,
        ),
    ]


def joint_conditions(case: Case, now: datetime.datetime | None = None) -> list[Condition]:
    """Every condition of the joint-dialogue gate but the supervisor's approval (PROTOCOL.md)."""
    now = now or timezone.now()
    survivors = _survivors(case)
    consented = bool(survivors) and all(_has_consent(case, s) for s in survivors)
    direct = case.track == Track.DIRECT_DIALOGUE
    joint = _joint(case)
    chosen = (
        (joint.chosen if direct else None)
        if joint is not None
        else case.track_choices.filter(track=Track.DIRECT_DIALOGUE)
        .order_by("-recorded_at")
        .values_list("recorded_at", flat=True)
        .first()
        if direct
        else None
    )
    check = _latest_survivor_check(case)
    preparation = _preparation_conditions(case)
    recent = (
        check is not None
        and check.checked_at >= now - datetime.timedelta(days=CHECK_WITHIN_DAYS)
        and not is_high(check.level)
    )
    conditions = [
        Condition(
            "direct_consent",
            _("The survivor's consent to the direct track is current"),
            case.status == CaseStatus.OPEN and direct and consented,
            url=("cases:track_choice", (case.pk,)),
            since=chosen,
        ),
        *[c for c in preparation if c.code == "acknowledgment"],
        Condition(
            "recent_check",
            _("A survivor safety check in the last %(days)s days below high, and no open hold")
            % {"days": CHECK_WITHIN_DAYS},
            recent and not case.on_hold,
            url=("safety:case", (case.pk,)),
            since=check.checked_at if check else None,
        ),
        _plan_condition(case, now, within_days=PLAN_REVIEW_DAYS),
        _monitor_condition(case),
        *[c for c in preparation if c.code != "acknowledgment"],
    ]
    return conditions


# What makes an approval lapse once given, even if every condition holds again later.
LAPSING_EVENTS = (
    EventKind.HOLD_OPENED,
    EventKind.CONSENT_WITHDRAWN,
    EventKind.TRACK_CHOSEN,
    EventKind.WITHDRAWN,
    EventKind.REOPENED,
)
# Records whose correction ("entered in error") changes what an approval approved: the people taking part, their
# consents, the meetings held, the survivor's choice of track and the safety plan (the joint-dialogue gate of
# PROTOCOL.md). A note entered in error changes none of it, so it leaves the approval standing.
LAPSING_CORRECTIONS = ("participant", "consent", "meeting", "track_choice", "plan_revision")
_LAPSING = (
    Q(kind__in=LAPSING_EVENTS)
    | Q(kind=EventKind.ENTERED_IN_ERROR, facts__record__in=LAPSING_CORRECTIONS)
    | Q(kind=EventKind.CHECK_RECORDED, facts__level__in=["high", "severe"])
)


def approval_condition(
    case: Case, conditions: list[Condition], now: datetime.datetime | None = None
) -> Condition:
    """The supervisor's approval, given after every other condition held, and not lapsed since."""
    now = now or timezone.now()
    joint = _joint(case)
    if joint is not None:
        approval = next((a for a in joint.approvals if a.approved_at <= now), None)
    else:
        approval = Approval.objects.filter(case=case, approved_at__lte=now).first()
    others_hold = all(c.met for c in conditions)
    detail = ""
    valid = False
    if approval is None:
        detail = _("No approval yet: a supervisor on the team approves once every other condition holds.")
    elif not others_hold:
        detail = _("The approval lapsed: a condition above no longer holds.")
    else:
        if joint is not None:
            lapsed = joint.last_lapsing is not None and joint.last_lapsing > approval.approved_at
            barrier_since = joint.last_barrier is not None and joint.last_barrier > approval.approved_at
        else:
            lapsed = (
                CaseEvent.objects.filter(case=case, at__gt=approval.approved_at).filter(_LAPSING).exists()
            )
            barrier_since = BarrierFlag.objects.filter(
                case=case, barrier=True, at__gt=approval.approved_at
            ).exists()
        latest_since = max((c.since for c in conditions if c.since), default=None)
        # Once lapsed, it stays lapsed (issue 17): naming someone a barrier ends it even if they are later marked an
        # ally again, so the old approval never comes back to life.
        if lapsed:
            detail = _(
                "The approval lapsed: something changed since (a hold, a withdrawal, a new track or a correction)."
            )
        elif barrier_since:
            detail = _(
                "The approval lapsed: someone on the case was named a barrier after it was given. It stays lapsed "
                "even if that changes again: a supervisor approves anew."
            )
        elif latest_since is not None and latest_since > approval.approved_at:
            detail = _("The approval came before a condition was met: it must be given again.")
        else:
            valid = True
    return Condition(
        "approval",
        _("A supervisor's approval, given after all of the above"),
        valid,
        detail,
        ("protocol:approve", (case.pk,)),
        approval.approved_at if approval else None,
    )


def joint_gate(case: Case, now: datetime.datetime | None = None) -> list[Condition]:
    conditions = joint_conditions(case, now)
    return [*conditions, approval_condition(case, conditions, now)]


def unmet(conditions: list[Condition]) -> list[Condition]:
    return [c for c in conditions if not c.met]


def snapshot(conditions: list[Condition]) -> dict[str, object]:
    """The gate as it stood, for the record: codes, whether each held, and since when."""
    return {c.code: {"met": c.met, "since": c.since.isoformat() if c.since else None} for c in conditions}
