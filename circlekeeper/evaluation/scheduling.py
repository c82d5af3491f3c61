"""Evaluation plans, enrolment and the scheduler (issue 8 items 1-2; EVALUATION.md "Timepoints", "Survey links").

A plan says which questionnaires are asked at which timepoints, of whom, in which window. Enrolling a case makes
its schedule: one `Timepoint` row per participant, timepoint and questionnaire, made as soon as the timepoint's
anchor is reached (enrolment at once; preparation and the end of the dialogue when the case gets there).

`run_scheduler(now)` does everything that is due at `now`, and nothing twice:

- (a) rows for anchors reached and participants who may take part (one row per person, timepoint and
  questionnaire: the unique constraint makes a second run, or a concurrent one, add nothing);
- (d) windows that closed unanswered become MISSED, for good: their link is revoked and a later answer is
  never filed under them;
- (b) windows that opened: each person's questionnaires go out by email, through `issue_link` (so through
  `contact_allowed`), when their safe-contact rules allow email and an address is known; otherwise the team
  gets ONE task to give them in person or by phone. Nothing goes to the other side while `harm_action_refusal`
  refuses (a safety hold, a withdrawal): those wait, and go out once it is lifted, if the window is still open;
- (c) the team is reminded once of what is due and unanswered.

Completion comes from the answers themselves (`complete_from_response`, a RESPONSE_SUBMITTED_HANDLER).

Changing a plan changes the future only: rows already open, answered or missed keep their window; rows still
scheduled are re-computed, or cancelled when their timepoint, questionnaire or role is taken out.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import override

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Network, Organization, User
from circlekeeper.cases.contact import harm_action_refusal
from circlekeeper.cases.models import (
    LEAVES_MESSAGE,
    Case,
    CaseAssignment,
    CaseStatus,
    CaseTask,
    Consent,
    ConsentKind,
    ContactChannel,
    ContactRules,
    Participant,
    ParticipantRole,
    Stage,
    TaskKind,
    TeamRole,
)
from circlekeeper.evaluation.models import (
    Anchor,
    Enrollment,
    EvaluationPlan,
    PlanTimepoint,
    Timepoint,
    TimepointStatus,
)
from circlekeeper.instruments.links import ContactRefused, issue_link
from circlekeeper.instruments.models import (
    Instrument,
    ParticipantLink,
    Response,
    ResponseStatus,
)
from circlekeeper.lib.audit import record
from circlekeeper.lib.links import public_link
from circlekeeper.protocol.models import Transition, TransitionKind

logger = logging.getLogger(__name__)

S = ParticipantRole.SURVIVOR
H = ParticipantRole.PERSON_WHO_CAUSED_HARM
# Who each built-in questionnaire is written for (the header comment of its YAML definition). A plan asks a
# questionnaire of the roles of its timepoint that are also among these; the ones not listed ask anyone taking
# part (connectedness, experience of the process) and so do an organization's own instruments.
BUILTIN_RESPONDENTS: dict[str, frozenset[str]] = {
    "outcome_safety": frozenset({S}),
    "outcome_recurrence": frozenset({S}),
    "outcome_repair": frozenset({S}),
    "outcome_healing": frozenset({S}),
    "outcome_family_wellbeing": frozenset({S, ParticipantRole.SURVIVOR_SUPPORTER}),
    "outcome_accountability": frozenset({H}),
}
# Children are recorded for well-being and never asked (PROTOCOL.md).
ASKABLE_ROLES = [role for role in ParticipantRole if role != ParticipantRole.CHILD]

SAFETY, RECURRENCE, REPAIR, HEALING, FAMILY, CONNECTED, ACCOUNTABILITY, EXPERIENCE = (
    "outcome_safety",
    "outcome_recurrence",
    "outcome_repair",
    "outcome_healing",
    "outcome_family_wellbeing",
    "outcome_connectedness",
    "outcome_accountability",
    "experience_of_process",
)
FOLLOW_UP = [SAFETY, RECURRENCE, REPAIR, HEALING, FAMILY, CONNECTED, ACCOUNTABILITY]


@dataclass(frozen=True)
class TimepointSpec:
    code: str
    label: str
    anchor: str
    offset_days: int
    opens_days_before: int
    closes_days_after: int
    instruments: tuple[str, ...]


def default_timepoints() -> list[TimepointSpec]:
    """EVALUATION.md: T0 intake, T1 just before dialogue, T2 within a month after it, T3-T5 at 3, 6, 12 months."""
    return [
        TimepointSpec(
            "T0",
            _("Intake"),
            Anchor.ENROLMENT,
            0,
            0,
            14,
            (SAFETY, RECURRENCE, HEALING, FAMILY, CONNECTED, ACCOUNTABILITY),
        ),
        # Opens as the case reaches preparation, due a week in, open until four weeks in.
        TimepointSpec(
            "T1", _("Before dialogue"), Anchor.PREPARATION, 7, 7, 21, (SAFETY, EXPERIENCE, ACCOUNTABILITY)
        ),
        TimepointSpec(
            "T2",
            _("After dialogue"),
            Anchor.AFTER_DIALOGUE,
            14,
            14,
            30,
            (SAFETY, RECURRENCE, REPAIR, EXPERIENCE, ACCOUNTABILITY),
        ),
        TimepointSpec("T3", _("3 months"), Anchor.ENROLMENT, 90, 14, 14, (*FOLLOW_UP, EXPERIENCE)),
        TimepointSpec("T4", _("6 months"), Anchor.ENROLMENT, 180, 30, 30, tuple(FOLLOW_UP)),
        TimepointSpec("T5", _("12 months"), Anchor.ENROLMENT, 365, 30, 30, tuple(FOLLOW_UP)),
    ]


# --- plans ---------------------------------------------------------------------------------------------------


def respondent_roles(plan_timepoint: PlanTimepoint, instrument: Instrument) -> list[str]:
    """The roles this timepoint asks this questionnaire of, in the order of ParticipantRole."""
    roles = set(plan_timepoint.roles or [])
    if instrument.owner_id is None and instrument.code in BUILTIN_RESPONDENTS:
        roles &= BUILTIN_RESPONDENTS[instrument.code]
    return [role for role in ASKABLE_ROLES if role in roles]


@transaction.atomic
def default_plan_for(organization: Organization, *, by: User | None = None) -> EvaluationPlan:
    """The organization's own plan, made once with the default timepoints and the built-in questionnaires."""
    # Locking the organization row makes two first visits at once make one plan, not two.
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
    return _first_or_default_plan(
        EvaluationPlan(organization=organization, name=_("Evaluation plan"), created_by=by)
    )


