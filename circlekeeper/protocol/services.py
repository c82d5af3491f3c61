"""The protocol's state machine: every change of stage or status, and every meeting, goes through here.

Each function checks its guard on the server (gates.py), writes in one transaction, and records who, when and
why in the case history. Nothing else changes `Case.stage`, and no form sets it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from circlekeeper.accounts.models import User
from circlekeeper.cases.contact import report_safety_event
from circlekeeper.cases.models import (
    HARM_SIDE,
    TRACK_CONTACT,
    Case,
    CaseEvent,
    CaseStatus,
    EventKind,
    Participant,
    ParticipantRole,
    Stage,
    Track,
    record_event,
)
from circlekeeper.lib.hooks import hooks
from circlekeeper.protocol import gates, policy
from circlekeeper.protocol.models import (
    JOINT_KINDS,
    Acknowledgment,
    Answer,
    Approval,
    CheckMoment,
    Invitation,
    Meeting,
    MeetingChannel,
    MeetingKind,
    MeetingStatus,
    ReachedOutHow,
    ReachedOutSide,
    ReachOut,
    SafetyCheckIn,
    Transition,
    TransitionKind,
)
from circlekeeper.safety.models import HoldReason
from circlekeeper.safety.services import is_supervisor_of, open_hold

SURVIVOR_SIDE = (ParticipantRole.SURVIVOR, ParticipantRole.SURVIVOR_SUPPORTER)
POD_ROLES = (*SURVIVOR_SIDE, *HARM_SIDE, ParticipantRole.COMMUNITY_MEMBER, ParticipantRole.SAFETY_MONITOR)


class GateClosed(ValidationError):
    """A gate's conditions do not hold: the message lists each unmet one."""

    def __init__(self, intro: str, missing: list[gates.Condition]) -> None:
        self.missing = missing
        super().__init__([intro, *(c.label + (f" ({c.detail})" if c.detail else "") for c in missing)])


def _locked(case: Case) -> Case:
    return Case.objects.select_for_update(no_key=True).get(pk=case.pk)


# --- stages ------------------------------------------------------------------------------------------


@transaction.atomic
def advance(*, case: Case, by: User, reason: str = "", expected_stage: str = "") -> Transition:
    """Move the case to its next stage on its track, if the gate of its current stage holds.

    `expected_stage` is the stage the person saw: if the case has moved since (a double click, a colleague),
    nothing happens, so one click never moves a case two stages (SECURITY.md 24).
    """
    locked = _locked(case)
    if locked.status != CaseStatus.OPEN:
        raise ValidationError(_("The case is no longer open."))
    if expected_stage and locked.stage != expected_stage:
        raise ValidationError(
            _("The case has already moved on to %(stage)s: nothing was changed.")
            % {"stage": Stage(locked.stage).label},
            code="stale",
        )
    missing = gates.unmet(gates.stage_conditions(locked))
    if missing:
        raise GateClosed(_("The case cannot move on yet. Still needed:"), missing)
    if locked.stage == Stage.MONITORING and not reason.strip():
        raise ValidationError({"reason": _("Say whether the plan is complete or ended, and why.")})
    if locked.stage == Stage.CLOSURE:
        return _finish(locked, kind=TransitionKind.CLOSE, status=CaseStatus.CLOSED, by=by, reason=reason)
    target = gates.next_stage(locked)
    if target is None:
        raise ValidationError(_("There is no next stage on this track."))
    transition = Transition.objects.create(
        organization_id=locked.organization_id,
        case=locked,
        kind=TransitionKind.ADVANCE,
        from_stage=locked.stage,
        to_stage=target,
        reason=reason.strip() or None,
        by=by,
    )
    record_event(locked, EventKind.STAGE_CHANGED, by=by, stage=target, previous=locked.stage)
    locked.stage = target
    locked.save(update_fields=["stage"])
    case.stage = target
    return transition


