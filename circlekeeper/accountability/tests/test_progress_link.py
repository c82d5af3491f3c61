"""The progress page of the person who caused harm: a personal link, issued only when their safe-contact rules and
the survivor's choice allow it; the token leaves the address bar at once; the page shows only their own
commitments in force and the statuses and dates of their progress, never anything of the survivor's; a hold, a
withdrawal, a revoked or expired link all give the same neutral page with no data. And the printed agreement,
which carries no progress notes and nothing of the survivor's own."""

import datetime

import time_machine
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accountability import services
from circlekeeper.accountability.models import CommitmentKind, ProgressLink
from circlekeeper.accountability.tests.helpers import survivor_view, walked
from circlekeeper.cases.models import ContactRules
from circlekeeper.lib import keys
from circlekeeper.lib.audit import Outcome
from circlekeeper.protocol.services import withdraw
from circlekeeper.safety.services import report_new_violence, save_plan
from circlekeeper.testing import PersonaTestCase, audit_log

NOT_WORKING = "This link does not work"
# Unique strings planted where only the survivor's side or the team may see them.
SURVIVOR_LABEL = "Survivor-marker-label-7Q2"
SURVIVOR_PHONE = "555-marker-0199"
COMMENTS = "marker-comments-he-still-calls-at-night"
CHECKIN_NOTE = "marker-note-seen-near-her-work"
PLAN = "marker-plan-stay-at-the-aunts-on-elm-street"
STEP_NOTE = "marker-step-note"


class ProgressPageTestCase(PersonaTestCase):
    def setUp(self):
        self.walk = walked(self.case, self.alice, self.sam)
        survivor = self.walk.survivor
        survivor.label, survivor.phone = SURVIVOR_LABEL, SURVIVOR_PHONE
        survivor.save()
        self.version, (self.one, self.two) = self.walk.in_force(
            {
                "kind": CommitmentKind.STOP_BEHAVIOR,
                "description": "Own words: no messages to her at all",
                "evidence": "Own words: the uncle checks in on Sundays",
                "supporter": self.walk.uncle,
                "concerns": ["contact"],
                "survivor_wants_updates": True,
            },
            {
                "kind": CommitmentKind.RESTITUTION,
                "description": "Own words: pay back the rent",
                "due_on": timezone.localdate(),
            },
        )
        self.walk.checkin(
            self.one, "partly", note=CHECKIN_NOTE, reported_by="supporter", reporter=self.walk.uncle
        )
        self.walk.checkin(self.two, "kept")
        services.record_step(case=self.case, step=4, by=self.alice, commitments=[self.two], note=STEP_NOTE)
        save_plan(survivor=survivor, revision=1, by=self.ada, people_to_call=PLAN)
        survivor_view(survivor, by=self.ada, kept="0", repaired="0", comments=COMMENTS)
        self.link, self.token = services.issue_progress_link(
            participant=self.walk.harm, channel="email", by=self.alice
        )

    def open(self, token=None):
        return self.client.get(reverse("progress:open", args=[token or self.token]))

    def page(self):
        return self.client.get(reverse("progress:page"))

    def assert_not_working(self, response):
        self.assertContains(response, NOT_WORKING, status_code=404)
        self.assertContains(response, 'id="quick-exit"', status_code=404)
        self.assertNotContains(response, "Own words", status_code=404)


