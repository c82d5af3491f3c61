"""evaluation_report over questionnaire scores, timepoints and safety checks: descriptives, prepost, retention and
fidelity, with the analysis functions' numbers, small cells suppressed at the network's threshold."""

import csv
import datetime
import io
import json

import pandas as pd
from django.core.management import CommandError, call_command
from scipy import stats

from circlekeeper.cases.models import Track
from circlekeeper.evaluation import analysis, report
from circlekeeper.evaluation.dataset import quarter_began
from circlekeeper.evaluation.models import PoolDecision
from circlekeeper.evaluation.tests.test_dashboard_fixtures import scored_people
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.testing import PersonaTestCase, audit_log

SAFETY = ["--instrument", "outcome_safety", "--score", "felt_safety"]


class ScoreReportTest(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        load_builtins()

    def report(self, *args, output_format="json", scope=("--organization", "harbor")):
        out = io.StringIO()
        call_command("evaluation_report", *args, *scope, "--format", output_format, stdout=out)
        text = out.getvalue()
        return json.loads(text) if output_format == "json" else list(csv.DictReader(io.StringIO(text)))

    def refused(self, *args, scope=("--organization", "harbor")):
        with self.assertRaises(CommandError) as raised:
            self.report(*args, scope=scope)
        return str(raised.exception)


class DescriptivesTest(ScoreReportTest):
    def test_each_timepoint_has_the_numbers_of_the_analysis_and_its_confidence_interval(self):
        people = scored_people(self.harbor, people=25, seed=1)
        made = self.report("--analysis", "descriptives", *SAFETY)
        self.assertEqual((made["n"], made["threshold"]), (25, 11))
        self.assertEqual([row["timepoint"] for row in made["rows"]], ["T0", "T3"])
        for row in made["rows"]:
            values = pd.Series([person[row["timepoint"]] for person in people])
            [expected] = analysis.descriptives(pd.DataFrame({"v": values}), "v")
            for key in ("n", "mean", "sd", "median", "q1", "q3", "min", "max"):
                self.assertAlmostEqual(row[key], expected[key], places=12, msg=key)
            low, high = stats.t.interval(0.95, 24, loc=values.mean(), scale=values.std() / 5)
            self.assertAlmostEqual(row["ci_low"], low, places=12)
            self.assertAlmostEqual(row["ci_high"], high, places=12)
            self.assertIsNone(row["withheld"])

    def test_a_timepoint_answered_by_fewer_than_11_is_withheld(self):
        scored_people(self.harbor, people=15, seed=2, missed=8)
        t0, t3 = self.report("--analysis", "descriptives", *SAFETY)["rows"]
        self.assertEqual(t0["n"], 15)
        self.assertEqual((t3["n"], t3["mean"], t3["sd"]), ("<11", None, None))
        self.assertIn("fewer than 11 people", t3["withheld"])

    def test_grouped_by_track_a_small_group_hides_another_so_the_total_does_not_give_it_away(self):
        scored_people(self.harbor, people=20, seed=3, track=Track.DIRECT_DIALOGUE)
        scored_people(self.harbor, people=14, seed=4, track=Track.SUPPORT_ONLY)
        scored_people(self.harbor, people=4, seed=5, track=Track.INDIRECT_DIALOGUE)
        rows = self.report("--analysis", "descriptives", *SAFETY, "--group-by", "track")["rows"]
        t0 = {row["group"]: row for row in rows if row["timepoint"] == "T0"}
        self.assertEqual(t0["all"]["n"], 38)
        self.assertEqual(t0[Track.INDIRECT_DIALOGUE]["n"], "<11")
        # The smallest other group is hidden with it: 38 - 20 would otherwise give 18 - 14 = 4.
        self.assertEqual(t0[Track.SUPPORT_ONLY]["n"], "*")
        self.assertIsNone(t0[Track.SUPPORT_ONLY]["mean"])
        self.assertIn("cannot be worked out from the total", t0[Track.SUPPORT_ONLY]["withheld"])
        self.assertEqual(t0[Track.DIRECT_DIALOGUE]["n"], 20)
        self.assertIsNotNone(t0[Track.DIRECT_DIALOGUE]["mean"])

    def test_the_csv_has_one_row_per_timepoint_and_group(self):
        scored_people(self.harbor, people=12, seed=6)
        rows = self.report("--analysis", "descriptives", *SAFETY, output_format="csv")
        self.assertEqual(list(rows[0])[:4], ["timepoint", "group", "n", "mean"])
        made = self.report("--analysis", "descriptives", *SAFETY)
        self.assertEqual([float(row["mean"]) for row in rows], [row["mean"] for row in made["rows"]])

    def test_unknown_instruments_and_scores_are_refused_with_the_known_names(self):
        message = self.refused("--analysis", "descriptives", "--instrument", "safety", "--score", "x")
        self.assertIn("no instrument 'safety'", message)
        self.assertIn("outcome_safety", message)
        message = self.refused("--analysis", "descriptives", "--instrument", "outcome_safety", "--score", "x")
        self.assertIn("outcome_safety has no score 'x'. Its scores: felt_safety", message)

    def test_without_answers_it_says_so(self):
        self.assertIn(
            "No one has answered outcome_safety", self.refused("--analysis", "descriptives", *SAFETY)
        )


class PrePostTest(ScoreReportTest):
    def test_the_json_has_the_keys_of_issue_8_and_the_numbers_of_the_analysis(self):
        people = scored_people(self.harbor, people=30, seed=7, missed=4)
        made = self.report("--analysis", "prepost", *SAFETY, "--from", "T0", "--to", "T3")
        pairs = pd.DataFrame([p for p in people if "T3" in p])
        expected = analysis.prepost(pairs, "T0", "T3")
        for key in ("n", "mean_change", "t", "p_t", "p_wilcoxon", "d_z", "d_z_ci_low", "d_z_ci_high"):
            self.assertAlmostEqual(made[key], expected[key], places=12, msg=key)
        self.assertEqual(made["n"], 26)
        self.assertGreater(made["mean_change"], 0)

    def test_per_group_with_complementary_suppression(self):
        scored_people(self.harbor, people=20, seed=8, track=Track.DIRECT_DIALOGUE)
        scored_people(self.harbor, people=13, seed=9, track=Track.SUPPORT_ONLY)
        scored_people(self.harbor, people=3, seed=10, track=Track.INDIRECT_DIALOGUE)
        made = self.report(
            "--analysis", "prepost", *SAFETY, "--from", "T0", "--to", "T3", "--group-by", "track"
        )
        self.assertEqual(made["n"], 36)
        groups = {group["group"]: group for group in made["groups"]}
        self.assertEqual(groups[Track.INDIRECT_DIALOGUE]["n"], "<11")
        self.assertEqual(groups[Track.SUPPORT_ONLY]["n"], "*")
        self.assertIsNone(groups[Track.SUPPORT_ONLY]["d_z"])
        self.assertEqual(groups[Track.DIRECT_DIALOGUE]["n"], 20)
        self.assertIsNotNone(groups[Track.DIRECT_DIALOGUE]["d_z"])

    def test_fewer_than_11_pairs_are_withheld(self):
        scored_people(self.harbor, people=14, seed=11, missed=5)
        made = self.report("--analysis", "prepost", *SAFETY, "--from", "T0", "--to", "T3")
        self.assertEqual((made["n"], made["mean_change"]), ("<11", None))
        self.assertIn("fewer than 11 people", made["withheld"])

    def test_missing_options_and_unknown_timepoints_are_refused(self):
        self.assertIn("prepost needs --from, --to", self.refused("--analysis", "prepost", *SAFETY))
        self.assertIn(
            "prepost needs --from, --instrument, --score, --to", self.refused("--analysis", "prepost")
        )
        scored_people(self.harbor, people=12, seed=12)
        message = self.refused("--analysis", "prepost", *SAFETY, "--from", "T0", "--to", "T9")
        self.assertIn("at T9 (timepoints with scores: T0, T3)", message)
        self.assertIn(
            "two different timepoints",
            self.refused("--analysis", "prepost", *SAFETY, "--from", "T0", "--to", "T0"),
        )


class RetentionAndFidelityTest(ScoreReportTest):
    def test_retention_counts_each_timepoint_and_hides_a_small_count_and_its_complement(self):
        scored_people(self.harbor, people=30, seed=13, missed=4)
        rows = self.report("--analysis", "retention")["rows"]
        t0, t3 = rows
        expected = analysis.retention(
            pd.DataFrame({"p": range(30), "t": "T0", "s": "completed"}), "p", "t", "s"
        )[0]
        self.assertEqual((t0["n_due"], t0["n_completed"], t0["n_missed"]), (30, 30, 0))
        self.assertAlmostEqual(t0["ci_low"], expected["ci_low"])
        # 4 missed: "<11"; 26 answered is hidden too, since 30 - 26 = 4; and the share with them.
        self.assertEqual((t3["n_due"], t3["n_completed"], t3["n_missed"]), (30, "*", "<11"))
        self.assertIsNone(t3["share"])

    def test_retention_by_organization_across_a_network(self):
        scored_people(self.harbor, people=12, seed=14)
        scored_people(self.valley, people=15, seed=15, missed=12)
        made = self.report(
            "--analysis", "retention", "--group-by", "organization", scope=("--network", "test-network")
        )
        t3 = {row["group"]: row for row in made["rows"] if row["timepoint"] == "T3"}
        # Valley's 3 answers are "<11"; every cell that would give them back by subtraction is hidden too.
        self.assertEqual((t3["valley"]["n_completed"], t3["valley"]["n_missed"]), ("<11", "*"))
        self.assertEqual((t3["harbor"]["n_completed"], t3["harbor"]["n_missed"]), ("*", 0))
        self.assertEqual(
            (t3["all"]["n_completed"], t3["all"]["n_missed"], t3["all"]["n_due"]), ("*", "*", 27)
        )
        self.assertEqual({row["share"] for row in t3.values()}, {None})
        t0 = {row["group"]: row for row in made["rows"] if row["timepoint"] == "T0"}
        self.assertEqual((t0["all"]["n_completed"], t0["all"]["share"]), (27, 1.0))

    def test_an_organization_out_of_the_pool_is_left_out_of_network_reports(self):
        scored_people(self.harbor, people=12, seed=16)
        scored_people(self.valley, people=15, seed=17)
        # Leaving the pool counts for the network's reports from the next calendar quarter (issue 21, finding 3):
        # a decision made this quarter leaves Valley in; one made before the quarter began leaves it out.
        decision = PoolDecision.objects.create(organization=self.valley, pooled=False, by=self.pat)
        made = self.report("--analysis", "descriptives", *SAFETY, scope=("--network", "test-network"))
        self.assertEqual(made["n"], 27)
        seen = audit_log().filter(action="evaluation.report").count()
        PoolDecision.objects.filter(pk=decision.pk).update(at=quarter_began() - datetime.timedelta(days=1))
        made = self.report("--analysis", "descriptives", *SAFETY, scope=("--network", "test-network"))
        self.assertEqual(made["n"], 12)
        events = audit_log().filter(action="evaluation.report").order_by("sequence")[seen:]
        self.assertEqual([e.organization_id for e in events], [self.harbor.pk])

    def test_fidelity_overall_and_by_kind_with_the_analysis_numbers(self):
        frame = pd.DataFrame(
            {
                "kind": ["meeting"] * 40 + ["stage"] * 25,
                "organization": "harbor",
                "track": "direct_dialogue",
                "month": "2026-03",
                "on_time": [True] * 33 + [False] * 7 + [True] * 12 + [False] * 13,
            }
        )
        made = report.fidelity_report(frame, threshold=11)
        overall = analysis.fidelity(frame, "on_time")
        self.assertEqual(
            (made["overall"]["n"], made["overall"]["on_time"], made["overall"]["late"]), (65, 45, 20)
        )
        self.assertEqual(made["overall"]["share"], overall["share"])
        self.assertEqual(made["overall"]["ci_low"], overall["ci_low"])
        meeting, stage = made["rows"]
        # 7 meetings late: "<11"; the cells that would give it back from the totals are hidden too.
        self.assertEqual(
            (meeting["kind"], meeting["n"], meeting["on_time"], meeting["late"]), ("meeting", 40, "*", "<11")
        )
        self.assertEqual(
            (stage["kind"], stage["n"], stage["on_time"], stage["late"]), ("stage", 25, "*", "*")
        )
        self.assertEqual((meeting["share"], stage["share"]), (None, None))
        self.assertIn("fewer than 11 were on time, or fewer than 11 were late", meeting["withheld"])

    def test_fidelity_rows_with_enough_on_time_and_late_show_their_share(self):
        frame = pd.DataFrame(
            {"kind": ["meeting"] * 30 + ["stage"] * 30, "on_time": ([True] * 15 + [False] * 15) * 2}
        )
        meeting, stage = report.fidelity_report(frame, threshold=11)["rows"]
        self.assertEqual((meeting["on_time"], meeting["late"], meeting["share"]), (15, 15, 0.5))
        expected = analysis.fidelity(frame[frame.kind == "stage"], "on_time")
        self.assertEqual((stage["ci_low"], stage["ci_high"]), (expected["ci_low"], expected["ci_high"]))

    def test_fidelity_without_meetings_says_so(self):
        self.assertIn("No meetings were held", self.refused("--analysis", "fidelity"))


class OptionsTest(ScoreReportTest):
    def test_a_threshold_below_the_networks_is_refused_and_the_networks_is_the_default(self):
        self.network.suppression_threshold = 15
        self.network.save()
        scored_people(self.harbor, people=13, seed=18)
        self.assertIn(
            "below this network's suppression threshold (15)",
            self.refused("--analysis", "descriptives", *SAFETY, "--threshold", "11"),
        )
        made = self.report("--analysis", "descriptives", *SAFETY)
        self.assertEqual((made["threshold"], made["n"]), (15, "<15"))

    def test_grouping_and_options_that_do_not_fit_the_analysis_are_refused(self):
        self.assertIn(
            "--group-by group is not available for descriptives",
            self.refused("--analysis", "descriptives", *SAFETY, "--group-by", "group"),
        )
        self.assertIn(
            "--from: not an option of descriptives",
            self.refused("--analysis", "descriptives", *SAFETY, "--from", "T0"),
        )
        self.assertIn(
            "--instrument, --score: not an option of retention",
            self.refused("--analysis", "retention", *SAFETY),
        )
        self.assertIn(
            "--period must be one of the years",
            self.refused("--analysis", "retention", "--period", "2026-03"),
        )
        # Free dates are refused with the reason (issue 21, finding 1): two months apart, two reports subtract.
        for flag in ("--since", "--until"):
            self.assertIn("no longer offered", self.refused("--analysis", "retention", flag, "2026-01"))

    def test_the_period_and_track_filter_the_cases(self):
        scored_people(self.harbor, people=12, seed=19)
        self.assertEqual(self.report("--analysis", "retention", "--period", "2026")["n"], 12)
        self.assertIn("No evaluation timepoints", self.refused("--analysis", "retention", "--period", "2025"))
        self.assertIn(
            "No evaluation timepoints", self.refused("--analysis", "retention", "--track", Track.SUPPORT_ONLY)
        )
