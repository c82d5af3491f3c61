"""Issue 18 in a real browser, through the pages only, at 390 px and at 1280 px: a keeper creates a referral
(the "already known?" answer shown first), runs the screen and the check, records the intake, adds a "Survivor C"
by mistake — who then blocks the safety-planning gate — marks them entered in error, and the case moves on with
no consent, plan or affirmation made up for someone who does not exist. A supervisor reopens a withdrawn case at
the survivor's recorded request. axe finds nothing on the new pages, and none overflows the phone's width."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, CaseAssignment, CaseStatus, Consent, Participant, Stage, TeamRole
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.protocol import services
from circlekeeper.safety.models import SafetyPlan
from tests.browser.helpers import DESKTOP, KEEPER, PHONE, assert_accessible, assert_no_script_errors, sign_in
from tests.browser.test_referral_to_agreement import (
    click_and_wait,
    move_on,
    record_intake,
    run_screen_and_check,
)

pytestmark = pytest.mark.browser

SUPERVISOR = "supervisor@harbor.example"


def assert_fits(page: Page) -> None:
    """Nothing wider than the window: no page zooms out on a phone."""
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, (page.url, overflow)


def check_page(page: Page) -> None:
    assert_accessible(page)
    assert_fits(page)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_a_keeper_creates_a_referral_and_corrects_a_participant_added_by_mistake(
    new_page: Callable[..., Page], demo_mode_sign_in, viewport: ViewportSize
) -> None:
    load_builtins()
    page = new_page(viewport, phone=viewport == PHONE)
    sign_in(page, KEEPER)
    before = set(Case.objects.values_list("pk", flat=True))

    # From the dashboard: the new referral, with "is this person already known?" answered before anything exists.
    page.goto(reverse("dashboard"))
    with page.expect_navigation():
        page.get_by_role("link", name="New referral").first.click()
    check_page(page)
    page.get_by_label("A shelter").check()
    page.get_by_label("How to reach the survivor safely").fill("Text only, after 6 pm")
    page.get_by_label("Name").fill("Lena Ruiz")
    supervisor = User.objects.get(email=SUPERVISOR)
    page.get_by_label("Supervisor on the team").select_option(str(supervisor.pk))
    click_and_wait(page, "Check and create the referral")
    expect(page.get_by_role("heading", name="Is this person already known?")).to_be_visible()
    expect(page.get_by_text("No one with these details is recorded in the organization.")).to_be_visible()
    assert set(Case.objects.values_list("pk", flat=True)) == before
    check_page(page)
    click_and_wait(page, "Create the referral")
    expect(page.get_by_role("status")).to_contain_text("Offer the survivor the immediate-danger screen now.")
    [case_id] = set(Case.objects.values_list("pk", flat=True)) - before
    case = Case.objects.get(pk=case_id)
    assert set(case.assignments.values_list("user__email", flat=True)) == {KEEPER, SUPERVISOR}

    # The screen and the check, then intake through its page.
    run_screen_and_check(page, case)
    move_on(page, case, "Intake: getting clear")
    record_intake(page, case)
    check_page(page)
    page.goto(reverse("cases:track_choice", args=[case.pk]))
    record = page.locator("section[aria-labelledby=record]")
    record.locator("input[name=track][value=support_only]").check()
    with page.expect_navigation():
        record.locator("button[type=submit]").click()

    # A second "survivor" added by mistake.
    page.goto(reverse("cases:participant_add", args=[case.pk]))
    page.get_by_label("Role in the case").select_option("survivor")
    page.get_by_label("Label").fill("Survivor C")
    click_and_wait(page, "Add")
    move_on(page, case, "Safety planning")
    survivor = case.participants.get(label="Survivor A")
    page.goto(reverse("safety:plan_edit", args=[case.pk, survivor.pk]))
    page.get_by_label("People to call").fill("My sister")
    click_and_wait(page, "Save a new revision")

    # Survivor C, who does not exist, blocks the gate.
    page.goto(reverse("protocol:case", args=[case.pk]))
    click_and_wait(page, "Move on to Mapping support")
    expect(page.get_by_role("alert")).to_contain_text("Survivor C")

    # Marked entered in error, on a page that says what will happen.
    page.goto(reverse("cases:detail", args=[case.pk]))
    mistake = page.locator("article", has=page.get_by_role("heading", name="Survivor C"))
    with page.expect_navigation():
        mistake.get_by_role("link", name="Entered in error?").click()
    expect(page.get_by_role("heading", name="What will happen")).to_be_visible()
    check_page(page)
    page.get_by_label("Why it was entered in error").fill("Added twice: she is Survivor A.")
    click_and_wait(page, "Mark as entered in error")
    expect(page.get_by_role("status")).to_contain_text("Marked as entered in error: Survivor C.")
    expect(page.locator("s", has_text="Survivor C")).to_be_visible()
    expect(page.get_by_text("Added twice: she is Survivor A.")).to_be_visible()
    check_page(page)

    # The case moves on, and nothing was made up for Survivor C.
    move_on(page, case, "Mapping support")
    case.refresh_from_db()
    assert case.stage == Stage.MAPPING_SUPPORT
    ghost = Participant.everyone.get(case=case, label="Survivor C")
    assert not Consent.objects.filter(participant=ghost).exists()
    assert not SafetyPlan.objects.filter(participant=ghost).exists()
    assert_no_script_errors(page)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_a_supervisor_reopens_a_withdrawn_case_at_the_survivors_request(
    new_page: Callable[..., Page], demo_mode_sign_in, viewport: ViewportSize
) -> None:
    harbor = Organization.objects.get(slug="harbor")
    with transaction.atomic():
        case = Case.objects.create(
            organization=harbor, reference=Case.next_reference(harbor, timezone.localdate().year)
        )
    keeper, supervisor = User.objects.get(email=KEEPER), User.objects.get(email=SUPERVISOR)
    for user, role in ((keeper, TeamRole.KEEPER), (supervisor, TeamRole.SUPERVISOR)):
        CaseAssignment.objects.create(organization=harbor, case=case, user=user, role=role)
    services.withdraw(case=case, by=keeper)
    page = new_page(viewport, phone=viewport == PHONE)
    sign_in(page, SUPERVISOR)
    page.goto(reverse("protocol:case", args=[case.pk]))
    with page.expect_navigation():
        page.get_by_role("link", name="Reopen the case").click()
    expect(page.get_by_text("reopens only at the survivor's own request")).to_be_visible()
    check_page(page)
    page.get_by_label("Why the case is reopened").fill("She wants to go on after all.")
    page.get_by_label("The survivor's request (for a withdrawn case)").fill(
        "Called on Monday and asked to start again"
    )
    click_and_wait(page, "Reopen the case")
    expect(page.get_by_role("status")).to_contain_text("The case is open again.")
    check_page(page)
    case.refresh_from_db()
    assert (case.status, case.stage) == (CaseStatus.OPEN, Stage.REFERRAL)
    assert_no_script_errors(page)
