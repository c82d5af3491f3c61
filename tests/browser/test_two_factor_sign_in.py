"""Staff sign in with a second factor: a code from their authenticator, or setting one up the first time."""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from circlekeeper.accounts.models import User
from tests.browser.helpers import KEEPER, assert_no_csp_violations, path_of, sign_in

pytestmark = pytest.mark.browser


def current_code(device: TOTPDevice) -> str:
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
    return f"{code:06d}"


@pytest.fixture
def mfa_required(settings, demo_network) -> None:
    settings.REQUIRE_MFA = True


def test_a_keeper_with_an_authenticator_gets_in_only_after_typing_its_current_code(
    page: Page, mfa_required
) -> None:
    device = TOTPDevice.objects.create(user=User.objects.get(email=KEEPER), name="Phone", confirmed=True)

    sign_in(page, KEEPER)
    assert path_of(page) == reverse("accounts:mfa_verify")
    page.goto(reverse("dashboard"))
    assert path_of(page) == reverse("accounts:mfa_verify"), "The password alone opened the dashboard"

    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(f"**{reverse('dashboard')}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    assert_no_csp_violations(page)


def test_a_first_sign_in_without_an_authenticator_sets_one_up_and_shows_recovery_codes(
    page: Page, mfa_required
) -> None:
    sign_in(page, KEEPER)

    assert path_of(page) == reverse("accounts:mfa_setup")
    expect(page.locator("figure.qr-code > svg")).to_be_visible()
    device = TOTPDevice.objects.get(user__email=KEEPER, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    expect(page.locator("code.secret")).to_have_text(secret)
    assert_no_csp_violations(page)  # the QR code is inline SVG: it must not need inline styles

    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor sign-in is on")
    expect(page.locator("ul.recovery-codes li code")).to_have_count(10)
    device.refresh_from_db()
    assert device.confirmed
    page.get_by_role("link", name="I have kept them").click()
    page.wait_for_url(f"**{reverse('dashboard')}")
    assert_no_csp_violations(page)
