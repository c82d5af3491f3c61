"""Passkeys (WebAuthn, through django-otp-webauthn) as a second factor beside the authenticator app.

A passkey never replaces the password: it is asked for after it, like a TOTP code. The relying party is the site
as people reach it (settings.PUBLIC_URL), read at each ceremony. A person adds one from their account page after
confirming who they are again, names and removes their own, and can never remove the last second factor they have.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential, WebAuthnUserHandle

from circlekeeper.accounts.models import User

NAME_MAX_LENGTH = 64  # django-otp's Device.name


class PasskeyHelper(WebAuthnHelper):
    """The package's ceremonies, with the relying party taken from PUBLIC_URL rather than fixed at start-up."""

    def get_relying_party_domain(self) -> str:
        return urlsplit(settings.PUBLIC_URL).hostname or ""

    def get_allowed_origins(self) -> list[str]:
        public = urlsplit(settings.PUBLIC_URL)
        return [f"{public.scheme}://{public.netloc}"]

    def create_credential(self, user: Any, *args: Any, **kwargs: Any) -> WebAuthnCredential:
        device = super().create_credential(user, *args, **kwargs)
        number = WebAuthnCredential.objects.filter(user=user).count() + 1
        device.name = _("Passkey %(number)s") % {"number": number}
        return device


def for_user(user: User) -> QuerySet[WebAuthnCredential]:
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at", "pk")


def has_passkey(user: User) -> bool:
    return for_user(user).exists()


def get_own(user: User, passkey_id: int) -> WebAuthnCredential | None:
    """The person's own passkey with this id; None for anyone else's (the view answers 404)."""
    return WebAuthnCredential.objects.filter(user=user, pk=passkey_id).first()


def rename(passkey: WebAuthnCredential, name: str) -> None:
    name = " ".join(name.split())
    if not name:
        raise ValidationError(_("Give the passkey a name, such as the device it is on."))
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(
            _("A passkey's name can be at most %(limit)s characters long.") % {"limit": NAME_MAX_LENGTH}
        )
    passkey.name = name
    passkey.save(update_fields=["name"])


@transaction.atomic
def remove(user: User, passkey: WebAuthnCredential) -> None:
    """Remove one of the person's passkeys, unless it is the last second factor they have."""
    User.objects.select_for_update().filter(
        pk=user.pk
    ).first()  # two removals at once cannot both pass the check
    others = for_user(user).exclude(pk=passkey.pk).exists()
    if not others and not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValidationError(
            _(
                "This is your only second factor: set up an authenticator app or add another passkey "
                "before removing it."
            )
        )
    passkey.delete()


def remove_all(user: User) -> None:
    """Every passkey of the person, and the handle that tied them to the account (a re-enrolment's part)."""
    WebAuthnCredential.objects.filter(user=user).delete()
    WebAuthnUserHandle.objects.filter(user=user).delete()
