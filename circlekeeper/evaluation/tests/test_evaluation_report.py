"""evaluation_report: the analysis functions' numbers as JSON and CSV, small cells suppressed, refusals in words."""

import csv
import io
import json

from django.core.management import CommandError, call_command

from circlekeeper.evaluation import analysis
from circlekeeper.evaluation.models import ExternalOutcome
from circlekeeper.evaluation.report import outcomes_frame
from circlekeeper.evaluation.services import import_outcomes
from circlekeeper.evaluation.tests.helpers import frame_of, outcome_csv, trial_rows, write_file
from circlekeeper.testing import PersonaTestCase, audit_log

TRIAL = trial_rows({"bip": (111, 1.0), "circles": (111, 0.47)}, seed=2019, prefix="H")
IRR_KEYS = [
    "group",
    "reference",
    "irr",
    "ci_low",
    "ci_high",
    "p_value",
    "percent_reduction",
    "model",
    "n",
    "person_days",
    "events",
    "reference_n",
    "reference_person_days",
    "reference_events",
    "withheld",
]


class ReportTest(PersonaTestCase):
    def load(self, rows, organization=None):
        import_outcomes(
            organization=organization or self.harbor, file_name="trial.csv", content=outcome_csv(rows)
        )

    def report(self, *args, output_format="json"):
        out = io.StringIO()
        call_command("evaluation_report", *args, "--format", output_format, stdout=out)
        text = out.getvalue()
        return json.loads(text) if output_format == "json" else list(csv.DictReader(io.StringIO(text)))

    def refused(self, *args, output_format="json"):
        with self.assertRaises(CommandError) as raised:
            self.report(*args, output_format=output_format)
        return str(raised.exception)


