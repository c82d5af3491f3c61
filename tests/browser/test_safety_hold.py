"""In a real browser: the safety advocate runs the safety check with a survivor, a "yes" to strangulation comes
out high and the safety page shows the hold; the supervisor signs in and finds the alert on the dashboard.
axe finds nothing on the safety page and on the safety plan page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from circlekeeper.cases.models import Case, CaseStatus, Participant, ParticipantRole
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.safety.models import SafetyHold
from circlekeeper.safety.tests.checks import ITEMS
from tests.browser.helpers import assert_accessible, assert_no_csp_violations, path_of, sign_in

pytestmark = pytest.mark.browser

ADVOCATE = "advocate@harbor.example"
SUPERVISOR = "supervisor@harbor.example"


@pytest.fixture
def survivor(demo_mode_sign_in) -> Participant:
    """Survivor A of an open demo case the advocate and supervisor are on, with the built-in check loaded."""
    load_builtins()
    case = (
        Case.objects.filter(status=CaseStatus.OPEN, on_hold=False, assignments__user__email=ADVOCATE)
        .filter(assignments__user__email=SUPERVISOR)
        .order_by("pk")
        .first()
    )
    assert case is not None, "the demo network has an open case for the advocate and the supervisor"
    return case.participants.get(role=ParticipantRole.SURVIVOR)


def choose(page: Page, code: str, value: str) -> None:
    page.locator(f'input[name="q-{code}"][value="{value}"]').check()


def save_and_continue(page: Page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Save and continue").click()


def test_a_high_check_puts_the_case_on_hold_and_the_supervisor_sees_the_alert(
    page: Page, new_page: Callable[..., Page], survivor: Participant
) -> None:
    case = survivor.case
    safety_page = reverse("safety:case", args=[case.pk])
    sign_in(page, ADVOCATE)
    page.goto(safety_page)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Safety for case {case.reference}")
    expect(page.locator(".hold-notice")).to_have_count(0)
    assert_accessible(page)

    with page.expect_navigation():
        page.get_by_role("button", name=f"Run the safety check with {survivor.label}").click()
    expect(page.get_by_text(f"You are entering answers on behalf of {survivor.label}")).to_be_visible()
    choose(page, "danger_now", "0")
    save_and_continue(page)
    for code in ITEMS[1:]:
        choose(page, code, "1" if code == "strangulation" else "0")
    save_and_continue(page)
    expect(page.get_by_role("heading", name="Check your answers")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("cell", name="High", exact=True)).to_be_visible()

    page.goto(safety_page)
    notice = page.locator(".hold-notice")
    expect(notice).to_be_visible()
    expect(notice.get_by_role("heading", level=2)).to_have_text("This case is on safety hold")
    expect(notice).to_contain_text("A safety check came out high or severe")
    expect(notice).to_contain_text("Automatically, from the safety check")
    expect(page.locator(".facts strong").first).to_have_text("High")
    assert_accessible(page)
    assert_no_csp_violations(page)
    hold = SafetyHold.objects.get(case=case, lifted_at__isnull=True)

    other = new_page()
    sign_in(other, SUPERVISOR)
    assert path_of(other) == reverse("dashboard")
    alerts = other.locator("section", has=other.get_by_role("heading", name="What needs doing first"))
    # The alert comes first: safety before everything else on the ranked worklist.
    first = alerts.locator("ol > li").first
    expect(first).to_contain_text(case.reference)
    expect(first).to_contain_text("A safety check came out high or severe (High)")
    expect(alerts.get_by_role("button", name=f"Acknowledge {case.reference}")).to_be_visible()
    expect(alerts).to_contain_text("waiting for a newer safety check below high")
    assert_accessible(other)
    with other.expect_navigation():
        alerts.get_by_role("button", name=f"Acknowledge {case.reference}").click()
    assert path_of(other) == reverse("dashboard")
    expect(other.get_by_role("status")).to_contain_text("Alert acknowledged")
    assert hold.alerts.filter(acknowledged_at__isnull=True).count() == 0
    assert_no_csp_violations(other)


def test_axe_finds_no_violations_on_the_safety_plan_pages(page: Page, survivor: Participant) -> None:
    case = survivor.case
    sign_in(page, ADVOCATE)
    page.goto(reverse("safety:plan", args=[case.pk, survivor.pk]))
    expect(page.get_by_text("No plan yet", exact=True)).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Make a plan").click()
    page.wait_for_url(f"**{reverse('safety:plan_edit', args=[case.pk, survivor.pk])}")
    assert_accessible(page)
    page.get_by_label("People to call").fill("My sister; the program's line")
    page.get_by_label("Safe places").fill("The library on Main Street")
    with page.expect_navigation():
        page.get_by_role("button", name="Save a new revision").click()
    expect(page.get_by_role("heading", name="People to call")).to_be_visible()
    expect(page.get_by_text("The library on Main Street")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Print").click()
    expect(page.get_by_text("Paper can be found.")).to_be_visible()
    expect(page.get_by_text("The library on Main Street")).to_have_count(0)
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="The survivor chose to take it: show the page to print").click()
    expect(page.get_by_role("heading", name="My plan")).to_be_visible()
    assert_accessible(page)
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator(".no-print").first).to_be_hidden()
    expect(page.get_by_text("The library on Main Street")).to_be_visible()
    assert_no_csp_violations(page)
