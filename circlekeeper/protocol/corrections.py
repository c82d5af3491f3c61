"""Correcting mistakes without erasing history: "entered in error", and reopening a case.

A record entered in error stays, with who, when and why, and shows struck through to the team; it stops
counting everywhere: participants leave every gate and list through their manager (cases.models), consents
stop being current, meetings stop counting as held, a track choice stops being the survivor's choice. What
was still going to happen with a participant entered in error stops at once: their open survey links are
revoked and they are taken off the meetings still to come.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import (
    TRACK_CONTACT,
    Case,
    CaseNote,
    CaseStatus,
    Consent,
    EnteredInError,
    EventKind,
    Participant,
    Stage,
    Track,
    TrackChoice,
    record_event,
)
from circlekeeper.instruments.models import ParticipantLink
from circlekeeper.lib.hooks import hooks
from circlekeeper.protocol.models import Invitation, Meeting, MeetingStatus, Transition, TransitionKind
from circlekeeper.safety.models import SafetyPlanRevision
from circlekeeper.safety.services import is_supervisor_of

# What each kind of record is called, and what marking it entered in error does (shown before confirming).
KINDS: dict[str, tuple[Any, Any]] = {
    "participant": (
        gettext_lazy("participant"),
        gettext_lazy(
            "They stay on the record, struck through, but count nowhere: no gate, list, dashboard, agreement or "
            "evaluation waits for them any more. Their open survey links are revoked and they are taken off "
            "every meeting still to come."
        ),
    ),
    "note": (
        gettext_lazy("note"),
        gettext_lazy("The note stays on the record, struck through, with who marked it, when and why."),
    ),
    "consent": (
        gettext_lazy("consent"),
        gettext_lazy(
            "The consent stops counting at once, as if it had never been given: anything that needs it waits "
            "for a consent recorded again."
        ),
    ),
    "meeting": (
        gettext_lazy("meeting"),
        gettext_lazy(
            "The meeting stops counting: if it was still to come it is cancelled; if it was recorded as held, "
            "no gate counts it any more."
        ),
    ),
    "plan_revision": (
        gettext_lazy("safety plan revision"),
        gettext_lazy(
            "The revision stops counting: the plan in force becomes the revision before it, or none, and the "
            "safety-planning gate waits for a plan (or the survivor's decision) again."
        ),
    ),
    "track_choice": (
        gettext_lazy("choice of track"),
        gettext_lazy(
            "The choice stops counting: the survivor's track becomes the one chosen before it (or none), and "
            "what that track does not allow is cancelled at once."
        ),
    ),
}


def _mark(record: EnteredInError, *, by: User, reason: str) -> bool:
    if record.error_at is not None:
        return False  # marked already (a double click): nothing more to do
    record.error_at, record.error_by, record.error_reason = timezone.now(), by, reason
    record.save(update_fields=["error_at", "error_by", "error_reason"])
    return True


def _reason(reason: str) -> str:
    if not reason.strip():
        raise ValidationError({"reason": _("Say why this was entered in error.")})
    return reason.strip()[:500]


@transaction.atomic
def participant_in_error(*, participant: Participant, by: User, reason: str) -> bool:
    """Mark a participant entered in error; every step they blocked is released at once."""
    why = _reason(reason)
    locked = Participant.everyone.select_for_update().select_related("case").get(pk=participant.pk)
    if not _mark(locked, by=by, reason=why):
        return False
    case = locked.case
    now = timezone.now()
    for link in ParticipantLink.objects.usable(now).filter(participant=locked):
        link.revoke(when=now)
        record_event(case, EventKind.LINK_REVOKED, by=by, participant=locked.label)
    upcoming = Invitation.objects.filter(participant=locked, meeting__status=MeetingStatus.SCHEDULED)
    meeting_ids = list(upcoming.values_list("meeting_id", flat=True))
    upcoming.delete()
    # A meeting left with no one invited has no one to meet: cancelled, like any other.
    for meeting in Meeting.objects.filter(pk__in=meeting_ids, invitations=None):
        meeting.status, meeting.cancelled_at, meeting.cancel_reason = (
            MeetingStatus.CANCELLED,
            now,
            "entered_in_error",
        )
        meeting.save(update_fields=["status", "cancelled_at", "cancel_reason"])
        record_event(
            case, EventKind.MEETING_CANCELLED, by=by, meeting=str(meeting.pk), meeting_kind=meeting.kind
        )
    for handler in hooks("PARTICIPANT_IN_ERROR_HANDLERS"):
        handler(participant=locked, by=by)
    record_event(case, EventKind.ENTERED_IN_ERROR, by=by, record="participant", participant=locked.label)
    return True


@transaction.atomic
def note_in_error(*, note: CaseNote, by: User, reason: str) -> bool:
    locked = CaseNote.objects.select_for_update().select_related("case").get(pk=note.pk)
    if not _mark(locked, by=by, reason=_reason(reason)):
        return False
    record_event(locked.case, EventKind.ENTERED_IN_ERROR, by=by, record="note")
    return True


@transaction.atomic
def consent_in_error(*, consent: Consent, by: User, reason: str) -> bool:
    locked = Consent.objects.select_for_update().select_related("participant__case").get(pk=consent.pk)
    if not _mark(locked, by=by, reason=_reason(reason)):
        return False
    record_event(
        locked.participant.case,
        EventKind.ENTERED_IN_ERROR,
        by=by,
        record="consent",
        participant=locked.participant.label,
        consent=locked.kind,
    )
    return True


@transaction.atomic
def meeting_in_error(*, meeting: Meeting, by: User, reason: str) -> bool:
    locked = Meeting.objects.select_for_update().select_related("case").get(pk=meeting.pk)
    if not _mark(locked, by=by, reason=_reason(reason)):
        return False
    if locked.status == MeetingStatus.SCHEDULED:
        locked.status, locked.cancelled_at, locked.cancel_reason = (
            MeetingStatus.CANCELLED,
            timezone.now(),
            "entered_in_error",
        )
        locked.save(update_fields=["status", "cancelled_at", "cancel_reason"])
    record_event(
        locked.case,
        EventKind.ENTERED_IN_ERROR,
        by=by,
        record="meeting",
        meeting=str(locked.pk),
        meeting_kind=locked.kind,
    )
    return True


@transaction.atomic
def track_choice_in_error(*, choice: TrackChoice, by: User, reason: str) -> bool:
    """The choice stops counting; the case's track becomes the latest choice that still counts."""
    from circlekeeper.protocol.services import stop_the_other_side, track_changed

    why = _reason(reason)
    case = Case.objects.select_for_update().get(pk=choice.case_id)
    locked = TrackChoice.objects.select_for_update().get(pk=choice.pk)
    if not _mark(locked, by=by, reason=why):
        return False
    before = case.track
    remaining = (
        TrackChoice.objects.filter(case=case, error_at__isnull=True).order_by("-recorded_at", "-id").first()
    )
    case.track = remaining.track if remaining else ""
    case.save(update_fields=["track"])
    record_event(case, EventKind.ENTERED_IN_ERROR, by=by, record="track_choice", track=locked.track)
    if case.track != before:
        record_event(case, EventKind.TRACK_CHOSEN, by=by, track=case.track, previous=before)
        if not case.track:
            # No choice left: nothing involving the other side may go on (PROTOCOL.md, principle 1).
            stop_the_other_side(case, by=by, why="entered_in_error")
        elif before and TRACK_CONTACT[Track(case.track)] < TRACK_CONTACT[Track(before)]:
            track_changed(case=case, previous=before, by=by)
    choice.error_at = locked.error_at
    return True


