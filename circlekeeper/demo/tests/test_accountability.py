"""The demo's agreements (accountability.demo.seed_accountability), which run after the protocol demo: made through
the real services on the cases at the agreement stage, without moving any case, and idempotent."""

from django.conf import settings
from django.test import TestCase, override_settings
from django.utils import timezone

from circlekeeper.accountability.comparison import comparison_for
from circlekeeper.accountability.models import (
    Affirmation,
    Agreement,
    AgreementVersion,
    CheckIn,
    Commitment,
    StaircaseStep,
    SurvivorView,
)
from circlekeeper.cases.models import Case, CaseTask, Stage, TaskKind
from circlekeeper.demo.accountability import seed_accountability
from circlekeeper.demo.cases import seed_network
from circlekeeper.demo.protocol import seed_protocol
from circlekeeper.demo.safety import seed_safety
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.safety.models import SafetyHold


@override_settings(DEMO_MODE=True)
class SeedAccountabilityTests(TestCase):
    seeded: int
    stages: dict[int, str]

    @classmethod
    def setUpTestData(cls):
        # What seed_demo runs before this seed: the network, the built-in instruments, safety and the protocol.
        seed_network(settings.DEMO_PASSWORD, timezone.localdate())
        load_builtins()
        seed_safety()
        seed_protocol()
        cls.stages = dict(Case.objects.values_list("pk", "stage"))
        cls.seeded = seed_accountability()

    def test_two_cases_per_organization_get_an_affirmed_agreement_without_moving_a_stage(self):
        self.assertEqual(self.seeded, 6)
        self.assertEqual(Agreement.objects.count(), 6)
        self.assertEqual(dict(Case.objects.values_list("pk", "stage")), self.stages)
        for agreement in Agreement.objects.select_related("case"):
            self.assertEqual(agreement.case.stage, Stage.AGREEMENT)
            self.assertIsNotNone(agreement.case.agreement_affirmed_at)
            self.assertTrue(all(v.affirmed_at for v in agreement.versions.all()))
            first = agreement.versions.get(number=1)
            self.assertEqual(first.commitments.count(), 4)
            self.assertEqual(first.commitments.filter(supporter__isnull=False).count(), 4)

    def test_one_case_in_each_organization_has_a_second_version_and_one_a_view_that_disagrees(self):
        self.assertEqual(AgreementVersion.objects.filter(number=2).count(), 3)
        self.assertEqual(SurvivorView.objects.count(), 3)
        disagreeing = Case.objects.filter(progress_views_disagree=True)
        self.assertEqual(disagreeing.count(), 3)
        for case in disagreeing:
            self.assertTrue(comparison_for(case).disagree)

    def test_a_commitment_not_kept_made_a_review_task_and_no_hold(self):
        self.assertEqual(CaseTask.objects.filter(kind=TaskKind.REVIEW_COMMITMENT).count(), 3)
        self.assertFalse(SafetyHold.objects.filter(reason="broken_commitment").exists())
        self.assertTrue(CheckIn.objects.filter(status="not_kept").exists())
        self.assertEqual(StaircaseStep.objects.count(), 9)

    def test_a_second_run_changes_nothing(self):
        counts = [m.objects.count() for m in (Agreement, AgreementVersion, Commitment, Affirmation, CheckIn)]
        self.assertEqual(seed_accountability(), 0)
        self.assertEqual(
            [m.objects.count() for m in (Agreement, AgreementVersion, Commitment, Affirmation, CheckIn)],
            counts,
        )
