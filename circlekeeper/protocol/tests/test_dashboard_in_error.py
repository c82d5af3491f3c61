"""The supervisor's "approvals waiting" list and records entered in error (issue 18, build 3).

The list first narrows the direct-track cases with a cheap join (dashboard.waiting_approvals: a preparation
meeting held with the survivor, a recent survivor check, a consenting safety monitor, ...) and reads the full
gate only for the first GATES_READ of them; the rest are counted as "not checked here". A record entered in
error counts nowhere (issue 18): so a meeting, a survivor or a consent entered in error must not make a case a
candidate either. With GATES_READ at 0 the count of cases not checked is exactly the number of candidates,
which is what these tests read.
"""

from __future__ import annotations

import datetime
from unittest import mock

import time_machine
from django.utils import timezone

from circlekeeper.accounts.access import StaffContext
from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import ConsentKind, Participant, ParticipantRole
from circlekeeper.protocol import corrections, dashboard, services
from circlekeeper.protocol.models import Meeting, MeetingKind
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, make_participant


class WaitingApprovalsInErrorTests(PersonaTestCase):
    def setUp(self) -> None:
        self.walk = Walk(self.case, self.alice, self.sam)

    def candidates(self) -> int:
        """How many cases the cheap join lets through (none of them read in full)."""
        context = StaffContext(self.sam, self.harbor, frozenset({Role.SUPERVISOR}))
        with mock.patch.object(dashboard, "GATES_READ", 0):
            listing, not_checked = dashboard.waiting_approvals(context, timezone.now())
        self.assertEqual(listing.rows, [])
        return not_checked

    def waiting(self) -> list[int]:
        context = StaffContext(self.sam, self.harbor, frozenset({Role.SUPERVISOR}))
        listing, _not_checked = dashboard.waiting_approvals(context, timezone.now())
        return [row.case.pk for row in listing.rows]

    def test_a_case_ready_for_approval_is_a_candidate_and_waits(self):
        self.walk.to_dialogue()
        self.assertEqual(self.candidates(), 1)
        self.assertEqual(self.waiting(), [self.case.pk])

    def test_the_survivors_preparation_meeting_entered_in_error_does_not_count(self):
        self.walk.to_dialogue()
        meeting = Meeting.objects.get(
            case=self.case, kind=MeetingKind.PREPARATION, invitations__participant=self.walk.survivor
        )
        corrections.meeting_in_error(meeting=meeting, by=self.alice, reason="Never happened")
        self.assertEqual(self.candidates(), 0)

    def test_a_preparation_meeting_held_only_with_a_survivor_entered_in_error_does_not_count(self):
        self.walk.to_preparation()
        with_harm = self.walk.hold_meeting(MeetingKind.PREPARATION, self.walk.harm)
        services.record_acknowledgment(
            meeting=with_harm, participant=self.walk.harm, in_their_words="It was me.", by=self.alice
        )
        ghost = make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor C")
        self.walk.hold_meeting(MeetingKind.PREPARATION, ghost)
        self.assertEqual(self.candidates(), 1)  # before the correction, Survivor C's meeting counted
        corrections.participant_in_error(participant=ghost, by=self.alice, reason="Added twice")
        # Survivor A, the only survivor who counts, never had a preparation meeting.
        self.assertEqual(self.candidates(), 0)

    def test_the_monitors_consent_entered_in_error_does_not_count(self):
        self.walk.to_dialogue()
        monitor = Participant.objects.get(case=self.case, role=ParticipantRole.SAFETY_MONITOR)
        consent = monitor.consents.get(kind=ConsentKind.TAKE_PART)
        corrections.consent_in_error(consent=consent, by=self.alice, reason="Wrong person")
        self.assertEqual(self.candidates(), 0)

    def test_a_recent_check_of_a_survivor_entered_in_error_does_not_count(self):
        with time_machine.travel(timezone.now() - datetime.timedelta(days=10)):
            self.walk.to_dialogue()
        # Survivor A's checks are ten days old: only Survivor C, added by mistake, has a recent one.
        ghost = make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor C")
        run_check(ghost, by=self.alice)
        self.assertEqual(self.candidates(), 1)
        corrections.participant_in_error(participant=ghost, by=self.alice, reason="Added twice")
        self.assertEqual(self.candidates(), 0)
