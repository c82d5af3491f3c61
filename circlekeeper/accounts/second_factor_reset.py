"""A lost second factor, when the recovery codes are lost too: a program admin starts a re-enrolment, a second
program admin confirms it where the organization has two, and only then the person's devices (authenticator app,
recovery codes and passkeys) and sessions go.

It is refused for a person who also works in another organization (it would reach into it) and for oneself. The
password stays; at the next sign-in the person is sent to enrol a new authenticator.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from circlekeeper.accounts import passkeys
from circlekeeper.accounts.models import Membership, Organization, Role, SecondFactorReset, User

VALID_FOR = datetime.timedelta(days=1)


def pending(organization: Organization, user: User) -> SecondFactorReset | None:
    return (
        SecondFactorReset.objects.filter(
            organization=organization,
            user=user,
            done_at__isnull=True,
            requested_at__gt=timezone.now() - VALID_FOR,
        )
        .select_related("requested_by")
        .first()
    )


def _admins(organization: Organization) -> int:
    return Membership.objects.active().filter(organization=organization, role=Role.PROGRAM_ADMIN).count()


def _check(organization: Organization, user: User, by: User) -> None:
    if user.pk == by.pk:
        raise ValidationError(_("You cannot reset your own second factor here: use a recovery code."))
    elsewhere = Membership.objects.filter(user=user, is_active=True).exclude(organization=organization)
    if elsewhere.exists():
        raise ValidationError(
            _(
                "This person also works elsewhere in the network: their second factor is not this organization's to reset."
            )
        )


def _remove_devices(user: User) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    passkeys.remove_all(user)
    user.end_sessions()


@transaction.atomic
def request_reset(*, organization: Organization, user: User, by: User) -> bool:
    """Start a re-enrolment. True when it is done at once (the organization has a single program admin)."""
    _check(organization, user, by)
    if _admins(organization) < 2:
        SecondFactorReset.objects.create(
            organization=organization, user=user, requested_by=by, done_at=timezone.now()
        )
        _remove_devices(user)
        return True
    if pending(organization, user) is None:
        SecondFactorReset.objects.create(organization=organization, user=user, requested_by=by)
    return False


@transaction.atomic
def confirm_reset(*, organization: Organization, user: User, by: User) -> None:
    """A second program admin confirms; the person's devices and sessions go."""
    _check(organization, user, by)
    request = pending(organization, user)
    if request is None:
        raise ValidationError(_("There is no re-enrolment waiting for confirmation."))
    if request.requested_by_id == by.pk:
        raise ValidationError(_("Another program admin must confirm the re-enrolment you started."))
    request.confirmed_by = by
    request.done_at = timezone.now()
    request.save(update_fields=["confirmed_by", "done_at"])
    _remove_devices(user)