@transaction.atomic
def default_network_plan_for(network: Network, *, by: User | None = None) -> EvaluationPlan:
    """The plan the network shares with its organizations, made once as an organization's is (built-in,
    shared questionnaires only: every organization of the network has them)."""
    Network.objects.select_for_update().filter(pk=network.pk).first()
    return _first_or_default_plan(
        EvaluationPlan(
            network=network,
            name=_("%(network)s shared evaluation plan") % {"network": network.name},
            created_by=by,
        )
    )


def _first_or_default_plan(new: EvaluationPlan) -> EvaluationPlan:
    """The owner's first plan, or `new` saved with the default timepoints. The caller holds the owner's row lock."""
    owner = (
        Q(organization_id=new.organization_id)
        if new.organization_id is not None
        else Q(organization__isnull=True, network_id=new.network_id)
    )
    existing = EvaluationPlan.objects.filter(owner).order_by("id").first()
    if existing is not None:
        return existing
    plan = new
    plan.full_clean()
    plan.save()
    builtins = {i.code: i for i in Instrument.objects.filter(owner__isnull=True)}
    for position, spec in enumerate(default_timepoints()):
        timepoint = PlanTimepoint(
            plan=plan,
            code=spec.code,
            label=spec.label,
            anchor=spec.anchor,
            offset_days=spec.offset_days,
            opens_days_before=spec.opens_days_before,
            closes_days_after=spec.closes_days_after,
            position=position,
            roles=[S, H],
        )
        timepoint.full_clean()
        timepoint.save()
        timepoint.instruments.set([builtins[code] for code in spec.instruments if code in builtins])
    return plan


def plans_for(organization: Organization) -> list[EvaluationPlan]:
    """The plans the organization's cases may be enrolled in: its own first, then its network's."""
    plans = list(EvaluationPlan.objects.for_organization(organization))
    return sorted(plans, key=lambda plan: (plan.organization_id is None, plan.pk))


@dataclass(frozen=True)
class TimepointChange:
    """What a program admin (or, on the network's shared plan, a network admin) sets on a plan's timepoint."""

    code: str
    label: str
    anchor: str
    offset_days: int
    opens_days_before: int
    closes_days_after: int
    instruments: Sequence[Instrument]
    roles: Sequence[str]


def _locked_plan(plan: EvaluationPlan, lock_version: int) -> EvaluationPlan:
    locked = EvaluationPlan.objects.select_for_update().get(pk=plan.pk)
    if locked.lock_version != lock_version:
        raise ValidationError(
            _(
                "Someone else changed this plan while you were editing it. Nothing was saved: look at the plan "
                "as it is now and make your change again."
            ),
            code="stale",
        )
    return locked


