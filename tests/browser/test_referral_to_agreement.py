"""One case from referral to the agreement stage, in a real browser, through the pages only: the keeper records
the people and their consent, runs the screen and the safety check, records the survivor's choice of the direct
track and a safety plan, is shown what is missing when moving on too early, holds the preparation meetings and
records the acknowledgment; the supervisor approves the joint dialogue on their own page; the circle is held
with the survivor's check-in and check-out, and the case reaches "Agreement". axe finds nothing on the stage
page, the meetings page, a meeting page and the case page with its checklist loaded by htmx."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, CaseAssignment, Stage, TeamRole
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.protocol.models import Approval, Meeting, MeetingStatus
from circlekeeper.safety.tests.checks import ITEMS
from tests.browser.helpers import (
    KEEPER,
    assert_accessible,
    assert_no_csp_violations,
    assert_no_script_errors,
    sign_in,
)

pytestmark = pytest.mark.browser

SUPERVISOR = "supervisor@harbor.example"


@pytest.fixture
def new_case(demo_mode_sign_in) -> Case:
    """A fresh case at referral, with the demo keeper and supervisor on its team (the new-referral page is walked
    in test_new_referral_and_corrections.py)."""
    load_builtins()
    harbor = Organization.objects.get(slug="harbor")
    with transaction.atomic():
        case = Case.objects.create(
            organization=harbor, reference=Case.next_reference(harbor, timezone.localdate().year)
        )
    for email, role in ((KEEPER, TeamRole.KEEPER), (SUPERVISOR, TeamRole.SUPERVISOR)):
        CaseAssignment.objects.create(
            organization=harbor, case=case, user=User.objects.get(email=email), role=role
        )
    return case


def click_and_wait(page: Page, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=name).click()


def move_on(page: Page, case: Case, to: str) -> None:
    page.goto(reverse("protocol:case", args=[case.pk]))
    click_and_wait(page, f"Move on to {to}")
    expect(page.get_by_role("status")).to_contain_text(f"The case moved on to {to}.")


def add_person(page: Page, case: Case, role: str, label: str, *, consent: bool = True) -> None:
    page.goto(reverse("cases:participant_add", args=[case.pk]))
    page.get_by_label("Role in the case").select_option(role)
    page.get_by_label("Label").fill(label)
    click_and_wait(page, "Add")
    if consent:
        record_consent(page)


def record_consent(page: Page) -> None:
    """On a participant's page: their oral consent to take part."""
    page.get_by_role("link", name="Record a consent").click()
    page.get_by_label("To take part").check()
    page.get_by_label("Oral (recorded by staff)").check()
    click_and_wait(page, "Record consent")
    expect(page.get_by_role("status")).to_contain_text("Consent recorded.")


def run_screen_and_check(page: Page, case: Case) -> None:
    page.goto(reverse("safety:case", args=[case.pk]))
    click_and_wait(page, "Immediate-danger screen with Survivor A")
    for code in ("danger_now", "strangulation", "weapon", "threats_to_kill", "escalation"):
        page.locator(f'input[name="q-{code}"][value="0"]').check()
    click_and_wait(page, "Save and continue")
    click_and_wait(page, "Submit")
    page.goto(reverse("safety:case", args=[case.pk]))
    click_and_wait(page, "Run the safety check with Survivor A")
    page.locator('input[name="q-danger_now"][value="0"]').check()
    click_and_wait(page, "Save and continue")
    for code in ITEMS[1:]:
        page.locator(f'input[name="q-{code}"][value="0"]').check()
    click_and_wait(page, "Save and continue")
    click_and_wait(page, "Submit")
    expect(page.get_by_role("cell", name="Low", exact=True).first).to_be_visible()


def record_intake(page: Page, case: Case) -> None:
    """The intake gate reads it: the types of harm are enough ("prefer not to say" would be too)."""
    page.goto(reverse("cases:intake", args=[case.pk]))
    page.get_by_label("Emotional or verbal").check()
    page.get_by_label("What the survivor does not want").fill("No police.")
    click_and_wait(page, "Save the intake")
    expect(page.get_by_role("status")).to_contain_text("Intake saved.")


# Meetings are scheduled in the future (one in the past is refused), the survivor checks in within the window
# before the start and checks out after it: the server's clock (the live server runs in this process) is moved on to
# each meeting's start with time-machine, ticking, and only forward.
AHEAD = datetime.timedelta(minutes=10)


