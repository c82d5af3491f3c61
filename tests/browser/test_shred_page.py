"""Crypto-shredding from the web (issue 18, build 3), in a real browser: the program admin opens the page from
People, confirms who they are, reads what will be destroyed and what stays, types a wrong name (nothing happens)
and then the organization's name. At 390 px without JavaScript (a plain form is enough), and at 1280 px with axe."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import Page, ViewportSize, expect

from circlekeeper.accounts.models import Organization
from circlekeeper.lib import keys
from tests.browser.helpers import DESKTOP, PHONE, assert_accessible, sign_in

pytestmark = pytest.mark.browser

ADMIN = "admin@harbor.example"


def submit(page: Page, button: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px-no-js", "1280px"])
def test_a_program_admin_shreds_the_organization_after_reading_what_happens(
    new_page: Callable[..., Page], demo_mode_sign_in, viewport: ViewportSize
) -> None:
    javascript = viewport == DESKTOP
    harbor = Organization.objects.get(slug="harbor")
    page = new_page(viewport, phone=viewport == PHONE, javascript=javascript)
    sign_in(page, ADMIN)
    page.goto(reverse("accounts:member_list"))
    with page.expect_navigation():
        page.get_by_role("link", name="Shred the organization's data (crypto-shredding)").click()

    # Who they are first, as before an export.
    page.get_by_label("Your password").fill(settings.DEMO_PASSWORD)
    submit(page, "Confirm")
    expect(page.get_by_role("heading", name="What will be destroyed, for good")).to_be_visible()
    expect(page.get_by_role("heading", name="What stays")).to_be_visible()
    if javascript:
        assert_accessible(page)

    page.get_by_label("Type the organization's name to confirm").fill("Harbour")
    submit(page, "Destroy the keys for good")
    expect(page.get_by_text("not the organization's name; nothing was changed").first).to_be_visible()
    assert keys.keys_destroyed_at(harbor.pk) is None

    page.get_by_label("Type the organization's name to confirm").fill(harbor.name)
    submit(page, "Destroy the keys for good")
    expect(page.get_by_role("status").first).to_contain_text("keys destroyed")
    expect(page.get_by_text("were destroyed on")).to_be_visible()
    expect(page.get_by_label("Type the organization's name to confirm")).to_have_count(0)
    assert keys.keys_destroyed_at(harbor.pk) is not None
    if javascript:
        assert_accessible(page)
