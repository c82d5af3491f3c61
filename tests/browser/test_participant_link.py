"""A participant answers a questionnaire through their link, on a phone, in Spanish, by keyboard alone.

With JavaScript off, a question that an answer on the same page shows appears when the page is saved (the
server shows the page again with it); a question that depends on an earlier page is there when its page opens.
With JavaScript on, htmx shows and hides the question as the answer changes. Either way axe finds nothing on
any page, the quick exit is there, and once submitted the link opens nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import TeamRole
from circlekeeper.instruments.models import ParticipantLink, ResponseStatus
from circlekeeper.instruments.tests.survey import make_link, make_participant, make_survey_version
from circlekeeper.testing import make_case, make_organization, make_user
from tests.browser.helpers import (
    PHONE,
    assert_accessible,
    assert_no_csp_violations,
    assert_no_outside_requests,
    assert_no_script_errors,
    path_of,
)

pytestmark = pytest.mark.browser

ORGANIZATION = "Harbor Refuge"


@pytest.fixture
def link_path(transactional_db) -> str:
    organization = make_organization(name=ORGANIZATION)
    keeper = make_user(organization=organization, roles=(Role.KEEPER,))
    case = make_case(organization, team=((keeper, TeamRole.KEEPER),))
    participant = make_participant(case, label="Survivor A")
    _link, token = make_link(participant, make_survey_version(), by=keeper)
    return reverse("links:open", args=[token])


def tab_to(page: Page, selector: str, *, limit: int = 80) -> None:
    """Press Tab until the element matching the selector has focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector} on {page.url}")


def press_and_wait_for_page(page: Page, key: str) -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


@pytest.fixture
def checker(new_page: Callable[..., Page]) -> Callable[[Page, bool], None]:
    """Checks that the quick exit is there and that axe finds nothing on the page.

    axe needs scripts, so a page opened with JavaScript off is checked in a twin page that has them, in the same
    session (the link pages' GETs change nothing).
    """

    def check(page: Page, javascript: bool) -> None:
        expect(page.locator("#quick-exit")).to_be_visible()
        if javascript:
            assert_accessible(page)
            return
        twin = new_page(PHONE, phone=True)
        twin.context.add_cookies(page.context.cookies())
        twin.goto(page.url)
        assert path_of(twin) == path_of(page)
        assert_accessible(twin)
        twin.context.close()

    return check


def open_link_and_switch_to_spanish(page: Page, link_path: str, check: Callable[[Page], None]) -> None:
    response = page.goto(link_path)
    assert response is not None and response.status == 200
    assert path_of(page) == reverse("links:page"), "the token must not stay in the address bar"
    expect(page).to_have_title("Questionnaire")
    expect(page.locator("body")).not_to_contain_text(ORGANIZATION)
    expect(page.locator("body")).not_to_contain_text("Circlekeeper")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_id("quick-exit")
    check(page)

    tab_to(page, "#language-select")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#language-select")).to_have_value("es")
    tab_to(page, ".language-form button")
    press_and_wait_for_page(page, "Enter")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page).to_have_title("Cuestionario")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cuestionario")


def save_page(page: Page) -> None:
    tab_to(page, ".answer-actions button")
    expect(page.locator(":focus")).to_have_text("Guardar y continuar")
    press_and_wait_for_page(page, "Enter")