class IrrReportTest(ReportTest):
    def test_the_json_has_the_keys_of_issue_8_and_the_numbers_of_the_analysis(self):
        self.load(TRIAL)
        made = self.report("--analysis", "irr", "--organization", "harbor", "--model", "poisson")
        expected = analysis.irr(frame_of(TRIAL), "group", "events", "person_days", model="poisson")
        [comparison] = made["comparisons"]
        self.assertEqual(list(comparison), IRR_KEYS)
        self.assertEqual({**comparison}, {**expected["comparisons"][0], "withheld": None})
        self.assertEqual(
            (made["analysis"], made["scope"], made["n"], made["model"]),
            ("irr", {"organization": "harbor"}, 222, "poisson"),
        )
        self.assertLess(comparison["ci_low"], 0.47)
        self.assertGreater(comparison["ci_high"], 0.47)

    def test_auto_says_which_model_it_used(self):
        self.load(TRIAL)
        made = self.report("--analysis", "irr", "--organization", "harbor")
        expected = analysis.irr(frame_of(TRIAL), "group", "events", "person_days", model="auto")
        self.assertEqual((made["model_requested"], made["model"]), ("auto", expected["model"]))
        self.assertEqual(made["dispersion"], expected["dispersion"])
        self.assertEqual(made["comparisons"][0]["irr"], expected["comparisons"][0]["irr"])

    def test_the_csv_has_one_row_per_comparison_with_the_same_numbers(self):
        self.load(TRIAL)
        [row] = self.report(
            "--analysis", "irr", "--organization", "harbor", "--model", "poisson", output_format="csv"
        )
        [expected] = analysis.irr(frame_of(TRIAL), "group", "events", "person_days", model="poisson")[
            "comparisons"
        ]
        self.assertEqual(list(row), IRR_KEYS)
        for key in (
            "irr",
            "ci_low",
            "ci_high",
            "p_value",
            "percent_reduction",
            "person_days",
            "reference_person_days",
        ):
            self.assertEqual(float(row[key]), expected[key], key)
        self.assertEqual(
            (row["group"], row["reference"], row["model"], row["withheld"]), ("circles", "bip", "poisson", "")
        )
        self.assertEqual((int(row["n"]), int(row["events"])), (expected["n"], expected["events"]))

    def test_a_named_reference_group_is_the_baseline(self):
        self.load(TRIAL)
        [comparison] = self.report("--analysis", "irr", "--organization", "harbor", "--reference", "circles")[
            "comparisons"
        ]
        self.assertEqual((comparison["group"], comparison["reference"]), ("bip", "circles"))
        self.assertGreater(comparison["irr"], 1)
        self.assertIn(
            "no group 'court'",
            self.refused("--analysis", "irr", "--organization", "harbor", "--reference", "court"),
        )

    def test_a_group_of_fewer_than_11_people_is_withheld_and_left_out_of_the_numbers(self):
        pilot = trial_rows({"pilot": (7, 2.0)}, seed=5, prefix="S")
        self.load(TRIAL + pilot)
        made = self.report("--analysis", "irr", "--organization", "harbor", "--model", "poisson")
        circles, withheld = made["comparisons"]
        self.assertEqual(withheld["group"], "pilot")
        self.assertEqual(withheld["n"], "<11")
        self.assertIsNone(withheld["irr"])
        self.assertIsNone(withheld["events"])
        self.assertIsNone(withheld["person_days"])
        self.assertIn("fewer than 11 people", withheld["withheld"])
        # Nothing published depends on the hidden group: not the fit, nor the report's n.
        expected = analysis.irr(frame_of(TRIAL), "group", "events", "person_days", model="poisson")
        self.assertEqual(circles["irr"], expected["comparisons"][0]["irr"])
        self.assertEqual(made["n"], 222)
        self.assertEqual([g["n"] for g in made["groups"]], [111, 111, "<11"])

    def test_a_group_with_fewer_than_11_events_shows_them_as_below_11_and_its_rate_ratio_is_withheld(self):
        rare = [[f"R{i:03d}", "rare", 365, 1 if i < 3 else 0, 100 if i < 3 else ""] for i in range(40)]
        self.load(TRIAL + rare)
        made = self.report("--analysis", "irr", "--organization", "harbor")
        rare_comparison = next(c for c in made["comparisons"] if c["group"] == "rare")
        self.assertEqual((rare_comparison["n"], rare_comparison["events"]), (40, "<11"))
        self.assertIsNone(rare_comparison["irr"])
        self.assertIn("fewer than 11 events", rare_comparison["withheld"])

    def test_when_the_reference_group_is_withheld_every_comparison_says_so(self):
        pilot = trial_rows({"pilot": (7, 1.0)}, seed=5, prefix="S")
        self.load(TRIAL + pilot)
        made = self.report("--analysis", "irr", "--organization", "harbor", "--reference", "pilot")
        self.assertEqual(len(made["comparisons"]), 2)
        for comparison in made["comparisons"]:
            self.assertIsNone(comparison["irr"])
            self.assertEqual(comparison["reference_n"], "<11")
            self.assertIn("the reference group is withheld", comparison["withheld"])

    def test_a_higher_threshold_withholds_more(self):
        self.load(trial_rows({"bip": (30, 1.0), "circles": (15, 0.5)}, seed=3))
        made = self.report("--analysis", "irr", "--organization", "harbor", "--threshold", "20")
        self.assertEqual(made["threshold"], 20)
        self.assertEqual([g["n"] for g in made["groups"]], [30, "<20"])
        self.assertIsNone(made["comparisons"][0]["irr"])

    def test_group_names_are_formula_escaped_in_the_csv(self):
        hostile = [
            [f"Z{i:03d}", '=HYPERLINK("http://x.example")', 365, i % 3, 50 if i % 3 else ""]
            for i in range(60)
        ]
        self.load(TRIAL + hostile)
        rows = self.report(
            "--analysis", "irr", "--organization", "harbor", "--reference", "bip", output_format="csv"
        )
        self.assertEqual(
            sorted(row["group"] for row in rows), ['\'=HYPERLINK("http://x.example")', "circles"]
        )

    def test_a_network_report_pools_its_organizations_and_can_compare_them(self):
        self.load(TRIAL)
        self.load(
            trial_rows({"bip": (60, 1.0), "circles": (60, 0.47)}, seed=11, prefix="V"),
            organization=self.valley,
        )
        made = self.report("--analysis", "irr", "--network", "test-network")
        self.assertEqual((made["scope"], made["n"]), ({"network": "test-network"}, 342))
        by_organization = self.report(
            "--analysis", "irr", "--network", "test-network", "--group-by", "organization"
        )
        self.assertEqual([g["group"] for g in by_organization["groups"]], ["harbor", "valley"])
        self.assertEqual([g["n"] for g in by_organization["groups"]], [222, 120])

    def test_an_organization_sees_only_its_own_outcomes(self):
        self.load(TRIAL)
        self.load(
            trial_rows({"bip": (60, 1.0), "circles": (60, 0.47)}, seed=11, prefix="V"),
            organization=self.valley,
        )
        self.assertEqual(self.report("--analysis", "irr", "--organization", "valley")["n"], 120)

    def test_each_organization_whose_data_were_reported_gets_an_audit_event(self):
        self.load(TRIAL)
        self.report("--analysis", "irr", "--organization", "harbor")
        self.report("--analysis", "survival", "--network", "test-network")
        events = audit_log().filter(action="evaluation.report").order_by("sequence")
        self.assertEqual(
            [(e.organization_id, e.object_id) for e in events],
            [(self.harbor.pk, "irr"), (self.harbor.pk, "survival"), (self.valley.pk, "survival")],
        )

    def test_the_report_can_be_written_to_a_file(self):
        self.load(TRIAL)
        path = write_file(self, b"", name="report.json")
        call_command(
            "evaluation_report",
            "--analysis",
            "irr",
            "--organization",
            "harbor",
            "--format",
            "json",
            "-o",
            path,
            stderr=io.StringIO(),
        )
        with open(path, encoding="utf-8") as handle:
            self.assertEqual(json.load(handle)["n"], 222)