@transaction.atomic
def plan_revision_in_error(*, revision: SafetyPlanRevision, by: User, reason: str) -> bool:
    locked = (
        SafetyPlanRevision.objects.select_for_update()
        .select_related("plan__participant__case")
        .get(pk=revision.pk)
    )
    if not _mark(locked, by=by, reason=_reason(reason)):
        return False
    survivor = locked.plan.participant
    record_event(
        survivor.case,
        EventKind.ENTERED_IN_ERROR,
        by=by,
        record="plan_revision",
        participant=survivor.label,
        revision=str(locked.number),
    )
    return True


# --- reopening ---------------------------------------------------------------------------------------


@transaction.atomic
def reopen(*, case: Case, by: User, reason: str, survivor_request: str = "", stage: str = "") -> Transition:
    """Reopen a closed or withdrawn case, by a supervisor on its team, with the reason; for a withdrawal, the
    survivor's own request, recorded. The case reopens at `stage` (by default the one it ended at, or intake
    for a case closed at closure) and passes every gate again from there."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if not is_supervisor_of(by, locked):
        raise PermissionDenied(_("Only a supervisor on the case team reopens a case."))
    if locked.status not in (CaseStatus.CLOSED, CaseStatus.WITHDRAWN):
        raise ValidationError(_("Only a closed or withdrawn case can be reopened."))
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the case is reopened.")})
    if locked.status == CaseStatus.WITHDRAWN and not survivor_request.strip():
        raise ValidationError(
            {
                "survivor_request": _(
                    "The survivor withdrew: a case reopens only at their request. Record what they asked, when."
                )
            }
        )
    target = Stage(stage) if stage else Stage(locked.stage)
    if target == Stage.CLOSURE:
        target = Stage.INTAKE
    if list(Stage).index(target) > list(Stage).index(Stage(locked.stage)):
        raise ValidationError({"stage": _("A case reopens at the stage it ended at or an earlier one.")})
    words = reason.strip()
    if survivor_request.strip():
        words = _("%(reason)s — the survivor's request: %(request)s") % {
            "reason": words,
            "request": survivor_request.strip(),
        }
    transition = Transition.objects.create(
        organization_id=locked.organization_id,
        case=locked,
        kind=TransitionKind.REOPEN,
        from_stage=locked.stage,
        to_stage=target,
        reason=words,
        by=by,
    )
    ended_at = locked.stage
    locked.status, locked.closed_on, locked.stage = CaseStatus.OPEN, None, target
    locked.save(update_fields=["status", "closed_on", "stage"])
    case.status, case.closed_on, case.stage = locked.status, None, target
    record_event(locked, EventKind.REOPENED, by=by, stage=target, previous=ended_at)
    return transition
