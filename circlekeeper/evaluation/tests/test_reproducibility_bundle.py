"""Issue 21, Build 4: every published analysis of the evaluation dashboards downloads as a bundle whose script,
run outside Circlekeeper, gives back the numbers the dashboard computed.

Each test builds the dashboard's numbers (dashboards.compute, what the page stores and shows), builds the bundle,
unzips it into a temporary folder and runs its recompute.py in a fresh Python process (this venv's), then
compares the script's JSON with the dashboard's numbers to 1e-6: descriptives and pre/post change, incidence
rate ratios (Poisson, and the negative binomial on overdispersed counts), Kaplan–Meier with the log-rank test,
and the Cox model; pooled over a network with the organization as a covariate too. Wrong inputs (a withheld group
or timepoint let in, a filter not applied) or wrong parameters (a model, a reference, a covariate) change the
script's numbers, so these tests fail.
"""

from __future__ import annotations

import ast
import io
import json
import math
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import time_machine
from django.core.management import call_command
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Network, Organization, Role, User
from circlekeeper.accounts.reauth import REAUTHENTICATED_AT_KEY
from circlekeeper.cases.models import Case
from circlekeeper.evaluation import bundle, dashboards, dataset
from circlekeeper.evaluation.dashboard_tasks import scope_key
from circlekeeper.evaluation.models import ComputationStatus, DashboardComputation
from circlekeeper.evaluation.services import import_outcomes
from circlekeeper.evaluation.tests.schedule_helpers import local
from circlekeeper.testing import audit_log, make_organization, make_user, sign_in

ALL = {"period": "", "track": "", "organization": ""}
TOLERANCE = 1e-6
DESCRIPTIVE_KEYS = ("mean", "sd", "median", "q1", "q3", "min", "max", "ci_low", "ci_high")
PREPOST_KEYS = (
    "mean_change",
    "mean_change_ci_low",
    "mean_change_ci_high",
    "t",
    "p_t",
    "p_wilcoxon",
    "d_z",
    "d_z_ci_low",
    "d_z_ci_high",
)
IRR_KEYS = ("irr", "ci_low", "ci_high", "p_value", "percent_reduction")


def section_index(result: dict, kind: str, **match: str) -> int:
    for index, section in enumerate(result["sections"]):
        if section["kind"] == kind and all(section.get(key) == value for key, value in match.items()):
            return index
    raise AssertionError(f"no {kind} section")