class SurvivalReportTest(ReportTest):
    def test_the_json_has_the_keys_of_issue_8_and_the_numbers_of_the_analysis(self):
        self.load(TRIAL)
        made = self.report("--analysis", "survival", "--organization", "harbor")
        expected = analysis.survival(frame_of(TRIAL), "group", "days", "event")
        self.assertEqual(made["logrank_p"], expected["logrank_p"])
        self.assertEqual((made["n"], made["events"], made["at"]), (222, expected["events"], [90, 180, 365]))
        for shown, computed in zip(made["groups"], expected["groups"], strict=True):
            self.assertEqual(list(shown), ["group", "n", "events", "median_days", "survival_at", "withheld"])
            self.assertEqual(
                (shown["group"], shown["n"], shown["events"], shown["median_days"]),
                (computed["group"], computed["n"], computed["events"], computed["median_days"]),
            )
            self.assertEqual(
                shown["survival_at"], {str(day): value for day, value in computed["survival_at"].items()}
            )
            self.assertIsNone(shown["withheld"])

    def test_the_csv_has_one_row_per_group_with_the_same_numbers(self):
        self.load(TRIAL)
        rows = self.report(
            "--analysis", "survival", "--organization", "harbor", "--at", "100,400", output_format="csv"
        )
        expected = analysis.survival(frame_of(TRIAL), "group", "days", "event", at=[100, 400])
        self.assertEqual(
            list(rows[0]),
            [
                "group",
                "n",
                "events",
                "median_days",
                "survival_at_100",
                "survival_at_400",
                "logrank_p",
                "withheld",
            ],
        )
        for row, computed in zip(rows, expected["groups"], strict=True):
            self.assertEqual(
                (row["group"], int(row["n"]), int(row["events"])),
                (computed["group"], computed["n"], computed["events"]),
            )
            self.assertEqual(float(row["survival_at_100"]), computed["survival_at"][100])
            self.assertEqual(float(row["survival_at_400"]), computed["survival_at"][400])
            median = computed["median_days"]
            self.assertEqual(row["median_days"], "" if median is None else str(median))
            self.assertEqual(float(row["logrank_p"]), expected["logrank_p"])

    def test_a_group_with_fewer_than_11_first_events_hides_them_and_its_curve(self):
        rare = [[f"R{i:03d}", "rare", 365, 1 if i < 4 else 0, 30 if i < 4 else ""] for i in range(50)]
        self.load(TRIAL + rare)
        made = self.report("--analysis", "survival", "--organization", "harbor")
        rare_group = next(g for g in made["groups"] if g["group"] == "rare")
        self.assertEqual(
            (rare_group["n"], rare_group["events"], rare_group["median_days"]), (50, "<11", None)
        )
        self.assertEqual(set(rare_group["survival_at"].values()), {None})
        self.assertIn("fewer than 11 people had a first event", rare_group["withheld"])
        # The log-rank test is over the groups shown only.
        expected = analysis.survival(frame_of(TRIAL), "group", "days", "event")
        self.assertEqual(made["logrank_p"], expected["logrank_p"])

    def test_a_group_where_fewer_than_11_had_no_event_hides_its_event_count_too(self):
        most = [[f"M{i:03d}", "most", 365, 1 if i < 45 else 0, 30 if i < 45 else ""] for i in range(50)]
        self.load(TRIAL + most)
        group = next(
            g
            for g in self.report("--analysis", "survival", "--organization", "harbor")["groups"]
            if g["group"] == "most"
        )
        self.assertEqual((group["n"], group["events"]), (50, "*"))

    def test_with_fewer_than_two_groups_shown_there_is_no_log_rank_test(self):
        self.load(TRIAL[:111] + trial_rows({"pilot": (5, 1.0)}, seed=9, prefix="S"))
        made = self.report("--analysis", "survival", "--organization", "harbor")
        self.assertIsNone(made["logrank_p"])
        self.assertIn("fewer than two groups", made["logrank_withheld"])

    def test_events_without_the_day_of_the_first_one_are_refused(self):
        self.load([[code, group, days, events, ""] for code, group, days, events, _first in TRIAL])
        message = self.refused("--analysis", "survival", "--organization", "harbor")
        self.assertIn("people with events have no first_event_day", message)


