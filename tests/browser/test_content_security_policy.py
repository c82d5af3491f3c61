"""The browser reports no Content-Security-Policy violation (SECURITY.md 18), loaded or tabbed through."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.helpers import PAGE_NAMES, assert_no_csp_violations, open_named_page, tab_through

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_the_browser_reports_no_csp_violation(page: Page, demo_mode_sign_in, name: str) -> None:
    open_named_page(page, name)
    assert_no_csp_violations(page)

    # Focus styles, the skip link sliding in, the language form: all of it must work within the policy too.
    stops = tab_through(page)

    assert stops, "Nothing on the page took keyboard focus"
    assert_no_csp_violations(page)
