"""A demo keeper signs in with the password alone (as demo mode allows), finds the case list and opens a case."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.browser.helpers import assert_no_csp_violations, path_of, sign_in

pytestmark = pytest.mark.browser


def test_a_demo_keeper_signs_in_and_lands_on_the_dashboard(page: Page, demo_mode_sign_in) -> None:
    sign_in(page, "keeper@harbor.example")

    assert path_of(page) == reverse("dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator("footer")).to_contain_text("Harbor Community Circle")


def test_a_demo_keeper_opens_the_case_list_and_then_a_case(page: Page, demo_mode_sign_in) -> None:
    sign_in(page, "keeper@harbor.example")

    page.get_by_role("link", name="Open the case list").click()
    page.wait_for_url(f"**{reverse('cases:list')}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    first_case = page.locator("table tbody th a").first
    reference = first_case.inner_text()
    assert reference.startswith("HAR-"), reference

    first_case.click()
    page.wait_for_url("**/cases/*/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {reference}")
    expect(page).to_have_title(re.compile(re.escape(reference)))
    expect(page.get_by_role("heading", name="Team")).to_be_visible()
    assert_no_csp_violations(page)
