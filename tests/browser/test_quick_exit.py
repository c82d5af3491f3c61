"""The public pages' quick exit (SECURITY.md 19): first in tab order, Escape or Shift three times, no way back."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.browser.helpers import assert_no_script_errors, path_of

pytestmark = pytest.mark.browser


def assert_on_the_neutral_site(page: Page) -> None:
    page.wait_for_url(settings.QUICK_EXIT_URL)
    expect(page).to_have_title("Weather today")


def test_the_first_tab_from_page_load_lands_on_the_quick_exit(page: Page) -> None:
    page.goto(reverse("home"))

    page.keyboard.press("Tab")

    focused = page.locator(":focus")
    expect(focused).to_have_id("quick-exit")
    expect(focused).to_have_text("Quick exit")
    expect(focused).to_be_in_viewport()


def test_escape_replaces_the_page_with_the_neutral_site_so_back_does_not_return_to_it(page: Page) -> None:
    page.goto(reverse("accounts:login"))
    page.goto(reverse("home"))

    page.keyboard.press("Escape")
    assert_on_the_neutral_site(page)

    page.go_back()
    # location.replace took the home page's place in history: one step back is the page before it.
    assert path_of(page) == reverse("accounts:login"), f"Back went to {page.url}"
    assert_no_script_errors(page)


def test_pressing_shift_three_times_leaves_for_the_neutral_site(page: Page) -> None:
    page.goto(reverse("home"))

    for _ in range(3):
        page.keyboard.press("Shift")

    assert_on_the_neutral_site(page)
    page.go_back()
    assert path_of(page) != reverse("home")


def test_clicking_the_quick_exit_leaves_for_the_neutral_site(phone_page: Page) -> None:
    phone_page.goto(reverse("home"))
    button = phone_page.get_by_role("link", name="Quick exit")
    expect(button).to_be_in_viewport()

    button.tap()

    assert_on_the_neutral_site(phone_page)


def test_the_quick_exit_says_plainly_that_it_does_not_erase_history(page: Page) -> None:
    page.goto(reverse("home"))

    expect(page.locator(".quick-exit")).to_contain_text("does not erase your browser history")
