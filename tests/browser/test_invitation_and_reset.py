"""Issue 19: an admin invites a person, who accepts, chooses their own password, enrols TOTP, signs out, resets the
password by email (locmem backend) and signs in again; nobody else ever knew the password."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from circlekeeper.accounts.models import User
from tests.browser.helpers import assert_no_csp_violations, path_of, sign_in

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


@pytest.fixture
def mfa_required(settings, demo_network) -> None:
    settings.REQUIRE_MFA = True


def test_an_invited_person_makes_their_account_enrols_totp_and_resets_their_password(
    page: Page, mfa_required
):
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
    page.get_by_role("button", name="Sign out").click()

    # Forgotten password: reset by email, then sign in with the new one and the same authenticator.
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

    sign_in(page, INVITEE, password=SECOND)
    assert path_of(page) == reverse("accounts:mfa_verify"), "the reset kept the second factor"
    device.refresh_from_db()
    page.get_by_label("Code").fill(code(device, ahead=1))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"**{reverse('dashboard')}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    assert_no_csp_violations(page)
