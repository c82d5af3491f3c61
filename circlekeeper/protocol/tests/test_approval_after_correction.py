"""A supervisor's approval of a joint dialogue and records entered in error afterwards (issue 18).

The rule, from PROTOCOL.md's joint-dialogue gate: the approval is "given after all of the above" (the survivor's
consent to the direct track, the acknowledgment, a recent check, the plan, a monitor, preparation meetings with
each party). A correction of one of those records (a participant, a consent, a meeting, a choice of track, a
safety-plan revision) changes what was approved, so the approval lapses even when every condition still holds.
A note entered in error changes none of it: the approval stands.

Each case below is set up so that every other condition still holds after the correction; only the lapse rule
decides whether the approval counts.
"""

from __future__ import annotations

import datetime

import time_machine
from django.utils import timezone

from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import CaseNote, ConsentKind, ParticipantRole, TrackChoice
from circlekeeper.protocol import corrections, gates, services
from circlekeeper.protocol.models import MeetingKind
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety import services as safety
from circlekeeper.safety.models import SafetyPlanRevision
from circlekeeper.testing import PersonaTestCase, make_participant

LATER = datetime.timedelta(minutes=5)


def unmet_codes(case) -> set[str]:
    return {c.code for c in gates.unmet(gates.joint_gate(case))}


class ApprovalAfterCorrectionTests(PersonaTestCase):
    def setUp(self) -> None:
        self.walk = Walk(self.case, self.alice, self.sam)
        self.walk.to_dialogue()
        self.survivor = self.walk.survivor

    def approve(self) -> None:
        self.assertEqual(unmet_codes(self.case), {"approval"})
        services.approve_joint_dialogue(case=self.case, by=self.sam)
        self.assertEqual(unmet_codes(self.case), set())

    def after(self, correct) -> set[str]:
        """Make the correction a little after the approval; what the joint gate then still needs."""
        with time_machine.travel(timezone.now() + LATER):
            correct()
            self.case.refresh_from_db()
            return unmet_codes(self.case)

    def test_a_note_entered_in_error_leaves_the_approval_standing(self):
        note = CaseNote.objects.create(
            organization=self.harbor, case=self.case, author=self.alice, text="Wrong"
        )
        self.approve()
        unmet = self.after(lambda: corrections.note_in_error(note=note, by=self.alice, reason="Other case"))
        self.assertEqual(unmet, set())

    def test_a_participant_entered_in_error_makes_it_lapse(self):
        cousin = make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Cousin")
        self.approve()
        unmet = self.after(
            lambda: corrections.participant_in_error(participant=cousin, by=self.alice, reason="Added twice")
        )
        self.assertEqual(unmet, {"approval"})

    def test_a_consent_entered_in_error_makes_it_lapse(self):
        cousin = make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Cousin")
        consent = cousin.consents.get(kind=ConsentKind.TAKE_PART)
        self.approve()
        unmet = self.after(
            lambda: corrections.consent_in_error(consent=consent, by=self.alice, reason="Wrong person")
        )
        self.assertEqual(unmet, {"approval"})

    def test_a_meeting_entered_in_error_makes_it_lapse(self):
        second = self.walk.hold_meeting(MeetingKind.PREPARATION, self.survivor)
        self.approve()
        unmet = self.after(
            lambda: corrections.meeting_in_error(meeting=second, by=self.alice, reason="Never happened")
        )
        self.assertEqual(unmet, {"approval"})

    def test_a_track_choice_entered_in_error_makes_it_lapse_even_when_the_track_stays(self):
        choose_track(
            case=self.case,
            survivor=self.survivor,
            track="direct_dialogue",
            explained_by=self.alice,
            explained_on=timezone.localdate(),
            by=self.alice,
            in_their_words="I want to be in the room with him.",
        )
        self.case.refresh_from_db()
        self.assertEqual(TrackChoice.objects.filter(case=self.case).count(), 2)
        latest = TrackChoice.objects.filter(case=self.case).order_by("-recorded_at", "-id").first()
        assert latest is not None
        self.approve()
        unmet = self.after(
            lambda: corrections.track_choice_in_error(choice=latest, by=self.alice, reason="Recorded twice")
        )
        self.assertEqual(self.case.track, "direct_dialogue")
        self.assertEqual(unmet, {"approval"})

    def test_a_safety_plan_revision_entered_in_error_makes_it_lapse(self):
        safety.save_plan(
            survivor=self.survivor, revision=1, by=self.alice, people_to_call="My sister, my aunt"
        )
        second = SafetyPlanRevision.objects.get(plan__participant=self.survivor, number=2)
        self.approve()
        unmet = self.after(
            lambda: corrections.plan_revision_in_error(revision=second, by=self.alice, reason="Wrong plan")
        )
        self.assertEqual(unmet, {"approval"})
