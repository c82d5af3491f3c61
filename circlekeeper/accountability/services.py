"""Every write of the accountability app: agreement versions and their commitments, the parties' affirmations,
progress check-ins (a broken commitment opens a hold or a review task), staircase steps, the survivor's view
from their answers, and the progress page links of the person who caused harm.

Each function checks its rules on the server, writes in one transaction with the case row locked, and keeps the
facts the lower apps read on the case (`agreement_affirmed_at`, `progress_views_disagree`) in that transaction.
"""

from __future__ import annotations

import datetime
import math
import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accountability.comparison import comparison_for
from circlekeeper.accountability.models import (
    Affirmation,
    Agreement,
    AgreementVersion,
    Cadence,
    CheckIn,
    Commitment,
    CommitmentKind,
    Concern,
    HowAffirmed,
    ProgressLink,
    ProgressStatus,
    ReportedBy,
    StaircaseStep,
    Step,
    StepCheckIn,
    StepCommitment,
    SurvivorView,
    in_force,
)
from circlekeeper.accounts.models import User
from circlekeeper.cases.contact import contact_allowed, harm_action_refusal
from circlekeeper.cases.models import (
    TRACK_CONTACT,
    Case,
    CaseStatus,
    CaseTask,
    ConsentKind,
    EventKind,
    Participant,
    ParticipantRole,
    Stage,
    TaskKind,
    Track,
    record_event,
)
from circlekeeper.cases.participants import StaleEdit
from circlekeeper.instruments.definition import PNTS
from circlekeeper.instruments.links import TOKEN_BYTES, ContactRefused, hash_token
from circlekeeper.instruments.models import Response
from circlekeeper.protocol.models import Meeting, MeetingKind, MeetingStatus
from circlekeeper.safety.models import HoldReason
from circlekeeper.safety.services import open_hold

# Where an agreement is drafted: from the dialogue on, and on a track with contact.
AGREEMENT_STAGES = (Stage.DIALOGUE, Stage.AGREEMENT, Stage.MONITORING)
# The meetings an agreement can be reached in.
DIALOGUE_KINDS = (MeetingKind.CIRCLE, MeetingKind.CONFERENCE, MeetingKind.SHUTTLE, MeetingKind.POD)
PARTY_ROLES = (ParticipantRole.SURVIVOR, ParticipantRole.PERSON_WHO_CAUSED_HARM)
# A commitment's supporter helps the person who caused harm keep it: never a party, a child or a barrier.
NOT_SUPPORTERS = (*PARTY_ROLES, ParticipantRole.CHILD)
# A commitment not kept that is not about safety: the team reviews it within this many days.
REVIEW_DAYS = 7
# The same form sent twice within this time (a double click, a retry) is one record (SECURITY.md 24).
TWIN_WINDOW = datetime.timedelta(minutes=1)
PROGRESS_LINK_DAYS = 30
PROGRESS_VIEW_CODE = "progress_view"


def _locked(case_id: int) -> Case:
    return Case.objects.select_for_update(no_key=True).get(pk=case_id)


def _open(case: Case) -> None:
    if case.status != CaseStatus.OPEN:
        raise ValidationError(_("The case is no longer open."))


def _agreement_allowed(case: Case) -> None:
    _open(case)
    if not case.track or TRACK_CONTACT[Track(case.track)] == 0:
        raise ValidationError(
            _(
                "An agreement is made with the person who caused harm: the survivor's chosen track brings no "
                "contact with them."
            )
        )
    if case.stage not in AGREEMENT_STAGES:
        raise ValidationError(_("An agreement is drafted once the case reaches the dialogue stage."))


def parties(case: Case) -> list[Participant]:
    """Who affirms an agreement: every survivor and every person who caused harm on the case."""
    return list(case.participants.filter(role__in=PARTY_ROLES).order_by("id"))


def eligible_supporters(case: Case) -> list[Participant]:
    """The people who may support a commitment: consenting to take part, not a party, a child or a barrier."""
    return list(
        case.participants.filter(
            consents__kind=ConsentKind.TAKE_PART,
            consents__revoked_at__isnull=True,
            consents__error_at__isnull=True,
            barrier=False,
        )
        .exclude(role__in=NOT_SUPPORTERS)
        .distinct()
        .order_by("id")
    )


