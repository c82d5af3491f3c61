"""Services of the community activities: events and trainings with their attendance, facilitators and their
training records and supervision notes, readiness requirements, and a facilitator's place on a case team.

Each one checks everything first and writes in one transaction, so a refusal writes nothing. A form sent twice
(a double click, a retry) makes one record: new events, facilitators and notes carry the `uid` their form was
made with, and a second send with the same one returns the first record. An edit names the `lock_version` the
page showed; if someone saved since, StaleEdit and nothing written (SECURITY.md 23, 24).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import Membership, Organization, Role, User
from circlekeeper.cases.models import Case, CaseAssignment, CaseStatus, TeamRole
from circlekeeper.cases.participants import StaleEdit
from circlekeeper.community.models import (
    TRAINING_KINDS,
    Attendance,
    AttendeeRole,
    CommunityEvent,
    Competency,
    EventKind,
    Facilitator,
    FacilitatorRole,
    ReadinessRequirement,
    SupervisionNote,
    TrainingRecord,
)
from circlekeeper.community.readiness import DIALOGUE_TRACKS, readiness_of, unready_message

M = TypeVar("M", bound=models.Model)


def _twin(model: type[M], uid: uuid.UUID, organization: Organization, by_field: str, by: User) -> M | None:
    """The record an earlier send of the same form made, if any; a uid that is someone else's is refused."""
    existing = model._default_manager.filter(uid=uid).first()
    if existing is None:
        return None
    if existing.organization_id != organization.pk or getattr(existing, f"{by_field}_id") != by.pk:  # type: ignore[attr-defined]
        raise ValidationError(_("This form was already used. Reload the page and try again."))
    return existing


def _create_once(
    model: type[M], record: M, uid: uuid.UUID, organization: Organization, by_field: str, by: User
) -> M:
    """Save a new record; if a concurrent send of the same form saved it a moment ago, that one."""
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        twin = _twin(model, uid, organization, by_field, by)
        if twin is None:
            raise
        return twin
    return record


# --- events and trainings ------------------------------------------------------------------------------------


def _staff_of(organization: Organization, users: Iterable[User]) -> list[User]:
    people = list(users)
    members = set(
        Membership.objects.active()
        .filter(organization=organization, user__in=[u.pk for u in people])
        .values_list("user_id", flat=True)
    )
    if any(u.pk not in members for u in people):
        raise ValidationError({"staff_facilitators": _("Choose staff of this organization.")})
    return people


def _facilitators_of(organization: Organization, facilitators: Iterable[Facilitator]) -> list[Facilitator]:
    people = list(facilitators)
    if any(f.organization_id != organization.pk for f in people):
        raise ValidationError({"facilitators": _("Choose facilitators of this organization.")})
    return people


def _check_event(
    *,
    kind: str,
    title: str,
    date: datetime.date,
    language: str,
    hours: Decimal | None,
    competencies: list[str],
    attendance: Mapping[str, int],
) -> None:
    errors: dict[str, str] = {}
    if kind not in EventKind.values:
        errors["kind"] = _("Choose a kind of event.")
    if not title.strip():
        errors["title"] = _("Give the event a title.")
    if not language.strip():
        errors["language"] = _("Say in which language it was held.")
    if date > timezone.localdate() + datetime.timedelta(days=366):
        errors["date"] = _("This date is more than a year away.")
    is_training = kind in TRAINING_KINDS
    if is_training and (hours is None or hours <= 0):
        errors["hours"] = _("A training needs its length in hours.")
    if not is_training and hours is not None:
        errors["hours"] = _("Only a training has hours; leave this empty for other events.")
    if not is_training and competencies:
        errors["competencies"] = _("Only a training covers competencies; leave these empty for other events.")
    if any(c not in Competency.values for c in competencies):
        errors["competencies"] = _("Choose competencies from the list.")
    for role, count in attendance.items():
        if role not in AttendeeRole.values:
            errors["__all__"] = _("Count attendance by the roles listed.")
        elif count < 0:
            errors[f"attendance_{role}"] = _("A count is 0 or more.")
    if errors:
        raise ValidationError(errors)


