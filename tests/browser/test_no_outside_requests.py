"""No page asks anything of another site (SECURITY.md 20): no CDN, fonts, analytics or trackers."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.helpers import (
    PAGE_NAMES,
    assert_no_outside_requests,
    assert_no_script_errors,
    open_named_page,
)

pytestmark = pytest.mark.browser


def test_the_main_pages_load_everything_from_the_server_itself(page: Page, demo_mode_sign_in) -> None:
    for name in PAGE_NAMES:
        open_named_page(page, name)
        page.wait_for_load_state("networkidle")

    assert_no_outside_requests(page)
    assert_no_script_errors(page)