def unzip(content: bytes, folder: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        archive.extractall(folder)
        return {name: archive.read(name) for name in archive.namelist()}


def rerun(folder: Path) -> dict:
    """The bundle's script, run as a reviewer would: its own process, in the unzipped folder."""
    done = subprocess.run(
        [sys.executable, "-I", "recompute.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class BundleTestCase(TestCase):
    def assert_close(self, found, expected, what):
        if expected is None:
            self.assertIsNone(found, what)
            return
        self.assertIsNotNone(found, what)
        self.assertTrue(
            math.isclose(found, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE),
            f"{what}: {found} != {expected}",
        )

    def rebuilt(self, scope, result, index):
        """The bundle's files and the script's numbers."""
        made = bundle.build(scope, result, index, computed_at=timezone.now())
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        files = unzip(made.content, folder)
        return files, rerun(folder)

    def assert_rate_ratios(self, found, made):
        self.assertEqual(found["model"], made["model"])
        self.assertEqual(found["model_reason"], made["model_reason"])
        self.assertEqual(found["covariates"], made["adjusted_for"])
        self.assert_close(found["dispersion"], made["dispersion"], "dispersion")
        self.assert_close(found["alpha"], made["alpha"], "alpha")
        published = [c for c in made["comparisons"] if c["withheld"] is None]
        self.assertEqual([c["group"] for c in found["comparisons"]], [c["group"] for c in published])
        for mine, theirs in zip(found["comparisons"], published, strict=True):
            self.assertEqual(
                (mine["reference"], mine["n"], mine["events"]),
                (theirs["reference"], theirs["n"], theirs["events"]),
            )
            for key in IRR_KEYS:
                self.assert_close(mine[key], theirs[key], f"{mine['group']} {key}")
        self.assertEqual(len(found["unadjusted"]), len(made["unadjusted"]))
        for mine, theirs in zip(found["unadjusted"], made["unadjusted"], strict=True):
            for key in ("irr", "ci_low", "ci_high", "p_value"):
                self.assert_close(mine[key], theirs[key], f"unadjusted {mine['group']} {key}")

    def assert_survival(self, found, made):
        shown = [g for g in made["groups"] if g["withheld"] is None]
        self.assertEqual([g["group"] for g in found["groups"]], [g["group"] for g in shown])
        for mine, theirs in zip(found["groups"], shown, strict=True):
            self.assertEqual((mine["n"], mine["events"]), (theirs["n"], theirs["events"]))
            self.assert_close(mine["median_days"], theirs["median_days"], "median")
            for day in made["at"]:
                self.assert_close(
                    mine["survival_at"][str(day)], dashboards._at(theirs["survival_at"], day), f"S({day})"
                )
        self.assert_close(found["logrank_chisq"], made["logrank_chisq"], "log-rank chi2")
        self.assertEqual(found["logrank_df"], made["logrank_df"])
        self.assert_close(found["logrank_p"], made["logrank_p"], "log-rank p")
        self.assertIsNotNone(made["cox"])
        self.assertEqual(found["cox"]["covariates"], made["cox"]["covariates"])
        for mine, theirs in zip(found["cox"]["hazard_ratios"], made["cox"]["hazard_ratios"], strict=True):
            for key in ("hr", "ci_low", "ci_high", "p_value"):
                self.assert_close(mine[key], theirs[key], f"cox {key}")


class DemoBundles(BundleTestCase):
    harbor: Organization
    network: Network

    @classmethod
    def setUpTestData(cls):
        with time_machine.travel(local(2026, 6, 15, 10), tick=True):
            call_command("seed_demo", "--force", stdout=io.StringIO())
        cls.harbor = Organization.objects.get(slug="harbor")
        cls.network = cls.harbor.network

    def scope(self):
        return dataset.Scope.for_organization(self.harbor)

    def test_a_score_bundle_recomputes_the_descriptives_and_every_pre_post_change(self):
        for filters in (ALL, {**ALL, "period": "2025"}):
            with self.subTest(filters=filters):
                result = dashboards.compute(self.scope(), "safety", filters)
                index = section_index(result, "score", score="felt_safety")
                files, found = self.rebuilt(self.scope(), result, index)
                parameters = json.loads(files["parameters.json"])
                self.assertEqual(parameters["filters"], filters)
                self.assertEqual(
                    parameters["cases"]["opened_from"], "2025-01-01" if filters["period"] else None
                )
                section = result["sections"][index]
                published = {row["timepoint"]: row for row in section["descriptives"]["rows"]}
                bundled = [row["timepoint"] for row in found["descriptives"]]
                # Every timepoint the page shows is in the bundle, and only those.
                self.assertEqual(bundled, [p for p, row in published.items() if row["withheld"] is None])
                self.assertTrue(bundled)
                for mine in found["descriptives"]:
                    theirs = published[mine["timepoint"]]
                    self.assertEqual(mine["n"], theirs["n"])
                    if isinstance(theirs["missing"], int):
                        self.assertEqual(mine["missing"], theirs["missing"])
                    for key in DESCRIPTIVE_KEYS:
                        self.assert_close(mine[key], theirs[key], f"{mine['timepoint']} {key}")
                changes = {(c["from"], c["to"]): c for c in section["prepost"] if c["withheld"] is None}
                self.assertEqual({(c["from"], c["to"]) for c in found["prepost"]}, set(changes))
                for mine in found["prepost"]:
                    theirs = changes[(mine["from"], mine["to"])]
                    self.assertEqual(mine["n"], theirs["n"])
                    for key in PREPOST_KEYS:
                        self.assert_close(mine[key], theirs[key], f"{mine['from']}-{mine['to']} {key}")

    def test_a_rate_ratio_bundle_recomputes_the_poisson_fit_and_leaves_the_withheld_group_out(self):
        result = dashboards.compute(self.scope(), "recurrence", ALL)
        index = section_index(result, "irr")
        made = result["sections"][index]["report"]
        self.assertEqual(made["model"], "poisson")  # the demo's counts are Poisson
        files, found = self.rebuilt(self.scope(), result, index)
        outcomes = pd.read_csv(io.BytesIO(files["outcomes.csv"]))
        self.assertEqual(sorted(outcomes["group"].unique()), ["bip", "bip_circles"])  # "pilot" is withheld
        self.assertEqual(
            list(outcomes.columns), ["organization", "group", "person_days", "events", "first_event_day"]
        )
        parameters = json.loads(files["parameters.json"])
        self.assertEqual(parameters["irr"]["reference"], made["reference"])
        self.assertEqual(parameters["irr"]["model_requested"], "auto")
        self.assertEqual(parameters["irr"]["overdispersion_limit"], 1.5)
        self.assertEqual(parameters["irr"]["covariates_requested"], ["organization"])
        self.assertTrue(parameters["irr"]["robust"])
        self.assert_rate_ratios(found, made)

    def test_a_survival_bundle_recomputes_kaplan_meier_the_log_rank_test_and_the_cox_model(self):
        result = dashboards.compute(self.scope(), "recurrence", ALL)
        index = section_index(result, "survival")
        files, found = self.rebuilt(self.scope(), result, index)
        made = result["sections"][index]["report"]
        self.assertEqual(json.loads(files["parameters.json"])["survival"]["at"], made["at"])
        self.assert_survival(found, made)

    def test_pooled_over_the_network_the_organization_is_a_covariate_in_the_bundle_too(self):
        scope = dataset.Scope.for_network(self.network)
        result = dashboards.compute(scope, "recurrence", ALL)
        irr_index, survival_index = section_index(result, "irr"), section_index(result, "survival")
        _files, found = self.rebuilt(scope, result, irr_index)
        self.assertEqual(found["covariates"], ["organization"])
        self.assert_rate_ratios(found, result["sections"][irr_index]["report"])
        _files, found = self.rebuilt(scope, result, survival_index)
        self.assertEqual(found["cox"]["covariates"], ["organization"])
        self.assert_survival(found, result["sections"][survival_index]["report"])

    def test_a_retention_bundle_recomputes_every_timepoint_the_page_shows_and_nothing_it_hides(self):
        frame = dataset.timepoints_frame(self.scope())
        for filters in (ALL, {**ALL, "period": "2025"}):
            with self.subTest(filters=filters):
                result = dashboards.compute(self.scope(), "retention", filters)
                index = section_index(result, "retention")
                files, found = self.rebuilt(self.scope(), result, index)
                rows = pd.read_csv(io.BytesIO(files["retention.csv"]), dtype=str)
                self.assertEqual(rows.columns.tolist(), ["timepoint", "status"])
                published = {r["timepoint"]: r for r in result["sections"][index]["report"]["rows"]}
                shown = [point for point, row in published.items() if row["withheld"] is None]
                self.assertEqual([row["timepoint"] for row in found["rows"]], shown)
                # A withheld timepoint has no row in the bundle, and neither do pending ones the page hides.
                for point, row in published.items():
                    here = rows[rows["timepoint"] == point]
                    if row["withheld"] is not None:
                        self.assertEqual(len(here), 0, point)
                    elif not isinstance(row["n_pending"], int):
                        self.assertNotIn("pending", here["status"].tolist(), point)
                for mine in found["rows"]:
                    theirs = published[mine["timepoint"]]
                    for key in ("n_due", "n_completed", "n_missed"):
                        self.assertEqual(mine[key], theirs[key], f"{mine['timepoint']} {key}")
                    expected_pending = theirs["n_pending"] if isinstance(theirs["n_pending"], int) else None
                    self.assertEqual(mine["n_pending"], expected_pending, mine["timepoint"])
                    for key in ("share", "ci_low", "ci_high"):
                        self.assert_close(mine[key], theirs[key], f"{mine['timepoint']} {key}")
                k = json.loads(files["parameters.json"])["deidentification"]
                self.assertEqual(k["quasi_identifiers"], ["timepoint"])
                self.assertGreaterEqual(k["k_achieved"], 5)
                if not filters["period"]:
                    # Unfiltered, the page shows a share at T0 and T3: both are recomputed.
                    with_share = [row["timepoint"] for row in found["rows"] if row["share"] is not None]
                    self.assertEqual(with_share, ["T0", "T3"])
                everything = b"".join(files.values())
                for code in set(frame["participant"]):
                    self.assertNotIn(code.encode(), everything)

    def test_a_fidelity_bundle_recomputes_the_kinds_or_the_overall_the_page_shows(self):
        for filters, kinds, overall in ((ALL, ["stage"], False), ({**ALL, "period": "2026"}, [], True)):
            with self.subTest(filters=filters):
                result = dashboards.compute(self.scope(), "fidelity", filters)
                index = section_index(result, "fidelity")
                made = result["sections"][index]["report"]
                files, found = self.rebuilt(self.scope(), result, index)
                rows = pd.read_csv(io.BytesIO(files["fidelity.csv"]), dtype={"kind": str})
                self.assertEqual(rows.columns.tolist(), ["kind", "on_time"])
                # The page withholds the meetings (few late): the bundle holds none of their rows.
                self.assertEqual(sorted(rows["kind"].unique()), kinds or ["all"])
                self.assertEqual([row["kind"] for row in found["rows"]], kinds)
                published = {row["kind"]: row for row in made["rows"]}
                pairs = [(mine, published[mine["kind"]]) for mine in found["rows"]]
                if overall:
                    self.assertIsNone(made["overall"]["withheld"])
                    pairs.append((found["overall"], made["overall"]))
                else:
                    self.assertIsNone(found["overall"])
                self.assertTrue(pairs)
                for mine, theirs in pairs:
                    for key in ("n", "on_time", "late"):
                        self.assertEqual(mine[key], theirs[key], key)
                    for key in ("share", "ci_low", "ci_high"):
                        self.assert_close(mine[key], theirs[key], key)
                self.assertGreaterEqual(
                    json.loads(files["parameters.json"])["deidentification"]["k_achieved"], 5
                )

    def test_the_bundle_holds_no_code_and_says_its_versions_and_k(self):
        result = dashboards.compute(self.scope(), "safety", ALL)
        index = section_index(result, "score", score="felt_safety")
        made = bundle.build(self.scope(), result, index, computed_at=timezone.now())
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        files = unzip(made.content, folder)
        self.assertLessEqual(
            {
                "README.txt",
                "parameters.json",
                "versions.json",
                "published.json",
                "recompute.py",
                "scores.csv",
            },
            set(files),
        )
        codes = set(dataset.scores_frame(self.scope(), instrument="outcome_safety")["participant"])
        everything = b"".join(files.values())
        self.assertTrue(codes)
        for code in codes:
            self.assertNotIn(code.encode(), everything)
        self.assertEqual(
            pd.read_csv(io.BytesIO(files["scores.csv"])).columns.tolist(), ["timepoint", "value"]
        )
        versions = json.loads(files["versions.json"])
        self.assertEqual(set(versions), {"python", "pandas", "numpy", "scipy", "statsmodels", "circlekeeper"})
        self.assertEqual(versions["statsmodels"], __import__("statsmodels").__version__)
        k = json.loads(files["parameters.json"])["deidentification"]
        self.assertEqual(k["k_required"], 5)
        self.assertGreaterEqual(k["k_achieved"], 5)
        # The script is standalone: it imports no Circlekeeper and no Django.
        tree = ast.parse(files["recompute.py"])
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        imported |= {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        self.assertLessEqual(
            imported,
            {
                "json",
                "math",
                "sys",
                "warnings",
                "pathlib",
                "typing",
                "__future__",
                "numpy",
                "pandas",
                "scipy",
                "statsmodels",
            },
        )


class NegativeBinomialBundle(BundleTestCase):
    def test_on_overdispersed_counts_the_bundle_recomputes_the_negative_binomial_fit(self):
        organization = make_organization(slug="overdispersed")
        rng = np.random.default_rng(7)
        lines = ["participant_code,group,person_days,events,first_event_day"]
        for number in range(160):
            group = "bip_circles" if number % 2 else "bip"
            days = int(rng.integers(200, 731))
            mean = (0.45 if group == "bip_circles" else 1.0) * days / 365 * rng.gamma(0.5, 2.0)
            events = int(rng.poisson(mean))
            first = int(rng.integers(1, days + 1)) if events else ""
            lines.append(f"X{number:04d},{group},{days},{events},{first}")
        import_outcomes(organization=organization, file_name="o.csv", content="\n".join(lines).encode())
        scope = dataset.Scope.for_organization(organization)
        result = dashboards.compute(scope, "recurrence", ALL)
        index = section_index(result, "irr")
        made = result["sections"][index]["report"]
        self.assertEqual((made["model"], made["model_reason"]), ("negbin", "overdispersed"))
        _files, found = self.rebuilt(scope, result, index)
        self.assert_rate_ratios(found, made)


class BundleDownloads(TestCase):
    """The download: the organization's evaluators only, after re-authentication, audited; never on a network's
    pages; only while the page's numbers are current."""

    evaluator: Any
    harbor: Any
    others: Any
    valley_evaluator: Any

    @classmethod
    def setUpTestData(cls):
        with time_machine.travel(local(2026, 6, 15, 10), tick=True):
            call_command("seed_demo", "--force", stdout=io.StringIO())
        cls.harbor = Organization.objects.get(slug="harbor")
        cls.evaluator = User.objects.get(email="evaluator@harbor.example")
        cls.others = [
            User.objects.get(email=f"{word}@harbor.example")
            for word in ("admin", "supervisor", "keeper", "advocate")
        ]
        cls.valley_evaluator = make_user(
            "eve2@valley.example",
            organization=Organization.objects.get(slug="valley"),
            roles=(Role.EVALUATOR,),
        )

    def setUp(self):
        scope = dataset.Scope.for_organization(self.harbor)
        result = dashboards.compute(scope, "recurrence", ALL)
        DashboardComputation.objects.create(
            scope_key=scope_key(scope),
            domain="recurrence",
            filters_key=dashboards.filters_key(ALL),
            organization=self.harbor,
            filters=ALL,
            requested_at=timezone.now(),
            status=ComputationStatus.DONE,
            progress=100,
            result=result,
            data_stamp=dashboards.data_stamp(scope),
            computed_at=timezone.now(),
        )
        self.survival = section_index(result, "survival")
        self.url = reverse("evaluation:dashboard_bundle", args=["recurrence", self.survival])

    def confirm(self):
        session = self.client.session
        session[REAUTHENTICATED_AT_KEY] = time.time()
        session.save()

    def bundles(self):
        return audit_log().filter(action=Action.EVALUATION_EXPORT, object_type="evaluation_bundle")

    def test_the_evaluator_downloads_after_confirming_who_they_are_and_it_is_audited(self):
        sign_in(self.client, self.evaluator)
        first = self.client.get(self.url)
        self.assertEqual(first.status_code, 302)
        self.assertIn(reverse("accounts:reauthenticate"), first["Location"])
        self.assertFalse(self.bundles().exists())
        self.confirm()
        response = self.client.get(self.url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/zip")
        self.assertIn("no-store", response["Cache-Control"])
        self.assertRegex(
            response["Content-Disposition"],
            r'^attachment; filename="harbor-recurrence-\d+-survival-.*-bundle\.zip"$',
        )
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            self.assertIn("outcomes.csv", archive.namelist())
        (event,) = self.bundles()
        self.assertEqual(
            (event.actor_id, event.object_id), (self.evaluator.pk, f"recurrence/{self.survival}")
        )

    def test_the_page_links_each_bundle_for_the_evaluator_only(self):
        link = self.url.encode()
        sign_in(self.client, self.evaluator)
        page = self.client.get(reverse("evaluation:dashboard_domain", args=["recurrence"]))
        self.assertIn(link, page.content)
        for user in self.others[:2]:  # the program admin and the supervisor see the page, not the rows
            with self.subTest(user.email):
                sign_in(self.client, user)
                page = self.client.get(reverse("evaluation:dashboard_domain", args=["recurrence"]))
                self.assertEqual(page.status_code, 200)
                self.assertNotIn(link, page.content)

    def test_everyone_else_is_refused_even_after_confirming(self):
        for user in self.others:
            with self.subTest(user.email):
                sign_in(self.client, user)
                self.confirm()
                self.assertEqual(self.client.get(self.url).status_code, 403)
        self.client.logout()
        self.assertEqual(self.client.get(self.url).status_code, 302)
        self.assertFalse(self.bundles().exists())

    def test_another_organizations_evaluator_gets_their_own_organizations_numbers_or_nothing(self):
        # Valley's evaluator asks for the same URL: it means Valley's page, whose numbers are not computed.
        sign_in(self.client, self.valley_evaluator)
        self.confirm()
        response = self.client.get(self.url)
        self.assertEqual(response.status_code, 409)
        self.assertNotIn(b"harbor", response.content.lower().replace(b"harbor community circle", b""))

    def test_when_the_data_changed_since_the_page_was_computed_it_asks_to_open_the_page_first(self):
        DashboardComputation.objects.update(data_stamp="older")
        sign_in(self.client, self.evaluator)
        self.confirm()
        response = self.client.get(self.url)
        self.assertEqual(response.status_code, 409)
        self.assertContains(response, "Open the dashboard page", status_code=409)
        self.assertFalse(self.bundles().exists())

    def test_a_section_without_a_bundle_or_a_filter_not_offered_is_refused_with_a_reason(self):
        sign_in(self.client, self.evaluator)
        self.confirm()
        nothing = reverse("evaluation:dashboard_bundle", args=["recurrence", 99])
        self.assertContains(self.client.get(nothing), "no numbers that can be downloaded", status_code=404)
        self.assertEqual(self.client.get(self.url, {"period": "2026-11"}).status_code, 400)
        self.assertEqual(
            self.client.get(reverse("evaluation:dashboard_bundle", args=["nothing", 0])).status_code, 404
        )
        self.assertFalse(self.bundles().exists())


@override_settings(CIRCLEKEEPER_DEIDENTIFICATION_K=5)
class NoBundleOnANetworkPage(TestCase):
    def test_a_network_page_has_no_bundle_url(self):
        # Reports to a network are aggregate only (SECURITY.md 5): there is no network bundle route at all.
        with self.assertRaises(Exception):
            reverse("evaluation:network_dashboard_bundle", args=["bay-area", "recurrence", 0])


class FewLeftOutOfTheExport(BundleTestCase):
    """The people the row export's k-anonymity plan leaves out stay in a bundle (their numbers are published),
    but a bundle's values less the export's are theirs: a timepoint holding 1 to k - 1 of them is not bundled."""

    def test_a_timepoint_with_two_people_left_out_of_the_export_is_not_bundled_but_the_pairs_are(self):
        from circlekeeper.evaluation import deidentify
        from circlekeeper.evaluation.tests.test_dashboard_fixtures import scored_people
        from circlekeeper.instruments.builtins import load_builtins

        load_builtins()
        organization = make_organization(slug="small-program")
        # 14 people alike; the last 2 miss T3, so their pattern of timepoints is theirs alone: the export
        # leaves them out (k = 5), while the page's T0 counts them.
        scored_people(organization, people=14, seed=3, codes=("T0", "T3"), missed=2)
        scope = dataset.Scope.for_organization(organization)
        plan = deidentify.plan_for(scope)
        self.assertEqual(plan.summary["people_dropped"], 2)
        result = dashboards.compute(scope, "safety", ALL)
        index = section_index(result, "score", score="felt_safety")
        section = result["sections"][index]
        self.assertEqual(
            [(r["timepoint"], r["n"]) for r in section["descriptives"]["rows"]], [("T0", 14), ("T3", 12)]
        )
        files, found = self.rebuilt(scope, result, index)
        parameters = json.loads(files["parameters.json"])["score"]
        self.assertEqual([row["timepoint"] for row in found["descriptives"]], ["T3"])
        self.assertEqual([w["timepoint"] for w in parameters["timepoints_withheld"]], ["T0"])
        self.assertNotIn("T0", pd.read_csv(io.BytesIO(files["scores.csv"]))["timepoint"].tolist())
        # The 12 pairs hold none of the 2: the change is bundled and recomputes.
        (change,) = found["prepost"]
        (published,) = section["prepost"]
        self.assertEqual(change["n"], 12)
        for key in PREPOST_KEYS:
            self.assert_close(change[key], published[key], key)

    def test_retention_at_a_timepoint_with_two_people_left_out_of_the_export_is_not_bundled(self):
        from circlekeeper.evaluation import deidentify
        from circlekeeper.evaluation.tests.test_dashboard_fixtures import scored_people
        from circlekeeper.instruments.builtins import load_builtins

        load_builtins()
        organization = make_organization(slug="small-program")
        # The same 14 people: all answered T0; 2 missed T3, and the export leaves those 2 out. The timepoints
        # export gives the 12 others' statuses: T0's statuses less theirs would be the 2's.
        scored_people(organization, people=14, seed=3, codes=("T0", "T3"), missed=2)
        scope = dataset.Scope.for_organization(organization)
        self.assertEqual(deidentify.plan_for(scope).summary["people_dropped"], 2)
        result = dashboards.compute(scope, "retention", ALL)
        index = section_index(result, "retention")
        published = {row["timepoint"]: row for row in result["sections"][index]["report"]["rows"]}
        self.assertIsNone(published["T0"]["withheld"])
        self.assertEqual(published["T0"]["n_completed"], 14)
        files, found = self.rebuilt(scope, result, index)
        self.assertNotIn("T0", [row["timepoint"] for row in found["rows"]])
        withheld = json.loads(files["parameters.json"])["retention"]["timepoints_withheld"]
        self.assertIn("T0", [w["timepoint"] for w in withheld])
        self.assertNotIn(
            "T0", pd.read_csv(io.BytesIO(files["retention.csv"]), dtype=str)["timepoint"].tolist()
        )


COUNT_SECTIONS = {
    "safety": ("risk_levels", "hold_days"),
    "accountability": ("staircase", "commitments"),
    "repair": ("commitments", "survivor_view_repair"),
    "connectedness": ("pod_measures",),
}


class CountTableBundles(BundleTestCase):
    """The count tables read from the case records and the support networks' measures: their bundles recount
    every cell the page shows from one row per case (or commitment), and hold no row of a cell the page hides."""

    harbor: Organization

    @classmethod
    def setUpTestData(cls):
        with time_machine.travel(local(2026, 6, 15, 10), tick=True):
            call_command("seed_demo", "--force", stdout=io.StringIO())
        cls.harbor = Organization.objects.get(slug="harbor")

    def scope(self):
        return dataset.Scope.for_organization(self.harbor)

    def check_counts(self, section, files, found):
        rows = pd.read_csv(io.BytesIO(files["counts.csv"]), dtype=str, keep_default_na=False)
        self.assertEqual(rows.columns.tolist(), ["row", "code"])
        names = json.loads(files["parameters.json"])["counts"]["rows"]
        recounted = 0
        for row_index, name in enumerate(names):
            for column, code in enumerate(section["codes"]):
                published = section["cells"][row_index][column]
                mine = found["cells"][row_index][column]
                here = int(((rows["row"] == name) & (rows["code"] == str(code))).sum())
                if isinstance(published, int):
                    if mine is not None:
                        self.assertEqual(mine, published, f"{name} {code}")
                        recounted += 1
                else:
                    # A hidden cell: not one of its rows is in the bundle, and nothing is recounted.
                    self.assertEqual(here, 0, f"{name} {code}")
                    self.assertIsNone(mine)
            if found["row_totals"][row_index] is not None:
                self.assertEqual(found["row_totals"][row_index], section["row_totals"][row_index])
        if found["total"] is not None:
            self.assertEqual(found["total"], section["total"])
        self.assertGreater(recounted, 0)

    def bundle_every_count_section(self, k: int) -> tuple[set[str], int]:
        """Build and rerun every count table's and support network's bundle; the kinds bundled, and how many
        cells the pages hid."""
        bundled, hidden = set(), 0
        for code, kinds in COUNT_SECTIONS.items():
            result = dashboards.compute(self.scope(), code, ALL)
            for index, section in enumerate(result["sections"]):
                if section["kind"] not in kinds:
                    continue
                if section["kind"] != "pod_measures":
                    hidden += sum(1 for row in section["cells"] for cell in row if not isinstance(cell, int))
                if not bundle.has_bundle(section):
                    continue
                with self.subTest(domain=code, kind=section["kind"]):
                    files, found = self.rebuilt(self.scope(), result, index)
                    self.assertEqual(found["kind"], section["kind"])
                    if section["kind"] == "pod_measures":
                        shown = [r for r in section["rows"] if r["withheld"] is None]
                        self.assertEqual([r["measure"] for r in found["rows"]], [r["measure"] for r in shown])
                        for mine, theirs in zip(found["rows"], shown, strict=True):
                            for key in DESCRIPTIVE_KEYS:
                                self.assert_close(mine[key], theirs[key], f"{theirs['measure']} {key}")
                    else:
                        self.check_counts(section, files, found)
                    if section["kind"] == "hold_days" and section["days"] is not None:
                        self.assertIn("hold_days.csv", files)
                        for key in DESCRIPTIVE_KEYS:
                            self.assert_close(found["days"][key], section["days"][key], f"days {key}")
                    achieved = json.loads(files["parameters.json"])["deidentification"]["k_achieved"]
                    self.assertGreaterEqual(achieved, k)
                    everything = b"".join(files.values())
                    for case_code in Case.objects.filter(organization=self.harbor).values_list(
                        "reference", flat=True
                    )[:20]:
                        self.assertNotIn(case_code.encode(), everything)
                    bundled.add(section["kind"])
        return bundled, hidden

    def test_at_the_networks_threshold_hidden_cells_leave_no_row_in_the_bundle(self):
        bundled, hidden = self.bundle_every_count_section(k=5)
        self.assertIn("risk_levels", bundled)
        self.assertGreater(hidden, 0)

    def test_every_count_table_and_support_network_bundle_recomputes_what_the_page_shows(self):
        # With nothing hidden (threshold 1, k 1), every table of the demo is shown whole and bundled.
        Network.objects.filter(pk=self.harbor.network_id).update(suppression_threshold=1)
        with override_settings(CIRCLEKEEPER_DEIDENTIFICATION_K=1):
            bundled, _hidden = self.bundle_every_count_section(k=1)
        self.assertEqual(
            bundled,
            {"risk_levels", "hold_days", "staircase", "commitments", "survivor_view_repair", "pod_measures"},
        )
