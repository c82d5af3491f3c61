"""A keeper goes through the survivor's options in Spanish and records the choice, in a real browser.

NEEDS THE COMPILED SPANISH CATALOG: the track names below are the Spanish the lead gives these message ids
("Support only" → "Solo apoyo", …). Until `make messages` has translated them and the .mo is compiled, the
page still shows them in English and this test fails.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from circlekeeper.cases.models import Track, TrackChoice
from tests.browser.helpers import (
    assert_accessible,
    assert_no_csp_violations,
    assert_no_script_errors,
    keeper_case,
    path_of,
    sign_in,
)

pytestmark = pytest.mark.browser

SPANISH_TRACK_NAMES = [
    "Solo apoyo",
    "Rendición de cuentas comunitaria",
    "Diálogo indirecto",
    "Diálogo directo",
    "Derivación a otro servicio",
]


def switch_to_spanish(page: Page) -> None:
    page.get_by_label("Language").select_option("es")
    with page.expect_navigation():
        page.locator(".language-form button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")


def test_a_keeper_records_the_survivors_choice_in_spanish(page: Page, demo_mode_sign_in) -> None:
    sign_in(page)
    switch_to_spanish(page)
    case = keeper_case()
    url = reverse("cases:track_choice", args=[case.pk])

    response = page.goto(url)

    assert response is not None and response.status == 200
    options = page.locator("#options").locator("xpath=..")
    for name in SPANISH_TRACK_NAMES:
        expect(options.get_by_role("heading", name=name, exact=True)).to_be_visible()
    assert_accessible(page)

    record = page.locator("section[aria-labelledby=record]")
    record.locator("input[name=track][value=support_only]").check()
    with page.expect_navigation():
        record.locator("button[type=submit]").click()

    assert path_of(page) == url
    made = TrackChoice.objects.filter(case=case).first()
    assert made is not None and made.track == Track.SUPPORT_ONLY
    assert made.explained_by.email == "keeper@harbor.example"
    history = page.locator("section[aria-labelledby=history] table tbody tr").first
    expect(history).to_contain_text("Solo apoyo")
    assert_accessible(page)
    assert_no_csp_violations(page)
    assert_no_script_errors(page)
