"""Staff issue a link (shown once), see refusals with their reason, revoke links, and see each link's status."""

import datetime
import re

import time_machine
from django.urls import reverse

from circlekeeper.cases.models import ParticipantRole
from circlekeeper.instruments.models import InstrumentVersion, ParticipantLink
from circlekeeper.instruments.tests.survey import NOW, make_link, make_participant, make_survey_version
from circlekeeper.testing import PersonaTestCase, audit_log


@time_machine.travel(NOW, tick=False)
class LinkStaffPageTests(PersonaTestCase):
    version: InstrumentVersion

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.version = make_survey_version()

    def setUp(self):
        self.login(self.alice)

    def issue_url(self, participant):
        return reverse("instruments:link_issue", args=[self.case.pk, participant.pk])

    def post_issue(self, participant, **data):
        data = {
            "version": self.version.pk,
            "purpose": "T3",
            "expires_on": "2026-05-18",
            "channel": "text",
            **data,
        }
        return self.client.post(self.issue_url(participant), data)

    def test_the_form_offers_the_shared_questionnaires_and_a_14_day_expiry(self):
        participant = make_participant(self.case)
        page = self.client.get(self.issue_url(participant))
        self.assertContains(page, "Check-in, version 1")
        self.assertContains(page, 'value="2026-05-18"', html=False)
        for channel in ("Phone call", "Text message", "Email", "In person", "Through a named person"):
            self.assertContains(page, channel)

    def test_the_link_is_shown_once_with_a_warning_and_it_opens_the_questionnaire(self):
        participant = make_participant(self.case, label="Survivor A")

        page = self.post_issue(participant)

        self.assertContains(page, "The link is ready")
        self.assertContains(page, "Send it to Survivor A only, and only in the way you chose: Text message.")
        found = re.search(r'value="(http://127.0.0.1:8000/s/[^"]+/)"', page.content.decode())
        assert found is not None
        url = found.group(1)
        link = ParticipantLink.objects.get()
        self.assertEqual((link.purpose, link.channel, link.created_by), ("T3", "text", self.alice))
        self.assertEqual(
            link.expires_at, datetime.datetime(2026, 5, 19, 7, 0, tzinfo=datetime.UTC)
        )  # end of day, local
        token = url.rstrip("/").rsplit("/", 1)[1]
        for path, object_id in audit_log().values_list("path", "object_id"):
            self.assertNotIn(token, path + object_id)
        event = audit_log().get(action="link.issue")
        self.assertEqual((event.object_type, event.object_id), ("participant_link", str(link.pk)))

        self.client.logout()
        self.assertRedirects(self.client.get(url), reverse("links:page"))
        # The case page lists the link, but can never show its address again.
        self.login(self.alice)
        case_page = self.client.get(reverse("instruments:case_questionnaires", args=[self.case.pk]))
        self.assertContains(case_page, "Open")
        self.assertNotContains(case_page, token)

    def test_a_refusal_is_shown_with_its_reason_and_nothing_is_made(self):
        participant = make_participant(self.case, agreed_to_contact=False)

        page = self.post_issue(participant)

        self.assertContains(page, "This link cannot be sent")
        self.assertContains(page, "Survivor 1 has no current consent to be contacted.")
        self.assertContains(
            page, reverse("cases:participant_detail", args=[self.case.pk, participant.pk]) + "#contact"
        )
        self.assertFalse(ParticipantLink.objects.exists())
        event = audit_log().get(action="link.issue")
        self.assertEqual((event.outcome, event.object_type), ("refused", "participant"))

    def test_children_are_refused_with_the_reason(self):
        child = make_participant(self.case, role=ParticipantRole.CHILD, label="Child C")
        self.assertContains(self.post_issue(child), "Children are never asked to take part.")
        self.assertFalse(ParticipantLink.objects.exists())

    def test_a_past_expiry_date_is_refused(self):
        participant = make_participant(self.case)
        page = self.post_issue(participant, expires_on="2026-05-03")
        self.assertContains(page, "Choose today or a later day.")
        self.assertFalse(ParticipantLink.objects.exists())

    def test_recording_consent_and_safe_contact_rules_on_the_participant_page_lets_a_link_be_sent(self):
        participant = make_participant(self.case, agreed_to_contact=False)
        questionnaires = self.client.get(reverse("instruments:case_questionnaires", args=[self.case.pk]))
        self.assertContains(
            questionnaires,
            reverse("cases:participant_detail", args=[self.case.pk, participant.pk]) + "#contact",
        )

        self.client.post(
            reverse("cases:consent_add", args=[self.case.pk, participant.pk]),
            {"kind": "contact", "how_given": "oral", "given_on": "2026-05-04"},
        )
        self.assertContains(self.post_issue(participant), "No safe-contact rules are recorded")
        self.client.post(
            reverse("cases:contact_rules", args=[self.case.pk, participant.pk]),
            {"version": "", "channels": ["text"], "days": [str(d) for d in range(7)]},
        )

        self.assertContains(self.post_issue(participant), "The link is ready")
        self.assertEqual(audit_log().filter(action="consent.add").count(), 1)
        self.assertEqual(audit_log().filter(action="contact.rules").count(), 1)

        consent = participant.consents.get(kind="contact")
        self.client.post(reverse("cases:consent_withdraw", args=[self.case.pk, consent.pk]), {"how": "oral"})
        self.assertContains(self.post_issue(participant), "has no current consent to be contacted")
        self.assertEqual(ParticipantLink.objects.count(), 1)

    def test_revoking_a_link_stops_it_at_once(self):
        participant = make_participant(self.case)
        link, token = make_link(participant, self.version, by=self.alice, when=NOW)

        response = self.client.post(reverse("instruments:link_revoke", args=[self.case.pk, link.pk]))

        self.assertRedirects(
            response,
            reverse("instruments:case_questionnaires", args=[self.case.pk])
            + f"#participant-{participant.pk}",
            fetch_redirect_response=False,
        )
        link.refresh_from_db()
        self.assertIsNotNone(link.revoked_at)
        self.assertEqual(audit_log().filter(action="link.revoke", object_id=str(link.pk)).count(), 1)
        self.assertEqual(self.client.get(reverse("links:open", args=[token])).status_code, 404)
        self.assertContains(
            self.client.get(reverse("instruments:case_questionnaires", args=[self.case.pk])), "Revoked"
        )

    def test_the_case_page_shows_each_links_status(self):
        participant = make_participant(self.case)
        make_link(participant, self.version, by=self.alice, when=NOW, purpose="open one")
        expired, _token = make_link(
            participant,
            self.version,
            by=self.alice,
            when=NOW - datetime.timedelta(days=30),
            purpose="old one",
        )
        answered, _token = make_link(participant, self.version, by=self.alice, when=NOW, purpose="done one")
        answered.submitted_at = NOW
        answered.save(update_fields=["submitted_at"])

        page = self.client.get(reverse("instruments:case_questionnaires", args=[self.case.pk]))

        rows = re.findall(r"<tr>(.*?)</tr>", page.content.decode(), re.S)
        statuses = {
            purpose: row for row in rows for purpose in ("open one", "old one", "done one") if purpose in row
        }
        self.assertIn("Revoke", statuses["open one"])
        self.assertIn("Expired", statuses["old one"])
        self.assertIn("Answered", statuses["done one"])
        self.assertNotIn("Revoke", statuses["done one"])

    def test_a_link_of_another_case_cannot_be_revoked_from_this_one(self):
        other = make_participant(self.other_team_case)
        link, _token = make_link(other, self.version, by=self.bob, when=NOW)
        response = self.client.post(reverse("instruments:link_revoke", args=[self.case.pk, link.pk]))
        self.assertEqual(response.status_code, 404)
        link.refresh_from_db()
        self.assertIsNone(link.revoked_at)
