from io import StringIO

from django.core.management import CommandError, call_command
from django.test import TestCase, override_settings

from circlekeeper.cases.models import Case, CaseTask, TaskKind
from circlekeeper.safety.models import SafetyAlert, SafetyCheck, SafetyHold, SafetyPlan


@override_settings(DEMO_MODE=True)
class SeedDemoSafetyTests(TestCase):
    def test_it_needs_the_built_in_instruments(self):
        call_command("seed_demo", stdout=StringIO())
        with self.assertRaisesMessage(CommandError, "load_instruments"):
            call_command("seed_demo_safety", stdout=StringIO())

    def test_demo_checks_go_through_escalation_and_a_second_run_changes_nothing(self):
        call_command("seed_demo", stdout=StringIO())
        call_command("load_instruments", stdout=StringIO())
        call_command("seed_demo_safety", stdout=StringIO())
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
        call_command("seed_demo_safety", stdout=StringIO())
        self.assertEqual(SafetyCheck.objects.count(), checks)

    def test_it_refuses_outside_demo_mode(self):
        with override_settings(DEMO_MODE=False), self.assertRaises(CommandError):
            call_command("seed_demo_safety", stdout=StringIO())
