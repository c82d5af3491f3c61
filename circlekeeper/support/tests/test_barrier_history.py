"""Approvals and flags never revive (issue 17, findings 7 (barriers) and 8; Build 5).

Oracles, from PROTOCOL.md and the issue:
- "barriers are not recruited"; "children (by role or by age) and barriers are never contacted": once a party names
  someone a barrier, nothing but a plain statement about that same person (their own record saying otherwise)
  makes them contactable again. Unlinking a record says nothing about the person, so their flag stays.
- A barrier named in a pod by label and later added as a participant with that label is the same person only if
  the keeper says so; until then the label is refused; once confirmed, they are flagged at once.
- Joint-dialogue gate: "a supervisor's approval, given after all of the above". An approval that lapsed (a condition
  stopped holding: the safety monitor named a barrier) stays lapsed: marking them an ally again does not bring
  the old approval back; a supervisor approves anew.
"""

import datetime

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.contact import contact_allowed
from circlekeeper.cases.disclosure import add_participant
from circlekeeper.cases.models import BarrierFlag, ContactChannel, Participant, ParticipantRole
from circlekeeper.protocol import gates, services
from circlekeeper.protocol.models import MeetingKind
from circlekeeper.protocol.services import GateClosed
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.support.models import PodMember
from circlekeeper.support.tests.helpers import add, change
from circlekeeper.testing import PersonaTestCase, make_participant


class BarrierFlagHistoryTests(PersonaTestCase):
    def setUp(self):
        self.friend = make_participant(self.case, role=ParticipantRole.HARM_SUPPORTER, label="Friend K")
        self.now = timezone.now()

    def history(self, participant):
        return list(
            BarrierFlag.objects.filter(participant=participant)
            .order_by("at", "id")
            .values_list("barrier", "source")
        )

    def test_unlinking_the_record_keeps_the_flag_and_they_are_still_never_contacted(self):
        member = add(self.case, self.alice, participant=self.friend, side="harm", stance="barrier")
        change(member, self.alice, participant=None, label="Someone K")
        self.friend.refresh_from_db()
        self.assertTrue(self.friend.barrier)
        decision = contact_allowed(self.friend, ContactChannel.PHONE_CALL, self.now)
        self.assertFalse(decision.allowed)
        self.assertIn("barrier", decision.reason)
        self.assertEqual(self.history(self.friend), [(True, "pod")])

    def test_every_change_of_the_flag_is_kept_in_the_persons_history(self):
        member = add(self.case, self.alice, participant=self.friend, side="harm", stance="barrier")
        member = change(member, self.alice, stance="ally")
        change(member, self.alice, stance="barrier")
        self.friend.refresh_from_db()
        self.assertTrue(self.friend.barrier)
        self.assertEqual(self.history(self.friend), [(True, "pod"), (False, "pod_changed"), (True, "pod")])


