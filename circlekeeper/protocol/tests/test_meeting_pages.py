"""Meetings through their pages: the list and scheduling (refusals shown with their reasons, nothing written),
a meeting's page, the survivor's check-in and check-out (danger opens a hold at once), recording it as held,
cancelling it, and the acknowledgment of responsibility."""

import datetime

import time_machine
from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.models import ParticipantRole
from circlekeeper.lib.audit import Outcome
from circlekeeper.protocol import services
from circlekeeper.protocol.models import (
    Acknowledgment,
    CheckMoment,
    Invitation,
    Meeting,
    MeetingKind,
    MeetingStatus,
    SafetyCheckIn,
)
from circlekeeper.protocol.tests.walk import Walk, start_now
from circlekeeper.safety.models import HoldReason, SafetyAlert, SafetyHold
from circlekeeper.safety.services import report_new_violence
from circlekeeper.testing import PersonaTestCase, audit_log, make_case, make_participant

SAFE = {"feels_safe": "yes", "threatened": "no", "wants_to_stop": "no"}
TOMORROW = timezone.localdate() + datetime.timedelta(days=1)


class MeetingPageTestCase(PersonaTestCase):
    def setUp(self):
        self.walk = Walk(self.case, self.alice, self.sam)
        self.walk.to_preparation()
        survivor, harm = self.walk.survivor, self.walk.harm
        assert survivor is not None and harm is not None
        self.survivor, self.harm = survivor, harm
        self.child = make_participant(self.case, role=ParticipantRole.CHILD, label="Child C", reachable=False)
        self.list_url = reverse("protocol:meetings", args=[self.case.pk])

    def schedule(self, *invitees, kind=MeetingKind.PREPARATION, place="Library room 2"):
        meeting = services.schedule_meeting(
            case=self.case,
            kind=kind,
            starts_at=timezone.now() + datetime.timedelta(hours=1),
            invitees=invitees or [self.survivor],
            by=self.alice,
            place=place,
        )
        return start_now(meeting)

    def url(self, name, meeting):
        return reverse(name, args=[self.case.pk, meeting.pk])

    def form(self, *invitees, kind=MeetingKind.PREPARATION, **extra):
        return {
            "kind": kind,
            "day": TOMORROW.isoformat(),
            "time": "14:30",
            "place": "Community hall, back room",
            "invitees": [p.pk for p in invitees or [self.survivor]],
            **extra,
        }

    def check(self, meeting, moment, **answers):
        data = {"participant": self.survivor.pk, "moment": moment, **SAFE, **answers}
        return self.client.post(self.url("protocol:meeting_check", meeting), data)


