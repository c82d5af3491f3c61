"""The second factor: TOTP devices, their QR code, and single-use recovery codes (django-otp)."""

from __future__ import annotations

import base64
import io

import segno
from django.db import transaction
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from circlekeeper.accounts.models import User

RECOVERY_CODE_COUNT = 10


def has_confirmed_device(user: User) -> bool:
    """Whether the person has a second factor: an authenticator app or a passkey (recovery codes alone are not one)."""
    return (
        TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        or WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()
    )


def match_code(user: User, code: str) -> tuple[Device | None, bool]:
    """The confirmed device this code belongs to, and whether the check was refused as throttled.

    Six digits go to the authenticator, anything else to the recovery codes, so that using a recovery
    code does not count as a wrong authenticator code (which would slow the next sign-in down).
    """
    devices: list[Device]
    if len(code) == 6 and code.isdigit():
        devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    else:
        devices = list(StaticDevice.objects.filter(user=user, confirmed=True))
    throttled = False
    for device in devices:
        allowed, _details = device.verify_is_allowed()
        if not allowed:
            throttled = True
        elif device.verify_token(code):
            return device, False
    return None, throttled


def pending_totp_device(user: User) -> TOTPDevice:
    """The unconfirmed authenticator being set up, made once so the QR code stays the same on reload."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def totp_secret(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")


def qr_code_svg(device: TOTPDevice) -> str:
    """An inline SVG of the provisioning URL: drawn here, so the secret never leaves the server."""
    buffer = io.BytesIO()
    segno.make(device.config_url, error="m").save(
        buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, title="QR code", nl=False
    )
    return buffer.getvalue().decode("utf-8")


@transaction.atomic
def confirm_totp_device(user: User, device: TOTPDevice) -> list[str]:
    """Make the new authenticator the only one, and issue fresh recovery codes (returned once, in clear)."""
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
    return codes