def _finish(
    case: Case, *, kind: str, status: str, by: User, reason: str, referred_to: str = ""
) -> Transition:
    transition = Transition.objects.create(
        organization_id=case.organization_id,
        case=case,
        kind=kind,
        from_stage=case.stage,
        to_stage=case.stage,
        reason=reason.strip() or None,
        referred_to=referred_to.strip() or None,
        by=by,
    )
    case.status = status
    case.closed_on = max(timezone.localdate(), case.opened_on)
    case.save(update_fields=["status", "closed_on"])
    event = {
        CaseStatus.WITHDRAWN: EventKind.WITHDRAWN,
        CaseStatus.REFERRED_OUT: EventKind.REFERRED_OUT,
        CaseStatus.CLOSED: EventKind.CLOSED,
    }[CaseStatus(status)]
    record_event(case, event, by=by, stage=case.stage)
    return transition


def stop_the_other_side(case: Case, *, by: User, why: str) -> None:
    """Cancel every scheduled meeting with the other side, revoke their open links, void what is in progress."""
    policy.cascade(case, why, by=by)


def track_changed(*, case: Case, previous: str, by: User) -> None:
    """The survivor chose another track: what the new one no longer allows is cancelled at once."""
    new = Track(case.track)
    if TRACK_CONTACT[new] == 0:
        report_safety_event(case, policy.CascadeReason.TRACK_CHANGED, by=by)
    elif new != Track.DIRECT_DIALOGUE:
        # Less contact, but some: every joint meeting (a survivor with anyone of the other side) is cancelled.
        policy.cascade(case, policy.CascadeReason.TRACK_CHANGED, by=by, joint_only=True)


@transaction.atomic
def withdraw(*, case: Case, by: User, reason: str = "") -> Transition:
    """The survivor withdrew: at once, with no approval; everything involving the other side stops."""
    locked = _locked(case)
    if locked.status != CaseStatus.OPEN:
        raise ValidationError(_("The case is no longer open."))
    transition = _finish(
        locked, kind=TransitionKind.WITHDRAW, status=CaseStatus.WITHDRAWN, by=by, reason=reason
    )
    stop_the_other_side(locked, by=by, why="withdrawn")
    case.status = locked.status
    return transition


@transaction.atomic
def refer_out(*, case: Case, by: User, referred_to: str, reason: str) -> Transition:
    if not referred_to.strip():
        raise ValidationError({"referred_to": _("Say where the survivor is referred.")})
    if not reason.strip():
        raise ValidationError({"reason": _("Say why.")})
    locked = _locked(case)
    if locked.status != CaseStatus.OPEN:
        raise ValidationError(_("The case is no longer open."))
    transition = _finish(
        locked,
        kind=TransitionKind.REFER_OUT,
        status=CaseStatus.REFERRED_OUT,
        by=by,
        reason=reason,
        referred_to=referred_to,
    )
    stop_the_other_side(locked, by=by, why="referred_out")
    case.status = locked.status
    return transition


# --- the joint-dialogue gate -----------------------------------------------------------------------


@transaction.atomic
def approve_joint_dialogue(*, case: Case, by: User) -> Approval:
    locked = _locked(case)
    if not is_supervisor_of(by, locked):
        raise PermissionDenied(_("Only a supervisor on the case team approves a joint dialogue."))
    conditions = gates.joint_conditions(locked)
    missing = gates.unmet(conditions)
    if missing:
        raise GateClosed(
            _("A joint dialogue can be approved only once every condition holds. Still needed:"), missing
        )
    current = Approval.objects.filter(case=locked).first()
    if (
        current is not None
        and current.approved_by_id == by.pk
        and gates.approval_condition(locked, conditions).met
    ):
        return current  # the same approval sent twice (a double click, a retry): one record
    approval = Approval.objects.create(
        organization_id=locked.organization_id,
        case=locked,
        approved_by=by,
        conditions=gates.snapshot(conditions),
    )
    record_event(locked, EventKind.APPROVED, by=by)
    return approval


def _joint_gate_or_refuse(case: Case, intro: str) -> dict[str, object]:
    conditions = gates.joint_gate(case)
    missing = gates.unmet(conditions)
    if missing:
        raise GateClosed(intro, missing)
    return gates.snapshot(conditions)


# --- meetings ----------------------------------------------------------------------------------------


