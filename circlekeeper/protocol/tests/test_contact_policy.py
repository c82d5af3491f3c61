"""Issue 17: one contact policy, the cascade on every safety event, and meetings that keep time.

Each test names the finding of issue 17 it refuses, and the expected rule comes from PROTOCOL.md ("Contact with
the other side: one policy, everywhere"), written here, not read from the code under test.
"""

import datetime

import time_machine
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import Consent, ConsentKind, ParticipantRole, Track
from circlekeeper.cases.participants import record_consent, update_details, withdraw_consent
from circlekeeper.instruments import filling
from circlekeeper.instruments.links import ContactRefused, find_usable_link, issue_link, start_response
from circlekeeper.instruments.models import ParticipantLink, Response
from circlekeeper.protocol import services
from circlekeeper.protocol.models import CalendarToken, CheckMoment, Meeting, MeetingKind, MeetingStatus
from circlekeeper.protocol.tests.walk import Walk, start_now
from circlekeeper.safety.services import report_new_violence
from circlekeeper.safety.tests.checks import builtin_version
from circlekeeper.testing import PersonaTestCase, make_participant, make_reachable

SAFE = {"feels_safe": "yes", "threatened": "no", "wants_to_stop": "no"}


class PolicyTestCase(PersonaTestCase):
    track = Track.DIRECT_DIALOGUE

    def setUp(self):
        self.walk = Walk(self.case, self.alice, self.sam, track=self.track)

    def schedule(self, kind, *invitees, hours=1, channel="in_person"):
        return services.schedule_meeting(
            case=self.case,
            kind=kind,
            starts_at=timezone.now() + datetime.timedelta(hours=hours),
            invitees=invitees,
            by=self.alice,
            channel=channel,
        )

    def check(self, meeting, moment, survivor=None, **answers):
        return services.record_check(
            meeting=meeting,
            participant=survivor or self.walk.survivor,
            moment=moment,
            by=self.alice,
            **{**SAFE, **answers},
        )

    def link(self, participant, when=None):
        return issue_link(
            participant=participant,
            version=builtin_version("experience_of_process"),
            purpose="T1",
            expires_at=timezone.now() + datetime.timedelta(days=7),
            by=self.alice,
            channel="phone_call",
            when=when or timezone.now(),
        )


class StopAtCheckInTests(PolicyTestCase):
    """Finding 1: a "stop" or danger answer at the check-in ends the meeting; time limits; withdrawal after it."""

    def setUp(self):
        super().setUp()
        self.walk.to_preparation()

    def test_a_stop_at_the_check_in_ends_the_meeting_which_is_never_recorded_held(self):
        meeting = start_now(self.schedule(MeetingKind.PREPARATION, self.walk.survivor))
        self.check(meeting, CheckMoment.CHECK_IN, wants_to_stop="yes")
        meeting.refresh_from_db()
        self.assertEqual(meeting.status, MeetingStatus.STOPPED)
        with self.assertRaisesMessage(ValidationError, "stopped at the survivor's check-in"):
            self.check(meeting, CheckMoment.CHECK_OUT)
        with self.assertRaisesMessage(ValidationError, "never recorded as held"):
            services.mark_held(meeting=meeting, attended=[self.walk.survivor], by=self.alice)

    def test_a_check_in_is_refused_before_the_window_before_the_start(self):
        meeting = self.schedule(MeetingKind.PREPARATION, self.walk.survivor, hours=3)
        with self.assertRaisesMessage(ValidationError, "Too early"):
            self.check(meeting, CheckMoment.CHECK_IN)
        with override_settings(CIRCLEKEEPER_CHECK_IN_WINDOW_MINUTES=4 * 60):
            self.check(meeting, CheckMoment.CHECK_IN)

    def test_consent_withdrawn_and_given_again_after_the_check_in_refuses_held(self):
        meeting = start_now(self.schedule(MeetingKind.PREPARATION, self.walk.survivor))
        self.check(meeting, CheckMoment.CHECK_IN)
        consent = Consent.objects.current().get(participant=self.walk.survivor, kind=ConsentKind.TAKE_PART)
        withdraw_consent(consent=consent, how="oral", by=self.alice)
        record_consent(
            participant=self.walk.survivor,
            kind=ConsentKind.TAKE_PART,
            how_given="oral",
            given_on=timezone.localdate(),
            by=self.alice,
        )
        self.check(meeting, CheckMoment.CHECK_OUT)
        with self.assertRaisesMessage(ValidationError, "withdrawal of consent came after the check-in"):
            services.mark_held(meeting=meeting, attended=[self.walk.survivor], by=self.alice)