def _save_attendance(event: CommunityEvent, attendance: Mapping[str, int]) -> None:
    Attendance.objects.filter(event=event).delete()
    Attendance.objects.bulk_create(
        Attendance(organization_id=event.organization_id, event=event, role=role, count=count)
        for role, count in sorted(attendance.items())
        if count > 0
    )


@transaction.atomic
def record_event(
    *,
    organization: Organization,
    by: User,
    uid: uuid.UUID,
    kind: str,
    title: str,
    date: datetime.date,
    place: str = "",
    language: str,
    facilitators: Iterable[Facilitator] = (),
    staff_facilitators: Iterable[User] = (),
    materials: str = "",
    follow_up: str = "",
    hours: Decimal | None = None,
    competencies: Iterable[str] = (),
    attendance: Mapping[str, int] | None = None,
) -> CommunityEvent:
    """A new event or training, with who facilitated it and how many of each role came."""
    twin = _twin(CommunityEvent, uid, organization, "created_by", by)
    if twin is not None:
        return twin
    counts = dict(attendance or {})
    chosen = sorted(set(competencies))
    _check_event(
        kind=kind,
        title=title,
        date=date,
        language=language,
        hours=hours,
        competencies=chosen,
        attendance=counts,
    )
    people = _facilitators_of(organization, facilitators)
    staff = _staff_of(organization, staff_facilitators)
    event = CommunityEvent(
        organization=organization,
        uid=uid,
        kind=kind,
        title=title.strip(),
        date=date,
        place=place.strip(),
        language=language.strip(),
        materials=materials.strip(),
        follow_up=follow_up.strip() or None,
        hours=hours,
        competencies=chosen,
        created_by=by,
    )
    event.full_clean(exclude=["uid"])
    saved = _create_once(CommunityEvent, event, uid, organization, "created_by", by)
    if saved is not event:
        return saved
    event.facilitators.set(people)
    event.staff_facilitators.set(staff)
    _save_attendance(event, counts)
    return event


@transaction.atomic
def change_event(
    *,
    event: CommunityEvent,
    by: User,
    lock_version: int,
    kind: str,
    title: str,
    date: datetime.date,
    place: str = "",
    language: str,
    facilitators: Iterable[Facilitator] = (),
    staff_facilitators: Iterable[User] = (),
    materials: str = "",
    follow_up: str = "",
    hours: Decimal | None = None,
    competencies: Iterable[str] = (),
    attendance: Mapping[str, int] | None = None,
) -> CommunityEvent:
    locked = CommunityEvent.objects.select_for_update().get(pk=event.pk)
    if locked.lock_version != lock_version:
        raise StaleEdit()
    organization = event.organization
    counts = dict(attendance or {})
    chosen = sorted(set(competencies))
    _check_event(
        kind=kind,
        title=title,
        date=date,
        language=language,
        hours=hours,
        competencies=chosen,
        attendance=counts,
    )
    people = _facilitators_of(organization, facilitators)
    staff = _staff_of(organization, staff_facilitators)
    trainees = list(locked.trainees.all())
    if trainees and kind not in TRAINING_KINDS:
        raise ValidationError(
            {"kind": _("Facilitators' training is recorded for this event: it stays a training.")}
        )
    if trainees and hours is not None and any(t.hours > hours for t in trainees):
        raise ValidationError(
            {"hours": _("A facilitator's recorded hours are more than this; correct their record first.")}
        )
    locked.kind, locked.title, locked.date = kind, title.strip(), date
    locked.place, locked.language, locked.materials = place.strip(), language.strip(), materials.strip()
    locked.follow_up = follow_up.strip() or None
    locked.hours, locked.competencies = hours, chosen
    locked.lock_version += 1
    locked.full_clean(exclude=["uid"])
    locked.save()
    locked.facilitators.set(people)
    locked.staff_facilitators.set(staff)
    _save_attendance(locked, counts)
    return locked


# --- facilitators ------------------------------------------------------------------------------------------------