def _check_invitees(case: Case, kind: str, invitees: list[Participant]) -> None:
    """Who a kind of meeting is with. Who may be met at all, and when, is the contact policy's to say."""
    if not invitees:
        raise ValidationError({"invitees": _("Invite at least one participant.")})
    if any(p.case_id != case.pk for p in invitees):
        raise ValidationError({"invitees": _("Invite participants of this case only.")})
    roles = {p.role for p in invitees}
    both = ParticipantRole.SURVIVOR in roles and ParticipantRole.PERSON_WHO_CAUSED_HARM in roles
    if kind == MeetingKind.PREPARATION and not (roles <= set(SURVIVOR_SIDE) or roles <= set(HARM_SIDE)):
        raise ValidationError(
            {"invitees": _("A preparation meeting is with one party and their supporters, never both sides.")}
        )
    if kind in JOINT_KINDS and not both:
        raise ValidationError({"invitees": _("A circle or conference brings both parties: invite both.")})
    if kind == MeetingKind.POD and not roles <= set(POD_ROLES):
        raise ValidationError({"invitees": _("Invite the people of the pod.")})


def _guard_meeting(
    case: Case,
    kind: str,
    invitees: list[Participant],
    *,
    starts_at: datetime.datetime,
    channel: str,
    now: datetime.datetime | None = None,
    intro: str = "",
) -> None:
    """The rules for any meeting with these people, now (scheduling it, checking in, recording it): the contact
    policy's, every unmet condition listed (GateClosed)."""
    if case.status != CaseStatus.OPEN:
        raise ValidationError(_("The case is no longer open."))
    if kind == MeetingKind.SHUTTLE and case.track not in (Track.INDIRECT_DIALOGUE, Track.DIRECT_DIALOGUE):
        raise ValidationError(_("Shuttle sessions belong to the indirect or direct dialogue tracks."))
    refused = policy.refusals(
        case,
        kind=policy.ContactKind.MEETING,
        participants=invitees,
        when=starts_at,
        now=now,
        channel=channel,
        meeting_kind=kind,
    )
    if refused:
        raise GateClosed(
            intro or _("This meeting may not happen now. Still needed:"), [r.as_condition() for r in refused]
        )


def _joint(kind: str, people: Iterable[Participant]) -> bool:
    return kind in JOINT_KINDS or policy.is_joint(people)


@transaction.atomic
def schedule_meeting(
    *,
    case: Case,
    kind: str,
    starts_at: datetime.datetime,
    invitees: Iterable[Participant],
    by: User,
    place: str = "",
    channel: str = MeetingChannel.IN_PERSON,
) -> Meeting:
    locked = _locked(case)
    people = list(invitees)
    if kind not in MeetingKind.values:
        raise ValidationError({"kind": _("Choose a kind of meeting.")})
    if channel not in MeetingChannel.values:
        raise ValidationError({"channel": _("Choose how the meeting happens.")})
    if starts_at <= timezone.now():
        raise ValidationError({"day": _("A meeting cannot be scheduled in the past.")})
    _check_invitees(locked, kind, people)
    # settings.MEETING_SCHEDULING_CHECKS may refuse with a ValidationError (the apps above protocol own those
    # rules, e.g. community: a facilitator on the team who is not ready for a dialogue).
    for check in hooks("MEETING_SCHEDULING_CHECKS"):
        check(case=locked, kind=kind)
    _guard_meeting(
        locked,
        kind,
        people,
        starts_at=starts_at,
        channel=channel,
        intro=_("A meeting with both parties cannot be scheduled until the joint-dialogue gate holds:")
        if _joint(kind, people)
        else _("This meeting cannot be scheduled now. Still needed:"),
    )
    gate: dict[str, object] = {}
    if _joint(kind, people):
        gate = _joint_gate_or_refuse(
            locked, _("A meeting with both parties cannot be scheduled until the joint-dialogue gate holds:")
        )
    # The same meeting sent twice (a double click, a retry) is one record (SECURITY.md 24).
    twins = Meeting.objects.filter(
        case=locked, kind=kind, starts_at=starts_at, status=MeetingStatus.SCHEDULED, scheduled_by=by
    )
    for twin in twins:
        if {i.participant_id for i in twin.invitations.all()} == {p.pk for p in people} and (
            twin.place or ""
        ) == place.strip():
            return twin
    meeting = Meeting(
        organization_id=locked.organization_id,
        case=locked,
        kind=kind,
        starts_at=starts_at,
        place=place.strip() or None,
        channel=channel,
        scheduled_by=by,
        gate_at_scheduling=gate,
    )
    meeting.full_clean()
    meeting.save()
    Invitation.objects.bulk_create(
        Invitation(organization_id=locked.organization_id, meeting=meeting, participant=p) for p in people
    )
    record_event(locked, EventKind.MEETING_SCHEDULED, by=by, meeting=str(meeting.pk), meeting_kind=kind)
    return meeting