class JointWhateverItsKindTests(PolicyTestCase):
    """Finding 2: any meeting with a survivor and anyone of the other side is joint and needs the gate."""

    track = Track.COMMUNITY_ACCOUNTABILITY

    def test_a_pod_meeting_with_the_survivor_and_the_person_who_caused_harm_is_refused_off_the_direct_track(
        self,
    ):
        self.walk.to_preparation()
        with self.assertRaisesMessage(ValidationError, "that is a joint meeting"):
            self.schedule(MeetingKind.POD, self.walk.survivor, self.walk.harm)
        # The pod with the person who caused harm alone is this track's work.
        self.schedule(MeetingKind.POD, self.walk.harm)


class ShuttleAtIntakeTests(PolicyTestCase):
    def test_a_shuttle_with_both_parties_at_intake_is_refused_naming_every_missing_condition(self):
        self.walk.to_intake()
        choose_track(
            case=self.case,
            survivor=self.walk.survivor,
            track=Track.DIRECT_DIALOGUE,
            explained_by=self.alice,
            explained_on=timezone.localdate(),
            by=self.alice,
        )
        self.case.refresh_from_db()
        with self.assertRaises(ValidationError) as refused:
            self.schedule(MeetingKind.SHUTTLE, self.walk.survivor, self.walk.harm)
        text = " ".join(refused.exception.messages)
        for expected in (
            "dialogue stage",
            "safety plan",
            "safety monitor",
            "acknowledg",
            "preparation meeting",
        ):
            self.assertIn(expected, text)


class HoldCascadesTests(PolicyTestCase):
    """Finding 3: a hold (and the survivor's withdrawal of consent) stops everything already arranged."""

    def setUp(self):
        super().setUp()
        self.walk.to_preparation()
        self.uncle = self.case.participants.get(label="Uncle")
        self.meeting = self.schedule(MeetingKind.PREPARATION, self.walk.harm, self.uncle, hours=30)
        self.issued, self.token = self.link(self.walk.harm)
        self.entry = filling.start_entry(
            participant=self.walk.harm,
            version=builtin_version("experience_of_process"),
            purpose="T1",
            by=self.alice,
        )

    def assert_all_stopped(self, reason):
        self.meeting.refresh_from_db()
        self.issued.refresh_from_db()
        self.entry.refresh_from_db()
        self.assertEqual((self.meeting.status, self.meeting.cancel_reason), (MeetingStatus.CANCELLED, reason))
        self.assertEqual(self.issued.revoke_reason, reason)
        self.assertIsNotNone(self.issued.revoked_at)
        self.assertEqual(self.entry.void_reason, reason)
        self.assertIsNone(find_usable_link(self.token))
        with self.assertRaises(ContactRefused):
            filling.submit(response=self.entry, today=timezone.localdate())
        # Nothing is deleted.
        self.assertTrue(Meeting.objects.filter(pk=self.meeting.pk).exists())
        self.assertTrue(Response.objects.filter(pk=self.entry.pk).exists())

    def test_a_hold_cancels_meetings_revokes_links_and_voids_questionnaires_of_the_other_side(self):
        report_new_violence(case=self.case, by=self.alice, details="Threats by text")
        self.assert_all_stopped("new_violence")
        # The calendar feed shows the meeting cancelled.
        _feed, token = CalendarToken.make_for(self.alice)
        body = self.client.get(reverse("protocol:calendar_feed", args=[token])).content.decode()
        self.assertIn("STATUS:CANCELLED", body)

    def test_the_survivors_withdrawal_of_consent_stops_the_same(self):
        consent = Consent.objects.current().get(participant=self.walk.survivor, kind=ConsentKind.TAKE_PART)
        withdraw_consent(consent=consent, how="oral", by=self.alice)
        self.assert_all_stopped("consent_withdrawn")

    def test_a_link_left_open_is_refused_at_opening_saving_and_submitting_while_the_policy_refuses(self):
        # A link the cascade did not reach (issued in a race): the policy is asked again at every step.
        response = start_response(link=self.issued)
        type(self.case).objects.filter(pk=self.case.pk).update(on_hold=True)
        self.assertIsNone(find_usable_link(self.token))
        with self.assertRaises(ContactRefused):
            start_response(link=ParticipantLink.objects.get(pk=self.issued.pk))
        with self.assertRaises(ContactRefused):
            filling.save_section(response=response, position=0, values={}, today=timezone.localdate())
        with self.assertRaises(ContactRefused):
            filling.submit(response=response, today=timezone.localdate(), link=self.issued)


