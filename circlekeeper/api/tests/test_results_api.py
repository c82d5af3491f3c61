"""The results API (/api/v1/): the dashboards' published numbers for a token's organization or network.

The oracle is the dashboard page itself: every cell the API gives is a cell the page shows, and nothing the
page hides (a small count) appears as a number.
"""

from __future__ import annotations

import re

from django.test import override_settings
from django.urls import reverse

from circlekeeper.accounts.audit import Action
from circlekeeper.api import services
from circlekeeper.evaluation.tests.test_exports_fixtures import PlantedData
from circlekeeper.testing import audit_log

IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@override_settings(TASKS=IMMEDIATE, CIRCLEKEEPER_API_PLAIN_HTTP=False)
class ResultsApiTests(PlantedData):
    def setUp(self):
        super().setUp()
        _token, self.raw = services.create_token(self.eve, organization=self.harbor, name="Results")
        _token, self.network_raw = services.create_token(self.nora, network=self.network, name="Pooled")

    def get(self, name, *args, raw=None, **params):
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.get(
                reverse(name, args=args),
                params,
                secure=True,
                headers={"authorization": f"Bearer {self.raw if raw is None else raw}"},
            )

    def ready(self, *args, **kwargs):
        answer = self.get("api:v1_dashboard", *args, **kwargs)
        if answer.status_code == 202:  # computed on commit by the immediate backend: ask again
            self.assertEqual(answer.json()["status"], "computing")
            answer = self.get("api:v1_dashboard", *args, **kwargs)
        return answer

    def test_index_names_the_scope_and_every_domain(self):
        index = self.get("api:v1_index").json()
        self.assertEqual(index["scope"], {"kind": "organization", "name": "Harbor", "threshold": 11})
        self.assertIn("safety", [d["code"] for d in index["domains"]])
        pooled = self.get("api:v1_index", raw=self.network_raw).json()
        self.assertEqual(pooled["scope"]["kind"], "network")

    def test_results_are_the_cells_the_dashboard_page_shows(self):
        first = self.get("api:v1_dashboard", "safety")
        self.assertEqual(
            (first.status_code, first.json()["status"], first["Retry-After"]), (202, "computing", "2")
        )
        answer = self.ready("safety")
        self.assertEqual(answer.status_code, 200, answer.content)
        results = answer.json()
        self.assertEqual(
            (results["status"], results["domain"], results["threshold"]), ("ready", "safety", 11)
        )
        self.login(self.eve)
        page = self.client.get(reverse("evaluation:dashboard_domain", args=["safety"])).content.decode()
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace("&lt;", "<")
        cells = [
            cell
            for section in results["sections"]
            for table in section["tables"]
            for _heading, row in table["rows"]
            for cell in row
        ]
        self.assertTrue(cells)
        for section in results["sections"]:
            self.assertIn(section["title"], text)
        for cell in cells:
            self.assertIn(cell, text)
        # The planted data are far below the threshold: no count is published as a number.
        counts = [cell for cell in cells if re.fullmatch(r"\d+", cell)]
        self.assertEqual([c for c in counts if 0 < int(c) < 11], [])

    def test_a_network_token_reads_pooled_results_and_can_narrow_to_one_organization(self):
        answer = self.ready("safety", raw=self.network_raw, organization="harbor")
        self.assertEqual(answer.status_code, 200, answer.content)
        self.assertEqual(answer.json()["filters"]["organization"], "harbor")
        refused = self.get("api:v1_dashboard", "safety", raw=self.network_raw, organization="elsewhere")
        self.assertEqual(refused.status_code, 404)
        self.assertIn("no organization “elsewhere”", refused.json()["error"])
        # An organization's token reads its own organization only.
        self.assertEqual(self.get("api:v1_dashboard", "safety", organization="valley").status_code, 404)

    def test_a_network_token_never_reads_rows(self):
        answer = self.client.post(
            reverse("redcap_api"),
            {"token": self.network_raw, "content": "record", "format": "json"},
            secure=True,
        )
        self.assertEqual(answer.status_code, 400)
        self.assertIn("pooled results only", answer.json()["error"])

    def test_bad_filters_and_unknown_domains_say_what_was_wrong(self):
        answer = self.get("api:v1_dashboard", "safety", period="2026-03")  # a fixed list of years, no months
        self.assertEqual(answer.status_code, 400)
        self.assertIn("2026-03", answer.json()["fields"]["period"][0])
        answer = self.get("api:v1_dashboard", "safety", since="2026-03")  # free dates are not taken at all
        self.assertEqual(answer.status_code, 400)
        self.assertIn("since", answer.json()["error"])
        self.assertEqual(self.get("api:v1_dashboard", "nope").status_code, 404)

    def test_tokens_are_checked_and_calls_audited(self):
        self.assertEqual(self.get("api:v1_index", raw="").status_code, 401)
        self.assertEqual(self.get("api:v1_index", raw="F" * 32).status_code, 403)
        self.assertEqual(
            self.client.get(
                reverse("api:v1_index"), headers={"authorization": f"Bearer {self.raw}"}
            ).status_code,
            403,  # plain HTTP
        )
        self.login(self.eve)  # a session is not a token
        self.assertEqual(self.client.get(reverse("api:v1_index"), secure=True).status_code, 401)
        events = audit_log().filter(action=Action.API_CALL)
        self.assertEqual(events.filter(outcome="refused").count(), 4)

    def test_any_domain_that_does_not_exist_answers_in_json(self):
        answer = self.get("api:v1_dashboard", "no\nsuch/domain")
        self.assertEqual(answer.status_code, 404)
        self.assertIn("There is no domain", answer.json()["error"])

    def test_the_description_and_its_page(self):
        document = self.client.get(reverse("api:v1_schema")).json()
        self.assertEqual(document["openapi"], "3.1.0")
        self.assertIn("/dashboards/{domain}/", document["paths"])
        self.assertIn("DomainResults", document["components"]["schemas"])
        parameters = {p["name"] for p in document["paths"]["/dashboards/{domain}/"]["get"]["parameters"]}
        self.assertEqual(parameters, {"domain", "period", "track", "organization"})
        page = self.client.get(reverse("api:v1_docs"))
        self.assertContains(page, "Authorization: Bearer")
        self.assertContains(page, "/dashboards/{domain}/")