def _check_account(organization: Organization, user: User | None, facilitator: Facilitator | None) -> None:
    """A facilitator's account is a keeper of the organization and no other facilitator's."""
    if user is None:
        return
    is_keeper = (
        Membership.objects.active().filter(organization=organization, user=user, role=Role.KEEPER).exists()
    )
    if not is_keeper:
        raise ValidationError({"user": _("Choose an account with the keeper role in this organization.")})
    taken = Facilitator.objects.for_organization(organization).filter(user=user)
    if facilitator is not None:
        taken = taken.exclude(pk=facilitator.pk)
    if taken.exists():
        raise ValidationError({"user": _("This account already belongs to another facilitator.")})


def _check_facilitator(name: str, role: str, competencies: list[str]) -> None:
    errors = {}
    if not name.strip():
        errors["name"] = _("Give the facilitator's name.")
    if role not in FacilitatorRole.values:
        errors["role"] = _("Choose a role.")
    if any(c not in Competency.values for c in competencies):
        errors["competencies"] = _("Choose competencies from the list.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def add_facilitator(
    *,
    organization: Organization,
    by: User,
    uid: uuid.UUID,
    name: str,
    role: str,
    languages: str = "",
    availability: str = "",
    competencies: Iterable[str] = (),
    active: bool = True,
    user: User | None = None,
) -> Facilitator:
    existing = Facilitator.objects.filter(uid=uid).first()
    if existing is not None:
        if existing.organization_id != organization.pk:
            raise ValidationError(_("This form was already used. Reload the page and try again."))
        return existing
    chosen = sorted(set(competencies))
    _check_facilitator(name, role, chosen)
    _check_account(organization, user, None)
    facilitator = Facilitator(
        organization=organization,
        uid=uid,
        user=user,
        name=name.strip(),
        role=role,
        languages=languages.strip(),
        availability=availability.strip() or None,
        competencies=chosen,
        active=active,
    )
    facilitator.full_clean(exclude=["uid"])
    try:
        with transaction.atomic():
            facilitator.save()
    except IntegrityError:
        twin = Facilitator.objects.filter(uid=uid, organization=organization).first()
        if twin is None:
            raise ValidationError(
                {"user": _("This account already belongs to another facilitator.")}
            ) from None
        return twin
    return facilitator


@transaction.atomic
def change_facilitator(
    *,
    facilitator: Facilitator,
    by: User,
    lock_version: int,
    name: str,
    role: str,
    languages: str = "",
    availability: str = "",
    competencies: Iterable[str] = (),
    active: bool = True,
    user: User | None = None,
) -> Facilitator:
    locked = Facilitator.objects.select_for_update().get(pk=facilitator.pk)
    if locked.lock_version != lock_version:
        raise StaleEdit()
    chosen = sorted(set(competencies))
    _check_facilitator(name, role, chosen)
    organization = facilitator.organization
    _check_account(organization, user, locked)
    on_teams = CaseAssignment.objects.filter(user_id=locked.user_id, organization=organization)
    if locked.user_id is not None and (user is None or user.pk != locked.user_id) and on_teams.exists():
        raise ValidationError(
            {"user": _("Take the facilitator off their case teams before changing their account.")}
        )
    locked.name, locked.role, locked.languages = name.strip(), role, languages.strip()
    locked.availability = availability.strip() or None
    locked.competencies, locked.active, locked.user = chosen, active, user
    locked.lock_version += 1
    locked.full_clean(exclude=["uid"])
    locked.save()
    return locked


@transaction.atomic
def add_supervision_note(*, facilitator: Facilitator, by: User, uid: uuid.UUID, text: str) -> SupervisionNote:
    twin = _twin(SupervisionNote, uid, facilitator.organization, "by", by)
    if twin is not None:
        return twin
    if not text.strip():
        raise ValidationError({"text": _("Write the note.")})
    note = SupervisionNote(
        organization_id=facilitator.organization_id,
        uid=uid,
        facilitator=facilitator,
        text=text.strip(),
        by=by,
    )
    note.full_clean(exclude=["uid"])
    return _create_once(SupervisionNote, note, uid, facilitator.organization, "by", by)


