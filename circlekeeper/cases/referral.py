"""A new referral (PROTOCOL.md, stage 1): the case, its team, who reached out and the first participant, at once.

The reference is numbered as every case's (services.open_case). The page the referral was typed on carries a
token: sending it twice opens one case, and the second answer is the case the first one opened.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import Membership, Organization, Role, User
from circlekeeper.cases.models import (
    REFERRAL_FIRST_ROLES,
    Case,
    EventKind,
    Participant,
    ReachedOutBy,
    Referral,
    TeamRole,
    record_event,
)
from circlekeeper.cases.services import open_case

# The team role the creator takes, for someone holding more than one case role.
_CREATOR_ROLES = (TeamRole.KEEPER, TeamRole.SAFETY_ADVOCATE, TeamRole.SUPERVISOR)


@dataclass(frozen=True)
class FirstPerson:
    role: str
    label: str
    name: str = ""
    date_of_birth: datetime.date | None = None
    phone: str = ""
    email: str = ""

    @property
    def typed(self) -> bool:
        return bool(self.name or self.phone or self.email)


def supervisors_of(organization: Organization) -> list[User]:
    """The organization's active supervisors, one of whom joins every new case's team."""
    return list(
        User.objects.filter(
            is_active=True,
            memberships__organization=organization,
            memberships__role=Role.SUPERVISOR,
            memberships__is_active=True,
        )
        .distinct()
        .order_by("display_name", "email", "pk")
    )


def lookup_digest(*, user: User, person: FirstPerson) -> str:
    """A fingerprint of what was typed, so the page can tell the "already known?" answer was shown for it."""
    typed = "\x1f".join(
        [person.name.strip().casefold(), str(person.date_of_birth or ""), person.phone.strip(), person.email]
    )
    return salted_hmac("circlekeeper.referral.lookup", f"{user.pk}\x1e{typed}").hexdigest()


def creator_role(*, user: User, organization: Organization) -> str:
    roles = set(
        Membership.objects.active()
        .filter(user=user, organization=organization)
        .values_list("role", flat=True)
    )
    for role in _CREATOR_ROLES:
        if role in roles:
            return role
    raise ValidationError(_("Only keepers, safety advocates and supervisors open referrals."))


@transaction.atomic
def open_referral(
    *,
    organization: Organization,
    by: User,
    supervisor: User,
    reached_out_by: str,
    first: FirstPerson,
    form_token: uuid.UUID,
    reached_out_other: str = "",
    safe_contact: str = "",
    opened_on: datetime.date | None = None,
) -> tuple[Case, bool]:
    """Open the case of a new referral; (case, True), or (the case this page already opened, False)."""
    # Lock the organization first: two copies of one page wait here, and the second finds the first's case.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    earlier = Referral.objects.filter(organization=organization, form_token=form_token).first()
    if earlier is not None:
        return earlier.case, False
    if reached_out_by not in ReachedOutBy.values:
        raise ValidationError({"reached_out_by": _("Say who reached out.")})
    if reached_out_by == ReachedOutBy.OTHER and not reached_out_other.strip():
        raise ValidationError({"reached_out_other": _("Say who reached out.")})
    if first.role not in REFERRAL_FIRST_ROLES:
        raise ValidationError(
            {"first_role": _("The first participant is the survivor or whoever reached out.")}
        )
    if supervisor not in supervisors_of(organization):
        raise ValidationError({"supervisor": _("Choose a supervisor of this organization.")})
    role = creator_role(user=by, organization=organization)
    team = [(by, role)]
    if not (supervisor.pk == by.pk and role == TeamRole.SUPERVISOR):
        team.append((supervisor, TeamRole.SUPERVISOR))
    case = open_case(organization=organization, team=team, opened_on=opened_on)
    referral = Referral(
        organization=organization,
        case=case,
        reached_out_by=reached_out_by,
        reached_out_other=reached_out_other.strip() or None,
        safe_contact=safe_contact.strip() or None,
        form_token=form_token,
        created_by=by,
    )
    referral.full_clean()
    referral.save()
    record_event(case, EventKind.REFERRAL_RECEIVED, by=by, reached_out_by=reached_out_by)
    participant = Participant(
        organization=organization,
        case=case,
        role=first.role,
        label=first.label.strip(),
        name=first.name.strip() or None,
        date_of_birth=first.date_of_birth,
        phone=first.phone.strip() or None,
        email=first.email.strip() or None,
    )
    participant.full_clean()
    participant.save()
    record_event(case, EventKind.PARTICIPANT_ADDED, by=by, participant=participant.label, role=first.role)
    return case, True