class RefusedReportTest(ReportTest):
    def test_questionnaire_options_are_refused_for_outcome_analyses(self):
        message = self.refused(
            "--analysis", "irr", "--organization", "harbor", "--instrument", "safety", "--from", "T0"
        )
        self.assertIn("--instrument, --from: not an option of irr", message)

    def test_grouping_by_track_is_refused_for_external_outcomes(self):
        self.assertIn(
            "carry no case or track",
            self.refused("--analysis", "irr", "--organization", "harbor", "--group-by", "track"),
        )

    def test_the_scope_must_be_one_organization_or_one_network_that_exists(self):
        self.assertIn("--organization SLUG or --network SLUG", self.refused("--analysis", "irr"))
        self.assertIn(
            "one of them",
            self.refused("--analysis", "irr", "--organization", "harbor", "--network", "test-network"),
        )
        self.assertIn(
            "No organization with the short name 'nowhere'",
            self.refused("--analysis", "irr", "--organization", "nowhere"),
        )
        self.assertIn(
            "No network with the short name 'nowhere'",
            self.refused("--analysis", "irr", "--network", "nowhere"),
        )

    def test_no_outcomes_is_refused_in_words(self):
        self.assertIn("no imported outcomes", self.refused("--analysis", "irr", "--organization", "harbor"))

    def test_an_analysis_that_cannot_run_says_why(self):
        self.load([row for row in TRIAL if row[1] == "bip"])
        self.assertIn("at least two groups", self.refused("--analysis", "irr", "--organization", "harbor"))

    def test_bad_days_or_threshold_are_refused(self):
        self.assertIn(
            "--at must be whole numbers",
            self.refused("--analysis", "survival", "--organization", "harbor", "--at", "90,soon"),
        )
        self.assertIn(
            "--threshold must be 1 or more",
            self.refused("--analysis", "irr", "--organization", "harbor", "--threshold", "0"),
        )


class OutcomesFrameTest(ReportTest):
    def test_the_rows_are_read_in_one_query_however_many_there_are(self):
        for rows in (TRIAL[:1], TRIAL):
            ExternalOutcome.objects.all().delete()
            self.load(rows)
            with self.assertNumQueries(1):
                frame = outcomes_frame(ExternalOutcome.objects.for_organization(self.harbor))
            self.assertEqual(len(frame), len(rows))
