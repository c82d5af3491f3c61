"""Lifting a hold: only a supervisor on the team, only after a newer check with the survivor below high, only
with a written reason. Everyone else on the team is told so (403) and nothing changes; off the team, 404."""

import datetime

import time_machine
from django.urls import reverse

from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import CaseEvent, EventKind, Participant, ParticipantRole
from circlekeeper.lib.audit import Outcome
from circlekeeper.safety.models import SafetyHold
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant, make_user

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(hours=3)


@time_machine.travel(NOW, tick=False)
class HoldLiftPageTests(PersonaTestCase):
    survivor: Participant
    hold: SafetyHold

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        run_check(cls.survivor, "weapon", by=cls.ada)
        cls.hold = SafetyHold.objects.get(case=cls.case)

    def url(self, case=None, hold=None):
        return reverse("safety:hold_lift", args=[(case or self.case).pk, (hold or self.hold).pk])

    def assert_still_open(self):
        self.hold.refresh_from_db()
        self.case.refresh_from_db()
        self.assertTrue(self.hold.is_open)
        self.assertTrue(self.case.on_hold)
        self.assertFalse(CaseEvent.objects.filter(case=self.case, kind=EventKind.HOLD_LIFTED).exists())

    def test_a_keeper_or_an_advocate_is_told_only_a_supervisor_can_lift_and_nothing_changes(self):
        run_check(self.survivor, by=self.ada, at=LATER)
        for person in (self.alice, self.ada):
            self.login(person)
            page = self.client.get(self.url())
            self.assertContains(page, "Only a supervisor can lift a safety hold", status_code=403)
            page = self.client.post(self.url(), {"reason": "She feels safe now"})
            self.assertContains(page, "Only a supervisor can lift a safety hold", status_code=403)
        self.assert_still_open()
        refused = audit_log().filter(
            action="safety.hold.lift",
            object_type="safety_hold",
            object_id=str(self.hold.pk),
            outcome=Outcome.REFUSED,
        )
        self.assertEqual(refused.count(), 2)

    def test_a_supervisor_without_a_newer_check_sees_why_and_is_refused(self):
        self.login(self.sam)
        page = self.client.get(self.url())
        self.assertContains(page, "The hold cannot be lifted yet.")
        self.assertContains(page, "High")
        self.assertNotContains(page, 'name="reason"')
        page = self.client.post(self.url(), {"reason": "She says things are calm"})
        self.assertContains(page, "started after the hold&#x27;s latest trigger", status_code=400)
        self.assertContains(page, "form-errors", status_code=400)
        self.assert_still_open()
        self.assertTrue(
            audit_log()
            .filter(action="safety.hold.lift", actor_id=self.sam.pk, outcome=Outcome.REFUSED)
            .exists()
        )

    def test_a_newer_check_that_is_still_high_does_not_lift(self):
        run_check(self.survivor, "threats_to_kill", by=self.ada, at=LATER)
        self.login(self.sam)
        self.assertContains(self.client.get(self.url()), "The hold cannot be lifted yet.")
        self.assertEqual(self.client.post(self.url(), {"reason": "ok"}).status_code, 400)
        self.assert_still_open()

    def test_the_supervisor_lifts_after_a_newer_check_below_high_with_a_reason(self):
        newer = run_check(self.survivor, "escalation", by=self.ada, at=LATER)
        with time_machine.travel(LATER + datetime.timedelta(minutes=5), tick=False):
            self.login(self.sam)
            page = self.client.get(self.url())
            self.assertContains(page, "the hold may be lifted")
            self.assertContains(page, 'name="reason"')
            answer = self.client.post(self.url(), {"reason": "He moved out; protection order in place"})
        self.assertRedirects(
            answer, reverse("safety:case", args=[self.case.pk]), fetch_redirect_response=False
        )
        self.hold.refresh_from_db()
        self.case.refresh_from_db()
        self.assertEqual(
            (self.hold.lifted_by, self.hold.lift_reason, self.hold.lift_check, self.case.on_hold),
            (self.sam, "He moved out; protection order in place", newer, False),
        )
        self.assertTrue(
            audit_log()
            .filter(action="safety.hold.lift", object_id=str(self.hold.pk), outcome=Outcome.OK)
            .exists()
        )

    def test_a_reason_is_required(self):
        run_check(self.survivor, by=self.ada, at=LATER)
        self.login(self.sam)
        page = self.client.post(self.url(), {"reason": "  "})
        self.assertContains(page, "form-errors")
        self.assert_still_open()

    def test_lifting_twice_lifts_once(self):
        run_check(self.survivor, by=self.ada, at=LATER)
        with time_machine.travel(LATER + datetime.timedelta(minutes=5), tick=False):
            self.login(self.sam)
            self.client.post(self.url(), {"reason": "calm"})
            again = self.client.post(self.url(), {"reason": "calm"}, follow=True)
        self.assertContains(again, "This hold was already lifted.")
        self.assertEqual(CaseEvent.objects.filter(case=self.case, kind=EventKind.HOLD_LIFTED).count(), 1)

    def test_a_supervisor_off_the_team_and_other_organizations_get_404(self):
        other_supervisor = make_user(organization=self.harbor, roles=(Role.SUPERVISOR,))
        for person in (other_supervisor, self.bob, self.charlie, self.pat, self.eve):
            self.login(person)
            self.assertEqual(self.client.get(self.url()).status_code, 404, person)
            self.assertEqual(self.client.post(self.url(), {"reason": "x"}).status_code, 404, person)
        self.assert_still_open()