@pytest.fixture
def clock() -> Iterator[list[time_machine.travel]]:
    travels: list[time_machine.travel] = []
    yield travels
    for travel in reversed(travels):
        travel.stop()


def soon() -> datetime.datetime:
    """A start a few minutes from now, on the minute, in local time (what the form takes)."""
    start = timezone.localtime() + AHEAD
    return start.replace(second=0, microsecond=0)


def fill_when(page: Page, start: datetime.datetime) -> None:
    page.get_by_label("Date").fill(start.date().isoformat())
    page.get_by_label("Start time").fill(start.strftime("%H:%M"))


def meeting_started(clock: list[time_machine.travel], case: Case) -> None:
    """Moves the server's clock to just after the start of the case's newest meeting."""
    meeting = Meeting.objects.filter(case=case).order_by("-pk").first()
    assert meeting is not None
    travel = time_machine.travel(meeting.starts_at + datetime.timedelta(minutes=1), tick=True)
    travel.start()
    clock.append(travel)


def schedule(page: Page, case: Case, kind: str, *invitees: str) -> None:
    page.goto(reverse("protocol:meetings", args=[case.pk]))
    page.get_by_label("Kind of meeting").select_option(kind)
    fill_when(page, soon())
    page.get_by_label("Place").fill("Community hall, back room")
    for label in invitees:
        page.get_by_label(label, exact=True).check()
    click_and_wait(page, "Schedule")
    expect(page.get_by_role("status")).to_contain_text("The meeting is scheduled.")


def check(page: Page, moment: str) -> None:
    """The survivor's three answers: safe, not threatened, not wanting to stop."""
    form = page.locator("form", has=page.get_by_role("heading", name=f"Check-{moment} with Survivor A"))
    form.locator('input[name="feels_safe"][value="yes"]').check()
    form.locator('input[name="threatened"][value="no"]').check()
    form.locator('input[name="wants_to_stop"][value="no"]').check()
    with page.expect_navigation():
        form.get_by_role("button", name=f"Record the check-{moment}").click()


def hold(page: Page, clock: list[time_machine.travel], case: Case, *, with_survivor: bool) -> None:
    meeting_started(clock, case)
    page.reload()
    if with_survivor:
        check(page, "in")
        expect(page.get_by_role("status")).to_contain_text("Check-in recorded")
        check(page, "out")
    page.get_by_label("Keeper's notes (optional)").fill("Went as planned.")
    click_and_wait(page, "Record as held")
    expect(page.get_by_role("status")).to_contain_text("The meeting is recorded as held.")


