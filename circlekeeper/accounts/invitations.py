"""Invitations: the only way a person joins an organization, and the only way an account is made (SECURITY.md 15a).

An admin names an email address and roles; the address receives a single-use link that expires. Whoever opens it
either signs in to the account with that address and accepts, or (when there is no such account) makes the account
there, choosing their own name and password, and goes straight on to enrol their second factor. The admin's page
says the same thing in every case: it never looks the address up.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import Invitation, Membership, Organization, User, normalize_email
from circlekeeper.accounts.services import clean_roles
from circlekeeper.lib.links import public_link


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@transaction.atomic
def invite(*, organization: Organization, email: str, roles: Iterable[str], by: User) -> Invitation:
    """Record an invitation and email its link. Does the same work whether or not the address has an account."""
    wanted = sorted(clean_roles(roles))
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    invitation = Invitation.objects.create(
        organization=organization,
        email=normalize_email(email),
        roles=wanted,
        token_hash=_hash(token),
        invited_by=by,
        created_at=now,
        expires_at=now + datetime.timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    link = public_link(reverse("accounts:invitation_open", args=[token]))
    body = render_to_string(
        "accounts/email/invitation.txt",
        {
            "organization": organization,
            "roles": invitation.role_labels,
            "link": link,
            "days": settings.INVITATION_VALID_DAYS,
        },
    )
    subject = _("An invitation to join %(organization)s on Circlekeeper") % {
        "organization": organization.name
    }
    transaction.on_commit(
        lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email], fail_silently=False)
    )
    return invitation


def find_usable(token: str) -> Invitation | None:
    """The invitation this token opens, if it has not been used, withdrawn or expired."""
    if not token or len(token) > 100:
        return None
    return Invitation.objects.usable().select_related("organization").filter(token_hash=_hash(token)).first()


def account_exists(invitation: Invitation) -> bool:
    """Only the link's holder (the owner of the address) learns this, never the admin who invited."""
    return User.objects.filter(email=invitation.email).exists()


@transaction.atomic
def accept(invitation: Invitation, user: User) -> None:
    """The signed-in owner of the invited address takes the roles. Refused for any other account."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if (
        locked.accepted_at is not None
        or locked.withdrawn_at is not None
        or locked.expires_at <= timezone.now()
    ):
        raise ValidationError(_("This invitation has already been used or has expired."))
    if normalize_email(user.email) != locked.email:
        raise ValidationError(
            _("This invitation was sent to another email address. Sign in with the account for that address.")
        )
    organization = locked.organization
    for role in locked.roles:
        membership, created = Membership.objects.get_or_create(
            user=user, organization=organization, role=role, defaults={"network": organization.network}
        )
        if not created and not membership.is_active:
            membership.is_active = True
            membership.save(update_fields=["is_active"])
    locked.accepted_at = timezone.now()
    locked.accepted_by = user
    locked.save(update_fields=["accepted_at", "accepted_by"])


@transaction.atomic
def accept_with_new_account(invitation: Invitation, *, display_name: str, password: str) -> User:
    """Make the invitee's account with the name and password they chose, then accept. Their second factor is next."""
    if account_exists(invitation):
        raise ValidationError(_("An account with this email address exists already: sign in to accept."))
    candidate = User(email=invitation.email, display_name=display_name)
    password_validation.validate_password(password, candidate)
    user = User.objects.create_user(invitation.email, password, display_name=display_name)
    accept(invitation, user)
    return user


@transaction.atomic
def withdraw(*, organization: Organization, invitation_id: int) -> bool:
    updated = (
        Invitation.objects.usable()
        .filter(organization=organization, pk=invitation_id)
        .update(withdrawn_at=timezone.now())
    )
    return bool(updated)
