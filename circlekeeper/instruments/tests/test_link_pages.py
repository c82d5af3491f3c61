"""A participant's link pages: neutral, private, usable until answered, and the same closed door for every bad link."""

import datetime
import logging

import time_machine
from django.test import override_settings
from django.urls import reverse

from circlekeeper.cases.models import Participant
from circlekeeper.instruments.models import InstrumentVersion, ParticipantLink, ResponseStatus
from circlekeeper.instruments.tests.survey import make_link, make_participant, make_survey_version
from circlekeeper.testing import PersonaTestCase, audit_log

NOT_AVAILABLE = "This link is not available"


class LinkPageTests(PersonaTestCase):
    version: InstrumentVersion
    participant: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.version = make_survey_version()
        cls.participant = make_participant(cls.case, label="Survivor A")

    def setUp(self):
        self.link, self.token = make_link(self.participant, self.version, by=self.alice)

    def open(self, token=None):
        return self.client.get(reverse("links:open", args=[token or self.token]))

    def answer_everything(self):
        page = reverse("links:page")
        self.client.post(page, {"section": "0", "_shown": ["hurt", "age"], "q-hurt": "0", "q-age": "17"})
        self.client.post(
            page, {"section": "1", "_shown": ["safe", "hours", "visit", "nickname"], "q-safe": "8"}
        )
        return self.client.post(reverse("links:review"))

    def assert_not_available(self, response):
        self.assertEqual(response.status_code, 404)
        self.assertContains(response, NOT_AVAILABLE, status_code=404)
        self.assertContains(response, 'id="quick-exit"', status_code=404)

    def test_opening_a_link_moves_it_into_the_session_and_off_the_address_bar(self):
        response = self.open()

        self.assertRedirects(response, reverse("links:page"))
        self.assertEqual(self.client.session["participant_link_id"], self.link.pk)

    def test_the_page_is_neutral_with_a_quick_exit_and_nothing_personal(self):
        self.open()
        response = self.client.get(reverse("links:page"))

        self.assertContains(response, "<title>Questionnaire</title>", html=False)
        self.assertContains(response, 'id="quick-exit"')
        self.assertContains(response, "Has anyone hurt you since we last spoke?")
        for private in ("Harbor", "Survivor A", "HAR-2026-0001", "Circlekeeper", "Check-in", self.token):
            self.assertNotContains(response, private)
        self.assertContains(response, 'name="robots" content="noindex, nofollow"', html=False)

    def test_link_pages_are_never_stored_and_never_send_the_address_elsewhere(self):
        for response in (self.open(), self.client.get(reverse("links:page")), self.open("forged")):
            self.assertIn("no-store", response["Cache-Control"])
            self.assertEqual(response["Referrer-Policy"], "same-origin")

    @override_settings(SHOW_ORGANIZATION_ON_LINKS=True)
    def test_a_program_may_choose_to_show_its_name(self):
        self.open()
        self.assertContains(self.client.get(reverse("links:page")), "Harbor")

    def test_a_forged_token_an_expired_a_revoked_and_a_used_link_look_the_same(self):
        forged = self.open("A" * 43)

        expired_link, expired_token = make_link(self.participant, self.version, by=self.alice)
        with time_machine.travel(expired_link.expires_at + datetime.timedelta(seconds=1)):
            expired = self.open(expired_token)

        revoked_link, revoked_token = make_link(self.participant, self.version, by=self.alice)
        revoked_link.revoke()
        revoked = self.open(revoked_token)

        self.open()
        self.answer_everything()
        used = self.open()

        pages = [forged, expired, revoked, used]
        for page in pages:
            self.assert_not_available(page)
        bodies = {page.content.decode().split('name="csrfmiddlewaretoken"')[0] for page in pages}
        self.assertEqual(len(bodies), 1, "the pages must not tell a wrong link from a stopped one")

    def test_a_link_revoked_while_open_stops_at_the_next_page(self):
        self.open()
        ParticipantLink.objects.get(pk=self.link.pk).revoke()

        self.assert_not_available(self.client.get(reverse("links:page")))
        self.assert_not_available(self.client.post(reverse("links:review")))

    def test_a_link_that_expires_while_open_stops_at_the_next_page(self):
        self.open()
        with time_machine.travel(self.link.expires_at):
            self.assert_not_available(self.client.get(reverse("links:page")))

    def test_after_submitting_the_link_says_thank_you_and_stops_working(self):
        self.open()

        response = self.answer_everything()

        self.assertRedirects(response, reverse("links:done"))
        self.assertContains(self.client.get(reverse("links:done")), "Thank you")
        self.link.refresh_from_db()
        self.assertIsNotNone(self.link.submitted_at)
        assert self.link.response is not None
        self.assertEqual(self.link.response.status, ResponseStatus.SUBMITTED)
        self.assertNotIn("participant_link_id", self.client.session)
        self.assert_not_available(self.client.get(reverse("links:page")))
        self.assert_not_available(self.open())

    def test_submitting_twice_records_one_submission(self):
        self.open()
        self.answer_everything()
        submitted_at = ParticipantLink.objects.get(pk=self.link.pk).submitted_at

        self.assert_not_available(self.client.post(reverse("links:review")))

        self.assertEqual(ParticipantLink.objects.get(pk=self.link.pk).submitted_at, submitted_at)
        self.assertEqual(audit_log().filter(action="response.submit").count(), 1)

    def test_the_token_reaches_neither_the_audit_log_nor_the_request_log(self):
        with self.assertNoLogs("django.request", level=logging.DEBUG):
            self.open("A" * 43)
            self.open()
            self.answer_everything()
            self.open()

        events = audit_log().filter(object_type="participant_link")
        self.assertEqual(
            sorted(events.values_list("action", flat=True)),
            ["response.save", "response.save", "response.submit"],
        )
        self.assertEqual(set(events.values_list("object_id", flat=True)), {str(self.link.pk)})
        for event in audit_log().all():
            self.assertNotIn(self.token, f"{event.path} {event.object_id} {event.user_agent}")
            self.assertNotIn("AAAA", event.path)
        # Nothing about the participant's device either.
        self.assertEqual(set(events.values_list("ip_address", "path", "actor_id")), {("", "", None)})

    def test_opening_the_link_page_takes_a_fixed_number_of_queries(self):
        self.open()
        self.client.post(reverse("links:page"), {"section": "0", "_shown": ["hurt", "age"], "q-hurt": "1"})
        # The session read and saved, the link with its version and response, the key that decrypts the answers,
        # and the request's savepoints: however many questions the page has.
        with self.assertNumQueries(3):
            response = self.client.get(reverse("links:page"))
        self.assertContains(response, "When did it happen?")

    def test_the_done_page_is_neutral(self):
        response = self.client.get(reverse("links:done"))
        self.assertContains(response, "Thank you")
        self.assertContains(response, 'id="quick-exit"')
        self.assertNotContains(response, "Circlekeeper")