class MeetingListTests(MeetingPageTestCase):
    def test_the_list_shows_each_meeting_with_its_kind_status_and_invited_labels_but_not_its_place(self):
        meeting = self.schedule(self.survivor, self.walk.case.participants.get(label="Sister"))
        self.login(self.ada)
        page = self.client.get(self.list_url)
        self.assertContains(page, "Preparation meeting (one party and their supporters)")
        self.assertContains(page, "Scheduled")
        self.assertContains(page, "Survivor A, Sister")
        self.assertContains(page, self.url("protocol:meeting", meeting))
        self.assertNotContains(page, "Library room 2")
        self.assertTrue(audit_log().filter(action="meeting.list", object_id=str(self.case.pk)).exists())

    def test_the_form_offers_every_participant_but_children_and_says_the_place_is_encrypted(self):
        self.login(self.alice)
        page = self.client.get(self.list_url)
        self.assertContains(page, "Survivor A (Survivor)")
        self.assertContains(page, "Person B (Person who caused harm)")
        self.assertNotContains(page, "Child C")
        self.assertContains(page, "Stored encrypted")
        self.assertContains(page, "never put in a calendar feed")

    def test_scheduling_a_meeting_records_it_with_its_invitees_and_opens_its_page(self):
        self.login(self.alice)
        page = self.client.post(self.list_url, self.form(self.survivor))
        meeting = Meeting.objects.get()
        self.assertRedirects(page, self.url("protocol:meeting", meeting), fetch_redirect_response=False)
        self.assertEqual(
            (meeting.kind, meeting.place, meeting.scheduled_by),
            ("preparation", "Community hall, back room", self.alice),
        )
        self.assertEqual(
            timezone.localtime(meeting.starts_at).replace(tzinfo=None),
            datetime.datetime.combine(TOMORROW, datetime.time(14, 30)),
        )
        self.assertEqual(list(meeting.participants.all()), [self.survivor])
        self.assertTrue(audit_log().filter(action="meeting.schedule", object_id=str(meeting.pk)).exists())

    def test_a_double_submit_schedules_one_meeting(self):
        self.login(self.alice)
        self.client.post(self.list_url, self.form(self.survivor))
        self.client.post(self.list_url, self.form(self.survivor))
        self.assertEqual(Meeting.objects.count(), 1)
        self.assertEqual(Invitation.objects.count(), 1)

    def test_fields_a_person_may_not_set_are_ignored(self):
        self.login(self.alice)
        self.client.post(
            self.list_url,
            self.form(
                self.survivor,
                organization=self.valley.pk,
                case=self.other_team_case.pk,
                status=MeetingStatus.HELD,
                scheduled_by=self.bob.pk,
                gate_at_scheduling='{"approval": {"met": true}}',
            ),
        )
        meeting = Meeting.objects.get()
        self.assertEqual(
            (
                meeting.organization_id,
                meeting.case,
                meeting.status,
                meeting.scheduled_by,
                meeting.gate_at_scheduling,
            ),
            (self.harbor.pk, self.case, MeetingStatus.SCHEDULED, self.alice, {}),
        )

    def test_a_child_or_someone_from_another_case_cannot_be_invited(self):
        stranger = make_participant(self.other_team_case, label="Stranger")
        self.login(self.alice)
        for invitee in (self.child, stranger):
            page = self.client.post(self.list_url, self.form(invitee))
            self.assertContains(page, "form-errors", status_code=400)
        self.assertFalse(Meeting.objects.exists())

    def test_a_preparation_meeting_with_both_sides_is_refused_with_the_reason(self):
        self.login(self.alice)
        page = self.client.post(self.list_url, self.form(self.survivor, self.harm))
        self.assertContains(page, "never both sides", status_code=400)
        self.assertFalse(Meeting.objects.exists())

    def test_a_circle_before_the_joint_dialogue_gate_holds_is_refused_with_what_is_missing(self):
        self.walk.prepare()
        self.walk.advance()
        self.login(self.alice)
        page = self.client.post(self.list_url, self.form(self.survivor, self.harm, kind=MeetingKind.CIRCLE))
        self.assertContains(page, "cannot be scheduled until the joint-dialogue gate holds", status_code=409)
        self.assertContains(
            page, "A supervisor&#x27;s approval, given after all of the above", status_code=409
        )
        self.assertContains(page, "Nothing was changed.", status_code=409)
        self.assertFalse(Meeting.objects.filter(kind=MeetingKind.CIRCLE).exists())
        self.assertTrue(audit_log().filter(action="meeting.schedule", outcome=Outcome.REFUSED).exists())

    def test_during_a_safety_hold_a_meeting_with_the_other_side_is_refused_and_the_page_says_why(self):
        report_new_violence(case=self.case, by=self.ada, details="He came to her work")
        self.login(self.alice)
        self.assertContains(self.client.get(self.list_url), "On safety hold.")
        page = self.client.post(self.list_url, self.form(self.harm))
        self.assertContains(page, "The case is on a safety hold", status_code=409)
        self.assertFalse(Meeting.objects.exists())
        page = self.client.post(self.list_url, self.form(self.survivor))
        self.assertEqual(page.status_code, 302)

    def test_the_queries_do_not_grow_with_meetings(self):
        self.login(self.alice)
        self.schedule()
        self.client.get(self.list_url)
        with self.assertNumQueries(15):
            self.client.get(self.list_url)
        for n in range(10):
            self.schedule(self.survivor, self.case.participants.get(label="Sister"), place=f"Room {n}")
            self.schedule(self.harm, place=f"Hall {n}")
        with self.assertNumQueries(15):
            self.client.get(self.list_url)