def answer_the_later_pages_and_submit(page: Page, link_path: str, check: Callable[[Page], None]) -> None:
    # Part 2: "support" is asked because of the yes on part 1.
    expect(page.get_by_role("heading", level=2)).to_have_text("Cómo te sientes")
    expect(page.get_by_role("group", name="¿A quién podrías acudir?")).to_be_visible()
    check(page)
    tab_to(page, "#id_q-safe_0")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#id_q-safe_3")).to_be_checked()
    tab_to(page, "#id_q-support_0")
    page.keyboard.press("Space")
    tab_to(page, "#id_q-support_1")
    page.keyboard.press("Space")
    tab_to(page, "#id_q-hours")
    page.keyboard.type("7,5")
    save_page(page)

    # Part 3: asked because the age given is 18 or more.
    expect(page.get_by_role("heading", level=2)).to_have_text("Algo más")
    check(page)
    tab_to(page, "#id_q-comments")
    page.keyboard.type("todo bien")
    save_page(page)

    assert path_of(page) == reverse("links:review")
    expect(page.get_by_role("heading", level=2)).to_have_text("Revise sus respuestas")
    expect(page.locator(".answer-review").first).to_contain_text("En la última semana")
    check(page)
    tab_to(page, "form.stack button")
    press_and_wait_for_page(page, "Enter")

    assert path_of(page) == reverse("links:done")
    expect(page.get_by_role("heading", level=1)).to_have_text("Gracias")
    check(page)

    again = page.goto(link_path)
    assert again is not None and again.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Este enlace no está disponible")

    link = ParticipantLink.objects.select_related("response").get()
    assert link.submitted_at is not None
    assert link.response.status == ResponseStatus.SUBMITTED
    assert link.response.entered_by_staff is None
    answers = link.response.answers
    assert answers["hurt"] == "1" and answers["hurt_when"] == "week" and answers["age"] == 30
    assert answers["safe"] == 3 and answers["support"] == ["friends", "family"] and answers["hours"] == 7.5
    assert answers["comments"] == "todo bien"
    assert link.response.scores == {"safety": 3, "concern": "high"}


def test_without_javascript_a_question_appears_when_the_page_is_saved(
    new_page: Callable[..., Page], link_path: str, checker: Callable[[Page, bool], None]
) -> None:
    page = new_page(PHONE, phone=True, javascript=False)

    def check(page: Page) -> None:
        checker(page, False)

    open_link_and_switch_to_spanish(page, link_path, check)

    expect(page.get_by_role("heading", level=2)).to_have_text("Desde la última vez")
    expect(page.locator("#item-hurt_when")).to_be_hidden()
    tab_to(page, "#id_q-hurt_0")
    page.keyboard.press("Space")
    expect(page.locator("#id_q-hurt_0")).to_be_checked()
    tab_to(page, "#id_q-age")
    page.keyboard.type("30")
    # Without JavaScript nothing changes until the page is saved.
    expect(page.locator("#item-hurt_when")).to_be_hidden()
    save_page(page)

    # The same part again, with the question the yes shows, and a note saying so.
    expect(page.get_by_role("status")).to_contain_text("Aparecieron preguntas nuevas")
    expect(page.get_by_role("group", name="¿Cuándo pasó?")).to_be_visible()
    check(page)
    tab_to(page, "#id_q-hurt_when_0")
    page.keyboard.press("Space")
    save_page(page)

    answer_the_later_pages_and_submit(page, link_path, check)
    assert_no_outside_requests(page)


def test_with_htmx_a_question_appears_and_goes_as_the_answer_changes(
    new_page: Callable[..., Page], link_path: str, checker: Callable[[Page, bool], None]
) -> None:
    page = new_page(PHONE, phone=True)

    def check(page: Page) -> None:
        checker(page, True)

    open_link_and_switch_to_spanish(page, link_path, check)

    question = page.get_by_role("group", name="¿Cuándo pasó?")
    expect(question).to_have_count(0)
    tab_to(page, "#id_q-hurt_0")
    page.keyboard.press("Space")
    expect(question).to_be_visible()
    expect(page.locator("#answer-live-note")).to_have_text("Apareció una pregunta nueva más abajo.")
    # Focus stays where it was, on the answer just given.
    expect(page.locator(":focus")).to_have_id("id_q-hurt_0")
    check(page)

    page.keyboard.press("ArrowDown")  # "No": the question goes
    expect(page.locator("#id_q-hurt_1")).to_be_checked()
    expect(question).to_have_count(0)
    page.keyboard.press("ArrowUp")  # "Sí" again: it comes back
    expect(question).to_be_visible()

    tab_to(page, "#id_q-hurt_when_0")
    page.keyboard.press("Space")
    tab_to(page, "#id_q-age")
    page.keyboard.type("30")
    save_page(page)

    # Straight on to part 2: the question was seen on the page, so nothing is shown twice.
    answer_the_later_pages_and_submit(page, link_path, check)
    assert_no_csp_violations(page)
    assert_no_script_errors(page)
    assert_no_outside_requests(page)
