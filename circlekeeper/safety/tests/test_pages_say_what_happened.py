"""Pages say what happened (issue 17, Build 7).

Oracles, from PROTOCOL.md ("high or severe ... automatic safety hold, the supervisor and safety advocate are
alerted ... a task to review the safety plan") and the issue: a submitted check at high or severe says "The case is
now on a safety hold" and links to the hold and the safety plan; a risk level shown beside an open hold says which
check it came from.
"""

import datetime

import time_machine
from django.urls import reverse

from circlekeeper.cases.models import Participant, ParticipantRole, Track
from circlekeeper.safety import services
from circlekeeper.safety.models import SafetyHold
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, make_participant

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


def at(minutes: int) -> datetime.datetime:
    return NOW + datetime.timedelta(minutes=minutes)


class PagesCase(PersonaTestCase):
    survivor: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        cls.case.track = Track.INDIRECT_DIALOGUE
        cls.case.save(update_fields=["track"])

    def detail(self, check):
        self.login(self.ada)
        return self.client.get(reverse("instruments:response_detail", args=[self.case.pk, check.response_id]))


class PagesSayWhatHappenedTests(PagesCase):
    def test_a_high_check_says_the_case_is_now_on_hold_with_links_to_the_hold_and_the_plan(self):
        with time_machine.travel(at(0), tick=False):
            check = run_check(self.survivor, "weapon", by=self.ada)
            page = self.detail(check)
        self.assertContains(page, "The case is now on a safety hold")
        self.assertContains(page, "This check came out High.")
        self.assertContains(page, reverse("safety:case", args=[self.case.pk]) + "#hold")
        self.assertContains(page, reverse("safety:plan", args=[self.case.pk, self.survivor.pk]))

    def test_a_severe_check_during_an_open_hold_says_so_too(self):
        with time_machine.travel(at(0), tick=False):
            services.report_new_violence(case=self.case, by=self.alice, details="At the door")
        with time_machine.travel(at(5), tick=False):
            check = run_check(self.survivor, "danger_now", by=self.ada)
            self.assertContains(self.detail(check), "This check came out Severe.")

    def test_a_low_check_says_nothing_of_a_hold_and_neither_does_a_lifted_one(self):
        with time_machine.travel(at(0), tick=False):
            low = run_check(self.survivor, by=self.ada)
            self.assertNotContains(self.detail(low), "The case is now on a safety hold")
            high = run_check(self.survivor, "strangulation", by=self.ada)
        with time_machine.travel(at(10), tick=False):
            run_check(self.survivor, by=self.ada)
            services.lift_hold(hold=SafetyHold.objects.get(case=self.case), by=self.sam, reason="Reviewed")
            self.assertNotContains(self.detail(high), "The case is now on a safety hold")

    def test_the_case_header_says_which_check_a_low_level_beside_an_open_hold_came_from(self):
        with time_machine.travel(at(0), tick=False):
            run_check(self.survivor, by=self.ada)
        with time_machine.travel(at(30), tick=False):
            services.report_new_violence(case=self.case, by=self.alice, details="Threats by phone")
            self.login(self.alice)
            page = self.client.get(reverse("cases:detail", args=[self.case.pk]))
            self.assertContains(page, "Low")
            self.assertContains(page, "the safety check of Survivor A,")
            self.assertContains(page, "On safety hold: this level alone does not lift it.")
            safety_page = self.client.get(reverse("safety:case", args=[self.case.pk]))
            self.assertContains(safety_page, "Safety check of Survivor A,")
            self.assertContains(safety_page, "On safety hold: this level alone does not lift it.")


class HoldReasonsInTheReadersLanguageTests(PagesCase):
    def test_a_broken_commitment_is_stored_as_codes_and_shown_in_each_readers_language(self):
        hold = services.open_hold(
            case=self.case, reason="broken_commitment", by=self.alice, facts={"commitment": "3"}
        )
        self.assertIsNone(SafetyHold.objects.get(pk=hold.pk).details)
        self.assertEqual(hold.triggers.get().facts, {"commitment": "3"})
        self.login(self.sam)
        url = reverse("safety:hold_lift", args=[self.case.pk, hold.pk])
        self.assertContains(self.client.get(url), "A commitment was broken: commitment 3 was not kept")
        self.client.post(reverse("set_language"), {"language": "es", "next": "/"})
        page = self.client.get(url, HTTP_ACCEPT_LANGUAGE="es")
        self.assertContains(page, "Se incumplió un compromiso: no se cumplió el compromiso 3")
        self.assertNotContains(page, "commitment 3 was not kept")

    def test_the_data_migration_turns_the_stored_sentence_into_its_code_in_either_language(self):
        from importlib import import_module

        from django.apps import apps as django_apps

        migration = import_module("circlekeeper.safety.migrations.0005_i17b_hold_reason_codes")
        written = {
            "Commitment 4 (Stop a behavior) was not kept; it concerns: Violence.": "4",
            "No se cumplió el compromiso 7 (Dejar una conducta); tiene que ver con: Violencia.": "7",
        }
        holds = {}
        for minutes, (text, number) in enumerate(written.items()):
            with time_machine.travel(at(minutes * 60), tick=False):
                hold = services.open_hold(
                    case=self.case, reason="broken_commitment", by=self.alice, details=text
                )
                holds[hold.pk] = number
                run_check(self.survivor, by=self.ada, at=at(minutes * 60 + 5))
            with time_machine.travel(at(minutes * 60 + 10), tick=False):
                services.lift_hold(hold=hold, by=self.sam, reason="Reviewed")
        with time_machine.travel(at(500), tick=False):
            kept = services.open_hold(
                case=self.case, reason="broken_commitment", by=self.alice, details="He came by"
            )
        migration.commitment_codes(django_apps, None)
        for pk, number in holds.items():
            hold = SafetyHold.objects.get(pk=pk)
            self.assertIsNone(hold.details)
            self.assertEqual(hold.triggers.get().facts, {"commitment": number})
        self.assertEqual(SafetyHold.objects.get(pk=kept.pk).details, "He came by")
