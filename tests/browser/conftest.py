"""Browser tests: one system Chromium for the whole session, a fresh context for each test.

Every context is fenced in: any request that is not to the live server is aborted (and recorded), except the
quick-exit destination, which is answered here with a small neutral page. Nothing leaves the machine.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    ViewportSize,
    sync_playwright,
)

from circlekeeper.demo.cases import seed_network
from tests.browser.helpers import (
    CSP_LISTENER,
    DESKTOP,
    NEUTRAL_PAGE,
    OVERFLOW_LISTENER,
    OVERFLOW_MARK,
    PHONE,
    assert_fits_width,
    record_for,
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 10_000


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run after every other test (keeping pytest-django's order otherwise).

    Once Playwright has started, its event loop counts as running in this thread until the session ends, so
    Django's ORM only works with DJANGO_ALLOW_ASYNC_UNSAFE set; no other test should run in that state (a
    subprocess would inherit the variable, and `check --deploy` rightly refuses it: async.E001).
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def chromium_path() -> Path:
    return Path(os.environ.get("CIRCLEKEEPER_CHROMIUM") or "/usr/bin/chromium")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    executable = chromium_path()
    if not (executable.is_file() and os.access(executable, os.X_OK)):
        message = (
            f"No Chromium at {executable}: install the distribution's chromium package "
            "or set CIRCLEKEEPER_CHROMIUM to its path."
        )
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{message} CI=true, so the browser tests may not be skipped.", pytrace=False)
        pytest.skip(message)
    # Playwright's sync API runs an event loop in the test thread, and Django refuses ORM calls from a thread
    # with a running loop unless told it is safe (it is: the loop never runs our code concurrently). Set only
    # from here on, not at import, so the tests that run first (see above) keep Django's guard.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as instance:
            yield instance
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(chromium_path()), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


def _is_quick_exit(url: str) -> bool:
    target = urlsplit(settings.QUICK_EXIT_URL)
    asked = urlsplit(url)
    return (asked.scheme, asked.netloc, asked.path) == (target.scheme, target.netloc, target.path)


@pytest.fixture
def new_page(browser: Browser, live_server, transactional_db) -> Iterator[Callable[..., Page]]:
    """Makes pages in fresh contexts (no cookies, no storage), each watched for CSP violations."""
    server = urlsplit(live_server.url)
    contexts = []
    pages: list[Page] = []

    def make(viewport: ViewportSize = DESKTOP, *, phone: bool = False, javascript: bool = True) -> Page:
        context = browser.new_context(
            base_url=live_server.url,
            viewport=viewport,
            is_mobile=phone,
            has_touch=phone,
            locale="en-US",
            service_workers="block",
            # Off: the page's own scripts never run (Playwright's evaluate, and so axe, still do).
            java_script_enabled=javascript,
        )
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(CSP_LISTENER)
        context.add_init_script(OVERFLOW_LISTENER)
        page = context.new_page()
        pages.append(page)
        record = record_for(page)

        def fence(route: Route) -> None:
            url = urlsplit(route.request.url)
            if (url.scheme, url.netloc) == (server.scheme, server.netloc):
                route.continue_()
            elif _is_quick_exit(route.request.url):
                route.fulfill(status=200, content_type="text/html; charset=utf-8", body=NEUTRAL_PAGE)
            else:
                record.outside_requests.append(route.request.url)
                route.abort("blockedbyclient")

        context.route("**/*", fence)

        def note_csp_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                record.csp_console.append(f"{message.location.get('url')}: {message.text}")
            elif message.text.startswith(OVERFLOW_MARK):
                record.overflows.append(message.text[len(OVERFLOW_MARK) :])

        page.on("console", note_csp_console)
        page.on("pageerror", lambda error: record.script_errors.append(str(error)))
        return page

    yield make
    try:
        # Every page a test visited fits its window: none zooms out or scrolls sideways on a phone (issue 18).
        for page in pages:
            assert_fits_width(page, origin=live_server.url)
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page(DESKTOP)


@pytest.fixture
def phone_page(new_page: Callable[..., Page]) -> Page:
    return new_page(PHONE, phone=True)


@pytest.fixture
def demo_network(transactional_db) -> None:
    """The demo network of `make run`: keeper@harbor.example and friends, all with the demo password."""
    seed_network(settings.DEMO_PASSWORD, datetime.date(2026, 3, 1))


@pytest.fixture
def demo_mode_sign_in(settings, demo_network) -> None:
    """Sign-in as demo mode does it: the password alone, no second factor."""
    settings.REQUIRE_MFA = False