def _apply(timepoint: PlanTimepoint, change: TimepointChange, organization: Organization | None) -> None:
    code = change.code.strip()
    timepoint.code, timepoint.label, timepoint.anchor = code, change.label.strip(), change.anchor
    timepoint.offset_days = change.offset_days
    timepoint.opens_days_before, timepoint.closes_days_after = (
        change.opens_days_before,
        change.closes_days_after,
    )
    timepoint.roles = [role for role in ASKABLE_ROLES if role in set(change.roles)]
    errors: dict[str, list[str]] = {}
    if not timepoint.roles:
        errors["roles"] = [_("Choose at least one role to ask (children are never asked).")]
    if not change.instruments:
        errors["instruments"] = [_("Choose at least one questionnaire.")]
    available = set(Instrument.objects.available_to(organization).values_list("pk", flat=True))
    if any(instrument.pk not in available for instrument in change.instruments):
        errors["instruments"] = [
            _("One of these questionnaires is not available to your organization.")
            if organization is not None
            else _("One of these questionnaires is not shared with every organization of the network.")
        ]
    clash = PlanTimepoint.objects.filter(plan_id=timepoint.plan_id, code=code, retired_at__isnull=True)
    if timepoint.pk:
        clash = clash.exclude(pk=timepoint.pk)
    if clash.exists():
        errors["code"] = [_("Another timepoint of this plan already has the code %(code)s.") % {"code": code}]
    if errors:
        raise ValidationError(errors)
    timepoint.full_clean()


def _bump(plan: EvaluationPlan) -> None:
    plan.lock_version += 1
    plan.save(update_fields=["lock_version"])


@transaction.atomic
def add_timepoint(
    *, plan: EvaluationPlan, change: TimepointChange, lock_version: int, by: User, now: datetime.datetime
) -> PlanTimepoint:
    """A new timepoint; its rows are made by the scheduler for every enrolled case (future windows only)."""
    locked = _locked_plan(plan, lock_version)
    last = locked.timepoints.order_by("-position").values_list("position", flat=True).first()
    timepoint = PlanTimepoint(plan=locked, position=(last or 0) + 1)
    _apply(timepoint, change, locked.organization)
    timepoint.save()
    timepoint.instruments.set(change.instruments)
    _bump(locked)
    sync_enrollments(Enrollment.objects.filter(plan=locked, ended_at__isnull=True), now=now)
    return timepoint


@transaction.atomic
def change_timepoint(
    *, timepoint: PlanTimepoint, change: TimepointChange, lock_version: int, by: User, now: datetime.datetime
) -> PlanTimepoint:
    """Change a timepoint: scheduled rows follow (re-computed or cancelled); open, answered, missed ones do not."""
    locked = _locked_plan(timepoint.plan, lock_version)
    current = PlanTimepoint.objects.select_for_update().get(pk=timepoint.pk, plan=locked)
    if current.retired_at is not None:
        raise ValidationError(_("This timepoint is retired: it cannot be changed."))
    _apply(current, change, locked.organization)
    current.save()
    current.instruments.set(change.instruments)
    _bump(locked)
    _reschedule(current, now=now)
    sync_enrollments(Enrollment.objects.filter(plan=locked, ended_at__isnull=True), now=now)
    return current


@transaction.atomic
def retire_timepoint(
    *, timepoint: PlanTimepoint, lock_version: int, by: User, now: datetime.datetime
) -> PlanTimepoint:
    """Stop asking a timepoint: its rows not yet open are cancelled; the others stay as they were."""
    locked = _locked_plan(timepoint.plan, lock_version)
    current = PlanTimepoint.objects.select_for_update().get(pk=timepoint.pk, plan=locked)
    if current.retired_at is not None:
        raise ValidationError(_("This timepoint is retired already."))
    current.retired_at = now
    current.save(update_fields=["retired_at"])
    _bump(locked)
    Timepoint.objects.filter(plan_timepoint=current, status=TimepointStatus.SCHEDULED).update(
        status=TimepointStatus.CANCELLED
    )
    return current


def _reschedule(plan_timepoint: PlanTimepoint, *, now: datetime.datetime) -> None:
    """The rows of this timepoint not open yet, after a change: new window, or cancelled if no longer asked."""
    rows = list(
        Timepoint.objects.filter(
            plan_timepoint=plan_timepoint, status=TimepointStatus.SCHEDULED
        ).select_related("participant", "instrument", "enrollment")
    )
    if not rows:
        return
    anchors = anchor_days([row.enrollment for row in rows])
    changed: list[Timepoint] = []
    cancelled: list[int] = []
    instruments = {i.pk: i for i in plan_timepoint.instruments.all()}
    for row in rows:
        instrument = instruments.get(row.instrument_id)
        day = anchors.get((row.enrollment_id, plan_timepoint.anchor))
        asked = instrument is not None and row.participant.role in respondent_roles(
            plan_timepoint, instrument
        )
        if not asked or day is None:
            cancelled.append(row.pk)
            continue
        opens_at, due_at, closes_at = window(plan_timepoint, day)
        if closes_at <= now:
            cancelled.append(row.pk)  # the new window is over already: never asked, so not "missed" either
            continue
        row.code, row.opens_at, row.due_at, row.closes_at = plan_timepoint.code, opens_at, due_at, closes_at
        changed.append(row)
    Timepoint.objects.filter(pk__in=cancelled).update(status=TimepointStatus.CANCELLED)
    Timepoint.objects.bulk_update(changed, ["code", "opens_at", "due_at", "closes_at"])


