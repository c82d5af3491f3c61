"""The one contact policy (PROTOCOL.md, "Contact with the other side: one policy, everywhere").

`refusals` answers, for a proposed or existing contact — a meeting of any kind, a survey link, a questionnaire
entered by staff, an email or text, the progress page — with the people it involves, at a moment, whether it may
happen now, naming every unmet condition. Every path asks it at every moment the contact has: scheduling a
meeting, checking in, checking out, recording it held; issuing, opening, saving and submitting a link; starting
and submitting a questionnaire; sending a message; opening the progress page. The lower apps (cases,
instruments) reach it through `cases.contact.policy_refusals` (settings.CONTACT_POLICY), since imports never
point up.

`cascade` is what every safety event does at once, in its transaction: a hold opening (and every later trigger),
new violence, the survivor withdrawing consent, a track with less contact, a child or barrier flag.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import TextChoices
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from circlekeeper.accounts.models import User
from circlekeeper.cases.contact import rules_refusal
from circlekeeper.cases.models import (
    HARM_SIDE,
    TRACK_CONTACT,
    Case,
    CaseStatus,
    ConsentKind,
    ContactRules,
    EventKind,
    Participant,
    ParticipantRole,
    Stage,
    Track,
    record_event,
)
from circlekeeper.instruments.models import ParticipantLink, Response, ResponseStatus
from circlekeeper.protocol import gates
from circlekeeper.protocol.models import Acknowledgment, Invitation, Meeting, MeetingKind, MeetingStatus

ADULT_AGE = 18


class ContactKind(TextChoices):
    MEETING = "meeting", gettext_lazy("Meeting")
    LINK = "link", gettext_lazy("Survey link")
    QUESTIONNAIRE = "questionnaire", gettext_lazy("Questionnaire entered by staff")
    MESSAGE = "message", gettext_lazy("Email or text message")
    PROGRESS_PAGE = "progress_page", gettext_lazy("Progress page")


class CascadeReason(TextChoices):
    """Why a safety event stopped something: stored as the code, shown in the reader's language."""

    HOLD = "safety_hold", gettext_lazy("A safety hold opened")
    NEW_VIOLENCE = "new_violence", gettext_lazy("New violence was reported")
    CONSENT_WITHDRAWN = "consent_withdrawn", gettext_lazy("The survivor withdrew consent to take part")
    WITHDRAWN = "withdrawn", gettext_lazy("The survivor withdrew")
    REFERRED_OUT = "referred_out", gettext_lazy("Referred out")
    TRACK_CHANGED = "track_changed", gettext_lazy("The survivor chose a track with less contact")
    CHILD = "child", gettext_lazy("A participant is a child")
    BARRIER = "barrier", gettext_lazy("A participant was named a barrier")
    STOPPED = (
        "stopped_at_check_in",
        gettext_lazy("The survivor's check-in signalled danger or a wish to stop"),
    )


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    # Where to act on it: a URL name and its arguments (as the gates' conditions say).
    url: tuple[str, tuple[object, ...]] | None = None

    def as_condition(self) -> gates.Condition:
        return gates.Condition(self.code, self.message, False, url=self.url)


class ContactRefusedByPolicy(ValidationError):
    """The policy refuses: the message lists every unmet condition."""

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        self.refusals = list(refusals)
        super().__init__([r.message for r in self.refusals], code="policy")


def age_on(participant: Participant, day: datetime.date) -> int | None:
    born = participant.date_of_birth
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def is_child(participant: Participant, day: datetime.date) -> bool:
    """A child by role, or by date of birth: under 18 on that day."""
    if participant.role == ParticipantRole.CHILD:
        return True
    age = age_on(participant, day)
    return age is not None and age < ADULT_AGE


def is_joint(participants: Iterable[Participant]) -> bool:
    """Any meeting where a survivor and anyone of the other side are both present, whatever its kind."""
    people = list(participants)
    return any(p.is_survivor for p in people) and any(p.role in HARM_SIDE for p in people)