@transaction.atomic
def record_training(
    *, event: CommunityEvent, facilitator: Facilitator, hours: Decimal, completed: bool, by: User
) -> TrainingRecord:
    """A facilitator's part in a training (recorded again, it replaces what was recorded)."""
    Facilitator.objects.select_for_update().filter(pk=facilitator.pk).first()
    if facilitator.organization_id != event.organization_id:
        raise ValidationError({"facilitator": _("Choose a facilitator of this organization.")})
    if not event.is_training:
        raise ValidationError(_("Training hours are recorded for trainings only."))
    if hours <= 0:
        raise ValidationError({"hours": _("Record the hours they attended (more than 0).")})
    if event.hours is not None and hours > event.hours:
        raise ValidationError(
            {
                "hours": _("The training lasted %(hours)s hours: record no more than that.")
                % {"hours": event.hours}
            }
        )
    if completed and event.date > timezone.localdate():
        raise ValidationError({"completed": _("This training has not happened yet: it cannot be completed.")})
    record = TrainingRecord.objects.filter(facilitator=facilitator, event=event).first()
    if record is None:
        record = TrainingRecord(
            organization_id=event.organization_id, facilitator=facilitator, event=event, recorded_by=by
        )
    record.hours, record.completed, record.recorded_by = hours, completed, by
    record.recorded_at = timezone.now()
    record.full_clean()
    record.save()
    return record


@transaction.atomic
def set_requirement(
    *, organization: Organization, competency: str, minimum_hours: Decimal, by: User
) -> ReadinessRequirement:
    if competency not in Competency.values:
        raise ValidationError({"competency": _("Choose a competency from the list.")})
    if minimum_hours < 0:
        raise ValidationError({"minimum_hours": _("Hours are 0 or more.")})
    requirement, _created = ReadinessRequirement.objects.select_for_update().get_or_create(
        organization=organization, competency=competency, defaults={"minimum_hours": minimum_hours}
    )
    requirement.minimum_hours = minimum_hours
    requirement.full_clean()
    requirement.save(update_fields=["minimum_hours"])
    return requirement


@transaction.atomic
def remove_requirement(*, requirement: ReadinessRequirement, by: User) -> None:
    ReadinessRequirement.objects.filter(pk=requirement.pk).delete()


# --- a facilitator on a case team ------------------------------------------------------------------------------


@transaction.atomic
def add_to_team(*, case: Case, facilitator: Facilitator, by: User) -> CaseAssignment:
    """Put a facilitator with an account on a case's team, as a keeper: from then on they have a keeper's access
    to this case. On a dialogue track they must be ready (community.readiness)."""
    locked = Case.objects.select_for_update(no_key=True).get(pk=case.pk)
    if facilitator.organization_id != locked.organization_id:
        raise ValidationError({"facilitator": _("Choose a facilitator of this organization.")})
    if locked.status != CaseStatus.OPEN:
        raise ValidationError(_("This case is no longer open: its team does not change."))
    if not facilitator.active:
        raise ValidationError({"facilitator": _("This facilitator is not active.")})
    if facilitator.user_id is None:
        raise ValidationError(
            {
                "facilitator": _(
                    "This facilitator has no account: a program admin links one on the roster first."
                )
            }
        )
    if (
        not Membership.objects.active()
        .filter(organization_id=locked.organization_id, user_id=facilitator.user_id, role=Role.KEEPER)
        .exists()
    ):
        raise ValidationError({"facilitator": _("This facilitator's account is not an active keeper here.")})
    existing = CaseAssignment.objects.filter(case=locked, user_id=facilitator.user_id).first()
    if existing is not None:
        return existing  # already on the team (a form sent twice): one assignment
    if locked.track in DIALOGUE_TRACKS:
        readiness = readiness_of(facilitator)
        if not readiness.ready:
            raise ValidationError({"facilitator": unready_message(readiness)})
    assignment = CaseAssignment(
        organization_id=locked.organization_id, case=locked, user_id=facilitator.user_id, role=TeamRole.KEEPER
    )
    assignment.full_clean()
    assignment.save()
    return assignment


@transaction.atomic
def remove_from_team(*, case: Case, facilitator: Facilitator, by: User) -> None:
    Case.objects.select_for_update(no_key=True).filter(pk=case.pk).first()
    removed = 0
    if facilitator.user_id is not None:
        removed, _counts = CaseAssignment.objects.filter(
            case_id=case.pk, user_id=facilitator.user_id, organization_id=case.organization_id
        ).delete()
    if not removed:
        raise ValidationError(_("This facilitator is not on the case's team."))