# --- windows -------------------------------------------------------------------------------------------------


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_default_timezone())


def window(
    plan_timepoint: PlanTimepoint, anchor_day: datetime.date
) -> tuple[datetime.datetime, datetime.datetime, datetime.datetime]:
    """(opens_at, due_at, closes_at) in the organization's days: it opens at the start of its first day, is due
    by the end of the due day, and closes at the end of its last day."""
    due_day = anchor_day + datetime.timedelta(days=plan_timepoint.offset_days)
    opens = due_day - datetime.timedelta(days=plan_timepoint.opens_days_before)
    last = due_day + datetime.timedelta(days=plan_timepoint.closes_days_after)
    return (
        _midnight(opens),
        _midnight(due_day + datetime.timedelta(days=1)),
        _midnight(last + datetime.timedelta(days=1)),
    )


def due_day(timepoint: Timepoint) -> datetime.date:
    return timezone.localtime(timepoint.due_at).date() - datetime.timedelta(days=1)


def last_day(timepoint: Timepoint) -> datetime.date:
    return timezone.localtime(timepoint.closes_at).date() - datetime.timedelta(days=1)


ANCHOR_STAGES = {Anchor.PREPARATION: Stage.PREPARATION, Anchor.AFTER_DIALOGUE: Stage.AGREEMENT}


def anchor_days(enrollments: Iterable[Enrollment]) -> dict[tuple[int, str], datetime.date]:
    """(enrolment id, anchor) → the day the anchor was reached, for the anchors reached (one query)."""
    enrollments = list(enrollments)
    days: dict[tuple[int, str], datetime.date] = {
        (e.pk, Anchor.ENROLMENT): e.enrolled_on for e in enrollments
    }
    by_case = {e.case_id: e.pk for e in enrollments}
    reached = (
        Transition.objects.filter(
            case_id__in=list(by_case), kind=TransitionKind.ADVANCE, to_stage__in=list(ANCHOR_STAGES.values())
        )
        .order_by("at", "id")
        .values_list("case_id", "to_stage", "at")
    )
    stage_anchor = {stage: anchor for anchor, stage in ANCHOR_STAGES.items()}
    for case_id, stage, at in reached:
        days.setdefault((by_case[case_id], stage_anchor[stage]), timezone.localtime(at).date())
    return days


# --- enrolment -----------------------------------------------------------------------------------------------


@transaction.atomic
def enrol(
    *, case: Case, plan: EvaluationPlan, by: User, enrolled_on: datetime.date, now: datetime.datetime
) -> Enrollment:
    """Enrol the case: its schedule is made at once for the anchors reached. Refused for a case not open, a plan
    the organization may not use, or a date outside the case's life."""
    locked = Case.objects.select_for_update(no_key=True).get(pk=case.pk)
    if locked.status != CaseStatus.OPEN:
        raise ValidationError(_("Only an open case can be enrolled."))
    if not EvaluationPlan.objects.for_organization(locked.organization).filter(pk=plan.pk).exists():
        raise ValidationError({"plan": _("This plan is not one your organization may use.")})
    if enrolled_on < locked.opened_on or enrolled_on > timezone.localdate(now):
        raise ValidationError(
            {"enrolled_on": _("The date of enrolment must be between the case's opening and today.")}
        )
    enrollment = Enrollment.objects.filter(case=locked).first()
    if enrollment is not None and enrollment.ended_at is None:
        raise ValidationError(_("This case is enrolled already."))
    if enrollment is None:
        enrollment = Enrollment(organization_id=locked.organization_id, case=locked)
    enrollment.plan, enrollment.enrolled_on, enrollment.enrolled_by = plan, enrolled_on, by
    enrollment.ended_at = None
    enrollment.full_clean()
    enrollment.save()
    sync_enrollments([enrollment], now=now)
    return enrollment


@transaction.atomic
def end_enrollment(*, enrollment: Enrollment, by: User | None, now: datetime.datetime) -> int:
    """End the enrolment: what is not open yet is cancelled. Returns how many rows were cancelled."""
    locked = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    if locked.ended_at is not None:
        raise ValidationError(_("This enrolment has ended already."))
    locked.ended_at = now
    locked.save(update_fields=["ended_at"])
    enrollment.ended_at = now
    return Timepoint.objects.filter(enrollment=locked, status=TimepointStatus.SCHEDULED).update(
        status=TimepointStatus.CANCELLED
    )