class StageAndTrackTests(PolicyTestCase):
    """Finding 5: contact with the other side waits for the plan and, on a track with contact, a monitor."""

    track = Track.COMMUNITY_ACCOUNTABILITY

    def test_no_preparation_meeting_with_the_person_who_caused_harm_before_the_plan(self):
        self.walk.to_safety_planning()
        with self.assertRaisesMessage(ValidationError, "safety plan"):
            self.schedule(MeetingKind.PREPARATION, self.walk.harm)

    def test_no_pod_meeting_with_the_person_who_caused_harm_without_a_consenting_monitor(self):
        self.walk.to_mapping_support()
        with self.assertRaisesMessage(ValidationError, "safety monitor"):
            self.schedule(MeetingKind.POD, self.walk.harm)
        with self.assertRaisesMessage(ContactRefused, "safety monitor"):
            self.link(self.walk.harm)
        make_participant(self.case, role=ParticipantRole.SAFETY_MONITOR, label="Neighbour")
        self.schedule(MeetingKind.POD, self.walk.harm)


class PerPersonTests(PolicyTestCase):
    """Finding 6: gate conditions for each person; every invitee consents to take part."""

    def test_a_second_person_who_caused_harm_never_prepared_is_refused_in_a_circle(self):
        self.walk.to_dialogue()
        second = make_participant(self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person C")
        with time_machine.travel(timezone.now(), tick=False):
            services.approve_joint_dialogue(case=self.case, by=self.sam)
        with self.assertRaisesMessage(
            ValidationError, "Person C has had no preparation meeting of their own"
        ):
            self.schedule(MeetingKind.CIRCLE, self.walk.survivor, self.walk.harm, second)
        with self.assertRaisesMessage(ValidationError, "Person C has not acknowledged responsibility"):
            self.schedule(MeetingKind.CIRCLE, self.walk.survivor, self.walk.harm, second)
        self.schedule(MeetingKind.CIRCLE, self.walk.survivor, self.walk.harm)

    def test_an_invitee_without_consent_to_take_part_is_refused(self):
        self.walk.to_preparation()
        cousin = make_participant(
            self.case, role=ParticipantRole.HARM_SUPPORTER, label="Cousin", reachable=False
        )
        with self.assertRaisesMessage(ValidationError, "Cousin has no current consent to take part"):
            self.schedule(MeetingKind.PREPARATION, self.walk.harm, cousin)


class ChildrenByAgeTests(PolicyTestCase):
    """Finding 7: a child by date of birth (under 18 on the day) is never invited or contacted."""

    def test_a_community_member_aged_nine_gets_no_link_and_no_invitation(self):
        self.walk.to_preparation()
        member = make_participant(self.case, role=ParticipantRole.COMMUNITY_MEMBER, label="Member M")
        nine = timezone.localdate() - datetime.timedelta(days=9 * 366)
        update_details(participant=member, version=1, by=self.alice, date_of_birth=nine)
        member.refresh_from_db()
        with self.assertRaisesMessage(ContactRefused, "under 18"):
            self.link(member)
        with self.assertRaisesMessage(ValidationError, "under 18"):
            self.schedule(MeetingKind.POD, self.walk.harm, member)

    def test_learning_a_date_of_birth_under_18_cancels_what_was_arranged_with_them(self):
        self.walk.to_preparation()
        member = make_participant(self.case, role=ParticipantRole.COMMUNITY_MEMBER, label="Member M")
        meeting = self.schedule(MeetingKind.POD, self.walk.harm, member, hours=5)
        sixteen = timezone.localdate() - datetime.timedelta(days=16 * 365)
        update_details(participant=member, version=1, by=self.alice, date_of_birth=sixteen)
        meeting.refresh_from_db()
        self.assertEqual((meeting.status, meeting.cancel_reason), (MeetingStatus.CANCELLED, "child"))


class KeepingTimeTests(PolicyTestCase):
    """Finding 9: never held before its start; never scheduled in the past; safe-contact rules for meetings."""

    def setUp(self):
        super().setUp()
        self.walk.to_preparation()

    def test_a_meeting_is_recorded_held_only_after_it_started(self):
        meeting = self.schedule(MeetingKind.PREPARATION, self.walk.harm, hours=1)
        with self.assertRaisesMessage(ValidationError, "only after it has started"):
            services.mark_held(meeting=meeting, attended=[self.walk.harm], by=self.alice)
        with time_machine.travel(meeting.starts_at + datetime.timedelta(minutes=5)):
            services.mark_held(meeting=meeting, attended=[self.walk.harm], by=self.alice)

    def test_a_meeting_cannot_be_scheduled_in_the_past(self):
        with self.assertRaisesMessage(ValidationError, "in the past"):
            self.schedule(MeetingKind.PREPARATION, self.walk.harm, hours=-2)

    def test_a_meeting_at_a_time_and_in_a_way_the_safe_contact_rules_forbid_is_refused(self):
        make_reachable(
            self.walk.harm,
            channels=["text"],
            days=[0, 1, 2, 3, 4],
            from_time=datetime.time(9),
            until_time=datetime.time(17),
        )
        # Next Saturday, 7 p.m., in person.
        today = timezone.localdate()
        saturday = today + datetime.timedelta(days=(5 - today.weekday()) % 7 or 7)
        starts = timezone.make_aware(datetime.datetime.combine(saturday, datetime.time(19)))
        with self.assertRaisesMessage(ValidationError, "In person is not an allowed way"):
            services.schedule_meeting(
                case=self.case,
                kind=MeetingKind.PREPARATION,
                starts_at=starts,
                invitees=[self.walk.harm],
                by=self.alice,
                channel="in_person",
            )
        make_reachable(self.walk.harm, channels=["in_person"], days=[0, 1, 2, 3, 4])
        with self.assertRaisesMessage(ValidationError, "only at the allowed times"):
            services.schedule_meeting(
                case=self.case,
                kind=MeetingKind.PREPARATION,
                starts_at=starts,
                invitees=[self.walk.harm],
                by=self.alice,
                channel="in_person",
            )


class SafeContactRulesRecheckedTests(PolicyTestCase):
    """Safe-contact rules apply to meetings at every moment (PROTOCOL.md, "one policy, everywhere"): a meeting
    arranged while the rules allowed it cannot start, nor be recorded held, once the person's rules forbid its
    way or its time."""

    def setUp(self):
        super().setUp()
        self.walk.to_preparation()

    def forbid_in_person(self, participant):
        make_reachable(participant, channels=["phone_call"])

    def test_the_check_in_is_refused_once_the_survivors_rules_forbid_meeting_in_person(self):
        meeting = self.schedule(MeetingKind.PREPARATION, self.walk.survivor, channel="in_person")
        start_now(meeting)
        self.forbid_in_person(self.walk.survivor)
        with self.assertRaisesMessage(ValidationError, "In person is not an allowed way"):
            self.check(meeting, CheckMoment.CHECK_IN)
        self.assertFalse(meeting.checks.exists())

    def test_recording_held_is_refused_once_the_rules_forbid_the_meetings_time(self):
        meeting = self.schedule(MeetingKind.PREPARATION, self.walk.harm, channel="in_person")
        start_now(meeting)
        # No day is allowed any more for the person who caused harm.
        make_reachable(self.walk.harm, days=[])
        with self.assertRaisesMessage(ValidationError, "only at the allowed times"):
            services.mark_held(meeting=meeting, attended=[self.walk.harm], by=self.alice)
        meeting.refresh_from_db()
        self.assertEqual(meeting.status, MeetingStatus.SCHEDULED)

    def test_recording_held_is_refused_when_the_rules_changed_after_the_check_in(self):
        meeting = start_now(self.schedule(MeetingKind.PREPARATION, self.walk.survivor))
        self.check(meeting, CheckMoment.CHECK_IN)
        self.check(meeting, CheckMoment.CHECK_OUT)
        self.forbid_in_person(self.walk.survivor)
        with self.assertRaisesMessage(ValidationError, "In person is not an allowed way"):
            services.mark_held(meeting=meeting, attended=[self.walk.survivor], by=self.alice)
