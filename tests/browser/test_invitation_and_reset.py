"""Issue 19: an admin invites a person, who accepts, chooses their own password, enrols TOTP, signs out, resets the
password by email (locmem backend) and signs in again; nobody else ever knew the password. The second test adds a
passkey on the way (Chromium's virtual authenticator) and signs in with it as the second factor."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential
from playwright.sync_api import Page, expect

from circlekeeper.accounts.models import User
from circlekeeper.testing import audit_log
from tests.browser.helpers import (
    assert_accessible,
    assert_no_csp_violations,
    assert_no_outside_requests,
    assert_no_script_errors,
    path_of,
    sign_in,
)

pytestmark = pytest.mark.browser

ADMIN = "admin@harbor.example"
INVITEE = "new.keeper@harbor.example"
FIRST = "my own first passphrase 31"
SECOND = "a second passphrase after reset 58"
NEW_PASSWORD = re.compile(r"^New password:?$")


def code(device: TOTPDevice, *, ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + ahead * device.step
    return f"{totp.token():06d}"


def path_in_last_mail(pattern: str) -> str:
    found = re.search(rf"https?://[^/\s]+({pattern})", str(mail.outbox[-1].body))
    assert found, mail.outbox[-1].body
    return found.group(1)


# The reset email is sent by a background task queued when the request commits; here it runs at once.
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def mfa_required(settings, demo_network) -> None:
    settings.REQUIRE_MFA = True
    settings.TASKS = IMMEDIATE


def invite_and_enrol(page: Page) -> TOTPDevice:
    """The admin invites; the invitee makes the account, enrols TOTP and keeps the recovery codes."""
    admin_device = TOTPDevice.objects.create(user=User.objects.get(email=ADMIN), name="Phone", confirmed=True)
    sign_in(page, ADMIN)
    page.get_by_label("Code").fill(code(admin_device))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"**{reverse('dashboard')}")

    page.goto(reverse("accounts:member_add"))
    page.get_by_label("Email").fill(INVITEE)
    page.get_by_label("Keeper").check()
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_text(f"An invitation was sent to {INVITEE}")).to_be_visible()
    assert not User.objects.filter(email=INVITEE).exists(), "the admin made no account"
    page.get_by_role("button", name="Sign out").click()

    # The invitee opens the emailed link: the token leaves the address bar at once.
    assert mail.outbox[-1].to == [INVITEE]
    page.goto(path_in_last_mail(r"/accounts/invitation/[^/\s]+/"))
    assert path_of(page) == reverse("accounts:invitation")
    page.get_by_label("Your name").fill("Nia")
    page.get_by_label(NEW_PASSWORD).fill(FIRST)
    page.get_by_label("New password again").fill(FIRST)
    page.get_by_role("button", name="Make my account").click()

    # The second factor, in the same flow.
    page.wait_for_url(f"**{reverse('accounts:mfa_setup')}")
    device = TOTPDevice.objects.get(user__email=INVITEE, confirmed=False)
    page.get_by_label("Code").fill(code(device))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor sign-in is on")
    page.get_by_role("link", name="I have kept them").click()
    page.wait_for_url(f"**{reverse('dashboard')}")
    assert_no_csp_violations(page)
    return device


def reset_password_by_email(page: Page) -> None:
    page.goto(reverse("accounts:login"))
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(INVITEE)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_text("If an account uses that address")).to_be_visible()
    page.goto(path_in_last_mail(r"/accounts/password-reset/[^/\s]+/[^/\s]+/"))
    assert path_of(page) == reverse("accounts:password_reset_set")
    page.get_by_label(NEW_PASSWORD).fill(SECOND)
    page.get_by_label("New password again").fill(SECOND)
    page.get_by_role("button", name="Set the new password").click()
    page.wait_for_url(f"**{reverse('accounts:login')}")


def test_an_invited_person_makes_their_account_enrols_totp_and_resets_their_password(
    page: Page, mfa_required
):
    device = invite_and_enrol(page)
    page.get_by_role("button", name="Sign out").click()

    # Forgotten password: reset by email, then sign in with the new one and the same authenticator.
    reset_password_by_email(page)
    sign_in(page, INVITEE, password=SECOND)
    assert path_of(page) == reverse("accounts:mfa_verify"), "the reset kept the second factor"
    device.refresh_from_db()
    page.get_by_label("Code").fill(code(device, ahead=1))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"**{reverse('dashboard')}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    assert_no_csp_violations(page)


def add_virtual_authenticator(page: Page) -> None:
    """Chromium's virtual authenticator: a platform passkey that always verifies its user."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def sign_in_with_passkey(page: Page, password: str) -> None:
    sign_in(page, INVITEE, password=password)
    assert path_of(page) == reverse("accounts:mfa_verify")
    passkey = page.get_by_role("button", name="Use a passkey")
    expect(passkey).to_be_visible()
    assert_accessible(page)
    passkey.click()
    page.wait_for_url(f"**{reverse('dashboard')}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


def test_an_invited_person_adds_a_passkey_signs_in_with_it_and_resets_their_password(
    page: Page, mfa_required, settings, live_server
):
    # The relying party is the site as people reach it: here, the test server on localhost (a secure context).
    settings.PUBLIC_URL = live_server.url
    assert "localhost" in live_server.url
    device = invite_and_enrol(page)
    add_virtual_authenticator(page)

    # Later, from their own account page, after confirming who they are again.
    page.get_by_role("link", name="Your account").click()
    page.get_by_role("link", name="Passkeys").click()
    assert path_of(page) == reverse("accounts:reauthenticate")
    page.get_by_label("Your password").fill(FIRST)
    page.get_by_label("Code").fill(code(device, ahead=1))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"**{reverse('accounts:passkeys')}")
    assert_accessible(page)
    page.get_by_role("button", name="Add a passkey").click()
    name = page.get_by_label("Name")
    expect(name).to_have_value("Passkey 1")  # the page reloads with the new passkey listed
    name.fill("This laptop")
    page.get_by_role("button", name="Rename Passkey 1").click()
    expect(page.get_by_label("Name")).to_have_value("This laptop")
    assert_accessible(page)
    assert_no_csp_violations(page)
    assert_no_script_errors(page)
    assert WebAuthnCredential.objects.filter(user__email=INVITEE, name="This laptop").count() == 1
    page.get_by_role("button", name="Sign out").click()

    # The passkey is the second factor after the password.
    sign_in_with_passkey(page, FIRST)
    assert_no_csp_violations(page)
    page.get_by_role("button", name="Sign out").click()

    # A reset by email keeps the passkey: sign in with the new password and the same passkey.
    reset_password_by_email(page)
    sign_in_with_passkey(page, SECOND)
    assert_no_csp_violations(page)
    assert_no_script_errors(page)
    assert_no_outside_requests(page)
    actions = list(
        audit_log()
        .filter(actor_id=User.objects.get(email=INVITEE).pk)
        .filter(action__in=["passkey.add", "passkey.rename", "mfa.verify"])
        .values_list("action", "object_type", "outcome")
    )
    assert ("passkey.add", "passkey", "ok") in actions
    assert ("passkey.rename", "passkey", "ok") in actions
    assert actions.count(("mfa.verify", "passkey", "ok")) == 2
