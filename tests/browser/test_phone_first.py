"""Phone first (issue 18, build 5), at 390 px: no page is wider than the window, and on every public and
participant page (and the 404 page) the quick exit is still in view after scrolling to the bottom, with or without
JavaScript. The page fixtures check the width of every page any browser test visits (assert_fits_width); here
the staff pages that overflowed (meetings, safety, agreement, de-identified data) are opened on purpose."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import Case, ParticipantRole, TeamRole
from circlekeeper.instruments.tests.survey import make_link, make_survey_version
from circlekeeper.instruments.tests.survey import make_participant as make_link_participant
from circlekeeper.testing import make_case, make_organization, make_user
from tests.browser.helpers import KEEPER, PHONE, assert_accessible, assert_fits_width, sign_in

pytestmark = pytest.mark.browser

EVALUATOR = "evaluator@harbor.example"


def assert_quick_exit_in_view_after_scrolling(page: Page) -> None:
    button = page.get_by_role("link", name="Quick exit")
    expect(button).to_be_in_viewport()
    page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_function("() => window.scrollY > 0 || document.documentElement.scrollHeight <= innerHeight")
    expect(button).to_be_in_viewport()
    box = button.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box


def public_paths() -> list[str]:
    return [
        reverse("home"),
        reverse("public:directory", args=["bay-area"]),
        reverse("public:impact", args=["bay-area"]),
        "/no-such-page/",
    ]


@pytest.fixture
def link_path(demo_network) -> str:
    organization = make_organization(name="Harbor Refuge", slug="refuge", case_prefix="REF")
    keeper = make_user(organization=organization, roles=(Role.KEEPER,))
    case = make_case(organization, team=((keeper, TeamRole.KEEPER),))
    participant = make_link_participant(case, label="Survivor A")
    _link, token = make_link(participant, make_survey_version(), by=keeper)
    return reverse("links:open", args=[token])


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_quick_exit_stays_in_view_on_every_public_and_participant_page(
    new_page: Callable[..., Page], demo_mode_sign_in, link_path: str, javascript: bool
) -> None:
    page = new_page(PHONE, phone=True, javascript=javascript)
    participant_paths = [
        link_path,
        reverse("links:code"),  # where a code read out in person is typed
        reverse("links:open", args=["no-such-link"]),
        reverse("progress:open", args=["no-such-link"]),
    ]
    for path in [*public_paths(), *participant_paths]:
        page.goto(path)
        assert_quick_exit_in_view_after_scrolling(page)
        assert_fits_width(page)


def test_staff_pages_fit_a_phone(new_page: Callable[..., Page], demo_mode_sign_in) -> None:
    page = new_page(PHONE, phone=True)
    sign_in(page, KEEPER)
    case = (
        Case.objects.filter(assignments__user__email=KEEPER, meetings__isnull=False, agreement__isnull=False)
        .distinct()
        .order_by("pk")
        .first()
        or Case.objects.filter(assignments__user__email=KEEPER).order_by("pk").first()
    )
    assert case is not None
    survivor = case.participants.filter(role=ParticipantRole.SURVIVOR).first()
    paths = [
        reverse("dashboard"),
        reverse("cases:list"),
        reverse("cases:detail", args=[case.pk]),
        reverse("protocol:case", args=[case.pk]),
        reverse("protocol:meetings", args=[case.pk]),
        reverse("protocol:timeline", args=[case.pk]),
        reverse("safety:case", args=[case.pk]),
        reverse("accountability:agreement", args=[case.pk]),
        reverse("support:pods", args=[case.pk]),
        reverse("cases:track_choice", args=[case.pk]),
    ]
    if survivor is not None:
        paths.append(reverse("cases:participant_detail", args=[case.pk, survivor.pk]))
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert_fits_width(page)


def test_the_evaluators_pages_fit_a_phone(new_page: Callable[..., Page], demo_mode_sign_in) -> None:
    page = new_page(PHONE, phone=True)
    sign_in(page, EVALUATOR)
    for path in (reverse("evaluation:deidentified_data"), reverse("evaluation:dashboard")):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert_fits_width(page)


def test_the_case_page_shows_the_latest_10_events_and_links_to_the_timeline(
    new_page: Callable[..., Page], demo_mode_sign_in
) -> None:
    page = new_page(PHONE, phone=True)
    sign_in(page, KEEPER)
    case = Case.objects.filter(assignments__user__email=KEEPER).order_by("-pk").first()
    assert case is not None
    page.goto(reverse("cases:detail", args=[case.pk]))
    history = page.locator("#history-section")
    assert history.locator("tbody tr").count() <= 10
    expect(history.get_by_role("link", name="The whole timeline")).to_have_attribute(
        "href", reverse("protocol:timeline", args=[case.pk])
    )
    # The section links at the top reach each section.
    nav = page.get_by_role("navigation", name="On this page")
    expect(nav).to_be_visible()
    assert_accessible(page)