def safety_monitors(case: Case) -> list[Participant]:
    return [p for p in eligible_supporters(case) if p.role == ParticipantRole.SAFETY_MONITOR]


def dialogue_meetings(case: Case) -> list[Meeting]:
    """The held meetings of this case an agreement can be reached in, latest first."""
    return list(
        Meeting.objects.for_organization(case.organization)
        .filter(case=case, kind__in=DIALOGUE_KINDS, status=MeetingStatus.HELD)
        .order_by("-held_at", "-id")
    )


def _check_reached_in(case: Case, reached_in: Meeting | None, *, first: bool) -> None:
    if reached_in is not None and (
        reached_in.case_id != case.pk
        or reached_in.status != MeetingStatus.HELD
        or reached_in.kind not in DIALOGUE_KINDS
    ):
        raise ValidationError({"reached_in": _("Choose a dialogue meeting of this case that was held.")})
    if first and case.track == Track.DIRECT_DIALOGUE and (reached_in is None or not reached_in.is_joint):
        raise ValidationError(
            {
                "reached_in": _(
                    "On the direct track the first agreement is reached in dialogue: choose the circle or "
                    "conference where it was reached."
                )
            }
        )


def _bump(version: AgreementVersion) -> None:
    version.lock_version += 1
    version.save(update_fields=["lock_version"])


# --- versions and their commitments ----------------------------------------------------------------


@transaction.atomic
def draft_version(
    *,
    case: Case,
    by: User,
    risk_reviewed: bool,
    reached_in: Meeting | None = None,
) -> AgreementVersion:
    """A new draft: the first version, or a copy of the latest one with its commitments (and their numbers)."""
    locked = _locked(case.pk)
    _agreement_allowed(locked)
    now = timezone.now()
    agreement, _created = Agreement.objects.get_or_create(
        case=locked, defaults={"organization_id": locked.organization_id, "created_at": now}
    )
    latest = agreement.versions.order_by("-number").first()
    if latest is not None and latest.is_draft:
        twin = (
            latest.drafted_by_id == by.pk
            and latest.risk_reviewed == risk_reviewed
            and latest.reached_in_id == (reached_in.pk if reached_in else None)
            and now - latest.drafted_at < TWIN_WINDOW
        )
        if twin:
            return latest
        raise ValidationError(_("A draft is already open: change that one rather than start another."))
    if not risk_reviewed:
        raise ValidationError(
            {
                "risk_reviewed": _(
                    "Go through the plan with the survivor first: it must not raise the risk to them or the "
                    "children."
                )
            }
        )
    _check_reached_in(locked, reached_in, first=latest is None)
    version = AgreementVersion(
        organization_id=locked.organization_id,
        agreement=agreement,
        number=latest.number + 1 if latest else 1,
        reached_in=reached_in,
        risk_reviewed=True,
        drafted_by=by,
        drafted_at=now,
    )
    version.full_clean()
    version.save()
    if latest is not None:
        Commitment.objects.bulk_create(c.copy_to(version) for c in latest.commitments.order_by("number"))
    record_event(locked, EventKind.AGREEMENT_DRAFTED, by=by, at=now, version=str(version.number))
    return version


def _lock_draft(version: AgreementVersion) -> tuple[Case, AgreementVersion]:
    case_id = Agreement.objects.filter(pk=version.agreement_id).values_list("case_id", flat=True).get()
    case = _locked(case_id)
    locked = AgreementVersion.objects.select_for_update().get(pk=version.pk)
    _agreement_allowed(case)
    if not locked.is_draft:
        raise ValidationError(
            _(
                "A party has affirmed this version: it can no longer change. Draft a new version to change the "
                "agreement."
            )
        )
    return case, locked


