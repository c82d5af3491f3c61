"""Withdrawal (the survivor's, at once, with no approval) and referral out, through their pages: what stops is
said plainly, everything with the other side stops, and a refusal writes nothing."""

import datetime

from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.models import Case, CaseStatus
from circlekeeper.protocol import services
from circlekeeper.protocol.models import MeetingKind, MeetingStatus, Transition, TransitionKind
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.testing import PersonaTestCase, audit_log


class WithdrawPageTests(PersonaTestCase):
    def url(self, name="protocol:withdraw", case=None):
        return reverse(name, args=[(case or self.case).pk])

    def test_the_page_says_what_stops_and_that_the_survivors_support_goes_on(self):
        self.login(self.ada)
        page = self.client.get(self.url())
        self.assertContains(page, "takes effect at once, with no approval")
        self.assertContains(page, "Every scheduled meeting with the person who caused harm")
        self.assertContains(page, "open survey link")
        self.assertContains(page, "The survivor's own support goes on")
        self.assertFalse(Transition.objects.exists())

    def test_withdrawing_stops_every_meeting_with_the_other_side_at_once(self):
        walk = Walk(self.case, self.alice, self.sam)
        walk.to_preparation()
        assert walk.survivor is not None and walk.harm is not None
        harm_meeting = services.schedule_meeting(
            case=self.case,
            kind=MeetingKind.PREPARATION,
            starts_at=timezone.now() + datetime.timedelta(days=2),
            invitees=[walk.harm],
            by=self.alice,
        )
        own_meeting = services.schedule_meeting(
            case=self.case,
            kind=MeetingKind.PREPARATION,
            starts_at=timezone.now() + datetime.timedelta(days=2),
            invitees=[walk.survivor],
            by=self.alice,
        )
        self.login(self.alice)
        page = self.client.post(
            self.url(), {"reason": "She called to say stop", "confirm": "on"}, follow=True
        )
        self.assertContains(page, "The survivor&#x27;s withdrawal is recorded.")
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, CaseStatus.WITHDRAWN)
        harm_meeting.refresh_from_db()
        own_meeting.refresh_from_db()
        self.assertEqual(harm_meeting.status, MeetingStatus.CANCELLED)
        self.assertEqual(own_meeting.status, MeetingStatus.SCHEDULED)
        transition = Transition.objects.get(case=self.case, kind=TransitionKind.WITHDRAW)
        self.assertEqual((transition.kind, transition.by), (TransitionKind.WITHDRAW, self.alice))
        self.assertEqual(transition.reason, "She called to say stop")
        self.assertTrue(audit_log().filter(action="protocol.withdraw", object_type="transition").exists())

    def test_withdrawal_asks_for_confirmation_because_it_closes_the_case(self):
        # Issue 17, Build 7: the page says plainly that the case closes, and the server records nothing until the
        # survivor's confirmation is ticked.
        self.login(self.ada)
        page = self.client.get(self.url())
        self.assertContains(page, "The case closes: its status becomes “Withdrawn by the survivor”")
        self.assertContains(page, 'name="confirm"')
        refused = self.client.post(self.url(), {"reason": "She said stop"})
        self.assertContains(
            refused, "Withdrawing closes the case: confirm it with the survivor", status_code=400
        )
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, CaseStatus.OPEN)
        self.assertFalse(Transition.objects.exists())

    def test_no_reason_is_needed(self):
        self.login(self.ada)
        self.assertEqual(self.client.post(self.url(), {"confirm": "on"}).status_code, 302)
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, CaseStatus.WITHDRAWN)

    def test_a_case_no_longer_open_offers_nothing_and_refuses(self):
        Case.objects.filter(pk=self.case.pk).update(status=CaseStatus.REFERRED_OUT)
        self.login(self.alice)
        page = self.client.get(self.url())
        self.assertContains(page, "This case is no longer open (Referred out)")
        self.assertNotContains(page, "Record the withdrawal now")
        self.assertEqual(self.client.post(self.url(), {"confirm": "on"}).status_code, 409)
        self.assertFalse(Transition.objects.exists())

    def test_fields_a_person_may_not_set_are_ignored(self):
        self.login(self.alice)
        self.client.post(
            self.url(),
            {"status": CaseStatus.CLOSED, "organization": self.valley.pk, "by": self.bob.pk, "confirm": "on"},
        )
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, CaseStatus.WITHDRAWN)
        self.assertEqual(Transition.objects.get().by, self.alice)

    def test_anyone_off_the_team_gets_404_and_nothing_changes(self):
        for person in (self.bob, self.charlie, self.pat, self.eve):
            self.login(person)
            for name in ("protocol:withdraw", "protocol:refer_out"):
                self.assertEqual(self.client.get(self.url(name)).status_code, 404)
                self.assertEqual(
                    self.client.post(self.url(name), {"referred_to": "x", "reason": "y"}).status_code, 404
                )
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, CaseStatus.OPEN)
        self.assertFalse(Transition.objects.exists())


class ReferOutPageTests(PersonaTestCase):
    url = property(lambda self: reverse("protocol:refer_out", args=[self.case.pk]))

    def test_where_to_and_why_are_both_required_and_nothing_is_written_without_them(self):
        self.login(self.alice)
        page = self.client.post(self.url, {"referred_to": "  ", "reason": ""})
        self.assertContains(page, "form-errors", status_code=400)
        self.assertContains(page, "Referred to", status_code=400)
        self.assertContains(page, "Why", status_code=400)
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, CaseStatus.OPEN)
        self.assertFalse(Transition.objects.exists())

    def test_a_referral_ends_the_case_and_records_where_to_and_why(self):
        self.login(self.sam)
        page = self.client.get(self.url)
        self.assertContains(page, "Record the referral")
        page = self.client.post(
            self.url, {"referred_to": "Harbor Shelter", "reason": "She wants a shelter bed"}, follow=True
        )
        self.assertContains(page, "The referral is recorded.")
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, CaseStatus.REFERRED_OUT)
        transition = Transition.objects.get(case=self.case)
        self.assertEqual(
            (transition.kind, transition.referred_to, transition.reason),
            (TransitionKind.REFER_OUT, "Harbor Shelter", "She wants a shelter bed"),
        )
        self.assertTrue(audit_log().filter(action="protocol.refer_out", object_type="transition").exists())