def participant_entered_in_error(*, participant: Participant, by: User | None) -> int:
    """A participant entered in error is never asked anything: their questionnaires still to come are cancelled
    (settings.PARTICIPANT_IN_ERROR_HANDLERS). Returns how many."""
    return Timepoint.objects.filter(
        participant=participant, status__in=(TimepointStatus.SCHEDULED, TimepointStatus.OPEN)
    ).update(status=TimepointStatus.CANCELLED)


# --- making rows ---------------------------------------------------------------------------------------------


def _taking_part(participant_ids: Iterable[int]) -> set[int]:
    """The participants with a current consent to take part (one query)."""
    return set(
        Consent.objects.current()
        .filter(participant_id__in=list(participant_ids), kind=ConsentKind.TAKE_PART)
        .values_list("participant_id", flat=True)
    )


def _may_be_asked(participant: Participant, consenting: set[int]) -> bool:
    return (
        participant.role != ParticipantRole.CHILD and not participant.barrier and participant.pk in consenting
    )


def sync_enrollments(
    enrollments: QuerySet[Enrollment] | Iterable[Enrollment], *, now: datetime.datetime
) -> int:
    """Make the rows due for these (active) enrolments; cancel those of people who may no longer be asked.

    In a fixed number of queries however many enrolments. Safe to run again and concurrently: a row that exists
    is left alone (the unique constraint refuses a second), and a window that closed before its row was made
    is not made at all (the person was never asked, so it is not "missed"). Returns the number of rows made.
    """
    chosen = (
        enrollments
        if isinstance(enrollments, QuerySet)
        else Enrollment.objects.filter(pk__in=[e.pk for e in enrollments])
    )
    enrollments = list(
        chosen.filter(ended_at__isnull=True)
        .select_related("plan")
        .prefetch_related("plan__timepoints__instruments")
    )
    if not enrollments:
        return 0
    anchors = anchor_days(enrollments)
    participants = list(
        Participant.objects.filter(case_id__in=[e.case_id for e in enrollments]).order_by("id")
    )
    consenting = _taking_part(p.pk for p in participants)
    by_case: dict[int, list[Participant]] = defaultdict(list)
    for participant in participants:
        by_case[participant.case_id].append(participant)
    existing = {
        (participant_id, plan_timepoint_id, instrument_id): (pk, status)
        for pk, participant_id, plan_timepoint_id, instrument_id, status in Timepoint.objects.filter(
            enrollment__in=enrollments
        ).values_list("pk", "participant_id", "plan_timepoint_id", "instrument_id", "status")
    }
    new: list[Timepoint] = []
    revived: list[Timepoint] = []
    for enrollment in enrollments:
        for plan_timepoint in enrollment.plan.timepoints.all():
            if plan_timepoint.retired_at is not None:
                continue
            day = anchors.get((enrollment.pk, plan_timepoint.anchor))
            if day is None:
                continue  # not reached yet: the scheduler makes these when it is
            opens_at, due_at, closes_at = window(plan_timepoint, day)
            if closes_at <= now:
                continue
            for instrument in plan_timepoint.instruments.all():
                roles = respondent_roles(plan_timepoint, instrument)
                for participant in by_case[enrollment.case_id]:
                    if participant.role not in roles or not _may_be_asked(participant, consenting):
                        continue
                    key = (participant.pk, plan_timepoint.pk, instrument.pk)
                    row = Timepoint(
                        organization_id=enrollment.organization_id,
                        enrollment=enrollment,
                        case_id=enrollment.case_id,
                        participant=participant,
                        plan_timepoint=plan_timepoint,
                        code=plan_timepoint.code,
                        instrument=instrument,
                        opens_at=opens_at,
                        due_at=due_at,
                        closes_at=closes_at,
                        created_at=now,
                    )
                    if key not in existing:
                        new.append(row)
                    elif existing[key][1] == TimepointStatus.CANCELLED:
                        # Cancelled (consent withdrawn, enrolment ended) and asked again: the same row is
                        # scheduled again in its window. Missed rows never come back.
                        row.pk = existing[key][0]
                        revived.append(row)
    Timepoint.objects.bulk_create(new, ignore_conflicts=True)
    for row in revived:
        Timepoint.objects.filter(pk=row.pk, status=TimepointStatus.CANCELLED).update(
            status=TimepointStatus.SCHEDULED,
            code=row.code,
            opens_at=row.opens_at,
            due_at=row.due_at,
            closes_at=row.closes_at,
            link=None,
            response=None,
            reminded_at=None,
        )
    _cancel_not_asked(enrollments, participants, consenting, now=now)
    return len(new) + len(revived)