@transaction.atomic
def change_draft(
    *, version: AgreementVersion, by: User, lock_version: int, risk_reviewed: bool, reached_in: Meeting | None
) -> AgreementVersion:
    """Change where the draft was reached and the risk review; StaleEdit if someone changed it since."""
    case, locked = _lock_draft(version)
    if locked.risk_reviewed == risk_reviewed and locked.reached_in_id == (
        reached_in.pk if reached_in else None
    ):
        return locked  # nothing to change (the same form sent twice)
    if locked.lock_version != lock_version:
        raise StaleEdit()
    if not risk_reviewed:
        raise ValidationError(
            {"risk_reviewed": _("A draft stays reviewed with the survivor for risk: tick the box.")}
        )
    first = not AgreementVersion.objects.filter(
        agreement_id=locked.agreement_id, number__lt=locked.number
    ).exists()
    _check_reached_in(case, reached_in, first=first)
    locked.risk_reviewed, locked.reached_in = risk_reviewed, reached_in
    locked.full_clean()
    locked.lock_version += 1
    locked.save(update_fields=["risk_reviewed", "reached_in", "lock_version"])
    return locked


def _commitment_fields(
    case: Case,
    *,
    kind: str,
    description: str,
    evidence: str,
    supporter: Participant | None,
    due_on: datetime.date | None,
    cadence: str,
    survivor_wants_updates: bool,
    concerns: Iterable[str],
) -> dict[str, Any]:
    if kind not in CommitmentKind.values:
        raise ValidationError({"kind": _("Choose what kind of commitment it is.")})
    if cadence and cadence not in Cadence.values:
        raise ValidationError({"cadence": _("Choose how often from the list.")})
    if supporter is not None:
        if supporter.case_id != case.pk or supporter.role in NOT_SUPPORTERS:
            raise ValidationError(
                {
                    "supporter": _(
                        "Choose a supporter among this case's people; not a party and never a child."
                    )
                }
            )
        if supporter.barrier:
            raise ValidationError(
                {
                    "supporter": _("%(label)s is named a barrier in a support network: never asked to help.")
                    % {"label": supporter.label}
                }
            )
        if not supporter.has_consent(ConsentKind.TAKE_PART):
            raise ValidationError(
                {
                    "supporter": _("%(label)s has no current consent to take part.")
                    % {"label": supporter.label}
                }
            )
    chosen = list(concerns)
    return {
        "kind": kind,
        "description": description.strip(),
        "evidence": evidence.strip(),
        "supporter": supporter,
        "due_on": due_on,
        "cadence": cadence,
        "survivor_wants_updates": survivor_wants_updates,
        # In the list's order, without repeats; unknown codes are left for the model to refuse by name.
        "concerns": [c for c in Concern.values if c in chosen] + sorted(set(chosen) - set(Concern.values)),
    }


def _same(commitment: Commitment, fields: dict[str, Any]) -> bool:
    return all(
        commitment.supporter_id == (value.pk if value else None)
        if name == "supporter"
        else getattr(commitment, name) == value
        for name, value in fields.items()
    )


@transaction.atomic
def add_commitment(
    *,
    version: AgreementVersion,
    by: User,
    lock_version: int,
    kind: str,
    description: str,
    evidence: str,
    supporter: Participant | None = None,
    due_on: datetime.date | None = None,
    cadence: str = "",
    survivor_wants_updates: bool = False,
    concerns: Iterable[str] = (),
) -> Commitment:
    """A new commitment in the draft, numbered after every commitment the agreement ever had."""
    case, locked = _lock_draft(version)
    fields = _commitment_fields(
        case,
        kind=kind,
        description=description,
        evidence=evidence,
        supporter=supporter,
        due_on=due_on,
        cadence=cadence,
        survivor_wants_updates=survivor_wants_updates,
        concerns=concerns,
    )
    for existing in locked.commitments.all():
        if _same(existing, fields):
            return existing  # the same commitment sent twice (a double click, a retry): one record
    if locked.lock_version != lock_version:
        raise StaleEdit()
    highest = Commitment.objects.filter(version__agreement_id=locked.agreement_id).aggregate(n=Max("number"))[
        "n"
    ]
    commitment = Commitment(
        organization_id=locked.organization_id, version=locked, number=(highest or 0) + 1, **fields
    )
    commitment.full_clean()
    commitment.save()
    _bump(locked)
    return commitment


