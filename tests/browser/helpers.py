"""What the browser tests share: signing in, opening the pages under test, and the checks every page must pass.

The conftest wires each page to a `PageRecord`; the helpers here read it back.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import Page, ViewportSize

from circlekeeper.cases.models import Case

KEEPER = "keeper@harbor.example"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}

# Pushes every CSP violation the page sees into window.__cspViolations. Added as an init script, so it runs
# before any of the page's own code, and is itself exempt from the policy.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push({
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
    sample: event.sample,
  });
}, true);
"""

# Notes, once each page has loaded, whether it is wider than the window (the page would zoom out or scroll
# sideways on a phone). Read back by assert_fits_width, which the page fixtures run on every page a test visited.
OVERFLOW_LISTENER = """
window.addEventListener("load", function () {
  var root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    console.warn(
      "circlekeeper-overflow " + location.origin + " " + location.pathname + " " + root.scrollWidth + ">" + root.clientWidth
    );
  }
});
"""
OVERFLOW_MARK = "circlekeeper-overflow "

NEUTRAL_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Weather today</title></head>'
    "<body><p>Weather today: mild, light wind.</p></body></html>"
)

_axe = Axe()


@dataclass
class PageRecord:
    """What the browser told us about one page (tab) while it was open, beyond what the DOM keeps.

    Unlike window.__cspViolations, which starts empty with each document, these lists cover the whole test,
    so a violation on a page passed through on the way (a redirect target, a form's response) is not lost.
    """

    csp_console: list[str] = field(default_factory=list)
    # Pages wider than the window when they loaded: "origin path scrollWidth>clientWidth".
    overflows: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)


RECORDS: weakref.WeakKeyDictionary[Page, PageRecord] = weakref.WeakKeyDictionary()


def record_for(page: Page) -> PageRecord:
    return RECORDS.setdefault(page, PageRecord())


def csp_violations(page: Page) -> list[dict[str, str]]:
    # Violation events are queued as tasks: give them a turn of the event loop before reading.
    return page.evaluate(
        "() => new Promise(resolve => setTimeout(() => resolve(window.__cspViolations || []), 50))"
    )


def assert_no_csp_violations(page: Page) -> None:
    events = csp_violations(page)
    console = record_for(page).csp_console
    assert not events and not console, (
        f"The browser reported Content-Security-Policy violations (now on {page.url}):\n"
        f"events on this page: {events}\nconsole during the test: {console}"
    )


def assert_fits_width(page: Page, *, origin: str = "") -> None:
    """No page this tab loaded, nor the one open now, is wider than the window (scrollWidth <= clientWidth).

    With `origin`, only that server's pages count (not the neutral page the quick exit leaves for)."""
    overflows = [
        overflow.split(" ", 1)[1]
        for overflow in record_for(page).overflows
        if not origin or overflow.split(" ", 1)[0] == origin
    ]
    if not page.is_closed() and page.url.startswith(origin or "http"):
        now = page.evaluate(
            "() => [location.pathname, document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        if now[1] > now[2]:
            overflows.append(f"{now[0]} {now[1]}>{now[2]}")
    assert not overflows, f"Pages wider than the window (path scrollWidth>clientWidth): {overflows}"


def assert_no_outside_requests(page: Page) -> None:
    outside = record_for(page).outside_requests
    assert not outside, f"Pages asked for something outside the server (now on {page.url}): {outside}"


def assert_no_script_errors(page: Page) -> None:
    errors = record_for(page).script_errors
    assert not errors, f"Scripts failed (now on {page.url}): {errors}"


def assert_accessible(page: Page) -> None:
    results = _axe.run(page)
    assert results.violations_count == 0, f"axe on {page.url}:\n{results.generate_report()}"


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def sign_in(page: Page, email: str = KEEPER, password: str | None = None) -> None:
    """Sign in through the login form, as a person would; ends wherever the server sends them next."""
    page.goto(reverse("accounts:login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password or settings.DEMO_PASSWORD)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Sign in", exact=True).click()
    response = navigation.value
    status = response.status if response else None
    assert status == 200 and path_of(page) != reverse("accounts:login"), (
        f"Signing in as {email} did not get past the login form: HTTP {status} at {page.url}\n"
        f"{page.locator('body').inner_text()[:600]}"
    )


# The pages every page-wide check covers; the last three need a signed-in keeper.
PAGE_NAMES = ["home", "login", "dashboard", "case list", "case detail"]


def keeper_case() -> Case:
    return Case.objects.filter(assignments__user__email=KEEPER).order_by("pk").first()


def signed_in(page: Page) -> bool:
    return any(cookie["name"] == settings.SESSION_COOKIE_NAME for cookie in page.context.cookies())


def open_named_page(page: Page, name: str) -> None:
    """Open one of PAGE_NAMES, signing in as the demo keeper first for the staff pages."""
    if name == "home":
        path = reverse("home")
    elif name == "login":
        path = reverse("accounts:login")
    else:
        if not signed_in(page):
            sign_in(page)
        if name == "dashboard":
            path = reverse("dashboard")
        elif name == "case list":
            path = reverse("cases:list")
        else:
            path = reverse("cases:detail", args=[keeper_case().pk])
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path} answered {response and response.status}"
    assert path_of(page) == path, f"Asked for {path}, got {page.url}"


@dataclass
class FocusStop:
    element: str
    outline_visible: bool
    on_screen: bool


def tab_through(page: Page, *, limit: int = 80) -> list[FocusStop]:
    """Press Tab until focus has been round the whole page once, noting how each stop looks.

    Focus may start anywhere (an autofocused field), and passes through the page itself at the end of the
    round, so the round is over when an element comes up a second time.
    """
    stops: list[FocusStop] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(
            """() => {
              const el = document.activeElement;
              if (!el || el === document.body) return null;
              window.__focusSeen = window.__focusSeen || new WeakSet();
              if (window.__focusSeen.has(el)) return {again: true};
              window.__focusSeen.add(el);
              const style = getComputedStyle(el);
              const box = el.getBoundingClientRect();
              const label = (el.getAttribute("aria-label") || el.textContent || el.getAttribute("name") || "")
                .trim().replace(/\\s+/g, " ").slice(0, 40);
              return {
                element: el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " + JSON.stringify(label),
                outline_visible: (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
                  || style.boxShadow !== "none",
                on_screen: box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
                  && box.top < window.innerHeight && box.left < window.innerWidth,
              };
            }"""
        )
        if stop is None:
            continue
        if stop.get("again"):
            break
        stops.append(FocusStop(**stop))
    return stops