def _cancel_not_asked(
    enrollments: list[Enrollment],
    participants: list[Participant],
    consenting: set[int],
    *,
    now: datetime.datetime,
) -> None:
    """Rows of people who may no longer be asked (consent to take part withdrawn, named a barrier) stop at once."""
    gone = [p.pk for p in participants if not _may_be_asked(p, consenting)]
    if not gone:
        return
    rows = Timepoint.objects.filter(
        enrollment__in=enrollments,
        participant_id__in=gone,
        status__in=[TimepointStatus.SCHEDULED, TimepointStatus.OPEN],
    )
    _revoke_links(rows, now)
    rows.update(status=TimepointStatus.CANCELLED)


def _revoke_links(rows: Iterable[Timepoint], now: datetime.datetime) -> None:
    link_ids = [row.link_id for row in rows if row.link_id is not None]
    if link_ids:
        # Expired ones too: the record then says the link was stopped, not merely left to run out.
        ParticipantLink.objects.filter(
            pk__in=link_ids, revoked_at__isnull=True, submitted_at__isnull=True
        ).update(revoked_at=now)


# --- the scheduler -------------------------------------------------------------------------------------------


@dataclass
class SchedulerReport:
    made: int = 0
    ended: int = 0
    missed: int = 0
    opened: int = 0
    emails: int = 0
    links: int = 0
    tasks: int = 0
    reminders: int = 0
    waiting: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def run_scheduler(now: datetime.datetime) -> SchedulerReport:
    """Everything due at `now`, once. Each person's timepoint is handled in its own transaction, so one that
    fails (an email server down) is retried at the next run and holds up nobody else."""
    report = SchedulerReport()
    report.ended = _end_withdrawn(now)
    with transaction.atomic():
        report.made = sync_enrollments(Enrollment.objects.filter(ended_at__isnull=True), now=now)
    report.missed = _close_windows(now)
    report.opened = Timepoint.objects.filter(
        status=TimepointStatus.SCHEDULED,
        opens_at__lte=now,
        closes_at__gt=now,
        enrollment__ended_at__isnull=True,
    ).update(status=TimepointStatus.OPEN)
    delivered = _groups(
        Timepoint.objects.filter(status=TimepointStatus.OPEN, link__isnull=True, reminded_at__isnull=True)
    )
    for group in delivered:
        _deliver_safely(group, now, report)
    for group in _groups(
        Timepoint.objects.filter(status=TimepointStatus.OPEN, due_at__lte=now, reminded_at__isnull=True)
    ):
        if group in delivered:
            continue  # sent a moment ago: the reminder is for what stays unanswered
        with transaction.atomic():
            if _remind(group, now):
                report.reminders += 1
    return report


def _end_withdrawn(now: datetime.datetime) -> int:
    """A survivor's withdrawal ends the enrolment: nothing more is scheduled, and nothing goes on with the
    other side (their open questionnaires stop; the survivor's own open ones stay open to them)."""
    ended = 0
    for enrollment in Enrollment.objects.filter(ended_at__isnull=True, case__status=CaseStatus.WITHDRAWN):
        with transaction.atomic():
            end_enrollment(enrollment=enrollment, by=None, now=now)
            harm_side = Timepoint.objects.filter(
                enrollment=enrollment,
                status=TimepointStatus.OPEN,
                participant__role__in=[H, ParticipantRole.HARM_SUPPORTER],
            )
            _revoke_links(list(harm_side), now)
            harm_side.update(status=TimepointStatus.CANCELLED)
        ended += 1
    return ended


def _close_windows(now: datetime.datetime) -> int:
    """Windows that closed unanswered: MISSED, for good. The link stops working and an answer still being
    entered is no longer filed under the timepoint (never back-filled)."""
    missed = 0
    keys = set(
        Timepoint.objects.filter(
            status__in=[TimepointStatus.SCHEDULED, TimepointStatus.OPEN], closes_at__lte=now
        ).values_list("participant_id", "code")
    )
    for participant_id, code in sorted(keys):
        with transaction.atomic():
            rows = list(
                Timepoint.objects.select_for_update(of=("self",)).filter(
                    participant_id=participant_id,
                    code=code,
                    status__in=[TimepointStatus.SCHEDULED, TimepointStatus.OPEN],
                    closes_at__lte=now,
                )
            )
            if not rows:
                continue  # another run got there first
            _revoke_links(rows, now)
            for row in rows:
                row.status, row.missed_at, row.response = TimepointStatus.MISSED, now, None
            Timepoint.objects.bulk_update(rows, ["status", "missed_at", "response"])
            _close_task_if_done(rows[0], now)
            missed += len(rows)
    return missed


def _groups(rows: object) -> list[tuple[int, str]]:
    """(participant, code) of the rows, in order: a person's questionnaires at one timepoint go together."""
    return sorted(set(rows.values_list("participant_id", "code")))  # type: ignore[attr-defined]