class ParticipantPageTests(ProgressPageTestCase):
    def test_opening_the_link_moves_it_into_the_session_and_off_the_address_bar(self):
        response = self.open()
        self.assertRedirects(response, reverse("progress:page"))
        self.assertEqual(self.client.session["progress_link_id"], self.link.pk)

    def test_the_page_shows_their_own_commitments_and_progress_with_a_quick_exit(self):
        self.open()
        page = self.page()
        self.assertContains(page, 'id="quick-exit"')
        self.assertContains(page, "Own words: no messages to her at all")
        self.assertContains(page, "Own words: the uncle checks in on Sundays")
        self.assertContains(page, "Own words: pay back the rent")
        self.assertContains(page, "Uncle")
        self.assertContains(page, "Partly kept")
        self.assertContains(page, "Kept")
        self.assertNotContains(page, "Circlekeeper")

    def test_the_page_never_shows_anything_of_the_survivors(self):
        self.open()
        html = self.page().content.decode()
        for marker in (SURVIVOR_LABEL, SURVIVOR_PHONE, COMMENTS, CHECKIN_NOTE, PLAN, STEP_NOTE):
            self.assertNotIn(marker, html)
        for words in (
            "Not at all",  # the survivor's ratings
            "disagree",
            "Contact with the survivor",  # what a broken commitment would mean for safety
            "wants to be told",
            "safety",
            "Survivor",
        ):
            self.assertNotIn(words, html)

    def test_each_view_is_audited_without_the_participants_address_or_the_token(self):
        self.open()
        self.page()
        event = audit_log().get(action="progress_link.open")
        self.assertEqual(
            (event.object_type, event.object_id, event.ip_address, event.path, event.actor_id),
            ("progress_link", str(self.link.pk), "", "", None),
        )
        for event in audit_log().all():
            self.assertNotIn(self.token, f"{event.path} {event.object_id}")

    def test_a_hold_shows_the_neutral_page_and_no_data(self):
        self.open()
        report_new_violence(case=self.case, by=self.ada, details="He waited outside")
        self.assert_not_working(self.page())
        # The hold revoked the link at once, with why (issue 17: the cascade).
        self.link.refresh_from_db()
        self.assertEqual(self.link.revoke_reason, "new_violence")

    def test_a_link_the_cascade_missed_is_still_refused_while_the_policy_refuses(self):
        self.open()
        type(self.case).objects.filter(pk=self.case.pk).update(on_hold=True)
        self.assert_not_working(self.page())
        self.assertTrue(audit_log().filter(action="progress_link.open", outcome=Outcome.REFUSED).exists())

    def test_a_withdrawal_shows_the_neutral_page_and_no_data(self):
        withdraw(case=self.case, by=self.ada)
        self.open()
        self.assert_not_working(self.page())

    def test_a_wrong_revoked_or_expired_link_shows_the_same_neutral_page(self):
        self.assert_not_working(self.open("not-a-token"))
        self.open()
        self.link.revoke()
        self.assert_not_working(self.page())
        self.assert_not_working(self.open())
        _link, token = services.issue_progress_link(
            participant=self.walk.harm, channel="email", by=self.alice
        )
        with time_machine.travel(timezone.now() + datetime.timedelta(days=31)):
            self.assert_not_working(self.open(token))

    def test_the_page_takes_a_fixed_number_of_queries(self):
        self.open()
        keys.clear_key_cache(everything=True)
        self.page()
        # The contact policy asks its questions (hold, consent, plan, monitor) at every opening (issue 17).
        with self.assertNumQueries(13):
            self.page()
        second = self.walk.draft()
        for n in range(5):
            self.walk.add(second, description=f"More {n}")
        self.walk.affirm(second)
        for commitment in second.commitments.all():
            self.walk.checkin(commitment, "kept", note=f"n{commitment.number}")
            self.walk.checkin(commitment, "partly", note=f"m{commitment.number}")
        keys.clear_key_cache(everything=True)
        self.page()
        with self.assertNumQueries(13):
            self.assertContains(self.page(), "More 4")


class IssuingLinkTests(ProgressPageTestCase):
    def url(self, name, *args):
        return reverse(f"accountability:{name}", args=[self.case.pk, *args])

    def test_a_link_is_shown_once_and_replaces_the_earlier_one(self):
        self.login(self.alice)
        page = self.client.post(self.url("progress_link_issue", self.walk.harm.pk), {"channel": "text"})
        self.assertContains(page, "The link is ready")
        self.assertContains(page, "/p/")
        self.link.refresh_from_db()
        self.assertIsNotNone(self.link.revoked_at)
        self.assertEqual(ProgressLink.objects.usable(timezone.now()).count(), 1)
        self.assertTrue(audit_log().filter(action="progress_link.issue", outcome=Outcome.OK).exists())

    def test_a_channel_the_safe_contact_rules_forbid_is_refused_with_the_rule(self):
        ContactRules.objects.filter(participant=self.walk.harm).update(channels=["text"])
        self.login(self.alice)
        page = self.client.post(self.url("progress_link_issue", self.walk.harm.pk), {"channel": "email"})
        self.assertContains(page, "is not an allowed way", status_code=409)
        self.assertEqual(ProgressLink.objects.count(), 1)
        self.assertTrue(audit_log().filter(action="progress_link.issue", outcome=Outcome.REFUSED).exists())

    def test_no_link_during_a_hold(self):
        report_new_violence(case=self.case, by=self.ada, details="Threats")
        self.login(self.alice)
        page = self.client.post(self.url("progress_link_issue", self.walk.harm.pk), {"channel": "email"})
        self.assertContains(page, "safety hold", status_code=409)
        self.assertEqual(ProgressLink.objects.count(), 1)

    def test_revoking_a_link_stops_it_at_once(self):
        self.login(self.alice)
        response = self.client.post(self.url("progress_link_revoke", self.link.pk))
        self.assertEqual(response.status_code, 302)
        self.link.refresh_from_db()
        self.assertIsNotNone(self.link.revoked_at)
        self.assertTrue(audit_log().filter(action="progress_link.revoke").exists())
        self.client.logout()
        self.assert_not_working(self.open())


class PrintTests(ProgressPageTestCase):
    def test_the_printed_agreement_has_the_commitments_and_labels_but_no_notes_or_survivors_own(self):
        self.login(self.alice)
        page = self.client.get(reverse("accountability:print", args=[self.case.pk, 1]))
        self.assertContains(page, "Agreement, version 1")
        self.assertContains(page, "Own words: no messages to her at all")
        self.assertContains(page, "Uncle")
        self.assertContains(page, "Person B")
        html = page.content.decode()
        for marker in (
            CHECKIN_NOTE,
            COMMENTS,
            PLAN,
            STEP_NOTE,
            SURVIVOR_PHONE,
            "Contact with the survivor",
            "wants to be told",
            "Alice",
        ):
            self.assertNotIn(marker, html)
        self.assertTrue(audit_log().filter(action="agreement.print").exists())
