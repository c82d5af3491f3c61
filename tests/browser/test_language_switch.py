"""The language form in every page's header switches the whole page to Spanish."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.browser.helpers import assert_no_csp_violations, path_of

pytestmark = pytest.mark.browser


def test_choosing_spanish_in_the_header_turns_the_login_page_spanish(page: Page) -> None:
    page.goto(reverse("accounts:login"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff sign-in")

    page.get_by_label("Language").select_option("es")
    with page.expect_navigation():
        page.get_by_role("button", name="Change").click()

    assert path_of(page) == reverse("accounts:login")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#language-select")).to_have_value("es")
    heading = page.get_by_role("heading", level=1)
    expect(heading).not_to_have_text("Staff sign-in")
    expect(heading).not_to_have_text("")
    assert_no_csp_violations(page)
