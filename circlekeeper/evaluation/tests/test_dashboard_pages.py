"""The evaluation dashboards: who may open them, the numbers they show (the same as evaluation_report's), small
cells suppressed, filters, the background computation and its progress, audit, and query budgets."""

import datetime
import io
import json
import re

from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import Track
from circlekeeper.evaluation import dashboard_tasks, dashboards, dataset
from circlekeeper.evaluation.models import ComputationStatus, DashboardComputation
from circlekeeper.evaluation.tests.test_dashboard_fixtures import scored_people
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.testing import PersonaTestCase, audit_log, make_network, make_organization, make_user

IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
SAFETY = reverse("evaluation:dashboard_domain", args=["safety"])


class DashboardTestCase(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        load_builtins()

    def get(self, url, user=None, **kwargs):
        """A page, with the computation it queues run at once (as a worker would)."""
        if user is not None:
            self.login(user)
        with override_settings(TASKS=IMMEDIATE), self.captureOnCommitCallbacks(execute=True):
            return self.client.get(url, **kwargs)

    def computed(self, url, user=None, **kwargs):
        """The page once its numbers are computed (the first visit queues them, the next shows them)."""
        self.get(url, user, **kwargs)
        page = self.get(url, **kwargs)
        self.assertNotContains(page, "<progress")
        return page


class AccessTest(DashboardTestCase):
    def test_the_organizations_evaluator_program_admin_and_supervisor_open_it(self):
        for user in (self.eve, self.pat, self.sam):
            with self.subTest(user.email):
                self.login(user)
                self.assertEqual(self.client.get(reverse("evaluation:dashboard")).status_code, 200)
                self.assertEqual(self.get(SAFETY).status_code, 200)

    def test_keepers_advocates_and_other_organizations_staff_are_refused(self):
        for user in (self.alice, self.ada, self.bob, self.charlie, self.nora):
            with self.subTest(user.email):
                self.login(user)
                self.assertEqual(self.client.get(reverse("evaluation:dashboard")).status_code, 403)
                self.assertEqual(self.client.get(SAFETY).status_code, 403)
        self.assertFalse(DashboardComputation.objects.exists())

    def test_anonymous_people_are_sent_to_sign_in(self):
        page = self.client.get(SAFETY)
        self.assertEqual(page.status_code, 302)
        self.assertIn(reverse("accounts:login"), page["Location"])

    def test_an_unknown_domain_is_not_found(self):
        self.login(self.eve)
        self.assertEqual(
            self.client.get(reverse("evaluation:dashboard_domain", args=["nothing"])).status_code, 404
        )

    def test_a_network_dashboard_is_for_its_admins_and_its_organizations_evaluators(self):
        url = reverse("evaluation:network_dashboard_domain", args=["test-network", "retention"])
        for user in (self.nora, self.eve):
            with self.subTest(user.email):
                self.assertEqual(self.get(url, user).status_code, 200)
                self.login(user)
                index = self.client.get(reverse("evaluation:network_dashboard", args=["test-network"]))
                self.assertEqual(index.status_code, 200)
        for user in (self.pat, self.sam, self.alice, self.charlie):
            with self.subTest(user.email):
                self.login(user)
                self.assertEqual(self.client.get(url).status_code, 403)

    def test_another_network_is_not_found(self):
        other = make_organization(network=make_network(slug="elsewhere"))
        make_user(organization=other, roles=(Role.EVALUATOR,))
        self.login(self.eve)
        url = reverse("evaluation:network_dashboard_domain", args=["elsewhere", "safety"])
        self.assertEqual(self.client.get(url).status_code, 404)
        self.assertEqual(
            self.client.get(reverse("evaluation:network_dashboard", args=["nowhere"])).status_code, 404
        )


class NumbersTest(DashboardTestCase):
    def report(self, *args):
        out = io.StringIO()
        call_command("evaluation_report", *args, "--format", "json", stdout=out)
        return json.loads(out.getvalue())

    def test_the_page_shows_the_numbers_evaluation_report_prints(self):
        scored_people(self.harbor, people=26, seed=21, missed=3)
        page = self.computed(SAFETY, self.eve).content.decode()
        text = re.sub(r"\s+", " ", page)
        described = self.report(
            "--analysis",
            "descriptives",
            "--organization",
            "harbor",
            "--instrument",
            "outcome_safety",
            "--score",
            "felt_safety",
            "--role",
            "survivor",
        )
        for row in described["rows"]:
            cells = [
                row["n"],
                row["answered"],
                row["missing"],
                *(f"{row[key]:.2f}" for key in ("mean", "sd", "ci_low", "ci_high", "median")),
            ]
            self.assertIn(
                f'<th scope="row">{row["timepoint"]}</th>' + "".join(f"<td>{cell}</td>" for cell in cells),
                text,
            )
        change = self.report(
            "--analysis",
            "prepost",
            "--organization",
            "harbor",
            "--instrument",
            "outcome_safety",
            "--score",
            "felt_safety",
            "--role",
            "survivor",
            "--from",
            "T0",
            "--to",
            "T3",
        )
        self.assertEqual(change["n"], 23)
        cells = [
            change["n_before"],
            change["n_after"],
            change["n"],
            *(
                f"{change[key]:.2f}"
                for key in ("mean_change", "mean_change_ci_low", "mean_change_ci_high", "t")
            ),
        ]
        self.assertIn('<th scope="row">T0 → T3</th>' + "".join(f"<td>{c}</td>" for c in cells), text)
        for key in ("d_z", "d_z_ci_low", "d_z_ci_high"):
            self.assertIn(f"<td>{change[key]:.2f}</td>", text)
        self.assertIn("Based on 26 people.", text)

    def test_small_cells_show_as_below_11_and_are_not_drawn(self):
        scored_people(self.harbor, people=14, seed=22, missed=6)
        page = self.computed(SAFETY, self.eve)
        text = page.content.decode()
        self.assertIn('<th scope="row">T3</th><td>&lt;11</td><td>—</td><td>0</td><td>—</td>', text)
        self.assertIn("suppressed (n &lt;11)", text)
        # One bar is drawn (T0); T3's is not.
        svg = text[text.index("<svg") : text.index("</svg>")]
        self.assertEqual(svg.count('<rect x="170"'), 1)
        self.assertIn("T3: fewer than 11 people", text)

    def test_retention_on_a_network_page_pools_the_organizations_and_filters_by_one(self):
        scored_people(self.harbor, people=12, seed=23)
        scored_people(self.valley, people=13, seed=24)
        url = reverse("evaluation:network_dashboard_domain", args=["test-network", "retention"])
        pooled = self.computed(url, self.nora).content.decode()
        self.assertIn('<th scope="row">T0</th><td>25</td><td>25</td><td>0</td>', pooled)
        only = self.computed(url + "?organization=valley").content.decode()
        self.assertIn('<th scope="row">T0</th><td>13</td><td>13</td><td>0</td>', only)

    def test_filters_by_track_and_period_and_refuses_bad_ones(self):
        scored_people(self.harbor, people=12, seed=25, track=Track.SUPPORT_ONLY)
        url = reverse("evaluation:dashboard_domain", args=["retention"])
        self.assertContains(self.computed(url, self.eve, data={"track": Track.SUPPORT_ONLY}), "<td>12</td>")
        self.assertContains(
            self.computed(url, data={"track": Track.DIRECT_DIALOGUE}),
            "No evaluation timepoints are scheduled",
        )
        self.assertContains(self.computed(url, data={"period": "2025"}), "No evaluation timepoints")
        self.assertContains(self.computed(url, data={"period": "2026"}), "<td>12</td>")
        # Issue 21, finding 1: only a calendar year from the fixed list, never a free month or range.
        for free in ({"period": "2026-02"}, {"period": "2026-Q1"}, {"period": "1999"}):
            page = self.get(url, data=free)
            self.assertContains(page, "Select a valid choice", status_code=400)
        # Free dates in the address are ignored: the page is the unfiltered one (a fifth computation, all years).
        page = self.get(url, data={"since": "2025-01", "until": "2026-10"})
        self.assertNotContains(page, 'name="since"')
        self.assertEqual(DashboardComputation.objects.count(), 5)
        self.assertTrue(DashboardComputation.objects.filter(filters__period="").exists())

    def test_every_domain_page_opens_and_each_chart_has_its_title_and_table(self):
        scored_people(self.harbor, people=12, seed=26)
        for domain in dashboards.DOMAINS:
            with self.subTest(domain.code):
                page = self.computed(reverse("evaluation:dashboard_domain", args=[domain.code]), self.eve)
                text = page.content.decode()
                self.assertEqual(text.count("<svg"), text.count("<title id="))
                self.assertEqual(text.count('role="img"'), text.count("<svg"))
                self.assertGreaterEqual(text.count("<caption"), text.count("<svg"))
                # Every message was formatted: no "%%" or "%(name)s" left for a reader.
                self.assertNotIn("%%", text)
                self.assertNotIn("%(", text)


class BackgroundTest(DashboardTestCase):
    def test_the_page_shows_progress_until_the_worker_is_done_then_the_result(self):
        scored_people(self.harbor, people=12, seed=27)
        self.login(self.eve)
        with self.captureOnCommitCallbacks(execute=True):
            page = self.client.get(SAFETY)  # the database backend: queued, nobody runs it yet
        self.assertContains(page, '<progress id="dashboard-progress" max="100" value="0">')
        self.assertContains(page, 'hx-trigger="every 2s"')
        self.assertContains(page, "Refresh to see whether it is done")
        computation = DashboardComputation.objects.get()
        self.assertEqual(computation.status, ComputationStatus.PENDING)
        # Opening it again queues nothing more.
        with self.captureOnCommitCallbacks(execute=True):
            self.client.get(SAFETY)
        [queued] = DBTaskResult.objects.all()
        self.assertEqual(queued.args_kwargs["args"], [computation.pk])
        dashboard_tasks.run_computation(computation.pk)
        computation.refresh_from_db()
        self.assertEqual((computation.status, computation.progress), (ComputationStatus.DONE, 100))
        poll = self.client.get(SAFETY, headers={"HX-Request": "true"})
        self.assertNotContains(poll, "<html")
        self.assertNotContains(poll, "hx-trigger")
        self.assertContains(poll, "Felt safety")

    def test_progress_is_saved_section_by_section(self):
        scope = dataset.Scope.for_organization(self.harbor)
        seen: list[int] = []
        dashboards.compute(scope, "safety", {}, on_progress=seen.append)
        self.assertEqual(seen, [33, 66, 100])

    def test_a_result_is_computed_anew_when_the_data_change_or_it_grows_old(self):
        scored_people(self.harbor, people=12, seed=28)
        scope = dataset.Scope.for_organization(self.harbor)
        filters = (
            dashboards.DashboardFilterForm().filters() if hasattr(dashboards, "DashboardFilterForm") else {}
        )
        first = dashboard_tasks.request_computation(scope, "safety", filters)
        dashboard_tasks.run_computation(first.computation.pk)
        self.assertTrue(dashboard_tasks.request_computation(scope, "safety", filters).fresh)
        scored_people(self.harbor, people=1, seed=29)
        again = dashboard_tasks.request_computation(scope, "safety", filters)
        self.assertFalse(again.fresh)
        self.assertEqual(again.computation.status, ComputationStatus.PENDING)
        dashboard_tasks.run_computation(again.computation.pk)
        later = datetime.datetime.now(datetime.UTC) + dashboard_tasks.MAX_AGE + datetime.timedelta(minutes=1)
        self.assertFalse(dashboard_tasks.request_computation(scope, "safety", filters, now=later).fresh)

    def test_a_lost_computation_is_queued_again(self):
        scope = dataset.Scope.for_organization(self.harbor)
        first = dashboard_tasks.request_computation(scope, "retention", {})
        DashboardComputation.objects.filter(pk=first.computation.pk).update(status=ComputationStatus.RUNNING)
        later = (
            datetime.datetime.now(datetime.UTC) + dashboard_tasks.LOST_AFTER + datetime.timedelta(minutes=1)
        )
        with self.captureOnCommitCallbacks() as callbacks:
            dashboard_tasks.request_computation(scope, "retention", {}, now=later)
        self.assertEqual(len(callbacks), 1)


class AuditTest(DashboardTestCase):
    def test_opening_a_page_is_audited_but_its_progress_polls_are_not(self):
        self.get(SAFETY, self.eve)
        self.client.get(SAFETY, headers={"HX-Request": "true"})
        self.client.get(reverse("evaluation:dashboard"))
        events = audit_log().filter(action="evaluation.dashboard").order_by("sequence")
        self.assertEqual(
            [(e.object_id, e.organization_id) for e in events],
            [("safety", self.harbor.pk), ("index", self.harbor.pk)],
        )


class QueryBudgetTest(DashboardTestCase):
    def count(self, url):
        with CaptureQueriesContext(connection) as queries:
            page = self.get(url)
        self.assertEqual(page.status_code, 200)
        return len(queries)

    def test_each_page_costs_the_same_number_of_queries_with_few_and_many_cases(self):
        self.login(self.eve)
        urls = [reverse("evaluation:dashboard")] + [
            reverse("evaluation:dashboard_domain", args=[domain.code]) for domain in dashboards.DOMAINS
        ]
        scored_people(self.harbor, people=2, seed=30)
        for url in urls:
            self.get(url)  # computed once
        few = {url: self.count(url) for url in urls}
        scored_people(self.harbor, people=30, seed=31, missed=5)
        for url in urls:
            self.get(url)  # the data changed: computed again
        many = {url: self.count(url) for url in urls}
        self.assertEqual(few, many)
        self.assertLessEqual(max(many.values()), 30)

    def test_a_computation_reads_a_fixed_number_of_queries_however_many_cases(self):
        scope = dataset.Scope.for_organization(self.harbor)
        counts = []
        for people, seed in ((2, 32), (25, 33)):
            scored_people(self.harbor, people=people, seed=seed)
            for domain in dashboards.DOMAINS:
                with CaptureQueriesContext(connection) as queries:
                    dashboards.compute(scope, domain.code, {})
                counts.append((domain.code, len(queries)))
        half = len(dashboards.DOMAINS)
        self.assertEqual(counts[:half], counts[half:])