def _survivors_invited(meeting: Meeting) -> list[Participant]:
    return [
        i.participant for i in meeting.invitations.select_related("participant") if i.participant.is_survivor
    ]


def check_in_window() -> datetime.timedelta:
    """How long before a meeting's start the survivor's check-in may be taken (settings, 2 hours by default)."""
    return datetime.timedelta(minutes=settings.CIRCLEKEEPER_CHECK_IN_WINDOW_MINUTES)


@transaction.atomic
def record_check(
    *,
    meeting: Meeting,
    participant: Participant,
    moment: str,
    feels_safe: str,
    threatened: str,
    wants_to_stop: str,
    by: User,
) -> SafetyCheckIn:
    """The survivor's check-in or check-out. Danger, a threat or a wish to stop opens a hold at once; at the
    check-in it also ends the meeting, which is recorded as stopped and is never held."""
    locked = Meeting.objects.select_for_update().select_related("case").get(pk=meeting.pk)
    now = timezone.now()
    if locked.status == MeetingStatus.STOPPED:
        raise ValidationError(_("This meeting was stopped at the survivor's check-in: it cannot go on."))
    if locked.status != MeetingStatus.SCHEDULED:
        raise ValidationError(_("This meeting is no longer open for check-ins."))
    if participant not in _survivors_invited(locked):
        raise ValidationError({"participant": _("Check in the survivor invited to this meeting.")})
    for answer in (feels_safe, threatened, wants_to_stop):
        if answer not in Answer.values:
            raise ValidationError(_("Answer every question (“prefer not to say” is an answer)."))
    if (
        moment == CheckMoment.CHECK_OUT
        and not locked.checks.filter(participant=participant, moment=CheckMoment.CHECK_IN).exists()
    ):
        raise ValidationError(_("Check in first: the check-out comes at the end of the meeting."))
    if locked.checks.filter(participant=participant, moment=moment).exists():
        raise ValidationError(_("This check is already recorded."))
    if moment == CheckMoment.CHECK_IN and now < locked.starts_at - check_in_window():
        raise ValidationError(
            _("Too early: the survivor checks in within %(hours)s before the meeting starts, not before.")
            % {"hours": _format_window()}
        )
    if moment == CheckMoment.CHECK_OUT and now < locked.starts_at:
        raise ValidationError(_("The check-out comes at the end of the meeting, after it has started."))
    people = list(locked.participants.all())
    _guard_meeting(
        locked.case,
        locked.kind,
        people,
        starts_at=locked.starts_at,
        # The safe-contact rules again, for the meeting's way and time: they may have changed since it was arranged.
        channel=locked.channel,
        now=now,
        intro=_("The meeting with both parties cannot start: the joint-dialogue gate no longer holds:")
        if _joint(locked.kind, people)
        else _("The meeting cannot go on now. Still needed:"),
    )
    if moment == CheckMoment.CHECK_IN and _joint(locked.kind, people):
        locked.gate_at_holding = _joint_gate_or_refuse(
            locked.case,
            _("The meeting with both parties cannot start: the joint-dialogue gate no longer holds:"),
        )
        locked.save(update_fields=["gate_at_holding"])
    check = SafetyCheckIn(
        organization_id=locked.organization_id,
        meeting=locked,
        participant=participant,
        moment=moment,
        feels_safe=feels_safe,
        threatened=threatened,
        wants_to_stop=wants_to_stop,
        by=by,
    )
    check.full_clean()
    check.save()
    record_event(
        locked.case,
        EventKind.MEETING_CHECK,
        by=by,
        meeting=str(locked.pk),
        moment=moment,
        participant=participant.label,
    )
    if check.signals_danger:
        if moment == CheckMoment.CHECK_IN:
            # "Stop at once on threat, coercion or the survivor's request" (PROTOCOL.md, dialogue).
            policy.stop(locked, by=by)
        open_hold(case=locked.case, reason=HoldReason.MEETING_CHECK, by=by)
    return check


