"""Progress check-ins: on the version in force only, by the keeper, the commitment's supporter or a consenting
safety monitor; a commitment not kept that concerns violence, threats, contact or the children opens a safety hold
(with an alert), any other creates a task to review it."""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from circlekeeper.accountability.models import CheckIn, CommitmentKind, Concern
from circlekeeper.accountability.tests.helpers import walked
from circlekeeper.cases.models import CaseEvent, CaseTask, EventKind, ParticipantRole, TaskKind, TeamRole
from circlekeeper.safety.models import HoldReason, SafetyAlert, SafetyHold
from circlekeeper.safety.services import report_new_violence
from circlekeeper.testing import PersonaTestCase, make_case, make_participant


class BrokenCommitmentTests(PersonaTestCase):
    def setUp(self):
        self.walk = walked(self.case, self.alice, self.sam)

    def test_each_safety_concern_not_kept_opens_a_hold_with_an_alert(self):
        for concern in Concern.values:
            with self.subTest(concern=concern):
                # A case of its own for each concern, walked to an agreement in force.
                case = make_case(
                    self.harbor, team=((self.alice, TeamRole.KEEPER), (self.sam, TeamRole.SUPERVISOR))
                )
                walk = walked(case, self.alice, self.sam)
                _version, (commitment,) = walk.in_force(
                    {"kind": CommitmentKind.STOP_BEHAVIOR, "concerns": [concern]}
                )
                walk.checkin(commitment, "not_kept", note="He sent messages again")
                hold = SafetyHold.objects.open().get(case=case)
                self.assertEqual(hold.reason, HoldReason.BROKEN_COMMITMENT)
                # Codes only (issue 17): the commitment's number, put into words in the reader's language.
                trigger = hold.triggers.get()
                self.assertEqual(trigger.facts, {"commitment": str(commitment.number)})
                self.assertIsNone(hold.details)
                self.assertTrue(SafetyAlert.objects.filter(hold=hold, reason="broken_commitment").exists())
                case.refresh_from_db()
                self.assertTrue(case.on_hold)
                self.assertFalse(CaseTask.objects.filter(case=case, kind=TaskKind.REVIEW_COMMITMENT).exists())

    def test_a_commitment_not_about_safety_not_kept_creates_a_review_task_and_no_hold(self):
        _version, (commitment,) = self.walk.in_force({"kind": CommitmentKind.ATTEND_PROGRAM})
        self.walk.checkin(commitment, "not_kept")
        self.assertFalse(SafetyHold.objects.exists())
        task = CaseTask.objects.get(kind=TaskKind.REVIEW_COMMITMENT)
        self.assertEqual(task.participant, self.walk.harm)
        self.assertEqual(task.due_on, timezone.localdate() + datetime.timedelta(days=7))
        self.walk.checkin(commitment, "not_kept", note="Missed again")
        self.assertEqual(CaseTask.objects.filter(kind=TaskKind.REVIEW_COMMITMENT).count(), 1)

    def test_kept_partly_or_unknown_open_nothing(self):
        _version, (commitment,) = self.walk.in_force({"concerns": ["violence"]})
        for status in ("kept", "partly", "unknown"):
            self.walk.checkin(commitment, status)
        self.assertFalse(SafetyHold.objects.exists())
        self.assertFalse(CaseTask.objects.filter(kind=TaskKind.REVIEW_COMMITMENT).exists())

    def test_a_case_already_on_hold_gets_a_new_alert(self):
        _version, (commitment,) = self.walk.in_force({"concerns": ["children"]})
        report_new_violence(case=self.case, by=self.ada, details="A push at the door")
        self.walk.checkin(commitment, "not_kept")
        self.assertEqual(SafetyHold.objects.count(), 1)
        self.assertEqual(
            sorted(SafetyAlert.objects.values_list("reason", flat=True)),
            ["broken_commitment", "new_violence"],
        )

    def test_each_check_in_is_in_the_case_history_as_codes(self):
        _version, (commitment,) = self.walk.in_force({})
        self.walk.checkin(commitment, "partly", note="Went twice of four")
        event = CaseEvent.objects.get(kind=EventKind.COMMITMENT_CHECKIN)
        self.assertEqual(event.facts, {"commitment": str(commitment.number), "status": "partly"})