def _case_refusals(case: Case, level: int) -> list[Refusal]:
    """The survivor's choice and safety, for anything involving the other side (`level` 1 indirect, 2 joint)."""
    out: list[Refusal] = []
    if case.status == CaseStatus.WITHDRAWN:
        return [
            Refusal(
                "withdrawn", _("The survivor withdrew: nothing involving the person who caused harm goes on.")
            )
        ]
    if case.status != CaseStatus.OPEN:
        return [
            Refusal(
                "not_open",
                _("The case is no longer open: nothing involving the person who caused harm goes on."),
            )
        ]
    if case.on_hold:
        out.append(
            Refusal(
                "hold",
                _(
                    "The case is on a safety hold: no contact with the person who caused harm or their "
                    "supporters until a supervisor lifts it."
                ),
            )
        )
    survivors = list(case.participants.survivors())
    if not survivors:
        out.append(
            Refusal(
                "no_survivor", _("No survivor is recorded on this case: nothing may involve the other side.")
            )
        )
    for survivor in survivors:
        if not survivor.has_consent(ConsentKind.TAKE_PART):
            out.append(
                Refusal(
                    "survivor_consent",
                    _(
                        "%(label)s has no current consent to take part (withdrawn or never recorded): nothing "
                        "may involve the person who caused harm."
                    )
                    % {"label": survivor.label},
                )
            )
    if not case.track:
        out.append(
            Refusal(
                "no_track",
                _("The survivor has not chosen a track yet: nothing may involve the person who caused harm."),
            )
        )
    elif TRACK_CONTACT[Track(case.track)] < level:
        out.append(
            Refusal(
                "track",
                _("The survivor's chosen track (%(track)s) does not include this contact.")
                % {"track": Track(case.track).label},
            )
        )
    return out


def _stage_refusals(case: Case, now: datetime.datetime) -> list[Refusal]:
    """Staff arrange no contact with the other side before a current safety plan (or a recorded decline) and,
    on a track with contact, a consenting safety monitor."""
    out: list[Refusal] = []
    plan = gates._plan_condition(case, now, within_days=None)
    if not plan.met:
        out.append(
            Refusal(
                "stage_plan",
                _(
                    "Not yet: contact with the other side waits for the survivor's current safety plan (or their "
                    "recorded decision not to have one). %(detail)s"
                )
                % {"detail": plan.detail},
            )
        )
    if not gates._monitor_condition(case).met:
        out.append(
            Refusal(
                "stage_monitor",
                _(
                    "Not yet: contact with the other side waits for a consenting safety monitor to be appointed."
                ),
            )
        )
    return out


def _person_refusals(people: Sequence[Participant], day: datetime.date) -> list[Refusal]:
    out: list[Refusal] = []
    for person in people:
        if person.role == ParticipantRole.CHILD:
            out.append(Refusal("child", _("Children are never asked to take part.")))
        elif is_child(person, day):
            out.append(
                Refusal(
                    "child",
                    _(
                        "%(label)s is under 18 on that day (by their date of birth): children are never asked "
                        "to take part."
                    )
                    % {"label": person.label},
                )
            )
        if person.barrier:
            out.append(
                Refusal(
                    "barrier",
                    _("%(label)s is named a barrier in a support network: never contacted, never invited.")
                    % {"label": person.label},
                )
            )
    return out