def _format_window() -> str:
    minutes = settings.CIRCLEKEEPER_CHECK_IN_WINDOW_MINUTES
    if minutes % 60 == 0:
        return ngettext("%(n)s hour", "%(n)s hours", minutes // 60) % {"n": minutes // 60}
    return ngettext("%(n)s minute", "%(n)s minutes", minutes) % {"n": minutes}


@transaction.atomic
def mark_held(*, meeting: Meeting, attended: Iterable[Participant], by: User, notes: str = "") -> Meeting:
    """Record the meeting as held: only after it started; with the survivor there, their check-in and check-out
    recorded, nothing signalling danger, and no hold or withdrawal of consent since the check-in."""
    locked = Meeting.objects.select_for_update().select_related("case").get(pk=meeting.pk)
    now = timezone.now()
    if locked.status == MeetingStatus.STOPPED:
        raise ValidationError(
            _("This meeting was stopped at the survivor's check-in: it is never recorded as held.")
        )
    if locked.status != MeetingStatus.SCHEDULED:
        raise ValidationError(_("This meeting was already held or cancelled."))
    if now < locked.starts_at:
        raise ValidationError(_("A meeting is recorded as held only after it has started."))
    present = {p.pk for p in attended}
    invitations = list(locked.invitations.select_related("participant"))
    if not present or not present <= {i.participant_id for i in invitations}:
        raise ValidationError({"attended": _("Tick who came, among those invited.")})
    people_present = [i.participant for i in invitations if i.participant_id in present]
    survivors_present = [p for p in people_present if p.is_survivor]
    began = None
    for survivor in survivors_present:
        checks = {c.moment: c for c in locked.checks.filter(participant=survivor)}
        if CheckMoment.CHECK_IN not in checks or CheckMoment.CHECK_OUT not in checks:
            raise ValidationError(
                _("Record %(label)s's safety check-in at the start and check-out at the end first.")
                % {"label": survivor.label}
            )
        if checks[CheckMoment.CHECK_IN].signals_danger:
            raise ValidationError(
                _("%(label)s's check-in signalled danger or a wish to stop: the meeting is never held.")
                % {"label": survivor.label}
            )
        checked_in = checks[CheckMoment.CHECK_IN].at
        began = checked_in if began is None else min(began, checked_in)
    if began is not None:
        since = (
            CaseEvent.objects.filter(
                case=locked.case, at__gte=began, kind__in=(EventKind.HOLD_OPENED, EventKind.ALERT_RAISED)
            ).exists()
            or CaseEvent.objects.filter(
                case=locked.case,
                at__gte=began,
                kind=EventKind.CONSENT_WITHDRAWN,
                facts__consent="take_part",
            ).exists()
        )
        if since:
            raise ValidationError(
                _(
                    "A safety hold or a withdrawal of consent came after the check-in: the meeting cannot be "
                    "recorded as held."
                )
            )
    harm_present = any(p.role in HARM_SIDE for p in people_present)
    _guard_meeting(
        locked.case,
        locked.kind,
        people_present,
        starts_at=locked.starts_at,
        # The safe-contact rules again, for the meeting's way and time: they may have changed since the check-in.
        channel=locked.channel,
        now=now,
        intro=_("The meeting cannot be recorded as held. Still needed:"),
    )
    if harm_present and _joint(locked.kind, people_present) and not locked.gate_at_holding:
        raise ValidationError(
            _("A meeting with both parties needs the survivor's check-in, which checks the gate.")
        )
    for invitation in invitations:
        invitation.attended = invitation.participant_id in present
    Invitation.objects.bulk_update(invitations, ["attended"])
    locked.status, locked.held_at, locked.recorded_by = MeetingStatus.HELD, now, by
    locked.notes = notes.strip() or None
    locked.version += 1
    locked.save(update_fields=["status", "held_at", "recorded_by", "notes", "version"])
    record_event(locked.case, EventKind.MEETING_HELD, by=by, meeting=str(locked.pk), meeting_kind=locked.kind)
    return locked


@transaction.atomic
def cancel_meeting(*, meeting: Meeting, by: User, reason: str = "") -> bool:
    locked = Meeting.objects.select_for_update().select_related("case").get(pk=meeting.pk)
    if locked.status != MeetingStatus.SCHEDULED:
        return False
    locked.status, locked.cancelled_at, locked.cancel_reason = (
        MeetingStatus.CANCELLED,
        timezone.now(),
        reason[:200],
    )
    locked.save(update_fields=["status", "cancelled_at", "cancel_reason"])
    record_event(
        locked.case, EventKind.MEETING_CANCELLED, by=by, meeting=str(locked.pk), meeting_kind=locked.kind
    )
    return True


@transaction.atomic
def record_acknowledgment(
    *, meeting: Meeting, participant: Participant, in_their_words: str, by: User
) -> Acknowledgment:
    """The keeper records, in a preparation meeting held with them, the other side's acknowledgment."""
    meeting = Meeting.objects.select_for_update().select_related("case").get(pk=meeting.pk)
    if meeting.kind != MeetingKind.PREPARATION or meeting.status != MeetingStatus.HELD:
        raise ValidationError(_("Record the acknowledgment in a preparation meeting that was held."))
    if (
        participant.role != ParticipantRole.PERSON_WHO_CAUSED_HARM
        or not meeting.invitations.filter(participant=participant, attended=True).exists()
    ):
        raise ValidationError(
            {"participant": _("Choose the person who caused harm, who came to this meeting.")}
        )
    if not in_their_words.strip():
        raise ValidationError({"in_their_words": _("Write what they acknowledged, in their words.")})
    twin = Acknowledgment.objects.filter(meeting=meeting, participant=participant, recorded_by=by).first()
    if twin is not None and twin.in_their_words == in_their_words.strip():
        return twin  # the same acknowledgment sent twice (a double click, a retry): one record
    acknowledgment = Acknowledgment(
        organization_id=meeting.organization_id,
        case=meeting.case,
        participant=participant,
        meeting=meeting,
        in_their_words=in_their_words.strip(),
        recorded_by=by,
    )
    acknowledgment.full_clean()
    acknowledgment.save()
    record_event(
        meeting.case, EventKind.ACKNOWLEDGED, by=by, meeting=str(meeting.pk), participant=participant.label
    )
    return acknowledgment


# --- the other side reached out themselves -----------------------------------------------------------

REACH_OUT_SUMMARY_MAX = 2000


@transaction.atomic
def record_reach_out(
    *,
    case: Case,
    by: User,
    side: str,
    reached_at: datetime.datetime,
    how: str,
    summary: str,
    participant: Participant | None = None,
) -> ReachOut:
    """The person who caused harm, or someone of their side, contacted the program themselves: recorded, never
    refused (PROTOCOL.md, "Contact with the other side"). Whatever the stage, track, holds or status of the case,
    the keeper writes down that it happened. It is not contact staff arranged: no gate counts it, and the
    contact policy is not asked (nothing here reaches anyone)."""
    errors: dict[str, str] = {}
    if side not in ReachedOutSide.values:
        errors["side"] = _("Choose who reached out.")
    if how not in ReachedOutHow.values:
        errors["how"] = _("Choose how they reached out.")
    if reached_at > timezone.now():
        errors["reached_on"] = _("When they reached out cannot be in the future.")
    text = summary.strip()
    if not text:
        errors["summary"] = _("Say briefly what they said or asked.")
    elif len(text) > REACH_OUT_SUMMARY_MAX:
        errors["summary"] = _("Keep it under %(n)s characters.") % {"n": REACH_OUT_SUMMARY_MAX}
    if participant is not None and (participant.case_id != case.pk or participant.role not in HARM_SIDE):
        errors["participant"] = _("Choose a person of the other side on this case, or no one.")
    if errors:
        raise ValidationError(errors)
    entry = ReachOut.objects.create(
        organization_id=case.organization_id,
        case=case,
        side=side,
        participant=participant,
        reached_at=reached_at,
        how=how,
        summary=text,
        recorded_by=by,
    )
    # Codes only in the history (never what was said): who, how, and the day it happened.
    facts = {"other_side": side, "how": how, "on": timezone.localdate(reached_at).isoformat()}
    if participant is not None:
        facts["participant"] = participant.label
    record_event(case, EventKind.REACHED_OUT, by=by, at=None, **facts)
    return entry
