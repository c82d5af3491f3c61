"""Every keyboard stop on the main pages shows where focus is, and is on screen when it has it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.helpers import PAGE_NAMES, open_named_page, tab_through

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_focus_stop_is_visible_and_on_screen(page: Page, demo_mode_sign_in, name: str) -> None:
    open_named_page(page, name)

    stops = tab_through(page)

    assert any(stop.element.startswith("select#language-select") for stop in stops), stops
    hidden = [stop for stop in stops if not (stop.outline_visible and stop.on_screen)]
    assert not hidden, f"Focus cannot be seen on: {hidden}"
