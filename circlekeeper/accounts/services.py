"""Writes that span users and memberships, called from the admin pages and from seed_demo."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import ORGANIZATION_ROLES, Membership, Organization, User


def _clean_roles(roles: Iterable[str]) -> set[str]:
    wanted = set(roles)
    if not wanted:
        raise ValidationError(_("Choose at least one role."))
    unknown = wanted - set(ORGANIZATION_ROLES)
    if unknown:
        raise ValidationError(_("Unknown role: %(role)s") % {"role": ", ".join(sorted(unknown))})
    return wanted


@transaction.atomic
def add_member(
    *, organization: Organization, email: str, display_name: str, roles: Iterable[str], password: str | None
) -> tuple[User, bool]:
    """Give a person roles in the organization, creating their account if it is new. Returns (user, created)."""
    wanted = _clean_roles(roles)
    user = User.objects.filter(email=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(email, password, display_name=display_name)
    _set_roles(organization=organization, user=user, roles=wanted)
    return user, created


@transaction.atomic
def change_member(*, organization: Organization, user: User, display_name: str, roles: Iterable[str]) -> None:
    wanted = _clean_roles(roles)
    user.display_name = display_name
    user.full_clean(exclude=["password"])
    user.save(update_fields=["display_name"])
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
    """(De)activate a person's roles in this organization. Deactivation ends all their sessions at once."""
    if user.pk == by.pk and not active:
        raise ValidationError(_("You cannot deactivate yourself. Ask another program admin."))
    memberships = Membership.objects.filter(organization=organization, user=user)
    if not memberships.exists():
        raise ValidationError(_("This person has no roles in this organization."))
    memberships.update(is_active=active)
    if active:
        if not user.is_active:
            user.is_active = True
            user.save(update_fields=["is_active"])
        return
    if not Membership.objects.filter(user=user, is_active=True).exists():
        user.is_active = False
        user.save(update_fields=["is_active"])
    user.end_sessions()