def _locked_group(key: tuple[int, str], **filters: object) -> list[Timepoint]:
    participant_id, code = key
    return list(
        Timepoint.objects.select_for_update(of=("self",))
        .filter(participant_id=participant_id, code=code, status=TimepointStatus.OPEN, **filters)
        .select_related("participant__case", "instrument", "enrollment")
        .order_by("id")
    )


def _deliver_safely(key: tuple[int, str], now: datetime.datetime, report: SchedulerReport) -> None:
    try:
        with transaction.atomic():
            _deliver(key, now, report)
    except Exception as exc:  # one person's failure (e.g. the mail server) must not stop the others
        logger.exception("Evaluation timepoint delivery failed for participant %s, %s", key[0], key[1])
        report.failed += 1
        report.errors.append(f"participant {key[0]} {key[1]}: {type(exc).__name__}")


def harm_refusal(participant: Participant) -> str | None:
    """Why nothing may go to this person now because of the survivor's choice or safety (a hold), if so."""
    return harm_action_refusal(participant.case) if participant.is_harm_side else None


def _email_possible(participant: Participant) -> bool:
    """Whether the program can send to this person by email at all (at an allowed time, if not now)."""
    if not participant.email or not participant.has_consent(ConsentKind.CONTACT):
        return False
    rules = ContactRules.objects.filter(participant=participant).first()
    if rules is None or ContactChannel.EMAIL not in rules.channels or not rules.days:
        return False
    return not (rules.never_leave_messages and ContactChannel.EMAIL in LEAVES_MESSAGE)


def _sender(enrollment: Enrollment) -> User | None:
    """Who the scheduler issues links on behalf of: who enrolled the case, else its keeper."""
    if enrollment.enrolled_by_id is not None:
        return enrollment.enrolled_by
    team = list(
        CaseAssignment.objects.filter(case_id=enrollment.case_id).select_related("user").order_by("id")
    )
    keepers = [a for a in team if a.role == TeamRole.KEEPER]
    chosen = (keepers or team or [None])[0]
    return chosen.user if chosen is not None else None


def _deliver(key: tuple[int, str], now: datetime.datetime, report: SchedulerReport) -> None:
    rows = _locked_group(key, link__isnull=True, reminded_at__isnull=True)
    if not rows:
        return  # delivered by a run at the same time
    participant = rows[0].participant
    if not _may_be_asked(participant, _taking_part([participant.pk])):
        Timepoint.objects.filter(pk__in=[r.pk for r in rows]).update(status=TimepointStatus.CANCELLED)
        return
    sender = _sender(rows[0].enrollment)
    if sender is not None and _email_possible(participant):
        try:
            issued = [(row, *_issue(row, participant, sender, now)) for row in rows]
        except ContactRefused:
            # Not now (outside the allowed hours, a safety hold): nothing is written, and the next run tries again.
            transaction.set_rollback(True)
            report.waiting += 1
            return
        # Sent after COMMIT (issue 20): a rolled-back run sends nothing, so no one gets an email whose link was
        # never saved, and each link is emailed at most once. A mail failure then is logged and counted by
        # _deliver_safely; the links stay issued (staff see them) rather than being sent again.
        links = [(link, token) for _row, link, token in issued]
        transaction.on_commit(functools.partial(send_invitation, participant, links))
        for row, link, _token in issued:
            row.link = link
            record(
                None,
                action=Action.EVALUATION_LINK,
                object_type="participant_link",
                object_id=link.pk,
                organization_id=row.organization_id,
            )
        Timepoint.objects.bulk_update(rows, ["link"])
        report.emails += 1
        report.links += len(issued)
        return
    if harm_refusal(participant):
        report.waiting += 1  # nothing goes to the other side, not even through staff, until it is allowed
        return
    _make_task(rows, now)
    report.tasks += 1


def _issue(
    row: Timepoint, participant: Participant, sender: User, now: datetime.datetime
) -> tuple[ParticipantLink, str]:
    version = row.instrument.latest_version()
    if version is None:
        raise ContactRefused(_("The questionnaire has no version to answer."))
    return issue_link(
        participant=participant,
        version=version,
        purpose=f"evaluation {row.code}",
        expires_at=row.closes_at,
        by=sender,
        channel=ContactChannel.EMAIL,
        when=now,
    )


def public_url(path: str) -> str:
    return public_link(path)


def send_invitation(participant: Participant, links: Sequence[tuple[ParticipantLink, str]]) -> None:
    """One plain email with the person's links. Neither the subject nor the text names the person, the program,
    or what the questions are about: someone else may read the inbox."""
    with override(settings.LANGUAGE_CODE):
        until = date_format(timezone.localtime(min(link.expires_at for link, _t in links)), "DATE_FORMAT")
        lines = [public_url(reverse("links:open", args=[token])) for _link, token in links]
        body = "\n\n".join(
            [
                _("Hello,"),
                _(
                    "Here is your personal link to a few short questions. Each link works once, until %(until)s."
                )
                % {"until": until},
                "\n".join(lines),
                _("If you were not expecting this message, you can ignore it."),
            ]
        )
        subject = _("A link for you")
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [participant.email], fail_silently=False)


