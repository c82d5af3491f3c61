"""Placing people in pods through the services: one record per person, both pods only with a reason, roles that
fit the pod, labels that stay unique, a double submit that gives one record, the version check, and a history
line of codes and labels only."""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from circlekeeper.cases.models import CaseEvent, CaseStatus, EventKind, ParticipantRole
from circlekeeper.cases.participants import StaleEdit
from circlekeeper.support.models import PodMember
from circlekeeper.support.tests.helpers import add, change
from circlekeeper.testing import PersonaTestCase, make_participant


class MemberTestCase(PersonaTestCase):
    def setUp(self):
        self.sister = make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister")
        self.uncle = make_participant(self.case, role=ParticipantRole.HARM_SUPPORTER, label="Uncle")
        self.neighbour = make_participant(self.case, role=ParticipantRole.SAFETY_MONITOR, label="Neighbour")

    def refused(self, field, **kwargs):
        with self.assertRaises(ValidationError) as caught:
            add(self.case, self.alice, **kwargs)
        self.assertIn(field, caught.exception.error_dict, caught.exception)
        return " ".join(caught.exception.message_dict[field])


class AddMemberTests(MemberTestCase):
    def test_a_person_not_yet_a_participant_is_added_with_an_encrypted_relationship(self):
        member = add(
            self.case, self.alice, label="Aunt R", relationship="her aunt", help=["childcare", "money"]
        )
        member.refresh_from_db()
        self.assertEqual(
            (member.label, member.side, member.stance, member.relationship, member.help, member.active),
            ("Aunt R", "survivor", "ally", "her aunt", ["childcare", "money"], True),
        )
        self.assertEqual(
            (member.organization_id, member.added_by, member.participant), (self.harbor.pk, self.alice, None)
        )
        raw = PodMember.objects.values_list("relationship", flat=True).get(pk=member.pk)
        self.assertNotIn(b"her aunt", bytes(raw))

    def test_a_linked_participant_takes_their_label_by_default(self):
        member = add(self.case, self.alice, participant=self.sister)
        self.assertEqual(member.label, "Sister")

    def test_help_is_kept_without_repeats_in_the_order_of_the_list(self):
        member = add(self.case, self.alice, help=["transport", "emotional_support", "transport"])
        self.assertEqual(member.help, ["emotional_support", "transport"])

    def test_help_must_come_from_the_list(self):
        self.assertIn("from the list", self.refused("help", help=["burn the house"]))
        self.assertFalse(PodMember.objects.exists())

    def test_a_label_and_a_relationship_are_required(self):
        self.assertIn("pseudonymous label", self.refused("label", label="  "))
        self.assertIn("who they are", self.refused("relationship", relationship=" "))

    def test_both_pods_need_a_reason_and_a_reason_is_refused_for_one_pod(self):
        self.assertIn("only with a recorded reason", self.refused("both_reason", side="both"))
        self.assertIn(
            "only for someone in both pods", self.refused("both_reason", both_reason="Trusted by both")
        )
        member = add(self.case, self.alice, side="both", both_reason="The neighbour both families trust")
        member.refresh_from_db()
        self.assertEqual(member.both_reason, "The neighbour both families trust")
        self.assertTrue(member.in_pod("survivor") and member.in_pod("harm"))

    def test_the_same_participant_cannot_be_entered_twice_and_is_told_to_choose_both_pods(self):
        add(self.case, self.alice, participant=self.neighbour)
        message = self.refused(
            "participant", participant=self.neighbour, side="harm", label="Neighbour again"
        )
        self.assertIn("already in the survivor's pod", message)
        self.assertIn("Both pods, with a reason", message)
        self.assertEqual(PodMember.objects.count(), 1)

    def test_a_participants_role_must_fit_the_pod(self):
        self.assertIn("place them in", self.refused("side", participant=self.sister, side="harm"))
        self.assertIn("place them in", self.refused("side", participant=self.uncle, side="survivor"))
        self.assertIn(
            "only with a recorded reason", self.refused("both_reason", participant=self.uncle, side="both")
        )
        add(self.case, self.alice, participant=self.uncle, side="both", both_reason="He is her cousin too")
        add(self.case, self.alice, participant=self.neighbour, side="harm")
        community = make_participant(self.case, role=ParticipantRole.COMMUNITY_MEMBER, label="Pastor")
        add(self.case, self.alice, participant=community, side="survivor")
        self.assertEqual(PodMember.objects.count(), 3)

    def test_the_parties_and_children_are_never_members(self):
        for role in (ParticipantRole.SURVIVOR, ParticipantRole.PERSON_WHO_CAUSED_HARM, ParticipantRole.CHILD):
            person = make_participant(self.case, role=role, label=f"P {role}", reachable=False)
            self.assertIn("centers of the pods", self.refused("participant", participant=person))
        self.assertFalse(PodMember.objects.exists())

    def test_a_participant_of_another_case_is_refused(self):
        stranger = make_participant(self.other_team_case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="X")
        self.assertIn("of this case", self.refused("participant", participant=stranger))

    def test_labels_are_unique_in_a_case_and_never_a_participants_label_for_someone_else(self):
        add(self.case, self.alice, label="Aunt R")
        self.assertIn("already labelled", self.refused("label", label="Aunt R", relationship="someone else"))
        self.assertIn("is a participant of this case", self.refused("label", label="Sister"))
        add(self.other_team_case, self.bob, label="Aunt R")  # another case may use it
        self.assertEqual(PodMember.objects.count(), 2)

    def test_a_double_submit_gives_one_record(self):
        first = add(self.case, self.alice, label="Aunt R", help=["childcare"])
        second = add(self.case, self.alice, label="Aunt R", help=["childcare"])
        self.assertEqual(first, second)
        self.assertEqual(PodMember.objects.count(), 1)
        self.assertEqual(CaseEvent.objects.filter(kind=EventKind.POD_CHANGED).count(), 1)

    def test_a_closed_case_is_refused_with_nothing_written(self):
        self.case.status = CaseStatus.CLOSED
        self.case.save(update_fields=["status"])
        with self.assertRaisesMessage(ValidationError, "no longer open"):
            add(self.case, self.alice)
        self.assertFalse(PodMember.objects.exists())

    def test_the_history_line_holds_codes_and_labels_only(self):
        at = timezone.now() - datetime.timedelta(days=3)
        add(self.case, self.alice, label="Aunt R", relationship="her aunt Rosa", stance="unsure", at=at)
        event = CaseEvent.objects.get(kind=EventKind.POD_CHANGED)
        self.assertEqual(event.facts, {"member": "Aunt R", "side": "survivor", "stance": "unsure"})
        self.assertEqual((event.by, event.at), (self.alice, at))
        self.assertEqual(PodMember.objects.get().created_at, at)


