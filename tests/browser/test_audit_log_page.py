"""A demo program admin finds the audit log, sees their own sign-in in it, filters it; axe finds nothing wrong."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.browser.helpers import assert_accessible, assert_no_csp_violations, sign_in

pytestmark = pytest.mark.browser

ADMIN = "admin@harbor.example"


def test_a_program_admin_opens_the_audit_log_and_filters_it(page: Page, demo_mode_sign_in) -> None:
    sign_in(page, ADMIN)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.wait_for_url(f"**{reverse('accounts:audit')}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    table = page.get_by_role("table", name="Audit events at Harbor Community Circle")
    expect(table.get_by_role("row").filter(has_text="Signed in").filter(has_text=ADMIN)).to_have_count(1)
    assert_accessible(page)

    page.get_by_label("What happened").select_option("audit.view")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**action=audit.view**")
    expect(table.get_by_role("row").filter(has_text="Opened the audit log")).to_have_count(1)
    expect(table.get_by_role("row").filter(has_text="Signed in")).to_have_count(0)
    assert_accessible(page)
    assert_no_csp_violations(page)


def test_the_audit_log_has_no_accessibility_violations_on_a_phone(
    phone_page: Page, demo_mode_sign_in
) -> None:
    sign_in(phone_page, ADMIN)
    phone_page.goto(reverse("accounts:audit"))

    assert_accessible(phone_page)