def _joint_refusals(case: Case, people: Sequence[Participant], now: datetime.datetime) -> list[Refusal]:
    """The joint-dialogue gate, and its conditions for each person present."""
    out: list[Refusal] = []
    if case.track != Track.DIRECT_DIALOGUE:
        out.append(
            Refusal(
                "joint_track",
                _(
                    "A survivor and someone of the other side would both be present: that is a joint meeting, "
                    "and only the direct track brings them together."
                ),
            )
        )
    if case.stage != Stage.DIALOGUE:
        out.append(Refusal("joint_stage", _("A joint meeting happens at the dialogue stage only.")))
    for condition in gates.unmet(gates.joint_gate(case, now)):
        detail = f" ({condition.detail})" if condition.detail else ""
        out.append(Refusal(condition.code, condition.label + detail, condition.url))
    for person in people:
        if person.role == ParticipantRole.PERSON_WHO_CAUSED_HARM:
            prepared = Invitation.objects.filter(
                participant=person,
                attended=True,
                meeting__kind=MeetingKind.PREPARATION,
                meeting__status=MeetingStatus.HELD,
            ).exists()
            if not prepared:
                out.append(
                    Refusal(
                        "person_prepared",
                        _("%(label)s has had no preparation meeting of their own.") % {"label": person.label},
                    )
                )
            if not Acknowledgment.objects.filter(participant=person).exists():
                out.append(
                    Refusal(
                        "person_acknowledged",
                        _(
                            "%(label)s has not acknowledged responsibility (recorded in a preparation meeting)."
                        )
                        % {"label": person.label},
                    )
                )
        elif person.is_survivor:
            prepared = Invitation.objects.filter(
                participant=person,
                attended=True,
                meeting__kind=MeetingKind.PREPARATION,
                meeting__status=MeetingStatus.HELD,
            ).exists()
            if not prepared:
                out.append(
                    Refusal(
                        "person_prepared",
                        _("%(label)s has had no preparation meeting of their own.") % {"label": person.label},
                    )
                )
    return out


def refusals(
    case: Case,
    *,
    kind: str,
    participants: Iterable[Participant],
    when: datetime.datetime | None = None,
    now: datetime.datetime | None = None,
    channel: str = "",
    meeting_kind: str = "",
) -> list[Refusal]:
    """Every condition the contact breaks now; empty when it may happen.

    `when` is the contact's own time (a meeting's start; a message's sending), `now` the moment it is asked
    (scheduling, opening, submitting). `channel` is checked against each person's safe-contact rules at `when`
    for a meeting (in person, phone or video); for a link or a message `contact_allowed` checks the channel.
    """
    now = now or timezone.now()
    when = when or now
    people = list(participants)
    day = timezone.localdate(max(when, now))
    out = _person_refusals(people, day)
    other_side = [p for p in people if p.role in HARM_SIDE]
    joint = kind == ContactKind.MEETING and (
        is_joint(people) or meeting_kind in (MeetingKind.CIRCLE, MeetingKind.CONFERENCE)
    )
    if other_side:
        out += _case_refusals(case, 2 if joint else 1)
        if case.status == CaseStatus.OPEN:
            out += _stage_refusals(case, now)
    if joint:
        out += _joint_refusals(case, people, now)
    if kind == ContactKind.MEETING:
        rules = {r.participant_id: r for r in ContactRules.objects.filter(participant__in=people)}
        for person in people:
            if not person.has_consent(ConsentKind.TAKE_PART):
                out.append(
                    Refusal(
                        "invitee_consent",
                        _("%(label)s has no current consent to take part.") % {"label": person.label},
                    )
                )
            rule = rules.get(person.pk)
            if rule is not None and channel:
                broken = rules_refusal(rule, channel, when)
                if broken:
                    out.append(Refusal("safe_contact", f"{person.label}: {broken}"))
    # One message per condition and person, in order.
    seen: set[str] = set()
    unique = []
    for refusal in out:
        if refusal.message not in seen:
            seen.add(refusal.message)
            unique.append(refusal)
    return unique


def next_allowed_start(
    people: Iterable[Participant], channel: str, after: datetime.datetime, *, days: int = 14
) -> datetime.datetime | None:
    """The first whole hour after `after` at which every person's safe-contact rules allow a meeting this way."""
    rules = list(ContactRules.objects.filter(participant__in=list(people)))
    moment = after.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(hours=1)
    for _hour in range(days * 24):
        if all(rules_refusal(rule, channel, moment) is None for rule in rules):
            return moment
        moment += datetime.timedelta(hours=1)
    return None


