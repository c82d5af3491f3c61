"""The case page: the survivor's track, the safety hold and risk level, links to participants, and the history."""

from __future__ import annotations

import datetime

from django.urls import resolve, reverse

from circlekeeper.cases import history
from circlekeeper.cases import participants as services
from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import (
    Case,
    CaseEvent,
    Consent,
    ConsentKind,
    EventKind,
    Participant,
    ParticipantRole,
    Track,
    record_event,
)
from circlekeeper.safety.models import HoldReason, RiskLevel
from circlekeeper.testing import PersonaTestCase, make_participant


class CasePageTests(PersonaTestCase):
    survivor: Participant
    harm: Participant

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, label="Survivor A")
        cls.harm = make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")

    def setUp(self) -> None:
        self.url = reverse("cases:detail", args=[self.case.pk])
        self.login(self.alice)

    def choose(self, track: str) -> None:
        choose_track(
            case=self.case,
            survivor=self.survivor,
            track=track,
            explained_by=self.ada,
            explained_on=datetime.date(2026, 3, 2),
            by=self.alice,
        )

    def test_it_shows_the_current_track_with_a_link_to_the_choice_page(self):
        page = self.client.get(self.url)
        self.assertContains(page, "Nothing chosen yet")
        self.assertContains(page, reverse("cases:track_choice", args=[self.case.pk]))
        self.choose(Track.INDIRECT_DIALOGUE)
        self.assertContains(self.client.get(self.url), "<dd>Indirect dialogue", html=False)

    def test_a_case_on_hold_says_so_prominently_and_links_to_its_safety_page(self):
        self.assertNotContains(self.client.get(self.url), "On safety hold")
        Case.objects.filter(pk=self.case.pk).update(on_hold=True)  # only the safety app does this for real

        page = self.client.get(self.url)

        self.assertContains(page, "On safety hold")
        self.assertContains(
            page, "All contact with the person who caused harm and their supporters has stopped."
        )
        href = f"/safety/cases/{self.case.pk}/"
        self.assertContains(page, f'href="{href}"')
        self.assertEqual(resolve(href).view_name, "safety:case")

    def test_it_shows_the_latest_risk_level_in_words(self):
        self.assertContains(self.client.get(self.url), "No safety check yet")
        Case.objects.filter(pk=self.case.pk).update(risk_level="elevated")
        self.assertContains(self.client.get(self.url), "<dd>Elevated ·")

    def test_each_participant_links_to_their_page(self):
        page = self.client.get(self.url)
        for participant in (self.survivor, self.harm):
            self.assertContains(
                page, reverse("cases:participant_detail", args=[self.case.pk, participant.pk])
            )

    def test_the_history_tells_what_happened_in_words_and_who_did_it(self):
        self.choose(Track.SUPPORT_ONLY)
        self.choose(Track.COMMUNITY_ACCOUNTABILITY)
        consent = Consent.objects.get(participant=self.survivor, kind=ConsentKind.TAKE_PART)
        services.withdraw_consent(consent=consent, how="oral", by=self.sam)
        record_event(self.case, EventKind.HOLD_OPENED, reason="new_violence", level="")
        record_event(
            self.case, EventKind.CHECK_RECORDED, by=self.ada, participant="Survivor A", level="severe"
        )

        history = self.client.get(self.url).content.decode().split('id="history-heading"')[1]

        self.assertIn("Track chosen", history)
        self.assertIn("Track: Community accountability; Before: Support only", history)
        self.assertIn("Track: Support only; Before: none yet", history)
        self.assertIn("Consent withdrawn", history)
        self.assertIn("Participant: Survivor A; Consent: To take part", history)
        self.assertIn("Safety hold opened", history)
        self.assertIn("Why: New violence was reported", history)
        self.assertIn("Safety check recorded", history)
        self.assertIn("Risk level: Severe", history)
        self.assertIn("Sam", history)
        self.assertIn("The system", history)
        # Codes never show as codes.
        for code in ("community_accountability", "take_part", "new_violence", "severe<"):
            self.assertNotIn(code, history)

    def test_the_history_shows_the_latest_10_events_newest_first_and_links_to_the_timeline(self):
        for n in range(55):
            record_event(
                self.case,
                EventKind.DETAILS_CHANGED,
                by=self.alice,
                at=datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC) + datetime.timedelta(hours=n),
                participant=f"Label {n:02d}",
            )
        history = self.client.get(self.url).content.decode().split('id="history-heading"')[1]
        self.assertIn("Label 54", history)
        self.assertIn("Label 45", history)
        self.assertNotIn("Label 44", history)
        self.assertLess(history.index("Label 54"), history.index("Label 53"))
        self.assertEqual(history.split("</section>")[0].count("<tr>"), 1 + 10)  # the head row and 10 events
        self.assertIn(
            f'<a href="{reverse("protocol:timeline", args=[self.case.pk])}">The whole timeline</a>', history
        )

    def test_the_words_for_the_safety_apps_codes_cover_all_of_them(self):
        # The case page may not import the safety app, so it keeps its own labels: they must stay complete.
        self.assertEqual(set(history.RISK_LEVELS), set(RiskLevel.values))
        self.assertEqual(
            {code: str(label) for code, label in history.RISK_LEVELS.items()},
            {code: str(label) for code, label in RiskLevel.choices},
        )
        self.assertEqual(
            {code: str(label) for code, label in history.HOLD_REASONS.items()},
            {code: str(label) for code, label in HoldReason.choices},
        )

    def test_an_unknown_fact_or_code_is_shown_as_it_is_rather_than_hidden(self):
        line = history.describe_event(
            CaseEvent(case=self.case, kind="later.kind", facts={"level": "extreme", "later_fact": "3"})
        )
        self.assertEqual(line.what, "later.kind")
        self.assertEqual(line.facts, [("Risk level", "extreme"), ("later_fact", "3")])
