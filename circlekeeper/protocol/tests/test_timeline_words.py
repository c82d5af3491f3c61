"""The history's words for the protocol's codes (stages, meeting kinds, check moments), on the timeline and the
case page, for a case walked through the real services."""

import re

from django.urls import reverse

from circlekeeper.cases import history
from circlekeeper.cases.models import CaseEvent, EventKind
from circlekeeper.protocol.models import CheckMoment, MeetingKind
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.protocol.timeline import GROUP_KINDS
from circlekeeper.testing import PersonaTestCase


class HistoryWordsTests(PersonaTestCase):
    def test_the_words_for_the_protocol_apps_codes_cover_all_of_them(self):
        # The cases app may not import the protocol app, so it keeps its own labels: they must stay the same.
        self.assertEqual(
            {code: str(label) for code, label in history.MEETING_KINDS.items()},
            {code: str(label) for code, label in MeetingKind.choices},
        )
        self.assertEqual(
            {code: str(label) for code, label in history.CHECK_MOMENTS.items()},
            {code: str(label) for code, label in CheckMoment.choices},
        )

    def test_a_stage_change_names_both_stages_and_a_track_choice_both_tracks(self):
        moved = history.describe_event(
            CaseEvent(kind=EventKind.STAGE_CHANGED, facts={"previous": "intake", "stage": "safety_planning"})
        )
        self.assertEqual(moved.facts, [("Stage", "Safety planning"), ("Before", "Intake: getting clear")])
        chosen = history.describe_event(
            CaseEvent(kind=EventKind.TRACK_CHOSEN, facts={"previous": "", "track": "support_only"})
        )
        self.assertEqual(chosen.facts, [("Track", "Support only"), ("Before", "none yet")])

    def test_a_meeting_is_named_by_its_kind_and_its_id_is_only_used_for_the_link(self):
        line = history.describe_event(
            CaseEvent(
                kind=EventKind.MEETING_CHECK,
                facts={"meeting": "17", "moment": "in", "participant": "Survivor A"},
            )
        )
        self.assertEqual(line.facts, [("Participant", "Survivor A"), ("Check", "Check-in at the start")])

    def test_a_walked_case_tells_its_whole_story_in_words_with_a_link_on_every_line(self):
        Walk(self.case, self.alice, self.sam).to_agreement()
        self.login(self.alice)
        url = reverse("protocol:timeline", args=[self.case.pk])
        shown = 0
        for group in GROUP_KINDS:
            html = self.client.get(url, {"kind": group}).content.decode()
            self.assertNotIn('id="timeline-more"', html)  # each group fits on one page here
            entries = re.findall(r'<li id="event-\d+">(.*?)</li>', html, re.S)
            shown += len(entries)
            for text in entries:
                self.assertIn('<a href="/', text)
        self.assertEqual(shown, CaseEvent.objects.filter(case=self.case).count())
        stages = self.client.get(url, {"kind": "stages"})
        self.assertContains(stages, "Stage: Agreement; Before: Dialogue")
        self.assertContains(stages, "Stage: Preparation; Before: Mapping support")
        meetings = self.client.get(url, {"kind": "meetings"})
        self.assertContains(meetings, "Meeting: Circle (both parties)")
        self.assertContains(meetings, "Supervisor approved the joint dialogue")
        # The case page shows the latest events only (issue 18, build 5), in the same words, and links to the
        # whole timeline; the walk's earlier stage moves are on the timeline (above), not on the case page.
        case_page = self.client.get(reverse("cases:detail", args=[self.case.pk]))
        self.assertContains(case_page, "Stage: Agreement; Before: Dialogue")
        self.assertContains(case_page, "Stage: Dialogue; Before: Preparation")
        self.assertContains(case_page, f'href="{url}"')