@transaction.atomic
def change_commitment(
    *,
    commitment: Commitment,
    by: User,
    lock_version: int,
    kind: str,
    description: str,
    evidence: str,
    supporter: Participant | None = None,
    due_on: datetime.date | None = None,
    cadence: str = "",
    survivor_wants_updates: bool = False,
    concerns: Iterable[str] = (),
) -> Commitment:
    case, locked_version = _lock_draft(commitment.version)
    locked = Commitment.objects.select_for_update().filter(pk=commitment.pk).first()
    if locked is None:
        raise ValidationError(_("This commitment was removed from the draft."))
    fields = _commitment_fields(
        case,
        kind=kind,
        description=description,
        evidence=evidence,
        supporter=supporter,
        due_on=due_on,
        cadence=cadence,
        survivor_wants_updates=survivor_wants_updates,
        concerns=concerns,
    )
    if _same(locked, fields):
        return locked  # nothing to change (the same form sent twice)
    if locked_version.lock_version != lock_version:
        raise StaleEdit()
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.full_clean()
    locked.save(update_fields=list(fields))
    _bump(locked_version)
    return locked


@transaction.atomic
def remove_commitment(*, commitment: Commitment, by: User, lock_version: int) -> bool:
    """Take a commitment out of the draft; False if it was already gone. Its number is never given again."""
    _case, locked_version = _lock_draft(commitment.version)
    locked = Commitment.objects.select_for_update().filter(pk=commitment.pk).first()
    if locked is None:
        return False
    if locked_version.lock_version != lock_version:
        raise StaleEdit()
    locked.delete()
    _bump(locked_version)
    return True


# --- affirmation ---------------------------------------------------------------------------------


@transaction.atomic
def record_affirmation(
    *,
    version: AgreementVersion,
    participant: Participant,
    affirmed_on: datetime.date,
    how: str,
    by: User,
) -> Affirmation:
    """A party affirmed the version. The first affirmation freezes it; the last one puts it in force."""
    case_id = Agreement.objects.filter(pk=version.agreement_id).values_list("case_id", flat=True).get()
    case = _locked(case_id)
    locked = AgreementVersion.objects.select_for_update().get(pk=version.pk)
    now = timezone.now()
    existing = Affirmation.objects.filter(version=locked, participant_id=participant.pk).first()
    if existing is not None:
        if existing.affirmed_on == affirmed_on and existing.how == how:
            return existing  # the same affirmation sent twice: one record
        raise ValidationError(
            {"participant": _("%(label)s already affirmed this version.") % {"label": participant.label}}
        )
    _open(case)
    if AgreementVersion.objects.filter(agreement_id=locked.agreement_id, number__gt=locked.number).exists():
        raise ValidationError(_("A later version replaced this one: the parties affirm the latest version."))
    if locked.affirmed_at is not None:
        raise ValidationError(_("Every party has affirmed this version already."))
    if not locked.risk_reviewed:
        raise ValidationError(
            _("The plan must be reviewed with the survivor for risk before it is affirmed.")
        )
    if not locked.commitments.exists():
        raise ValidationError(_("Add at least one commitment before the parties affirm the agreement."))
    if participant.case_id != case.pk or participant.role not in PARTY_ROLES:
        raise ValidationError(
            {"participant": _("Choose a party: a survivor or a person who caused harm on this case.")}
        )
    if how not in HowAffirmed.values:
        raise ValidationError({"how": _("Say how they affirmed it.")})
    if affirmed_on > timezone.localdate(now):
        raise ValidationError({"affirmed_on": _("The date of the affirmation cannot be in the future.")})
    if affirmed_on < timezone.localdate(locked.drafted_at):
        raise ValidationError({"affirmed_on": _("The date is before this version was drafted.")})
    if participant.role == ParticipantRole.PERSON_WHO_CAUSED_HARM:
        refusal = harm_action_refusal(case)
        if refusal:
            raise ValidationError(refusal)
    affirmation = Affirmation(
        organization_id=case.organization_id,
        version=locked,
        participant=participant,
        affirmed_on=affirmed_on,
        how=how,
        recorded_by=by,
        recorded_at=now,
    )
    affirmation.full_clean()
    affirmation.save()
    if locked.frozen_at is None:
        locked.frozen_at = now
        locked.save(update_fields=["frozen_at"])
    number = str(locked.number)
    record_event(
        case, EventKind.AGREEMENT_PARTY_AFFIRMED, by=by, at=now, version=number, participant=participant.label
    )
    affirmed = set(Affirmation.objects.filter(version=locked).values_list("participant_id", flat=True))
    if {p.pk for p in parties(case)} <= affirmed:
        locked.affirmed_at = now
        locked.save(update_fields=["affirmed_at"])
        case.agreement_affirmed_at = now
        case.save(update_fields=["agreement_affirmed_at"])
        record_event(case, EventKind.AGREEMENT_AFFIRMED, by=by, at=now, version=number)
        _keep_comparison(case)
    version.frozen_at, version.affirmed_at = locked.frozen_at, locked.affirmed_at
    return affirmation