def require(case: Case, **contact: object) -> None:
    """Raise ContactRefusedByPolicy naming every unmet condition, or return."""
    found = refusals(case, **contact)  # type: ignore[arg-type]
    if found:
        raise ContactRefusedByPolicy(found)


def messages_for(case: Case, **contact: object) -> list[str]:
    """settings.CONTACT_POLICY, behind cases.contact.policy_refusals: the refusals as messages."""
    return [r.message for r in refusals(case, **contact)]  # type: ignore[arg-type]


def case_messages(case: Case, *, contact_level: int = 1, now: datetime.datetime | None = None) -> list[str]:
    """settings.CASE_CONTACT_POLICY, behind cases.contact.harm_action_refusal: what keeps anything involving
    the other side from happening on this case now (the survivor's choice, safety, the stage reached)."""
    found = _case_refusals(case, contact_level)
    if case.status == CaseStatus.OPEN:
        found += _stage_refusals(case, now or timezone.now())
    return [r.message for r in found]


# --- the cascade -------------------------------------------------------------------------------------


def _cancel(meeting: Meeting, *, by: User | None, why: str, status: str = MeetingStatus.CANCELLED) -> None:
    meeting.status, meeting.cancelled_at, meeting.cancel_reason = status, timezone.now(), why
    meeting.version += 1
    meeting.save(update_fields=["status", "cancelled_at", "cancel_reason", "version"])
    record_event(
        meeting.case,
        EventKind.MEETING_CANCELLED,
        by=by,
        meeting=str(meeting.pk),
        meeting_kind=meeting.kind,
        reason=why,
    )


def stop(meeting: Meeting, *, by: User | None) -> None:
    """The survivor's check-in signalled danger or a wish to stop: the meeting ends there, recorded as stopped."""
    _cancel(meeting, by=by, why=CascadeReason.STOPPED, status=MeetingStatus.STOPPED)


def cascade(
    case: Case,
    reason: str,
    *,
    by: User | None = None,
    people: Iterable[Participant] | None = None,
    joint_only: bool = False,
) -> dict[str, int]:
    """Stop at once everything live with the other side (or, with `people`, with those people): cancel their
    scheduled meetings, revoke their open links, void questionnaires in progress about them. Nothing is deleted;
    each keeps `reason`. Messages are never queued here: each goes out through the policy at its sending, so
    none is left to drop. Call inside the transaction of the safety event."""
    now = timezone.now()
    targets = Participant.objects.filter(case=case, role__in=HARM_SIDE) if people is None else people
    ids = [p.pk for p in targets]
    done = {"meetings": 0, "links": 0, "questionnaires": 0}
    meetings = Meeting.objects.filter(
        case=case, status=MeetingStatus.SCHEDULED, invitations__participant_id__in=ids
    ).distinct()
    for meeting in list(meetings):
        if joint_only and not is_joint(meeting.participants.all()) and not meeting.is_joint:
            continue
        _cancel(meeting, by=by, why=reason)
        done["meetings"] += 1
    if joint_only:
        return done
    for link in (
        ParticipantLink.objects.usable(now).filter(participant_id__in=ids).select_related("participant")
    ):
        if link.revoke(when=now, reason=reason):
            record_event(
                case, EventKind.LINK_REVOKED, by=by, participant=link.participant.label, reason=reason
            )
            done["links"] += 1
    voided = Response.objects.filter(
        participant_id__in=ids, status=ResponseStatus.IN_PROGRESS, voided_at__isnull=True
    ).update(voided_at=now, void_reason=reason[:40])
    done["questionnaires"] = voided
    return done


def on_safety_event(
    *, case: Case, reason: str, by: User | None = None, people: list[Participant] | None = None
) -> None:
    """settings.SAFETY_EVENT_HANDLERS: a lower app (safety, cases, support) reports a safety event."""
    cascade(case, reason, by=by, people=people)
