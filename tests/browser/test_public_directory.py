"""Issue 9's public pages in a real browser, as someone looking for help would see them: on a phone, in Spanish,
the directory with its filters (a plain form, no script needed) and the impact page with its charts and tables;
the quick exit by keyboard; axe finds nothing; nothing is asked of another site."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import Page, ViewportSize, expect

from circlekeeper.demo.public import ENTRIES, seed_public
from tests.browser.helpers import (
    assert_accessible,
    assert_no_csp_violations,
    assert_no_outside_requests,
    assert_no_script_errors,
    path_of,
)

pytestmark = pytest.mark.browser

SMALL_PHONE: ViewportSize = {"width": 375, "height": 740}
NETWORK = "bay-area"


@pytest.fixture
def public_demo(demo_network) -> None:
    seed_public()


@pytest.fixture
def small_phone(new_page: Callable[..., Page]) -> Page:
    return new_page(SMALL_PHONE, phone=True)


def switch_to_spanish(page: Page) -> None:
    page.locator("#language-select").select_option("es")
    with page.expect_navigation():
        page.locator(".language-form button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")


def assert_fits_the_screen(page: Page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the phone's screen"


def test_the_directory_on_a_phone_in_spanish_filters_without_script_and_passes_axe(
    public_demo, small_phone: Page
) -> None:
    page = small_phone
    page.goto(reverse("public:directory", args=[NETWORK]))
    switch_to_spanish(page)

    assert path_of(page) == reverse("public:directory", args=[NETWORK])
    expect(page.get_by_text(ENTRIES["harbor"]["summary_es"])).to_be_visible()
    expect(page.get_by_text(ENTRIES["bridge"]["summary_es"])).to_be_visible()
    expect(page.locator(".entry")).to_have_count(3)
    assert_fits_the_screen(page)
    assert_accessible(page)

    # Only the programs that work with people who caused harm: the form is a plain GET, the server filters.
    page.locator("#filter-harm").select_option("yes")
    with page.expect_navigation():
        page.locator(".public-filters button[type=submit]").click()
    assert "harm=yes" in page.url
    expect(page.locator(".entry")).to_have_count(2)
    expect(page.get_by_text(ENTRIES["bridge"]["summary_es"])).to_have_count(0)
    assert_accessible(page)
    assert_no_csp_violations(page)
    assert_no_outside_requests(page)
    assert_no_script_errors(page)


def test_the_impact_page_on_a_phone_in_spanish_shows_charts_with_tables_and_passes_axe(
    public_demo, small_phone: Page
) -> None:
    page = small_phone
    page.goto(reverse("public:impact", args=[NETWORK]))
    switch_to_spanish(page)

    expect(page.locator("svg.chart[role=img]")).to_have_count(5)
    expect(page.locator("table.numbers caption").first).to_be_visible()
    expect(page.get_by_text("Harbor Community Circle", exact=False).first).to_be_visible()
    assert "Bridge Family Collective" not in page.content()
    assert_fits_the_screen(page)
    assert_accessible(page)
    assert_no_csp_violations(page)
    assert_no_outside_requests(page)
    assert_no_script_errors(page)


def test_the_directory_works_with_scripts_off(public_demo, new_page: Callable[..., Page]) -> None:
    page = new_page(SMALL_PHONE, phone=True, javascript=False)
    page.goto(reverse("public:directory", args=[NETWORK]))

    page.locator("#filter-track").select_option("community_accountability")
    with page.expect_navigation():
        page.locator(".public-filters button[type=submit]").click()

    expect(page.locator(".entry")).to_have_count(1)
    expect(page.get_by_role("heading", name="Valley Healing Alliance")).to_be_visible()


def test_escape_leaves_the_directory_for_the_neutral_site(public_demo, small_phone: Page) -> None:
    page = small_phone
    page.goto(reverse("public:directory", args=[NETWORK]))
    switch_to_spanish(page)

    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_id("quick-exit")
    expect(focused).to_have_text("Salida rápida")
    expect(focused).to_be_in_viewport()

    page.keyboard.press("Escape")

    page.wait_for_url(settings.QUICK_EXIT_URL)
    expect(page).to_have_title("Weather today")
    assert_no_script_errors(page)
