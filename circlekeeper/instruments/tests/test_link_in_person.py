"""A link handed over in person (issue 18, build 6): a QR code of its address to scan, and a short code to read
out and type at /s/code/. The code is kept only as a hash, and a wrong, revoked or used code opens nothing."""

import datetime
import re

import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from circlekeeper.instruments.links import find_link_by_code
from circlekeeper.instruments.models import InstrumentVersion, ParticipantLink
from circlekeeper.instruments.tests.survey import NOW, make_link, make_participant, make_survey_version
from circlekeeper.instruments.tests.test_participant_links import every_stored_text
from circlekeeper.testing import PersonaTestCase, audit_log

CODE = re.compile(r"^[A-HJKMNP-Z2-9]{5}-[A-HJKMNP-Z2-9]{5}$")  # no 0, O, 1, I or L: nothing to mix up aloud


def shown_code(page) -> str:
    found = re.search(r'id="short-code">([^<]+)<', page.content.decode())
    assert found is not None
    return found.group(1)


class ShortCodeServiceTests(PersonaTestCase):
    version: InstrumentVersion

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.version = make_survey_version()

    def test_an_in_person_link_gets_a_short_code_kept_only_as_a_hash(self):
        participant = make_participant(self.case)
        link, _token = make_link(participant, self.version, when=NOW, channel="in_person", by=self.alice)
        self.assertRegex(link.short_code, CODE)
        bare = link.short_code.replace("-", "")
        self.assertNotIn(bare, every_stored_text())
        self.assertNotIn(link.short_code, every_stored_text())
        self.assertEqual(find_link_by_code(link.short_code, now=NOW), link)
        # However it is typed.
        self.assertEqual(find_link_by_code(f" {bare[:3].lower()} {bare[3:]} ", now=NOW), link)

    def test_links_sent_other_ways_have_no_code(self):
        participant = make_participant(self.case)
        link, _token = make_link(participant, self.version, when=NOW, channel="email", by=self.alice)
        self.assertEqual(link.short_code, "")
        self.assertIsNone(ParticipantLink.objects.get().short_code_hash)

    def test_a_wrong_revoked_expired_or_answered_code_opens_nothing(self):
        participant = make_participant(self.case)
        link, _token = make_link(participant, self.version, when=NOW, channel="in_person", by=self.alice)
        code = link.short_code
        self.assertIsNone(find_link_by_code("ABCDE-FGHJK", now=NOW))
        self.assertIsNone(find_link_by_code("", now=NOW))
        self.assertIsNone(find_link_by_code(code, now=link.expires_at + datetime.timedelta(seconds=1)))
        ParticipantLink.objects.filter(pk=link.pk).update(submitted_at=NOW)
        self.assertIsNone(find_link_by_code(code, now=NOW))
        ParticipantLink.objects.filter(pk=link.pk).update(submitted_at=None, revoked_at=NOW)
        self.assertIsNone(find_link_by_code(code, now=NOW))


@time_machine.travel(NOW, tick=False)
class InPersonPageTests(PersonaTestCase):
    version: InstrumentVersion

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.version = make_survey_version()

    def issue(self, participant, channel):
        self.login(self.alice)
        url = reverse("instruments:link_issue", args=[self.case.pk, participant.pk])
        data = {"version": self.version.pk, "purpose": "T3", "expires_on": "2026-05-18", "channel": channel}
        return self.client.post(url, data)

    def test_the_issued_page_shows_a_qr_code_and_the_code_to_read_out(self):
        participant = make_participant(self.case, label="Survivor A")

        page = self.issue(participant, "in_person")

        self.assertContains(page, "Handing it over in person")
        html = page.content.decode()
        self.assertIn("<svg", html[html.index('id="in-person"') :])
        code = shown_code(page)
        self.assertRegex(code, CODE)
        # Every link handed to a participant starts with the public address (issue 19), the code page's too.
        self.assertContains(page, f"{settings.PUBLIC_URL}/s/code/")
        self.assertNotContains(self.issue(participant, "text"), "Handing it over in person")

    def test_typing_the_code_opens_the_questionnaire_and_a_wrong_one_the_not_available_page(self):
        participant = make_participant(self.case, label="Survivor A")
        code = shown_code(self.issue(participant, "in_person"))
        self.client.logout()

        form = self.client.get(reverse("links:code"))
        self.assertContains(form, 'id="quick-exit"')
        self.assertContains(form, "Type in your code")
        wrong = self.client.post(reverse("links:code"), {"code": "ABCDE-FGHJK"})
        self.assertContains(wrong, "This link is not available", status_code=404)
        opened = self.client.post(reverse("links:code"), {"code": code.lower()})
        self.assertRedirects(opened, reverse("links:page"))
        self.assertContains(
            self.client.get(reverse("links:page")), "Has anyone hurt you since we last spoke?"
        )
        # The code never lands in the audit log.
        for path, object_id in audit_log().values_list("path", "object_id"):
            self.assertNotIn(code.replace("-", ""), (path + object_id).upper())

    def test_the_code_is_never_read_from_the_address(self):
        participant = make_participant(self.case)
        link, _token = make_link(
            participant, self.version, when=timezone.now(), channel="in_person", by=self.alice
        )
        response = self.client.get(reverse("links:code"), {"code": link.short_code})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Type in your code")
        self.assertNotIn("participant_link_id", self.client.session)