# --- progress ------------------------------------------------------------------------------------


def _check_reporter(
    case: Case, commitment: Commitment, reported_by: str, reporter: Participant | None
) -> None:
    if reported_by not in ReportedBy.values:
        raise ValidationError({"reported_by": _("Say who reported the progress.")})
    if reported_by == ReportedBy.SUPPORTER:
        if commitment.supporter_id is None:
            raise ValidationError({"reported_by": _("This commitment has no supporter named.")})
        if reporter is None or reporter.pk != commitment.supporter_id:
            raise ValidationError({"reporter": _("Choose this commitment's supporter as who reported it.")})
    if reported_by == ReportedBy.SAFETY_MONITOR and (
        reporter is None
        or reporter.case_id != case.pk
        or reporter.role != ParticipantRole.SAFETY_MONITOR
        or reporter.barrier
        or not reporter.has_consent(ConsentKind.TAKE_PART)
    ):
        raise ValidationError({"reporter": _("Choose a consenting safety monitor of this case.")})


def _review_task(case: Case, now: datetime.datetime) -> None:
    harm = case.participants.filter(role=ParticipantRole.PERSON_WHO_CAUSED_HARM).order_by("id").first()
    # One open review at a time: it covers every commitment not kept since it was opened.
    if CaseTask.objects.filter(
        case=case, kind=TaskKind.REVIEW_COMMITMENT, participant=harm, done_at__isnull=True
    ).exists():
        return
    CaseTask.objects.create(
        organization_id=case.organization_id,
        case=case,
        kind=TaskKind.REVIEW_COMMITMENT,
        participant=harm,
        due_on=timezone.localdate(now) + datetime.timedelta(days=REVIEW_DAYS),
    )


@transaction.atomic
def record_checkin(
    *,
    commitment: Commitment,
    status: str,
    reported_by: str,
    by: User,
    note: str = "",
    reporter: Participant | None = None,
) -> CheckIn:
    """Progress on a commitment in force. Not kept: a hold if it concerns safety, else a review task.

    Allowed while the case is on hold: reports keep coming in, and recording one contacts nobody.
    """
    found = Commitment.objects.select_related("version__agreement").get(pk=commitment.pk)
    case = _locked(found.version.agreement.case_id)
    _open(case)
    current = in_force(list(AgreementVersion.objects.filter(agreement_id=found.version.agreement_id)))
    if current is None or found.version_id != current.pk:
        raise ValidationError(_("Progress is recorded on the commitments of the version in force only."))
    if status not in ProgressStatus.values:
        raise ValidationError({"status": _("Choose how far the commitment was kept.")})
    _check_reporter(case, found, reported_by, reporter)
    if reported_by == ReportedBy.KEEPER:
        reporter = None
    now = timezone.now()
    note = note.strip()
    twins = CheckIn.objects.filter(
        commitment=found, status=status, reported_by=reported_by, recorded_by=by, at__gte=now - TWIN_WINDOW
    )
    for twin in twins:
        if (twin.note or "") == note and twin.reporter_id == (reporter.pk if reporter else None):
            return twin  # the same report sent twice: one record
    checkin = CheckIn(
        organization_id=case.organization_id,
        commitment=found,
        status=status,
        note=note or None,
        reported_by=reported_by,
        reporter=reporter,
        recorded_by=by,
        at=now,
    )
    checkin.full_clean()
    checkin.save()
    record_event(
        case, EventKind.COMMITMENT_CHECKIN, by=by, at=now, commitment=str(found.number), status=status
    )
    if status == ProgressStatus.NOT_KEPT:
        if found.is_safety_related:
            # Codes only (issue 17): the hold's pages say which commitment in the reader's language; what was said
            # stays in the check-in's own (encrypted) note.
            open_hold(
                case=case, reason=HoldReason.BROKEN_COMMITMENT, by=by, facts={"commitment": str(found.number)}
            )
        else:
            _review_task(case, now)
    _keep_comparison(case)
    return checkin


