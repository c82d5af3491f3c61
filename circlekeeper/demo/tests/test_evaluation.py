"""The demo outcomes: imported once per demo organization through the real import, withheld where small."""

import io
import json

from django.core.management import call_command
from django.test import TestCase

from circlekeeper.demo.cases import ORGANIZATIONS
from circlekeeper.demo.evaluation import DEMO_RATE_RATIO, seed_outcomes
from circlekeeper.evaluation.models import ExternalOutcome, ImportBatch
from circlekeeper.testing import make_network, make_organization


class DemoOutcomesTest(TestCase):
    @classmethod
    def setUpTestData(cls):
        network = make_network(slug="bay-area")
        for name, slug, prefix in ORGANIZATIONS:
            make_organization(network=network, name=name, slug=slug, case_prefix=prefix)

    def test_each_demo_organization_gets_one_import_and_a_second_run_adds_nothing(self):
        made = seed_outcomes()
        self.assertEqual(made, 229 * len(ORGANIZATIONS))
        self.assertEqual(ImportBatch.objects.count(), len(ORGANIZATIONS))
        self.assertEqual(seed_outcomes(), 0)
        self.assertEqual(ExternalOutcome.objects.count(), made)

    def test_the_demo_report_gives_back_the_rate_ratio_and_withholds_the_pilot_group(self):
        seed_outcomes()
        out = io.StringIO()
        call_command(
            "evaluation_report", "--analysis", "irr", "--network", "bay-area", "--format", "json", stdout=out
        )
        made = json.loads(out.getvalue())
        circles, pilot = made["comparisons"]
        self.assertEqual((circles["group"], pilot["group"]), ("bip_circles", "pilot"))
        self.assertLess(circles["ci_low"], DEMO_RATE_RATIO)
        self.assertGreater(circles["ci_high"], DEMO_RATE_RATIO)
        # Seven people per organization, 21 pooled: shown in the network report.
        self.assertEqual(pilot["n"], 21)
        out = io.StringIO()
        call_command(
            "evaluation_report",
            "--analysis",
            "irr",
            "--organization",
            "harbor",
            "--format",
            "json",
            stdout=out,
        )
        self.assertEqual(json.loads(out.getvalue())["comparisons"][1]["n"], "<11")
