"""Recording progress and staircase steps through their pages: a broken commitment about safety puts the case on
hold and says so, another creates a review task; a step needs evidence, and another case's ids are refused."""

from django.urls import reverse

from circlekeeper.accountability.models import CheckIn, CommitmentKind, StaircaseStep
from circlekeeper.accountability.tests.helpers import walked
from circlekeeper.cases.models import CaseTask, TaskKind, TeamRole
from circlekeeper.lib.audit import Outcome
from circlekeeper.safety.models import SafetyHold
from circlekeeper.testing import PersonaTestCase, audit_log, make_case


class CheckInPageTests(PersonaTestCase):
    def setUp(self):
        self.walk = walked(self.case, self.alice, self.sam)
        self.version, (self.safety, self.program) = self.walk.in_force(
            {"kind": CommitmentKind.STOP_BEHAVIOR, "concerns": ["violence"], "supporter": self.walk.uncle},
            {"kind": CommitmentKind.ATTEND_PROGRAM},
        )
        self.login(self.ada)

    def url(self, name, *args):
        return reverse(f"accountability:{name}", args=[self.case.pk, *args])

    def test_the_page_shows_the_commitment_its_history_with_notes_and_the_form(self):
        self.walk.checkin(self.safety, "kept", note="Quiet week at home")
        page = self.client.get(self.url("checkin", self.safety.pk))
        self.assertContains(page, "Quiet week at home")
        self.assertContains(page, "“not kept” puts the case on safety hold at once")
        self.assertContains(page, "Uncle (Support person for the person who caused harm)")
        self.assertContains(page, "Neighbour (Safety monitor)")
        self.assertTrue(audit_log().filter(action="agreement.view", object_type="commitment").exists())

    def test_a_safety_commitment_not_kept_puts_the_case_on_hold_and_the_page_says_so(self):
        response = self.client.post(
            self.url("checkin", self.safety.pk),
            {
                "status": "not_kept",
                "reported_by": "supporter",
                "reporter": self.walk.uncle.pk,
                "note": "He hit the wall",
            },
            follow=True,
        )
        self.assertContains(response, "the case is on safety hold now")
        hold = SafetyHold.objects.open().get(case=self.case)
        self.assertEqual(hold.reason, "broken_commitment")
        self.assertEqual(CheckIn.objects.get().reporter, self.walk.uncle)
        self.assertTrue(audit_log().filter(action="commitment.checkin", outcome=Outcome.OK).exists())

    def test_another_commitment_not_kept_creates_a_review_task(self):
        response = self.client.post(
            self.url("checkin", self.program.pk), {"status": "not_kept", "reported_by": "keeper"}, follow=True
        )
        self.assertContains(response, "A task to review the commitment was created.")
        self.assertTrue(CaseTask.objects.filter(kind=TaskKind.REVIEW_COMMITMENT).exists())
        self.assertFalse(SafetyHold.objects.exists())

    def test_a_report_by_the_supporter_on_a_commitment_without_one_is_refused_with_the_reason(self):
        page = self.client.post(
            self.url("checkin", self.program.pk),
            {"status": "kept", "reported_by": "supporter", "reporter": self.walk.monitor.pk},
        )
        self.assertContains(page, "This commitment has no supporter named.", status_code=400)
        self.assertFalse(CheckIn.objects.exists())
        self.assertTrue(audit_log().filter(action="commitment.checkin", outcome=Outcome.REFUSED).exists())

    def test_a_commitment_of_an_earlier_version_takes_no_progress(self):
        second = self.walk.draft()
        self.walk.affirm(second)
        page = self.client.get(self.url("checkin", self.safety.pk))
        self.assertContains(page, "progress is recorded on the version in force only")
        page = self.client.post(
            self.url("checkin", self.safety.pk), {"status": "kept", "reported_by": "keeper"}
        )
        self.assertContains(page, "version in force only", status_code=409)
        self.assertFalse(CheckIn.objects.exists())


class StepPageTests(PersonaTestCase):
    def setUp(self):
        self.walk = walked(self.case, self.alice, self.sam)
        _version, (self.commitment,) = self.walk.in_force({})
        self.checkin = self.walk.checkin(self.commitment, "kept")
        self.login(self.alice)
        self.step_url = reverse("accountability:step", args=[self.case.pk])

    def test_the_page_offers_the_commitments_and_check_ins_as_evidence_and_records_the_step(self):
        page = self.client.get(self.step_url)
        self.assertContains(page, "3 · Recognize its consequences without excuses")
        self.assertContains(page, f'value="{self.commitment.pk}"')
        self.assertContains(page, f'value="{self.checkin.pk}"')
        response = self.client.post(
            self.step_url, {"step": 3, "commitments": [self.commitment.pk], "checkins": [self.checkin.pk]}
        )
        agreement = reverse("accountability:agreement", args=[self.case.pk])
        self.assertRedirects(response, agreement + "#staircase", fetch_redirect_response=False)
        step = StaircaseStep.objects.get()
        self.assertEqual((step.step, list(step.commitments.all())), (3, [self.commitment]))
        self.assertTrue(audit_log().filter(action="staircase.step", object_id=str(step.pk)).exists())

    def test_a_step_without_evidence_is_refused_with_the_reason(self):
        page = self.client.post(self.step_url, {"step": 2})
        self.assertContains(page, "at least one commitment or check-in", status_code=400)
        self.assertFalse(StaircaseStep.objects.exists())

    def test_another_cases_evidence_is_refused(self):
        other = make_case(self.harbor, team=((self.alice, TeamRole.KEEPER), (self.sam, TeamRole.SUPERVISOR)))
        _v, (foreign,) = walked(other, self.alice, self.sam).in_force({})
        page = self.client.post(self.step_url, {"step": 2, "commitments": [foreign.pk]})
        self.assertContains(page, "Select a valid choice", status_code=400)
        self.assertFalse(StaircaseStep.objects.exists())
