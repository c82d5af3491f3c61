"""A shredded organization's pages (issue 18): every page, export and API call answers, none fails with a 500.

After crypto-shredding (SECURITY.md 10) the organization's encrypted values can never be read. The rule under
test, written here from the issue and not from the code: whatever its staff open, they get an answer, never a
server error; a page that needs a destroyed value answers 410 Gone and says that the organization's case data
was destroyed (shredded), and when; the JSON API and the REDCap API answer 410 in their own error shapes.

The walk reuses the access matrix (tests/test_access_matrix.py): every URL it lists, for Harbor's objects
(its own case and another team's), as each member of Harbor's staff, after Harbor was shredded.
"""

from __future__ import annotations

import datetime
import json

from django.urls import reverse
from django.utils import timezone

from circlekeeper.accounts import shredding
from circlekeeper.api.tests import test_redcap_api as redcap_tests
from circlekeeper.lib import keys
from circlekeeper.testing import sign_in
from tests import test_access_matrix as matrix

# Harbor's staff in the matrix's personas (charlie works at Valley).
HARBOR_STAFF = ("alice", "ada", "sam", "bob", "pat", "eve", "nora")
# The words the issue asks a shredded organization's case pages to say.
SAYS_SHREDDED = "case data was destroyed (shredded) on"


class ShreddedOrganizationPagesTests(matrix.AccessMatrixTests):
    shredded_on: datetime.datetime | None

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.case.refresh_from_db()
        shredding.shred_organization(organization=cls.harbor, typed="Harbor")
        cls.shredded_on = keys.keys_destroyed_at(cls.harbor.pk)

    # The matrix's own tests expect Harbor's pages to open; they are not repeated here.
    test_every_url_is_in_the_matrix = None  # type: ignore[assignment]
    test_every_persona_gets_the_expected_status_on_every_url = None  # type: ignore[assignment]
    test_post_only_urls_refuse_get = None  # type: ignore[assignment]
    test_anonymous_visitors_are_sent_to_sign_in_never_shown_data = None  # type: ignore[assignment]

    def open(self, name: str, row: matrix.Row, obj: str, persona: str):
        url = self.url_for(name, obj)
        if row.method == "post":
            return self.client.post(url, self.fill(row.data, persona))
        return self.client.get(url)

    def test_every_url_answers_harbors_staff_without_a_server_error(self):
        failures, gone = [], []
        for name, row in sorted(matrix.MATRIX.items()):
            for persona in HARBOR_STAFF:
                for obj in row.objects:
                    if obj == "other_org":
                        continue  # Valley's objects: Valley was not shredded
                    self.client.logout()
                    sign_in(self.client, getattr(self, persona))
                    try:
                        response = self.open(name, row, obj, persona)
                    except Exception as exc:  # the test client re-raises what would have been a 500
                        failures.append(f"{name} [{obj}] as {persona}: raised {type(exc).__name__}: {exc}")
                        continue
                    if response.status_code >= 500:
                        failures.append(f"{name} [{obj}] as {persona}: {response.status_code}")
                    if response.status_code == 410:
                        gone.append(name)
                        self.assertContains(response, SAYS_SHREDDED, status_code=410)
        self.assertEqual(failures, [])
        # Pages that need an encrypted value did need one: the walk reached the shredded answer.
        self.assertIn("cases:detail", gone)

    def test_the_case_page_says_it_was_shredded_and_when(self):
        self.login(self.alice)
        response = self.client.get(reverse("cases:detail", kwargs={"case_id": self.case.pk}))
        self.assertEqual(response.status_code, 410)
        self.assertContains(response, SAYS_SHREDDED, status_code=410)
        self.assertContains(response, "by its program admin", status_code=410)
        when = timezone.localtime(self.shredded_on)
        self.assertContains(response, str(when.year), status_code=410)
        self.assertContains(response, reverse("accounts:account"), status_code=410)
        self.assertNotIn(b"Traceback", response.content)
        self.assertIn("no-store", response["Cache-Control"])

    def test_a_post_that_needs_a_destroyed_key_answers_410_and_writes_nothing(self):
        # A note is encrypted on save: with the keys gone it cannot be written; the POST's view is called by
        # lib.requests (a transaction), not by Django, so this is the second way in.
        from circlekeeper.cases.models import CaseNote

        before = CaseNote.objects.filter(case=self.case).count()
        self.login(self.alice)
        url = reverse("cases:note_add", kwargs={"case_id": self.case.pk})
        response = self.client.post(url, {"text": "After the shredding", "kind": "general"})
        self.assertEqual(response.status_code, 410)
        self.assertContains(response, SAYS_SHREDDED, status_code=410)
        self.assertEqual(CaseNote.objects.filter(case=self.case).count(), before)

    def test_the_account_page_still_opens(self):
        self.login(self.alice)
        self.assertEqual(self.client.get(reverse("accounts:account")).status_code, 200)


class ShreddedOrganizationApiAndExportTests(redcap_tests.ApiTestCase):
    """Planted questionnaire answers (encrypted) at Harbor, then Harbor shredded: the evaluator's REDCap calls
    and exports answer 410, in the REDCap API's error shape and before a streamed file starts."""

    def setUp(self):
        super().setUp()
        shredding.shred_organization(organization=self.harbor, typed="harbor")

    def test_redcap_records_answer_410_in_redcaps_json_error_shape(self):
        response = self.call("record", fmt="json", returnFormat="json")
        self.assertEqual(response.status_code, 410)
        body = json.loads(response.content)
        self.assertEqual(list(body), ["error"])  # REDCap's shape: {"error": "..."}
        self.assertIn(SAYS_SHREDDED, body["error"])

    def test_redcap_records_in_csv_answer_410_with_redcaps_error_line(self):
        response = self.call("record", fmt="csv", returnFormat="csv")
        self.assertEqual(response.status_code, 410)
        self.assertTrue(response.content.decode().startswith("ERROR: "))

    def test_a_streamed_export_answers_410_before_the_file_starts(self):
        for format in ("csv", "sav"):
            self.login(self.eve)
            self.confirm()
            response = self.client.post(
                redcap_tests.EXPORTS, {"dataset": "planted", "format": format, "language": "en"}
            )
            self.assertEqual(response.status_code, 410, format)
            self.assertFalse(response.streaming, format)
            self.assertContains(response, SAYS_SHREDDED, status_code=410)
