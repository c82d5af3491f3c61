"""A barrier is never invited or contacted: naming a linked participant a barrier marks them so, in the same
transaction, and the contact check and meeting scheduling refuse them; changing the stance away on the record
linked to them clears it (test_barrier_history.py: unlinking never does)."""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from circlekeeper.cases.contact import contact_allowed
from circlekeeper.cases.models import ContactChannel, ParticipantRole
from circlekeeper.protocol import services as protocol
from circlekeeper.protocol.models import Meeting, MeetingKind
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.support.tests.helpers import add, change
from circlekeeper.testing import PersonaTestCase, make_participant


class BarrierTests(PersonaTestCase):
    def setUp(self):
        self.walk = Walk(self.case, self.alice, self.sam)
        self.walk.to_preparation()
        self.friend = make_participant(self.case, role=ParticipantRole.HARM_SUPPORTER, label="Friend K")
        self.now = timezone.now()

    def schedule(self, *invitees):
        return protocol.schedule_meeting(
            case=self.case,
            kind=MeetingKind.PREPARATION,
            starts_at=self.now + datetime.timedelta(hours=2),
            invitees=invitees,
            by=self.alice,
        )

    def test_before_being_named_a_barrier_they_may_be_contacted_and_invited(self):
        self.assertTrue(contact_allowed(self.friend, ContactChannel.PHONE_CALL, self.now).allowed)
        self.schedule(self.walk.harm, self.friend)
        self.assertEqual(Meeting.objects.count(), 1)

    def test_a_barrier_is_marked_and_never_contacted_nor_invited(self):
        add(
            self.case,
            self.alice,
            participant=self.friend,
            side="harm",
            stance="barrier",
            relationship="friend",
        )
        self.friend.refresh_from_db()
        self.assertTrue(self.friend.barrier)
        decision = contact_allowed(self.friend, ContactChannel.PHONE_CALL, self.now)
        self.assertFalse(decision.allowed)
        self.assertIn("barrier", decision.reason)
        with self.assertRaisesMessage(ValidationError, "never invited"):
            self.schedule(self.walk.harm, self.friend)
        self.assertFalse(Meeting.objects.exists())

    def test_changing_the_stance_away_from_barrier_clears_the_mark(self):
        member = add(self.case, self.alice, participant=self.friend, side="harm", stance="barrier")
        change(member, self.alice, stance="unsure")
        self.friend.refresh_from_db()
        self.assertFalse(self.friend.barrier)
        self.assertTrue(contact_allowed(self.friend, ContactChannel.PHONE_CALL, self.now).allowed)

    def test_unlinking_a_barrier_keeps_their_mark_and_linking_another_marks_them(self):
        # Issue 17: the flag is a fact about the person, not derived from a record that can be unlinked.
        member = add(self.case, self.alice, participant=self.friend, side="harm", stance="barrier")
        other = make_participant(self.case, role=ParticipantRole.HARM_SUPPORTER, label="Friend L")
        change(member, self.alice, participant=other)
        self.friend.refresh_from_db()
        other.refresh_from_db()
        self.assertEqual((self.friend.barrier, other.barrier), (True, True))

    def test_a_refused_change_leaves_the_mark_as_it_was(self):
        member = add(self.case, self.alice, participant=self.friend, side="harm", stance="ally")
        with self.assertRaises(ValidationError):
            change(member, self.alice, stance="barrier", relationship="")
        self.friend.refresh_from_db()
        self.assertFalse(self.friend.barrier)
