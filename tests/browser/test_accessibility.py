"""axe finds no violations on the pages people use most, at desktop and phone sizes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.urls import reverse
from playwright.sync_api import Page

from tests.browser.helpers import DESKTOP, PAGE_NAMES, PHONE, assert_accessible, open_named_page

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_axe_finds_no_violations_on_a_desktop(page: Page, demo_mode_sign_in, name: str) -> None:
    open_named_page(page, name)

    assert_accessible(page)


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_axe_finds_no_violations_on_a_phone(phone_page: Page, demo_mode_sign_in, name: str) -> None:
    open_named_page(phone_page, name)

    assert_accessible(phone_page)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_no_violations_with_the_demo_banner_showing(
    new_page: Callable[..., Page], demo_mode_sign_in, settings, viewport
) -> None:
    settings.DEMO_MODE = True  # what `make run` shows everyone: the banner that says the data is invented
    page = new_page(viewport, phone=viewport is PHONE)

    for path in (reverse("home"), reverse("accounts:login")):
        page.goto(path)
        assert_accessible(page)
