"""Writes to a case's support networks: members added and changed, ties added and removed.

Each write is one transaction on the locked case row, leaves a line in the case history (codes and labels only,
never the relationship or a reason), keeps `Participant.barrier` in step with the member's stance (so that
contact and invitations refuse a barrier), and stores the pods' measures when a number changed.
`at` lets the demo lay out a history in the past; the pages never pass it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import (
    BarrierSource,
    Case,
    CaseStatus,
    EventKind,
    Participant,
    ParticipantRole,
    record_event,
)
from circlekeeper.cases.participants import StaleEdit, set_barrier
from circlekeeper.support.measures import graph_from, load_pods, pod_measures
from circlekeeper.support.models import (
    LABEL_MAX_LENGTH,
    POD_SIDES,
    HelpKind,
    PodMeasure,
    PodMember,
    PodSide,
    PodTie,
    Stance,
    help_order,
)

# Which pods a participant's role may be placed in. The parties are the centers of the map, and children are
# recorded for their well-being only: none of them is ever a member.
ROLE_SIDES: dict[str, tuple[str, ...]] = {
    ParticipantRole.SURVIVOR_SUPPORTER: (PodSide.SURVIVOR, PodSide.BOTH),
    ParticipantRole.HARM_SUPPORTER: (PodSide.HARM, PodSide.BOTH),
    ParticipantRole.SAFETY_MONITOR: tuple(PodSide.values),
    ParticipantRole.COMMUNITY_MEMBER: tuple(PodSide.values),
}
POD_ROLES = tuple(ROLE_SIDES)
# Fields a service sets itself from rows it already holds (the locked case, its organization, the person
# acting, members and participants checked above): full_clean would spend a query on each to find them again.
# The rules they carry (one label and one record per person in a case) are checked above, and the database's
# constraints stay as the last word.
SET_HERE = ("organization", "case", "participant", "added_by", "removed_by", "a", "b", "uid")


@dataclass(frozen=True)
class MemberFields:
    """What a person may set about a pod member (the form's fields, read by add_member and change_member)."""

    side: str
    label: str
    relationship: str
    stance: str
    help: list[str]
    active: bool = True
    both_reason: str = ""
    participant: Participant | None = None


def _locked(case: Case) -> Case:
    locked = (
        Case.objects.select_for_update(no_key=True, of=("self",))
        .select_related("organization")
        .get(pk=case.pk)
    )
    if locked.status != CaseStatus.OPEN:
        raise ValidationError(_("The case is no longer open: its support networks are kept as they were."))
    return locked


def _cleaned(
    case: Case, fields: MemberFields, *, member: PodMember | None = None, taken: bool | None = None
) -> MemberFields:
    """The fields checked against every rule, or ValidationError naming each field that is wrong.

    `taken`: whether another member of the case already has the label, when the caller has just looked."""
    errors: dict[str, str] = {}
    participant = fields.participant
    label = fields.label.strip() or (participant.label if participant else "")
    reason = fields.both_reason.strip()
    if fields.side not in PodSide.values:
        errors["side"] = _("Choose the survivor's pod, the pod of the person who caused harm, or both.")
    if fields.stance not in Stance.values:
        errors["stance"] = _("Choose ally, barrier or unsure.")
    if not set(fields.help) <= set(HelpKind.values):
        errors["help"] = _("Choose what they can help with from the list.")
    if not fields.relationship.strip():
        errors["relationship"] = _("Say who they are to the party, e.g. “sister” or “neighbour”.")
    if fields.side == PodSide.BOTH and not reason:
        errors["both_reason"] = _("Someone is in both pods only with a recorded reason: write why.")
    elif fields.side != PodSide.BOTH and reason:
        errors["both_reason"] = _(
            "A reason is only for someone in both pods: leave it empty, or choose both."
        )
    if participant is not None:
        errors.update(_participant_errors(case, participant, fields.side, member))
    if not label:
        errors["label"] = _("Give a pseudonymous label, e.g. “Aunt R”.")
    else:
        errors.update(_label_errors(case, label, participant, member, taken))
    if errors:
        raise ValidationError(errors)
    return MemberFields(
        side=fields.side,
        label=label,
        relationship=fields.relationship.strip(),
        stance=fields.stance,
        help=help_order(fields.help),
        active=fields.active,
        both_reason=reason if fields.side == PodSide.BOTH else "",
        participant=participant,
    )


def _participant_errors(
    case: Case, participant: Participant, side: str, member: PodMember | None
) -> dict[str, str]:
    if participant.case_id != case.pk:
        return {"participant": _("Choose a participant of this case.")}
    if participant.role not in ROLE_SIDES:
        return {
            "participant": _(
                "The parties are the centers of the pods, and children are never asked to take part: "
                "choose a support person, a safety monitor or a community member."
            )
        }
    other = PodMember.objects.filter(case=case, participant=participant).exclude(
        pk=member.pk if member else None
    )
    placed = other.first()
    if placed is not None:
        return {
            "participant": _(
                "%(label)s is already in %(pod)s: one record per person. To place them in both pods, change "
                "that record to Both pods, with a reason."
            )
            % {"label": participant.label, "pod": str(PodSide(placed.side).label).lower()}
        }
    if side in PodSide.values and side not in ROLE_SIDES[participant.role]:
        if participant.role == ParticipantRole.SURVIVOR_SUPPORTER:
            message = _(
                "%(label)s supports the survivor: place them in the survivor's pod, or in both pods with a "
                "reason."
            )
        else:
            message = _(
                "%(label)s supports the person who caused harm: place them in that person's pod, or in both "
                "pods with a reason."
            )
        return {"side": message % {"label": participant.label}}
    return {}


def _label_errors(
    case: Case, label: str, participant: Participant | None, member: PodMember | None, taken: bool | None
) -> dict[str, str]:
    if len(label) > LABEL_MAX_LENGTH:
        return {"label": _("Keep the label short: %(max)s characters at most.") % {"max": LABEL_MAX_LENGTH}}
    if taken is None:
        others = PodMember.objects.filter(case=case, label=label).exclude(pk=member.pk if member else None)
        taken = others.exists()
    if taken:
        return {
            "label": _(
                "Someone in this case's pods is already labelled “%(label)s”: choose another label, or change "
                "their record."
            )
            % {"label": label}
        }
    if participant is None and Participant.objects.filter(case=case, label=label).exists():
        return {
            "label": _(
                "“%(label)s” is a participant of this case: choose them in the list of participants, or use "
                "another label."
            )
            % {"label": label}
        }
    return {}


def _same(member: PodMember, fields: MemberFields) -> bool:
    return (
        member.side == fields.side
        and member.label == fields.label
        and member.relationship == fields.relationship
        and member.stance == fields.stance
        and list(member.help) == fields.help
        and member.active == fields.active
        and (member.both_reason or "") == fields.both_reason
        and member.participant_id == (fields.participant.pk if fields.participant else None)
    )


def _mark_barrier(participant: Participant | None, stance: str, *, by: User, at: datetime.datetime) -> None:
    """The stance a record linked to this person states becomes their barrier flag, kept with its history
    (cases.participants.set_barrier); the cases and protocol apps read the flag. A record no longer linked to
    them changes nothing: the flag is a fact about the person, not about the record."""
    if participant is not None:
        barrier = stance == Stance.BARRIER
        source = BarrierSource.POD if barrier else BarrierSource.POD_CHANGED
        # set_barrier cascades a new barrier flag: their meetings cancelled and links revoked at once.
        set_barrier(participant, barrier, source=source, by=by, at=at)


def named_barrier(case: Case, label: str) -> bool:
    """settings.NAMED_BARRIER_CHECKS: someone not yet linked to a participant is named a barrier under this label."""
    return PodMember.objects.filter(
        case=case, label__iexact=label.strip(), participant__isnull=True, stance=Stance.BARRIER
    ).exists()


def link_named_barrier(participant: Participant, *, by: User | None = None) -> None:
    """settings.PARTICIPANT_ADDED_HANDLERS: the keeper confirmed the new participant is the barrier named under their
    label, so that record now speaks for them (where their role may sit in its pod); the flag is already set."""
    at = timezone.now()
    for member in PodMember.objects.select_for_update().filter(
        case_id=participant.case_id,
        label__iexact=participant.label,
        participant__isnull=True,
        stance=Stance.BARRIER,
    ):
        if member.side in ROLE_SIDES.get(participant.role, ()):
            member.participant, member.label = participant, participant.label
            member.version += 1
            member.updated_at = at
            member.save(update_fields=["participant", "label", "version", "updated_at"])
        _record(participant.case, member, by=by, at=at)


def _record(case: Case, member: PodMember, *, by: User | None, at: datetime.datetime) -> None:
    record_event(
        case,
        EventKind.POD_CHANGED,
        by=by,
        at=at,
        member=member.label,
        side=member.side,
        stance=member.stance,
    )


@transaction.atomic
def add_member(
    *, case: Case, fields: MemberFields, by: User, at: datetime.datetime | None = None
) -> PodMember:
    """Place a person in a pod (or both). The same form sent twice (a double click) gives one record."""
    at = at or timezone.now()
    locked = _locked(case)
    label = fields.label.strip() or (fields.participant.label if fields.participant else "")
    twin = PodMember.objects.filter(case=locked, label=label).select_related("participant").first()
    if twin is not None and twin.added_by_id == by.pk and _same(twin, _as_stored(fields, label)):
        return twin
    cleaned = _cleaned(locked, fields, taken=twin is not None)
    member = PodMember(
        organization_id=locked.organization_id,
        case=locked,
        side=cleaned.side,
        label=cleaned.label,
        participant=cleaned.participant,
        relationship=cleaned.relationship,
        stance=cleaned.stance,
        help=cleaned.help,
        active=cleaned.active,
        both_reason=cleaned.both_reason or None,
        added_by=by,
        created_at=at,
        updated_at=at,
    )
    member.full_clean(exclude=SET_HERE)
    member.save()
    _mark_barrier(cleaned.participant, cleaned.stance, by=by, at=at)
    _record(locked, member, by=by, at=at)
    record_measures(case=locked, at=at)
    return member


def _as_stored(fields: MemberFields, label: str) -> MemberFields:
    """The fields as they would be stored, to compare with a record the same save may already have made."""
    return MemberFields(
        side=fields.side,
        label=label,
        relationship=fields.relationship.strip(),
        stance=fields.stance,
        help=help_order(fields.help),
        active=fields.active,
        both_reason=fields.both_reason.strip() if fields.side == PodSide.BOTH else "",
        participant=fields.participant,
    )


@transaction.atomic
def change_member(
    *,
    member: PodMember,
    version: int,
    fields: MemberFields,
    by: User,
    at: datetime.datetime | None = None,
) -> PodMember:
    """Change a member; StaleEdit (nothing written) if someone saved since the page showed `version`."""
    at = at or timezone.now()
    case = _locked(member.case)
    locked = PodMember.objects.select_for_update(of=("self",)).select_related("participant").get(pk=member.pk)
    if locked.version != version:
        label = fields.label.strip() or (fields.participant.label if fields.participant else "")
        if _same(locked, _as_stored(fields, label)):
            return locked  # the same save sent twice (a double click): it is already done
        raise StaleEdit()
    cleaned = _cleaned(case, fields, member=locked)
    locked.side, locked.label, locked.participant = cleaned.side, cleaned.label, cleaned.participant
    locked.relationship, locked.stance, locked.help = cleaned.relationship, cleaned.stance, cleaned.help
    locked.active, locked.both_reason = cleaned.active, cleaned.both_reason or None
    locked.version += 1
    locked.updated_at = at
    locked.full_clean(exclude=SET_HERE)
    locked.save(
        update_fields=[
            "side",
            "label",
            "participant",
            "relationship",
            "stance",
            "help",
            "active",
            "both_reason",
            "version",
            "updated_at",
        ]
    )
    # Someone unlinked from this record keeps their flag (issue 17): only a record linked to them changes it.
    _mark_barrier(cleaned.participant, cleaned.stance, by=by, at=at)
    _record(case, locked, by=by, at=at)
    record_measures(case=case, at=at)
    return locked


@transaction.atomic
def add_tie(
    *, case: Case, a: PodMember, b: PodMember, by: User, at: datetime.datetime | None = None
) -> PodTie:
    """Record that two members know each other; recording it twice keeps one tie."""
    at = at or timezone.now()
    locked = _locked(case)
    if a.case_id != locked.pk or b.case_id != locked.pk:
        raise ValidationError({"b": _("Choose two people in this case's pods.")})
    if a.pk == b.pk:
        raise ValidationError({"b": _("Choose two different people.")})
    first, second = sorted((a, b), key=lambda m: m.pk)
    existing = PodTie.objects.current().filter(a=first, b=second).first()
    if existing is not None:
        return existing
    tie = PodTie(
        organization_id=locked.organization_id, case=locked, a=first, b=second, added_by=by, created_at=at
    )
    tie.full_clean(exclude=SET_HERE)
    tie.save()
    record_event(locked, EventKind.POD_CHANGED, by=by, at=at, member=_pair(first, second), tie="added")
    record_measures(case=locked, at=at)
    return tie


@transaction.atomic
def remove_tie(*, tie: PodTie, by: User, at: datetime.datetime | None = None) -> bool:
    """Stamp a tie removed; removing it twice changes nothing the second time. Returns whether it changed."""
    at = at or timezone.now()
    locked = _locked(tie.case)
    found = PodTie.objects.select_for_update(of=("self",)).select_related("a", "b").get(pk=tie.pk)
    if found.removed_at is not None:
        return False
    found.removed_at, found.removed_by = at, by
    found.save(update_fields=["removed_at", "removed_by"])
    record_event(locked, EventKind.POD_CHANGED, by=by, at=at, member=_pair(found.a, found.b), tie="removed")
    record_measures(case=locked, at=at)
    return True


def _pair(a: PodMember, b: PodMember) -> str:
    # Labels only (pseudonymous): the history names the two people a tie joins.
    return f"{a.label} – {b.label}"


def record_measures(*, case: Case, at: datetime.datetime | None = None) -> list[PodMeasure]:
    """Store each pod's measures if they differ from the last stored for it; returns the rows stored.

    Called by every write here, in its transaction. Consent recorded or withdrawn on a participant's page
    changes the counts too: that shows at once on the pods page, and is stored with the next change here.
    """
    at = at or timezone.now()
    graph = graph_from(load_pods(case, counting=True))
    latest = PodMeasure.objects.for_organization(case.organization).last_stored(case)
    stored = []
    for side in POD_SIDES:
        now = pod_measures(graph, side).rounded()
        last = latest.get(side)
        if last is not None and (
            last.pod_size,
            last.consenting_active,
            tuple(last.help_covered),
            last.density,
            last.in_touch_share,
        ) == (now.pod_size, now.consenting_active, now.help_covered, now.density, now.in_touch_share):
            continue
        row = PodMeasure(
            organization_id=case.organization_id,
            case=case,
            side=side,
            computed_at=at,
            pod_size=now.pod_size,
            consenting_active=now.consenting_active,
            help_covered=list(now.help_covered),
            density=now.density,
            in_touch_share=now.in_touch_share,
        )
        row.full_clean(exclude=SET_HERE)
        row.save()
        stored.append(row)
    return stored
