"""The staircase of accountability: the keeper records the step reached with its evidence (commitments and
check-ins of this case only; at least one), the history is kept, and the latest is the current step."""

from django.core.exceptions import ValidationError

from circlekeeper.accountability import services
from circlekeeper.accountability.comparison import current_step
from circlekeeper.accountability.models import StaircaseStep, Step
from circlekeeper.accountability.tests.helpers import walked
from circlekeeper.cases.models import CaseEvent, EventKind, TeamRole
from circlekeeper.testing import PersonaTestCase, make_case


class StaircaseTests(PersonaTestCase):
    def setUp(self):
        self.walk = walked(self.case, self.alice, self.sam)
        _version, (self.commitment,) = self.walk.in_force({})
        self.checkin = self.walk.checkin(self.commitment, "kept")

    def record(self, step, **kwargs):
        return services.record_step(case=self.case, step=step, by=self.alice, **kwargs)

    def test_a_step_is_recorded_with_its_evidence_and_in_the_history(self):
        recorded = self.record(2, commitments=[self.commitment], checkins=[self.checkin], note="He named it.")
        self.assertEqual(list(recorded.commitments.all()), [self.commitment])
        self.assertEqual(list(recorded.checkins.all()), [self.checkin])
        self.assertEqual(current_step(self.case), 2)
        self.assertEqual(CaseEvent.objects.get(kind=EventKind.STAIRCASE_STEP).facts, {"step": "2"})

    def test_evidence_is_required(self):
        with self.assertRaisesMessage(ValidationError, "at least one commitment or check-in"):
            self.record(3)
        self.assertFalse(StaircaseStep.objects.exists())

    def test_another_cases_commitments_and_check_ins_are_refused(self):
        other = make_case(self.harbor, team=((self.alice, TeamRole.KEEPER), (self.sam, TeamRole.SUPERVISOR)))
        elsewhere = walked(other, self.alice, self.sam)
        _v, (foreign,) = elsewhere.in_force({})
        foreign_checkin = elsewhere.checkin(foreign, "kept")
        with self.assertRaisesMessage(ValidationError, "only commitments of this case"):
            self.record(2, commitments=[self.commitment, foreign])
        with self.assertRaisesMessage(ValidationError, "only check-ins of this case"):
            self.record(2, checkins=[foreign_checkin])
        self.assertFalse(StaircaseStep.objects.filter(case=self.case).exists())

    def test_a_step_down_is_kept_beside_the_earlier_steps_and_becomes_current(self):
        self.record(3, commitments=[self.commitment])
        self.record(1, checkins=[self.checkin])
        self.assertEqual(current_step(self.case), 1)
        self.assertEqual(
            list(StaircaseStep.objects.order_by("recorded_at", "id").values_list("step", flat=True)), [3, 1]
        )

    def test_the_same_step_sent_twice_is_one_record(self):
        first = self.record(2, commitments=[self.commitment])
        self.assertEqual(self.record(2, commitments=[self.commitment]), first)
        self.assertEqual(StaircaseStep.objects.count(), 1)

    def test_a_step_outside_the_staircase_is_refused(self):
        with self.assertRaisesMessage(ValidationError, "Choose a step"):
            self.record(7, commitments=[self.commitment])
        self.assertEqual(Step.values, [1, 2, 3, 4, 5, 6])