def test_a_keeper_takes_a_case_from_referral_to_agreement_through_the_pages(
    page: Page, new_page: Callable[..., Page], new_case: Case, clock: list[time_machine.travel]
) -> None:
    case = new_case
    stage_page = reverse("protocol:case", args=[case.pk])
    sign_in(page, KEEPER)

    # Too early: the stage page says what is missing, and nothing moves.
    page.goto(stage_page)
    expect(page.get_by_text("Referral and first contact")).to_be_visible()
    assert_accessible(page)
    click_and_wait(page, "Move on to Intake: getting clear")
    refused = page.get_by_role("alert")
    expect(refused).to_contain_text("The case cannot move on yet. Still needed:")
    expect(refused).to_contain_text("The survivor is recorded")
    expect(refused).to_contain_text("Nothing was changed.")

    # Referral → intake → safety planning: the people, the screen and the check, the survivor's choice.
    add_person(page, case, "survivor", "Survivor A")
    add_person(page, case, "person_who_caused_harm", "Person B", consent=False)
    run_screen_and_check(page, case)
    move_on(page, case, "Intake: getting clear")
    record_intake(page, case)
    page.goto(reverse("cases:track_choice", args=[case.pk]))
    record = page.locator("section[aria-labelledby=record]")
    record.locator("input[name=track][value=direct_dialogue]").check()
    with page.expect_navigation():
        record.locator("button[type=submit]").click()
    move_on(page, case, "Safety planning")

    # Safety planning → mapping support → preparation: the plan, then the pod and a safety monitor.
    survivor = case.participants.get(label="Survivor A")
    page.goto(reverse("safety:plan_edit", args=[case.pk, survivor.pk]))
    page.get_by_label("People to call").fill("My sister")
    click_and_wait(page, "Save a new revision")
    move_on(page, case, "Mapping support")
    add_person(page, case, "survivor_supporter", "Sister")
    add_person(page, case, "harm_supporter", "Uncle")
    add_person(page, case, "safety_monitor", "Neighbour")
    move_on(page, case, "Preparation")

    # Preparation: a meeting with each party, and the acknowledgment of responsibility.
    schedule(page, case, "preparation", "Survivor A (Survivor)", "Sister (Support person for the survivor)")
    hold(page, clock, case, with_survivor=True)
    # The person who caused harm is contacted only now, with the survivor's plan and a safety monitor in place
    # (the contact policy): their consent to take part, then their meeting.
    person_b = case.participants.get(label="Person B")
    page.goto(reverse("cases:participant_detail", args=[case.pk, person_b.pk]))
    record_consent(page)
    schedule(page, case, "preparation", "Person B (Person who caused harm)")
    assert_accessible(page)
    hold(page, clock, case, with_survivor=False)
    page.get_by_label("What they acknowledged, in their words").fill("I hurt her, and it was my choice.")
    click_and_wait(page, "Record the acknowledgment")
    expect(page.get_by_role("status")).to_contain_text("The acknowledgment of responsibility is recorded.")
    move_on(page, case, "Dialogue")

    # The circle waits for the supervisor's approval.
    page.goto(stage_page)
    joint = page.locator("section", has=page.get_by_role("heading", name="The joint-dialogue gate"))
    expect(joint).to_contain_text("No approval yet")
    # A circle asked for before the approval is refused, with the gate's missing condition named.
    page.goto(reverse("protocol:meetings", args=[case.pk]))
    page.get_by_label("Kind of meeting").select_option("circle")
    fill_when(page, soon())
    page.get_by_label("Survivor A (Survivor)", exact=True).check()
    page.get_by_label("Person B (Person who caused harm)", exact=True).check()
    click_and_wait(page, "Schedule")
    expect(page.get_by_role("alert")).to_contain_text("A supervisor's approval, given after all of the above")
    assert not Meeting.objects.filter(case=case, kind="circle").exists()
    boss = new_page()
    sign_in(boss, SUPERVISOR)
    boss.goto(reverse("protocol:approve", args=[case.pk]))
    click_and_wait(boss, "Approve the joint dialogue")
    expect(boss.get_by_role("status")).to_contain_text("The joint dialogue is approved.")
    assert Approval.objects.filter(case=case, approved_by__email=SUPERVISOR).exists()

    # The circle, with the survivor's check-in and check-out.
    schedule(page, case, "circle", "Survivor A (Survivor)", "Person B (Person who caused harm)")
    expect(page.get_by_text("Do you feel safe right now?")).to_be_visible()
    assert_accessible(page)
    hold(page, clock, case, with_survivor=True)
    assert Meeting.objects.get(case=case, kind="circle").status == MeetingStatus.HELD
    page.goto(reverse("protocol:meetings", args=[case.pk]))
    assert_accessible(page)

    move_on(page, case, "Agreement")
    expect(page.locator(".stage-checklist")).to_contain_text("Agreement")
    case.refresh_from_db()
    assert case.stage == Stage.AGREEMENT
    assert case.transitions.count() == 6
    assert_accessible(page)

    # The case page loads the same checklist with htmx (without JavaScript it links the stage page).
    page.goto(reverse("cases:detail", args=[case.pk]))
    next_step = page.locator("#next-step")
    expect(next_step).to_contain_text("An agreement affirmed by the parties")
    expect(next_step.get_by_role("link", name="Stage, next steps and moving on")).to_be_visible()
    assert_accessible(page)
    # The timeline tells the whole story, from the referral to the agreement stage.
    page.goto(reverse("protocol:timeline", args=[case.pk]))
    story = page.locator("main")
    expect(story).to_contain_text("Moved to the next stage")
    # Older events load as the page scrolls (htmx), until the referral.
    for _ in range(12):
        older = page.get_by_role("link", name="Older events")
        if older.count() == 0:
            break
        shown = page.locator("main li").count()
        older.last.scroll_into_view_if_needed()
        expect(page.locator("main li")).not_to_have_count(shown)
    expect(page.get_by_role("link", name="Older events")).to_have_count(0)
    for told in (
        "Participant added",
        "Safety check recorded",
        "Track chosen",
        "Safety plan revised",
        "Meeting held",
        "Responsibility acknowledged",
        "Supervisor approved the joint dialogue",
        "Moved to the next stage",
    ):
        expect(story).to_contain_text(told)
    assert_accessible(page)
    assert_no_csp_violations(page)
    assert_no_csp_violations(boss)
    assert_no_script_errors(page)