class NamedBarrierLabelTests(PersonaTestCase):
    def setUp(self):
        # Named in the harm side's pod by label only: not (yet) a participant.
        self.member = add(self.case, self.alice, label="Uncle T", side="harm", stance="barrier", help=[])

    def test_a_new_participant_with_a_barriers_label_is_refused_until_the_keeper_says_who_they_are(self):
        with self.assertRaises(ValidationError) as refused:
            add_participant(
                case=self.case, role=ParticipantRole.HARM_SUPPORTER, label="Uncle T", by=self.alice
            )
        self.assertIn("is named a barrier in a support network", " ".join(refused.exception.messages))
        self.assertFalse(Participant.objects.filter(case=self.case, label="Uncle T").exists())

    def test_confirmed_the_same_person_they_are_flagged_at_once_and_the_record_is_theirs(self):
        person = add_participant(
            case=self.case,
            role=ParticipantRole.HARM_SUPPORTER,
            label="uncle t",
            by=self.alice,
            same_person=True,
        )
        person.refresh_from_db()
        self.assertTrue(person.barrier)
        self.assertFalse(contact_allowed(person, ContactChannel.PHONE_CALL, timezone.now()).allowed)
        self.assertEqual(
            list(BarrierFlag.objects.filter(participant=person).values_list("barrier", "source")),
            [(True, "label_match")],
        )
        self.member.refresh_from_db()
        self.assertEqual(self.member.participant, person)
        # And the record linked to them keeps the flag even if it is unlinked later.
        change(self.member, self.alice, participant=None, label="Uncle T2")
        person.refresh_from_db()
        self.assertTrue(person.barrier)

    def test_an_allys_label_or_another_label_asks_nothing(self):
        add(self.case, self.alice, label="Aunt R", side="survivor", stance="ally")
        for label in ("Aunt R", "Cousin P"):
            person = add_participant(
                case=self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label=label, by=self.alice
            )
            self.assertFalse(person.barrier)

    def test_the_page_asks_the_keeper_and_records_the_answer(self):
        self.login(self.alice)
        url = reverse("cases:participant_add", args=[self.case.pk])
        page = self.client.post(url, {"role": ParticipantRole.HARM_SUPPORTER, "label": "Uncle T"})
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, "is named a barrier in a support network of this case")
        self.assertContains(page, 'name="same_person"')
        self.assertFalse(Participant.objects.filter(case=self.case, label="Uncle T").exists())
        done = self.client.post(
            url, {"role": ParticipantRole.HARM_SUPPORTER, "label": "Uncle T", "same_person": "on"}
        )
        self.assertEqual(done.status_code, 302)
        self.assertTrue(Participant.objects.get(case=self.case, label="Uncle T").barrier)


class ApprovalNeverRevivesTests(PersonaTestCase):
    def setUp(self):
        self.walk = Walk(self.case, self.alice, self.sam)
        self.walk.to_dialogue()
        self.monitor = self.case.participants.get(role=ParticipantRole.SAFETY_MONITOR)
        self.record = add(self.case, self.alice, participant=self.monitor, side="survivor", stance="ally")
        services.approve_joint_dialogue(case=self.case, by=self.sam)

    def circle(self):
        return services.schedule_meeting(
            case=self.case,
            kind=MeetingKind.CIRCLE,
            starts_at=timezone.now() + datetime.timedelta(days=1),
            invitees=[self.walk.survivor, self.walk.harm],
            by=self.alice,
        )

    def approval(self):
        return next(c for c in gates.joint_gate(self.case) if c.code == "approval")

    def test_the_monitor_named_a_barrier_then_an_ally_again_leaves_the_approval_lapsed(self):
        self.assertTrue(self.approval().met)
        record = change(self.record, self.alice, stance="barrier")
        self.assertFalse(self.approval().met)
        change(record, self.alice, stance="ally")
        self.monitor.refresh_from_db()
        self.assertFalse(self.monitor.barrier)
        # Every other condition holds again, but the approval lapsed and stays lapsed.
        self.assertEqual({c.code for c in gates.unmet(gates.joint_conditions(self.case))}, set())
        approval = self.approval()
        self.assertFalse(approval.met)
        self.assertIn("stays lapsed", approval.detail)
        with self.assertRaises(GateClosed) as refused:
            self.circle()
        self.assertEqual([c.code for c in refused.exception.missing], ["approval"])
        # A supervisor approves anew: then, and only then, the circle may be scheduled.
        services.approve_joint_dialogue(case=self.case, by=self.sam)
        self.circle()

    def test_a_barrier_label_match_after_the_approval_makes_it_lapse_too(self):
        add(self.case, self.alice, label="Uncle T", side="harm", stance="barrier", help=[])
        self.assertTrue(self.approval().met)
        add_participant(
            case=self.case,
            role=ParticipantRole.HARM_SUPPORTER,
            label="Uncle T",
            by=self.alice,
            same_person=True,
        )
        self.assertFalse(self.approval().met)
        self.assertTrue(PodMember.objects.filter(label="Uncle T", participant__isnull=False).exists())