def _make_task(rows: list[Timepoint], now: datetime.datetime) -> CaseTask:
    """ONE task for the team for a person's questionnaires at one timepoint (given in person or by phone)."""
    first = rows[0]
    task = CaseTask(
        organization_id=first.organization_id,
        case_id=first.case_id,
        kind=TaskKind.EVALUATION_DUE,
        participant_id=first.participant_id,
        due_on=max(due_day(first), timezone.localdate(now)),
        created_at=now,
    )
    task.full_clean()
    task.save()
    # reminded_at marks the team as told; it is also how the task is found again (made at the same instant).
    Timepoint.objects.filter(
        participant_id=first.participant_id,
        code=first.code,
        status=TimepointStatus.OPEN,
        reminded_at__isnull=True,
    ).update(reminded_at=now)
    return task


def _remind(key: tuple[int, str], now: datetime.datetime) -> bool:
    rows = _locked_group(key, due_at__lte=now, reminded_at__isnull=True)
    if not rows or harm_refusal(rows[0].participant):
        return False
    _make_task(rows, now)
    return True


def task_for(timepoint: Timepoint) -> CaseTask | None:
    if timepoint.reminded_at is None:
        return None
    return CaseTask.objects.filter(
        case_id=timepoint.case_id,
        participant_id=timepoint.participant_id,
        kind=TaskKind.EVALUATION_DUE,
        created_at=timepoint.reminded_at,
    ).first()


def _close_task_if_done(timepoint: Timepoint, now: datetime.datetime) -> None:
    """Once nothing of the person's timepoint is open or to come, the team's task for it is done."""
    pending = Timepoint.objects.filter(
        participant_id=timepoint.participant_id,
        code=timepoint.code,
        status__in=[TimepointStatus.SCHEDULED, TimepointStatus.OPEN],
    ).exists()
    if pending:
        return
    task = task_for(timepoint)
    if task is not None and task.done_at is None:
        task.done_at = now
        task.save(update_fields=["done_at"])


# --- answers -------------------------------------------------------------------------------------------------


def complete_from_response(response: Response) -> Timepoint | None:
    """Called for every submitted response (settings.RESPONSE_SUBMITTED_HANDLERS), in its transaction.

    A response given through a timepoint's link, or entered by staff from the timepoint, completes it, if its
    window is still open. An answer after the window closed is kept as a response but never filed under the
    (missed) timepoint.
    """
    if response.status != ResponseStatus.SUBMITTED:
        return None
    row = (
        Timepoint.objects.select_for_update(of=("self",))
        .filter(Q(response_id=response.pk) | Q(link__response_id=response.pk))
        .first()
    )
    if row is None or row.status != TimepointStatus.OPEN:
        return None
    submitted = response.submitted_at or timezone.now()
    if submitted >= row.closes_at:
        return None
    row.status, row.response_id, row.completed_at = TimepointStatus.COMPLETED, response.pk, submitted
    row.save(update_fields=["status", "response", "completed_at"])
    if row.link_id is not None:
        # Answered with staff instead: the link has nothing left to do.
        ParticipantLink.objects.usable(submitted).filter(pk=row.link_id).exclude(
            response_id=response.pk
        ).update(revoked_at=submitted)
    _close_task_if_done(row, submitted)
    return row


@transaction.atomic
def start_staff_entry(*, timepoint: Timepoint, by: User) -> Response:
    """Staff enter a participant's answers for an open timepoint (in person or by phone); the response is filed
    under the timepoint. ContactRefused for a child or, while the survivor's choice or a hold forbids it, the
    other side."""
    from circlekeeper.instruments import filling

    row = (
        Timepoint.objects.select_for_update(of=("self",))
        .select_related("instrument", "participant__case")
        .get(pk=timepoint.pk)
    )
    if row.status != TimepointStatus.OPEN:
        raise ValidationError(_("Answers can be entered only while the timepoint's window is open."))
    if row.response_id is not None:
        current = Response.objects.get(pk=row.response_id)
        if current.status == ResponseStatus.IN_PROGRESS and current.entered_by_staff_id is not None:
            return current
    version = row.instrument.latest_version()
    if version is None:
        raise ValidationError(_("The questionnaire has no version to answer."))
    response = filling.start_entry(
        participant=row.participant, version=version, purpose=f"evaluation {row.code}", by=by
    )
    row.response = response
    row.save(update_fields=["response"])
    return response