class MeetingPageTests(MeetingPageTestCase):
    def test_the_page_shows_the_place_the_invitees_and_the_survivors_check_in_with_its_warning(self):
        meeting = self.schedule()
        self.login(self.alice)
        page = self.client.get(self.url("protocol:meeting", meeting))
        self.assertContains(page, "Library room 2")
        self.assertContains(page, "Survivor A")
        self.assertContains(page, "Check-in with Survivor A, at the start")
        self.assertContains(page, "Do you feel safe right now?")
        self.assertContains(page, "Prefer not to say")
        self.assertContains(page, "puts the case on safety hold at once")
        self.assertContains(page, "Write only what the team needs to keep.")
        self.assertNotContains(page, "Record the acknowledgment")
        self.assertTrue(audit_log().filter(action="meeting.view", object_id=str(meeting.pk)).exists())

    def test_a_safe_check_in_and_check_out_then_held_with_notes(self):
        meeting = self.schedule()
        self.login(self.alice)
        self.assertEqual(self.check(meeting, "in").status_code, 302)
        page = self.client.get(self.url("protocol:meeting", meeting))
        self.assertContains(page, "Check-in recorded: the meeting may begin.")
        self.assertContains(page, "Check-out with Survivor A, at the end")
        self.assertEqual(self.check(meeting, "out").status_code, 302)
        self.case.refresh_from_db()
        self.assertFalse(self.case.on_hold)
        page = self.client.post(
            self.url("protocol:meeting_held", meeting),
            {"attended": [self.survivor.pk], "notes": "She named two goals"},
        )
        self.assertEqual(page.status_code, 302)
        meeting.refresh_from_db()
        self.assertEqual(
            (meeting.status, meeting.notes, meeting.recorded_by), ("held", "She named two goals", self.alice)
        )
        self.assertContains(self.client.get(self.url("protocol:meeting", meeting)), "She named two goals")

    def test_a_no_to_feeling_safe_at_check_out_puts_the_case_on_hold_at_once(self):
        meeting = self.schedule()
        self.login(self.alice)
        self.check(meeting, "in")
        page = self.client.post(
            self.url("protocol:meeting_check", meeting),
            {"participant": self.survivor.pk, "moment": "out", **SAFE, "feels_safe": "no"},
            follow=True,
        )
        self.assertContains(page, "The case is on safety hold now")
        self.assertContains(page, "danger signalled")
        self.case.refresh_from_db()
        self.assertTrue(self.case.on_hold)
        self.assertEqual(SafetyHold.objects.get(case=self.case).reason, HoldReason.MEETING_CHECK)

    def test_prefer_not_to_say_a_threat_or_a_wish_to_stop_at_check_in_each_hold_the_case_and_alert(self):
        self.login(self.alice)
        for number, answers in enumerate(
            ({"feels_safe": "pnts"}, {"threatened": "yes"}, {"wants_to_stop": "yes"}), start=1
        ):
            meeting = self.schedule(place=str(answers))
            self.check(meeting, "in", **answers)
            self.case.refresh_from_db()
            self.assertTrue(self.case.on_hold, answers)
            alerts = SafetyAlert.objects.filter(case=self.case, reason=HoldReason.MEETING_CHECK)
            self.assertEqual(alerts.count(), number, answers)

    def test_a_circle_whose_gate_no_longer_holds_cannot_start_and_the_check_in_lists_what_is_missing(self):
        self.walk.prepare()
        self.walk.advance()
        services.approve_joint_dialogue(case=self.case, by=self.sam)
        circle = self.schedule(self.survivor, self.harm, kind=MeetingKind.CIRCLE)
        with time_machine.travel(timezone.now() + datetime.timedelta(days=8)):
            self.login(self.alice)
            page = self.check(circle, "in")
        self.assertContains(page, "the joint-dialogue gate no longer holds", status_code=409)
        self.assertContains(page, "A survivor safety check in the last 7 days", status_code=409)
        self.assertFalse(circle.checks.exists())
        circle.refresh_from_db()
        self.assertEqual(circle.gate_at_holding, {})

    def test_a_check_with_an_answer_missing_is_refused_and_nothing_is_recorded(self):
        meeting = self.schedule()
        self.login(self.alice)
        page = self.client.post(
            self.url("protocol:meeting_check", meeting),
            {"participant": self.survivor.pk, "moment": "in", "feels_safe": "yes", "threatened": "no"},
        )
        self.assertContains(page, "form-errors", status_code=400)
        self.assertContains(page, "Do you want to stop?", status_code=400)
        self.assertFalse(SafetyCheckIn.objects.exists())

    def test_a_check_out_before_the_check_in_is_refused_with_the_reason(self):
        meeting = self.schedule()
        self.login(self.alice)
        page = self.check(meeting, "out")
        self.assertContains(page, "Check in first", status_code=409)
        self.assertFalse(SafetyCheckIn.objects.exists())

    def test_only_a_survivor_invited_to_the_meeting_is_checked_in(self):
        meeting = self.schedule(self.harm)
        self.login(self.alice)
        page = self.client.post(
            self.url("protocol:meeting_check", meeting), {"participant": self.harm.pk, "moment": "in", **SAFE}
        )
        self.assertEqual(page.status_code, 400)
        self.assertFalse(SafetyCheckIn.objects.exists())

    def test_a_meeting_with_the_survivor_is_not_recorded_as_held_without_both_checks(self):
        meeting = self.schedule()
        self.login(self.alice)
        page = self.client.post(self.url("protocol:meeting_held", meeting), {"attended": [self.survivor.pk]})
        self.assertContains(page, "check-in at the start and check-out at the end first", status_code=409)
        meeting.refresh_from_db()
        self.assertEqual(meeting.status, MeetingStatus.SCHEDULED)
        self.assertTrue(audit_log().filter(action="meeting.held", outcome=Outcome.REFUSED).exists())

    def test_cancelling(self):
        meeting = self.schedule()
        self.login(self.alice)
        page = self.client.post(
            self.url("protocol:meeting_cancel", meeting), {"reason": "She is unwell"}, follow=True
        )
        self.assertContains(page, "The meeting is cancelled.")
        meeting.refresh_from_db()
        self.assertEqual((meeting.status, meeting.cancel_reason), (MeetingStatus.CANCELLED, "She is unwell"))
        self.assertNotContains(page, "Record as held")
        page = self.client.post(self.url("protocol:meeting_cancel", meeting), follow=True)
        self.assertContains(page, "already held or cancelled")

    def test_the_acknowledgment_is_offered_and_recorded_in_a_held_preparation_meeting_with_the_person(self):
        meeting = self.walk.hold_meeting(MeetingKind.PREPARATION, self.harm)
        self.login(self.alice)
        page = self.client.get(self.url("protocol:meeting", meeting))
        self.assertContains(page, "Record the acknowledgment")
        words = {"participant": self.harm.pk, "in_their_words": "I hit her. It was my choice."}
        self.client.post(self.url("protocol:acknowledge", meeting), words)
        self.client.post(self.url("protocol:acknowledge", meeting), words)
        acknowledgment = Acknowledgment.objects.get()
        self.assertEqual(
            (acknowledgment.participant, acknowledgment.in_their_words, acknowledgment.recorded_by),
            (self.harm, "I hit her. It was my choice.", self.alice),
        )
        self.assertContains(self.client.get(self.url("protocol:meeting", meeting)), "It was my choice.")

    def test_no_acknowledgment_in_a_meeting_with_the_survivor(self):
        meeting = self.walk.hold_meeting(MeetingKind.PREPARATION, self.survivor)
        self.login(self.alice)
        self.assertNotContains(
            self.client.get(self.url("protocol:meeting", meeting)), "Record the acknowledgment"
        )
        page = self.client.post(
            self.url("protocol:acknowledge", meeting),
            {"participant": self.harm.pk, "in_their_words": "Sorry"},
        )
        self.assertEqual(page.status_code, 400)
        page = self.client.post(
            self.url("protocol:acknowledge", meeting),
            {"participant": self.survivor.pk, "in_their_words": "Sorry"},
        )
        self.assertEqual(page.status_code, 400)
        self.assertFalse(Acknowledgment.objects.exists())