@transaction.atomic
def record_step(
    *,
    case: Case,
    step: int,
    by: User,
    commitments: Iterable[Commitment] = (),
    checkins: Iterable[CheckIn] = (),
    note: str = "",
) -> StaircaseStep:
    """The staircase step the keeper found reached, with its evidence: commitments and check-ins of this case."""
    locked = _locked(case.pk)
    _open(locked)
    if step not in Step.values:
        raise ValidationError({"step": _("Choose a step of the staircase.")})
    commitment_ids = sorted({c.pk for c in commitments})
    checkin_ids = sorted({c.pk for c in checkins})
    if not commitment_ids and not checkin_ids:
        raise ValidationError(
            {"commitments": _("Link the evidence for this step: at least one commitment or check-in.")}
        )
    own = Commitment.objects.filter(version__agreement__case=locked, pk__in=commitment_ids).count()
    if own != len(commitment_ids):
        raise ValidationError({"commitments": _("Link only commitments of this case's agreement.")})
    own = CheckIn.objects.filter(commitment__version__agreement__case=locked, pk__in=checkin_ids).count()
    if own != len(checkin_ids):
        raise ValidationError({"checkins": _("Link only check-ins of this case's agreement.")})
    now = timezone.now()
    note = note.strip()
    twin = (
        StaircaseStep.objects.filter(
            case=locked, step=step, recorded_by=by, recorded_at__gte=now - TWIN_WINDOW
        )
        .prefetch_related("commitments", "checkins")
        .order_by("-recorded_at", "-id")
        .first()
    )
    if (
        twin is not None
        and (twin.note or "") == note
        and sorted(c.pk for c in twin.commitments.all()) == commitment_ids
        and sorted(c.pk for c in twin.checkins.all()) == checkin_ids
    ):
        return twin  # the same step sent twice: one record
    recorded = StaircaseStep(
        organization_id=locked.organization_id,
        case=locked,
        step=step,
        note=note or None,
        recorded_by=by,
        recorded_at=now,
    )
    recorded.full_clean()
    recorded.save()
    StepCommitment.objects.bulk_create(
        StepCommitment(organization_id=locked.organization_id, step=recorded, commitment_id=pk)
        for pk in commitment_ids
    )
    StepCheckIn.objects.bulk_create(
        StepCheckIn(organization_id=locked.organization_id, step=recorded, checkin_id=pk)
        for pk in checkin_ids
    )
    record_event(locked, EventKind.STAIRCASE_STEP, by=by, at=now, step=str(step))
    return recorded


# --- the survivor's view -----------------------------------------------------------------------------


