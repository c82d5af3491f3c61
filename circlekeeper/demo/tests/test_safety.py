"""The demo's safety data (safety.demo.seed_safety), which seed_demo runs after the network and the instruments."""

import datetime

from django.conf import settings
from django.test import TestCase

from circlekeeper.cases.models import Case, CaseTask, TaskKind
from circlekeeper.demo.cases import seed_network
from circlekeeper.demo.safety import seed_safety
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.safety.models import SafetyAlert, SafetyCheck, SafetyHold, SafetyPlan


class SeedSafetyTests(TestCase):
    def setUp(self):
        seed_network(settings.DEMO_PASSWORD, datetime.date(2026, 3, 1))

    def test_it_needs_the_built_in_instruments(self):
        with self.assertRaisesMessage(LookupError, "load_instruments"):
            seed_safety()

    def test_demo_checks_go_through_escalation_and_a_second_run_changes_nothing(self):
        load_builtins()
        self.assertEqual(seed_safety(), 18)
        checks = SafetyCheck.objects.count()
        self.assertEqual(checks, 18)
        # Two cases per organization are on hold, with an alert and a task to review the plan.
        self.assertEqual(Case.objects.filter(on_hold=True).count(), 6)
        self.assertEqual(SafetyHold.objects.filter(lifted_at__isnull=True).count(), 6)
        self.assertEqual(SafetyAlert.objects.count(), 6)
        self.assertEqual(CaseTask.objects.filter(kind=TaskKind.REVIEW_SAFETY_PLAN).count(), 6)
        self.assertEqual(SafetyPlan.objects.count(), 6)
        self.assertEqual(
            set(Case.objects.exclude(risk_level="").values_list("risk_level", flat=True)),
            {"low", "elevated", "high", "severe"},
        )
        self.assertEqual(seed_safety(), 0)
        self.assertEqual(SafetyCheck.objects.count(), checks)
