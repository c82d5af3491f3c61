"""seed_demo: the whole demo network in one idempotent command, with cases in every stage and on every track,
taken there through the real services, so that its meetings, checks, holds and approvals make sense together."""

from __future__ import annotations

import re
from io import StringIO

from django.core.management import CommandError, call_command
from django.test import TestCase, override_settings
from django.urls import reverse

from circlekeeper.accounts.models import Membership, User
from circlekeeper.cases.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Consent,
    Participant,
    ParticipantRole,
    Stage,
    Track,
    TrackChoice,
)
from circlekeeper.instruments.models import InstrumentVersion, Response
from circlekeeper.protocol import gates
from circlekeeper.protocol.models import (
    JOINT_KINDS,
    Acknowledgment,
    Approval,
    Invitation,
    Meeting,
    MeetingKind,
    MeetingStatus,
    SafetyCheckIn,
    Transition,
    TransitionKind,
)
from circlekeeper.protocol.tests.worklist_rows import counts as worklist_counts
from circlekeeper.safety.models import SafetyAlert, SafetyCheck, SafetyHold, SafetyPlanRevision
from circlekeeper.testing import sign_in

COUNTED = (
    User,
    Membership,
    Case,
    Participant,
    Consent,
    TrackChoice,
    CaseEvent,
    InstrumentVersion,
    Response,
    SafetyCheck,
    SafetyHold,
    SafetyAlert,
    SafetyPlanRevision,
    Transition,
    Meeting,
    Invitation,
    SafetyCheckIn,
    Acknowledgment,
    Approval,
)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


