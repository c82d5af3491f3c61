"""Issue 8's dashboards in a real browser: an evaluator opens the organization's dashboard, a domain page with a
server-drawn chart and its table, applies a filter; axe finds nothing on any of the pages, and no script errors."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from circlekeeper.accounts.models import Organization
from circlekeeper.evaluation.tests.test_dashboard_fixtures import scored_people
from circlekeeper.instruments.builtins import load_builtins
from tests.browser.helpers import (
    assert_accessible,
    assert_no_csp_violations,
    assert_no_script_errors,
    sign_in,
)

pytestmark = pytest.mark.browser

EVALUATOR = "evaluator@harbor.example"
# The worker runs each computation as soon as it is queued (a db_worker does the same a moment later).
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def scored(demo_mode_sign_in, settings) -> None:
    settings.TASKS = IMMEDIATE
    load_builtins()
    scored_people(Organization.objects.get(slug="harbor"), people=24, seed=8, missed=3)


def test_an_evaluator_reads_a_domain_chart_and_its_table_and_filters_it(page: Page, scored: None) -> None:
    sign_in(page, EVALUATOR)
    page.goto(reverse("evaluation:dashboard"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Evaluation dashboard")
    assert_accessible(page)

    with page.expect_navigation():
        page.get_by_role("link", name="Safety", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Safety")
    chart = page.get_by_role("img", name="Felt safety (1–5, higher is safer): mean at each timepoint")
    expect(chart).to_be_visible()
    table = page.get_by_role("table", name="Felt safety (1–5, higher is safer) at each timepoint")
    expect(table).to_be_visible()
    expect(table.get_by_role("rowheader", name="T0")).to_be_visible()
    expect(page.get_by_text("Based on 24 people.").first).to_be_visible()
    assert_accessible(page)

    page.get_by_label("Track").select_option(label="Support only")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply the filters").click()
    assert "track=support_only" in page.url
    expect(page.get_by_text("No one has answered outcome_safety").first).to_be_visible()
    expect(page.get_by_label("Track")).to_have_value("support_only")
    assert_accessible(page)
    assert_no_csp_violations(page)
    assert_no_script_errors(page)


@pytest.fixture
def scored_not_yet_computed(demo_mode_sign_in) -> None:
    # The database task queue, as in `make run`: nothing is computed until a worker takes the task.
    load_builtins()
    scored_people(Organization.objects.get(slug="harbor"), people=24, seed=8, missed=3)


def test_a_dashboard_still_computing_refreshes_by_itself_once_the_numbers_are_in(
    page: Page, scored_not_yet_computed: None
) -> None:
    from django.core.management import call_command

    sign_in(page, EVALUATOR)
    page.goto(reverse("evaluation:dashboard_domain", args=["safety"]))
    computing = page.get_by_role("status").filter(has_text="Computing")
    expect(computing).to_be_visible()
    # Without JavaScript the link is the way to look again; with it, the page asks by itself.
    expect(page.get_by_role("link", name="Refresh to see whether it is done")).to_be_visible()
    opened_at = page.url

    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)

    chart = page.get_by_role("img", name="Felt safety (1–5, higher is safer): mean at each timepoint")
    expect(chart).to_be_visible(timeout=15_000)
    expect(computing).to_have_count(0)
    assert page.url == opened_at
    assert_accessible(page)
    assert_no_csp_violations(page)
    assert_no_script_errors(page)
