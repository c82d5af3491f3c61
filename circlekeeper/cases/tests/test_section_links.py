"""Long pages start with links to their sections (issue 18, build 5): each one leads to a heading on the page."""

import re

from django.urls import reverse

from circlekeeper.cases.models import ParticipantRole
from circlekeeper.safety import services as safety
from circlekeeper.testing import PersonaTestCase, make_participant


class SectionLinkTests(PersonaTestCase):
    def assert_section_links_lead_somewhere(self, url: str, expected: int) -> None:
        html = self.client.get(url).content.decode()
        nav = re.search(r'<nav class="section-links" aria-label="On this page">(.*?)</nav>', html, re.S)
        assert nav is not None, url
        targets = re.findall(r'href="#([^"]+)"', nav.group(1))
        self.assertGreaterEqual(len(targets), expected, url)
        ids = set(re.findall(r'\bid="([^"]+)"', html))
        self.assertEqual([t for t in targets if t not in ids], [], url)

    def test_the_case_safety_and_agreement_pages_link_to_their_sections(self):
        make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        make_participant(self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        self.login(self.alice)
        for url, expected in (
            (reverse("cases:detail", args=[self.case.pk]), 5),
            (reverse("safety:case", args=[self.case.pk]), 4),
            (reverse("accountability:agreement", args=[self.case.pk]), 5),
        ):
            self.assert_section_links_lead_somewhere(url, expected)
        # With a hold and an alert, their sections are linked too.
        safety.report_new_violence(case=self.case, by=self.alice, details="x")
        self.login(self.sam)
        self.assert_section_links_lead_somewhere(reverse("safety:case", args=[self.case.pk]), 6)