def _rating(value: object) -> int | None:
    """A 0-3 rating from a score; None for "don't know", "prefer not to say" or anything out of range."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or not 0 <= number <= 3:
        return None
    return round(number)


@transaction.atomic
def record_view_from_response(response: Response) -> SurvivorView | None:
    """Called for every submitted response (settings.RESPONSE_SUBMITTED_HANDLERS), in its transaction.

    A survivor's answers to the built-in progress_view instrument become their view of progress, shown beside
    the keeper's; the case's disagreement flag follows at once.
    """
    if response.participant_id is None or response.case_id is None:
        return None
    instrument = response.version.instrument
    if instrument.owner_id is not None or instrument.code != PROGRESS_VIEW_CODE:
        return None
    participant = Participant.objects.get(pk=response.participant_id)
    if participant.role != ParticipantRole.SURVIVOR:
        return None
    case = _locked(participant.case_id)
    scores = response.scores or {}
    view = SurvivorView(
        organization_id=response.organization_id,
        case=case,
        participant=participant,
        response=response,
        kept=_rating(scores.get("kept")),
        repair=_rating(scores.get("repair")),
        recorded_at=response.submitted_at or timezone.now(),
    )
    view.full_clean()
    view.save()
    record_event(
        case,
        EventKind.SURVIVOR_VIEW,
        by=response.entered_by_staff,
        at=view.recorded_at,
        participant=participant.label,
    )
    _keep_comparison(case)
    # The questionnaire asks about safety too (every survey does): "less safe", or "prefer not to say", is a
    # danger signal and stops contact with the other side at once, as a meeting check-in would.
    if scores.get("less_safe") == 1 or (response.answers or {}).get("less_safe") == PNTS:
        open_hold(case=case, reason=HoldReason.SURVIVOR_REPORT, by=response.entered_by_staff)
    return view


def _keep_comparison(case: Case) -> None:
    """Case.progress_views_disagree as the comparison now stands; called with the case row locked."""
    disagree = comparison_for(case).disagree
    if case.progress_views_disagree != disagree:
        case.progress_views_disagree = disagree
        case.save(update_fields=["progress_views_disagree"])


# --- the progress page link ----------------------------------------------------------------------------


@transaction.atomic
def issue_progress_link(
    *,
    participant: Participant,
    channel: str,
    by: User,
    when: datetime.datetime | None = None,
) -> tuple[ProgressLink, str]:
    """A new progress page link for the person who caused harm, and its token (shown once, never stored).

    It replaces any link they had, which stops working at once: one working link per person, so a link sent
    twice (a double click) leaves only the one shown working. ContactRefused, writing nothing, when the
    safe-contact rules or the survivor's choice do not allow it.
    """
    when = when or timezone.now()
    if participant.role != ParticipantRole.PERSON_WHO_CAUSED_HARM:
        raise ValidationError(_("A progress page is for the person who caused harm."))
    case = _locked(participant.case_id)
    participant.case = case
    decision = contact_allowed(participant, channel, when)
    if not decision.allowed:
        raise ContactRefused(decision.reason)
    agreement = Agreement.objects.filter(case=case).first()
    if agreement is None or in_force(list(agreement.versions.all())) is None:
        raise ValidationError(_("There is no agreement in force yet: the page would have nothing to show."))
    ProgressLink.objects.usable(when).filter(participant=participant).update(revoked_at=when)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ProgressLink(
        organization_id=case.organization_id,
        case=case,
        participant=participant,
        channel=channel,
        token_hash=hash_token(token),
        issued_by=by,
        issued_at=when,
        expires_at=when + datetime.timedelta(days=PROGRESS_LINK_DAYS),
    )
    link.full_clean()
    link.save()
    return link, token


def revoke_progress_links(
    *, case: Case, reason: str, by: User | None = None, people: list[Participant] | None = None
) -> int:
    """settings.SAFETY_EVENT_HANDLERS: a safety event revokes the other side's progress page links at once."""
    links = ProgressLink.objects.usable(timezone.now()).filter(case=case)
    if people is not None:
        links = links.filter(participant__in=people)
    count = 0
    for link in links:
        count += link.revoke(reason=reason)
    return count


def find_progress_link(token: str, *, now: datetime.datetime | None = None) -> ProgressLink | None:
    """The link this token opens, if it still works; None for a wrong, expired or revoked one alike."""
    # token_urlsafe(32) is 43 characters; anything far from that is not worth hashing.
    if not token or len(token) > 100:
        return None
    return ProgressLink.objects.usable(now or timezone.now()).filter(token_hash=hash_token(token)).first()