class ChangeMemberTests(MemberTestCase):
    def test_a_change_is_saved_and_raises_the_version(self):
        member = add(self.case, self.alice)
        changed = change(member, self.ada, stance="unsure", active=False, help=["money"], relationship="aunt")
        changed.refresh_from_db()
        self.assertEqual(
            (changed.stance, changed.active, changed.help, changed.relationship, changed.version),
            ("unsure", False, ["money"], "aunt", 2),
        )
        events = CaseEvent.objects.filter(kind=EventKind.POD_CHANGED).order_by("id")
        last = events.last()
        assert last is not None
        self.assertEqual(last.facts, {"member": "Aunt R", "side": "survivor", "stance": "unsure"})

    def test_a_second_editor_from_an_older_page_is_refused_and_nothing_is_written(self):
        member = add(self.case, self.alice)
        change(member, self.alice, stance="unsure")
        with self.assertRaises(StaleEdit):
            change(member, self.ada, version=1, relationship="someone else entirely")
        member.refresh_from_db()
        self.assertEqual((member.relationship, member.stance, member.version), ("her aunt", "unsure", 2))

    def test_the_same_change_sent_twice_is_done_once(self):
        member = add(self.case, self.alice)
        change(member, self.alice, stance="unsure")
        again = change(member, self.alice, version=1, stance="unsure")
        self.assertEqual(again.version, 2)
        self.assertEqual(CaseEvent.objects.filter(kind=EventKind.POD_CHANGED).count(), 2)

    def test_an_unlinked_member_can_be_linked_once_they_are_a_participant(self):
        member = add(self.case, self.alice, label="Aunt R")
        aunt = make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Aunt R P")
        linked = change(member, self.alice, participant=aunt)
        self.assertEqual((linked.participant, linked.label), (aunt, "Aunt R"))

    def test_a_change_keeps_the_rules_of_a_new_member(self):
        member = add(self.case, self.alice, participant=self.sister)
        with self.assertRaises(ValidationError) as caught:
            change(member, self.alice, side="both")
        self.assertIn("both_reason", caught.exception.error_dict)
        other = add(self.case, self.alice, label="Aunt R")
        with self.assertRaises(ValidationError) as caught:
            change(other, self.alice, participant=self.sister)
        self.assertIn("participant", caught.exception.error_dict)
        with self.assertRaises(ValidationError) as caught:
            change(other, self.alice, label="Sister")
        self.assertIn("label", caught.exception.error_dict)
        other.refresh_from_db()
        self.assertEqual((other.version, other.participant, other.label), (1, None, "Aunt R"))