@override_settings(DEMO_MODE=True)
class DemoTests(TestCase):
    output: str

    @classmethod
    def setUpTestData(cls):
        cls.output = seed()

    def test_it_says_what_it_made_and_how_to_sign_in(self):
        self.assertIn("16 users and 120 cases created", self.output)
        self.assertIn("Demo protocol: 39 cases taken through the stages", self.output)
        self.assertIn("keeper@harbor.example", self.output)

    def test_every_organization_has_cases_in_every_stage_and_on_every_track(self):
        for slug in ("harbor", "valley", "bridge"):
            cases = Case.objects.filter(organization__slug=slug)
            self.assertEqual(set(cases.values_list("stage", flat=True)), set(Stage.values), slug)
            self.assertEqual(
                set(cases.exclude(track="").values_list("track", flat=True)), set(Track.values), slug
            )
            self.assertEqual(set(cases.values_list("status", flat=True)), set(CaseStatus.values), slug)

    def test_every_case_reached_its_stage_through_each_gate_of_its_track(self):
        moved = Case.objects.exclude(stage=Stage.REFERRAL)
        self.assertGreaterEqual(moved.count(), 36)
        for case in moved:
            path = [Stage(stage) for stage in gates.path_for(case)]
            advances = list(
                case.transitions.filter(kind=TransitionKind.ADVANCE)
                .order_by("at", "id")
                .values_list("to_stage", flat=True)
            )
            self.assertEqual(advances, path[1 : path.index(Stage(case.stage)) + 1], case.reference)

    def test_no_direct_case_is_past_preparation_without_an_approval_and_held_preparation_meetings(self):
        later = [Stage.DIALOGUE, Stage.AGREEMENT, Stage.MONITORING, Stage.CLOSURE]
        direct = Case.objects.filter(track=Track.DIRECT_DIALOGUE, stage__in=later)
        self.assertEqual(direct.count(), 6)
        for case in direct:
            self.assertTrue(Approval.objects.filter(case=case).exists(), case.reference)
            self.assertTrue(Acknowledgment.objects.filter(case=case).exists(), case.reference)
            for role in (ParticipantRole.SURVIVOR, ParticipantRole.PERSON_WHO_CAUSED_HARM):
                self.assertTrue(
                    Invitation.objects.filter(
                        meeting__case=case,
                        meeting__kind=MeetingKind.PREPARATION,
                        meeting__status=MeetingStatus.HELD,
                        participant__role=role,
                        attended=True,
                    ).exists(),
                    (case.reference, role),
                )

    def test_every_joint_meeting_passed_the_joint_dialogue_gate(self):
        joint = Meeting.objects.filter(kind__in=JOINT_KINDS)
        self.assertEqual(joint.filter(status=MeetingStatus.HELD).count(), 3)
        self.assertEqual(joint.filter(status=MeetingStatus.SCHEDULED).count(), 3)
        for meeting in joint:
            self.assertEqual(meeting.case.track, Track.DIRECT_DIALOGUE)
            self.assertTrue(meeting.gate_at_scheduling)
            self.assertTrue(all(condition["met"] for condition in meeting.gate_at_scheduling.values()))
            if meeting.status == MeetingStatus.HELD:
                self.assertTrue(all(condition["met"] for condition in meeting.gate_at_holding.values()))
        # Every meeting the survivor attended has her check-in and check-out.
        for invitation in Invitation.objects.filter(
            participant__role=ParticipantRole.SURVIVOR, attended=True
        ):
            moments = set(
                SafetyCheckIn.objects.filter(meeting=invitation.meeting).values_list("moment", flat=True)
            )
            self.assertEqual(moments, {"in", "out"})

    def test_holds_and_withdrawals_went_through_the_real_services(self):
        # From the safety demo: two open holds per organization; from the protocol demo: one lifted.
        self.assertEqual(SafetyHold.objects.filter(lifted_at__isnull=True).count(), 6)
        lifted = SafetyHold.objects.filter(lifted_at__isnull=False)
        self.assertEqual(lifted.count(), 3)
        self.assertEqual(set(lifted.values_list("reason", flat=True)), {"meeting_check"})
        self.assertFalse(
            Case.objects.filter(on_hold=True).exclude(safety_holds__lifted_at__isnull=True).exists()
        )
        withdrawn = Transition.objects.filter(kind=TransitionKind.WITHDRAW)
        self.assertEqual(withdrawn.count(), 3)
        for transition in withdrawn:
            self.assertFalse(
                Meeting.objects.filter(
                    case=transition.case,
                    status=MeetingStatus.SCHEDULED,
                    invitations__participant__role=ParticipantRole.PERSON_WHO_CAUSED_HARM,
                ).exists()
            )
            self.assertTrue(transition.case.meetings.filter(status=MeetingStatus.CANCELLED).exists())

    def test_the_demo_keeper_has_a_day_and_the_demo_supervisor_a_queue(self):
        sign_in(self.client, User.objects.get(email="keeper@harbor.example"))
        page = self.client.get(reverse("dashboard")).content.decode()
        meetings = re.findall(r'id="meetings-(?:today|week)".*?</section>', page, re.S)
        self.assertGreaterEqual(sum(m.count("<li>") for m in meetings), 3)
        self.assertIn("What your open cases need next", page)
        sign_in(self.client, User.objects.get(email="supervisor@harbor.example"))
        board = worklist_counts(self.client.get(reverse("dashboard")))
        self.assertEqual(board["Joint dialogues waiting for your approval"], 1)
        self.assertGreater(board["Open cases without movement for 30 days"], 3)

    def test_a_second_run_changes_nothing(self):
        before = counts()
        output = seed()
        self.assertEqual(counts(), before)
        self.assertIn("0 users and 0 cases created", output)
        self.assertIn("Demo protocol: 0 cases", output)

    def test_scale_adds_synthetic_cases_on_top(self):
        seed("--scale", "500")
        self.assertEqual(Case.objects.count(), 500)
        self.assertFalse(Case.objects.filter(assignments=None).exists())


class DemoModeTests(TestCase):
    @override_settings(DEMO_MODE=False)
    def test_it_refuses_outside_demo_mode_without_force(self):
        with self.assertRaisesMessage(CommandError, "only in demo mode"):
            seed()
        self.assertFalse(User.objects.exists())
        seed("--force")
        self.assertTrue(User.objects.filter(email="keeper@harbor.example").exists())
        self.assertTrue(Transition.objects.exists())

    @override_settings(DEMO_MODE=True)
    def test_a_negative_scale_is_refused(self):
        with self.assertRaisesMessage(CommandError, "--scale"):
            seed("--scale", "-1")

    def test_the_old_separate_commands_are_gone(self):
        from django.core.management import get_commands

        commands = get_commands()
        self.assertEqual(commands["seed_demo"], "circlekeeper.demo")
        self.assertNotIn("seed_demo_safety", commands)
