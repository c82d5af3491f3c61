"""Writes to memberships, called from the admin pages.

An organization's admin manages the memberships of that organization and nothing else (SECURITY.md 15a): people
join by accepting an invitation (accounts.invitations), their name, email, password and second factor are their
own, and deactivating a membership here takes nothing away elsewhere. Access is checked against active
memberships on every request (accounts.access.staff_context), so a deactivated membership grants nothing from the
next request on, in every session the person has, without ending their sessions in other organizations.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import ORGANIZATION_ROLES, Membership, Organization, User


def clean_roles(roles: Iterable[str]) -> set[str]:
    wanted = set(roles)
    if not wanted:
        raise ValidationError(_("Choose at least one role."))
    unknown = wanted - set(ORGANIZATION_ROLES)
    if unknown:
        raise ValidationError(_("Unknown role: %(role)s") % {"role": ", ".join(sorted(unknown))})
    return wanted


@transaction.atomic
def change_member(*, organization: Organization, user: User, roles: Iterable[str]) -> None:
    """Change a member's roles in this organization (never their name: that is theirs)."""
    wanted = clean_roles(roles)
    _set_roles(organization=organization, user=user, roles=wanted)


def _set_roles(*, organization: Organization, user: User, roles: set[str]) -> None:
    current = {m.role: m for m in Membership.objects.filter(organization=organization, user=user)}
    for role in roles - current.keys():
        Membership.objects.create(
            user=user, organization=organization, network=organization.network, role=role
        )
    for role, membership in current.items():
        if role not in roles:
            membership.delete()
    if any(not m.is_active for m in current.values()) and roles:
        # Changing the roles of a deactivated member keeps them deactivated.
        Membership.objects.filter(organization=organization, user=user).update(is_active=False)


@transaction.atomic
def set_member_active(*, organization: Organization, user: User, active: bool, by: User) -> None:
    """(De)activate a person's roles in this organization only.

    The account, its other memberships and its sessions elsewhere are untouched: from the next request on, no
    session of theirs opens anything of this organization, because every request reads the active memberships.
    Only a person with no active membership left anywhere is signed out everywhere.
    """
    if user.pk == by.pk and not active:
        raise ValidationError(_("You cannot deactivate yourself. Ask another program admin."))
    memberships = Membership.objects.filter(organization=organization, user=user)
    if not memberships.exists():
        raise ValidationError(_("This person has no roles in this organization."))
    memberships.update(is_active=active)
    if not active and not Membership.objects.filter(user=user, is_active=True).exists():
        # Nothing else is left to them anywhere: their sessions end, which then touches no other organization.
        user.end_sessions()
