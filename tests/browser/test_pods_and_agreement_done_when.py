"""Issue 7's "done when", in a real browser, through the pages only: on a case that reached the agreement stage,
the keeper builds both pods (a participant and a person not yet taking part, an ally and a barrier, who knows
whom), sees the network map with its text equivalent and measures, drafts an agreement with commitments and
supporters, records both parties' affirmations, records progress, and sees a broken commitment about violence
put the case on hold; adding someone later adds a line to the measures over time. axe finds nothing on any page."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from circlekeeper.accountability.models import AgreementVersion, CheckIn, Commitment
from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, CaseAssignment, CaseTask, Participant, Stage, TaskKind, TeamRole
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety.models import HoldReason, SafetyHold
from circlekeeper.support.models import PodMeasure, PodMember
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
def agreed_case(demo_mode_sign_in) -> Case:
    """A case walked to the agreement stage on the direct track by the real services, with the demo keeper and
    supervisor on its team."""
    load_builtins()
    harbor = Organization.objects.get(slug="harbor")
    with transaction.atomic():
        case = Case.objects.create(
            organization=harbor, reference=Case.next_reference(harbor, timezone.localdate().year)
        )
    keeper, supervisor = User.objects.get(email=KEEPER), User.objects.get(email=SUPERVISOR)
    for user, role in ((keeper, TeamRole.KEEPER), (supervisor, TeamRole.SUPERVISOR)):
        CaseAssignment.objects.create(organization=harbor, case=case, user=user, role=role)
    Walk(case, keeper, supervisor).to_agreement()
    assert case.stage == Stage.AGREEMENT
    return case


def choose(page: Page, field: str, starting: str) -> None:
    """Select the option whose text starts with these words (options add a role or a date after a label)."""
    select = page.get_by_label(field, exact=True)
    if select.count() == 0:  # a label followed by a hint ("Participant (optional)")
        select = page.get_by_label(field)
    for option in select.locator("option").all():
        if (option.text_content() or "").strip().startswith(starting):
            select.select_option(value=option.get_attribute("value"))
            return
    raise AssertionError(f"no option starting {starting!r} in {field!r}")


def click_and_wait(page: Page, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=name, exact=True).click()


def add_member(
    page: Page,
    case: Case,
    *,
    pod: str,
    participant: str = "",
    label: str = "",
    relationship: str,
    stance: str = "Ally",
    help: tuple[str, ...] = (),
) -> None:
    page.goto(reverse("support:member_add", args=[case.pk]))
    page.get_by_label(pod, exact=True).check()
    if participant:
        choose(page, "Participant", participant)
    if label:
        page.get_by_label("Label").fill(label)
    page.get_by_label("Relationship").fill(relationship)
    page.get_by_label(stance, exact=True).check()
    for kind in help:
        page.get_by_label(kind, exact=True).check()
    click_and_wait(page, "Add to the pod")


def test_the_keeper_builds_both_pods_and_an_agreement_and_a_broken_commitment_holds_the_case(
    page: Page, new_page: Callable[..., Page], agreed_case: Case
) -> None:
    case = agreed_case
    sign_in(page, KEEPER)

    # Both pods: a consenting supporter and someone not yet taking part for the survivor; the uncle and a barrier
    # for the person who caused harm.
    page.goto(reverse("support:member_add", args=[case.pk]))
    assert_accessible(page)
    add_member(
        page,
        case,
        pod="The survivor's pod",
        participant="Sister",
        relationship="her sister",
        help=("Emotional support", "Childcare"),
    )
    add_member(
        page, case, pod="The survivor's pod", label="Aunt R", relationship="her aunt", help=("Transport",)
    )
    add_member(
        page, case, pod="The pod of the person who caused harm", participant="Uncle", relationship="his uncle"
    )
    add_member(
        page,
        case,
        pod="The pod of the person who caused harm",
        label="Friend K",
        relationship="drinking friend",
        stance="Barrier",
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("Support networks")
    assert PodMember.objects.filter(case=case).count() == 4
    choose(page, "This person:", "Sister")
    choose(page, "knows this person:", "Aunt R")
    click_and_wait(page, "Record that they know each other")
    survivor_pod = page.get_by_role(
        "region", name="The survivor's pod: now, then at each change, latest first"
    )
    # "Now", then one stored line per change of the survivor's pod: two people added, then the tie.
    expect(survivor_pod.locator("tbody tr")).to_have_count(4)
    # Now: two people, one consenting ally (Aunt R has not been asked: her offer of transport does not count
    # yet), who know each other, half of them in touch with the program.
    expect(survivor_pod.locator("tbody tr").first).to_have_text(
        re.compile(r"Now\s+2\s+1\s+Emotional support, Childcare\s+100 %\s+50 %")
    )
    assert_accessible(page)
    measures_before = PodMeasure.objects.filter(case=case).count()

    # The map: an SVG with a node per person, and the same people in its table.
    page.get_by_role("link", name="See the network map").click()
    expect(page.locator("svg[role=img]")).to_be_visible()
    table = page.get_by_role("table").filter(has_text="Friend K")
    for label in ("Sister", "Aunt R", "Uncle", "Friend K"):
        expect(table.get_by_role("rowheader", name=label)).to_be_visible()
    expect(table.get_by_role("row").filter(has_text="Friend K")).to_contain_text("Barrier")
    assert_accessible(page)

    # The agreement: a draft reached in the circle, two commitments with a supporter, then both parties affirm.
    page.goto(reverse("accountability:agreement", args=[case.pk]))
    assert_accessible(page)
    page.get_by_role("link", name="Draft the agreement").click()
    page.get_by_label("Reached in").select_option(index=1)
    page.get_by_label(
        "Each commitment was gone through with the survivor, and none raises the risk to them or the children"
    ).check()
    click_and_wait(page, "Start the draft")
    commitments = (
        ("Stop specific behaviors", "No shouting, no threats, no following her.", "Violence", "Every week"),
        ("Attend a program", "Attend the 26-week program every Tuesday.", "", "Every week"),
    )
    for kind, what, concern, cadence in commitments:
        page.get_by_role("link", name="Add a commitment").click()
        page.get_by_label("Kind of commitment").select_option(label=kind)
        page.get_by_label("What the person who caused harm commits to").fill(what)
        choose(page, "Who helps them keep it", "Uncle")
        page.get_by_label("How often").select_option(label=cadence)
        page.get_by_label("How it will be known that it was kept").fill(
            "The uncle checks in with the keeper."
        )
        if concern:
            page.get_by_label(concern, exact=True).check()
        assert_accessible(page)
        click_and_wait(page, "Add the commitment")
    for party in ("Survivor A", "Person B"):
        choose(page, "Who affirmed it", party)
        page.get_by_label("How:", exact=True).select_option(index=1)
        click_and_wait(page, "Record the affirmation")
    version = AgreementVersion.objects.get(agreement__case=case, number=1)
    assert version.affirmed_at is not None
    case.refresh_from_db()
    assert case.agreement_affirmed_at is not None
    assert_accessible(page)

    # Progress: the program commitment not kept makes a review task, not a hold.
    stop, program = Commitment.objects.filter(version=version).order_by("number")
    page.goto(reverse("accountability:checkin", args=[case.pk, program.pk]))
    page.get_by_label("Not kept").check()
    page.get_by_label("Short note (optional)").fill("Missed two sessions.")
    assert_accessible(page)
    click_and_wait(page, "Record progress")
    assert CaseTask.objects.filter(case=case, kind=TaskKind.REVIEW_COMMITMENT, done_at=None).exists()
    assert not SafetyHold.objects.filter(case=case).exists()
    # The commitment about violence, broken: the case goes on hold at once.
    page.goto(reverse("accountability:checkin", args=[case.pk, stop.pk]))
    page.get_by_label("Not kept").check()
    click_and_wait(page, "Record progress")
    hold = SafetyHold.objects.get(case=case, lifted_at=None)
    assert hold.reason == HoldReason.BROKEN_COMMITMENT
    assert CheckIn.objects.filter(commitment__version=version).count() == 2
    page.goto(reverse("cases:detail", args=[case.pk]))
    expect(page.get_by_role("heading", name="On safety hold")).to_be_visible()

    # The pods change again: the measures over time gain a line, and the map shows the new person.
    harm = Participant.objects.get(case=case, label="Neighbour")
    add_member(
        page,
        case,
        pod="The survivor's pod",
        participant=harm.label,
        relationship="next door",
        help=("Monitoring safety",),
    )
    assert PodMeasure.objects.filter(case=case).count() > measures_before
    expect(survivor_pod.locator("tbody tr")).to_have_count(5)
    page.goto(reverse("support:map", args=[case.pk]))
    expect(page.get_by_role("rowheader", name="Neighbour")).to_be_visible()
    assert_no_csp_violations(page)
    assert_no_script_errors(page)