class MeetingAccessTests(MeetingPageTestCase):
    POSTS = (
        "protocol:meeting_check",
        "protocol:meeting_held",
        "protocol:meeting_cancel",
        "protocol:acknowledge",
    )

    def test_anyone_off_the_team_gets_404_and_nothing_changes(self):
        meeting = self.schedule()
        for person in (self.bob, self.charlie, self.pat, self.eve, self.nora):
            self.login(person)
            self.assertEqual(self.client.get(self.list_url).status_code, 404)
            self.assertEqual(self.client.post(self.list_url, self.form()).status_code, 404)
            self.assertEqual(self.client.get(self.url("protocol:meeting", meeting)).status_code, 404)
            for name in self.POSTS:
                data = {
                    "participant": self.survivor.pk,
                    "moment": "in",
                    "attended": [self.survivor.pk],
                    **SAFE,
                }
                self.assertEqual(self.client.post(self.url(name, meeting), data).status_code, 404, name)
        meeting.refresh_from_db()
        self.assertEqual(meeting.status, MeetingStatus.SCHEDULED)
        self.assertEqual(Meeting.objects.count(), 1)
        self.assertFalse(SafetyCheckIn.objects.exists())

    def test_a_meeting_of_another_case_is_404_even_through_ones_own_case(self):
        other = make_case(self.harbor, team=((self.bob, "keeper"),))
        someone = make_participant(other, label="Survivor Z")
        theirs = services.schedule_meeting(
            case=other,
            kind=MeetingKind.PREPARATION,
            starts_at=timezone.now() + datetime.timedelta(hours=1),
            invitees=[someone],
            by=self.bob,
        )
        self.login(self.alice)
        own_case_url = reverse("protocol:meeting", args=[self.case.pk, theirs.pk])
        self.assertEqual(self.client.get(own_case_url).status_code, 404)
        cancel = reverse("protocol:meeting_cancel", args=[self.case.pk, theirs.pk])
        self.assertEqual(self.client.post(cancel).status_code, 404)
        theirs.refresh_from_db()
        self.assertEqual(theirs.status, MeetingStatus.SCHEDULED)

    def test_the_post_only_addresses_refuse_get(self):
        meeting = self.schedule()
        self.login(self.alice)
        for name in self.POSTS:
            self.assertEqual(self.client.get(self.url(name, meeting)).status_code, 405, name)

    def test_every_team_member_may_record_a_check(self):
        meeting = self.schedule()
        self.login(self.ada)
        self.assertEqual(self.check(meeting, CheckMoment.CHECK_IN).status_code, 302)
        self.assertEqual(SafetyCheckIn.objects.get().by, self.ada)