class CheckInRuleTests(PersonaTestCase):
    def setUp(self):
        self.walk = walked(self.case, self.alice, self.sam)

    def test_only_the_version_in_force_takes_check_ins(self):
        draft = self.walk.draft()
        commitment = self.walk.add(draft)
        with self.assertRaisesMessage(ValidationError, "version in force only"):
            self.walk.checkin(commitment, "kept")
        self.walk.affirm(draft)
        second = self.walk.draft()
        self.walk.affirm(second)
        with self.assertRaisesMessage(ValidationError, "version in force only"):
            self.walk.checkin(commitment, "kept")
        self.walk.checkin(second.commitments.get(), "kept")
        self.assertEqual(CheckIn.objects.count(), 1)

    def test_a_supporter_reports_only_on_their_own_commitment(self):
        _version, (helped, alone) = self.walk.in_force({"supporter": self.walk.uncle}, {})
        self.walk.checkin(helped, "kept", reported_by="supporter", reporter=self.walk.uncle)
        with self.assertRaisesMessage(ValidationError, "no supporter named"):
            self.walk.checkin(alone, "kept", reported_by="supporter", reporter=self.walk.uncle)
        with self.assertRaisesMessage(ValidationError, "this commitment's supporter"):
            self.walk.checkin(helped, "kept", reported_by="supporter", reporter=self.walk.monitor)
        with self.assertRaisesMessage(ValidationError, "this commitment's supporter"):
            self.walk.checkin(helped, "kept", reported_by="supporter")
        self.assertEqual(CheckIn.objects.get().reporter, self.walk.uncle)

    def test_a_safety_monitor_must_be_a_consenting_monitor_of_this_case(self):
        _version, (commitment,) = self.walk.in_force({})
        self.walk.checkin(commitment, "partly", reported_by="safety_monitor", reporter=self.walk.monitor)
        stranger = make_participant(
            self.other_team_case, role=ParticipantRole.SAFETY_MONITOR, label="Someone else's monitor"
        )
        unwilling = make_participant(
            self.case, role=ParticipantRole.SAFETY_MONITOR, label="Monitor F", reachable=False
        )
        for reporter in (stranger, unwilling, self.walk.uncle, None):
            with self.assertRaisesMessage(ValidationError, "consenting safety monitor"):
                self.walk.checkin(commitment, "kept", reported_by="safety_monitor", reporter=reporter)
        self.assertEqual(CheckIn.objects.count(), 1)

    def test_the_keeper_reports_without_a_reporter(self):
        _version, (commitment,) = self.walk.in_force({"supporter": self.walk.uncle})
        checkin = self.walk.checkin(commitment, "kept", reporter=self.walk.uncle)
        self.assertIsNone(checkin.reporter)

    def test_the_same_report_sent_twice_is_one_record(self):
        _version, (commitment,) = self.walk.in_force({})
        first = self.walk.checkin(commitment, "kept", note="On time")
        self.assertEqual(self.walk.checkin(commitment, "kept", note="On time"), first)
        self.walk.checkin(commitment, "kept", note="Also on time")
        self.assertEqual(CheckIn.objects.count(), 2)

    def test_reports_keep_coming_in_while_the_case_is_on_hold(self):
        _version, (commitment,) = self.walk.in_force({})
        report_new_violence(case=self.case, by=self.ada, details="Threats by phone")
        self.walk.checkin(commitment, "partly")
        self.assertEqual(CheckIn.objects.count(), 1)

    def test_a_note_is_short_and_encrypted(self):
        _version, (commitment,) = self.walk.in_force({})
        with self.assertRaises(ValidationError):
            self.walk.checkin(commitment, "kept", note="x" * 501)
        self.walk.checkin(commitment, "kept", note="Came to every group")
        raw = CheckIn.objects.values_list("note", flat=True).get()
        assert raw is not None
        self.assertNotIn(b"Came to every group", bytes(raw))

    def test_a_closed_case_takes_no_check_ins(self):
        _version, (commitment,) = self.walk.in_force({})
        from circlekeeper.protocol.services import withdraw

        withdraw(case=self.case, by=self.ada)
        with self.assertRaisesMessage(ValidationError, "no longer open"):
            self.walk.checkin(commitment, "kept")
