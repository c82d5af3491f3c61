"""The joint-dialogue gate: every condition of PROTOCOL.md, then a supervisor's approval given after them,
which lapses as soon as a condition stops holding."""

import datetime

import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import Consent, ConsentKind
from circlekeeper.cases.participants import withdraw_consent
from circlekeeper.protocol import gates, services
from circlekeeper.protocol.models import MeetingKind
from circlekeeper.protocol.services import GateClosed
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety import services as safety
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase


def codes(conditions):
    return {c.code for c in gates.unmet(conditions)}


class JointGateTests(PersonaTestCase):
    def setUp(self):
        self.walk = Walk(self.case, self.alice, self.sam)
        self.walk.to_dialogue()
        self.survivor, self.harm = self.walk.survivor, self.walk.harm

    def circle(self):
        return services.schedule_meeting(
            case=self.case,
            kind=MeetingKind.CIRCLE,
            starts_at=timezone.now() + datetime.timedelta(days=1),
            invitees=[self.survivor, self.harm],
            by=self.alice,
        )

    def test_every_condition_but_the_approval_holds_after_preparation(self):
        self.assertEqual(codes(gates.joint_gate(self.case)), {"approval"})
        with self.assertRaises(GateClosed) as refused:
            self.circle()
        self.assertEqual([c.code for c in refused.exception.missing], ["approval"])

    def test_only_a_supervisor_on_the_team_approves(self):
        for person in (self.alice, self.ada, self.bob):
            with self.assertRaises(PermissionDenied):
                services.approve_joint_dialogue(case=self.case, by=person)
        services.approve_joint_dialogue(case=self.case, by=self.sam)
        self.assertEqual(codes(gates.joint_gate(self.case)), set())
        self.circle()

    def test_a_supervisor_cannot_approve_while_a_condition_is_missing(self):
        with time_machine.travel(timezone.now() + datetime.timedelta(days=8)):
            with self.assertRaises(GateClosed) as refused:
                services.approve_joint_dialogue(case=self.case, by=self.sam)
            self.assertIn("recent_check", {c.code for c in refused.exception.missing})

    def test_a_newer_check_at_high_makes_the_approval_lapse_even_once_the_hold_is_lifted(self):
        services.approve_joint_dialogue(case=self.case, by=self.sam)
        with time_machine.travel(timezone.now() + datetime.timedelta(minutes=5)):
            run_check(self.survivor, "weapon")
        self.case.refresh_from_db()
        self.assertIn("approval", codes(gates.joint_gate(self.case)))
        with time_machine.travel(timezone.now() + datetime.timedelta(minutes=10)):
            run_check(self.survivor, by=self.ada)
            safety.lift_hold(hold=self.case.safety_holds.get(), by=self.sam, reason="Safe again")
            self.case.refresh_from_db()
            # The risk changed, so the plan is due for review before any joint meeting.
            self.assertEqual(codes(gates.joint_gate(self.case)), {"plan", "approval"})
            safety.review_plan(survivor=self.survivor, revision=1, by=self.ada)
            self.assertEqual(codes(gates.joint_gate(self.case)), {"approval"})
            with self.assertRaises(GateClosed):
                self.circle()
            services.approve_joint_dialogue(case=self.case, by=self.sam)
            self.circle()

    def test_the_survivors_withdrawn_consent_closes_the_gate_at_once(self):
        services.approve_joint_dialogue(case=self.case, by=self.sam)
        consent = Consent.objects.get(participant=self.survivor, kind=ConsentKind.TAKE_PART)
        withdraw_consent(consent=consent, how="oral", by=self.alice)
        self.assertLessEqual({"direct_consent", "approval"}, codes(gates.joint_gate(self.case)))
        with self.assertRaises(ValidationError):
            self.circle()

    def test_a_change_of_track_makes_the_approval_lapse(self):
        services.approve_joint_dialogue(case=self.case, by=self.sam)
        choose_track(
            case=self.case,
            survivor=self.survivor,
            track="indirect_dialogue",
            explained_by=self.alice,
            explained_on=timezone.localdate(),
            by=self.alice,
        )
        self.case.refresh_from_db()
        self.assertIn("direct_consent", codes(gates.joint_gate(self.case)))

    def test_an_old_check_closes_the_gate_after_seven_days_and_a_scheduled_circle_cannot_start(self):
        services.approve_joint_dialogue(case=self.case, by=self.sam)
        meeting = services.schedule_meeting(
            case=self.case,
            kind=MeetingKind.CIRCLE,
            starts_at=timezone.now() + datetime.timedelta(days=8),
            invitees=[self.survivor, self.harm],
            by=self.alice,
        )
        with time_machine.travel(timezone.now() + datetime.timedelta(days=8)), self.assertRaises(GateClosed):
            services.record_check(
                meeting=meeting,
                participant=self.survivor,
                moment="in",
                feels_safe="yes",
                threatened="no",
                wants_to_stop="no",
                by=self.alice,
            )

    def test_the_gate_is_recorded_on_the_meeting_when_scheduled_and_when_it_starts(self):
        services.approve_joint_dialogue(case=self.case, by=self.sam)
        meeting = self.walk.hold_meeting(MeetingKind.CIRCLE, self.survivor, self.harm)
        self.assertTrue(all(v["met"] for v in meeting.gate_at_scheduling.values()))
        self.assertTrue(all(v["met"] for v in meeting.gate_at_holding.values()))
        self.assertIn("approval", meeting.gate_at_holding)
