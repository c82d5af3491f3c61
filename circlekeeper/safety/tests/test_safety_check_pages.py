"""End to end through the real pages: the safety advocate runs the safety check with the survivor, a "yes" to
strangulation puts the case on hold and alerts the supervisor and advocate on their dashboards, with a task to
review the safety plan; the supervisor cannot lift the hold until a newer check comes out below high, then
lifts it with a reason, and the case's history shows the hold opened and lifted."""

import datetime

import time_machine
from django.test import Client
from django.urls import reverse

from circlekeeper.cases.models import CaseTask, Participant, ParticipantRole, TaskKind
from circlekeeper.instruments.models import Response
from circlekeeper.safety.models import SafetyCheck, SafetyHold
from circlekeeper.safety.tests.checks import ITEMS, builtin_version
from circlekeeper.testing import PersonaTestCase, make_participant, sign_in

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


class SafetyCheckThroughThePagesTests(PersonaTestCase):
    survivor: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        builtin_version("safety_check")

    def client_for(self, person) -> Client:
        client = Client()
        sign_in(client, person)
        return client

    def run_check_through_the_pages(self, client: Client, *yes: str) -> Response:
        """Start from the safety page's button, answer every part, review and submit: as a person would."""
        safety_page = client.get(reverse("safety:case", args=[self.case.pk]))
        self.assertContains(safety_page, "Run the safety check with Survivor A")
        started = client.post(
            reverse("safety:check_start", args=[self.case.pk, self.survivor.pk]), {"kind": "full"}
        )
        response = Response.objects.latest("pk")
        answer = reverse("instruments:response_answer", args=[self.case.pk, response.pk])
        self.assertRedirects(started, answer, fetch_redirect_response=False)
        first = client.get(answer)
        self.assertContains(first, "Are you afraid you are in danger right now, today?")
        for position, section in enumerate(response.version.definition["sections"]):
            shown = [item["code"] for item in section["items"] if item["type"] != "descriptive"]
            data = {"section": str(position), "_shown": shown}
            data.update({f"q-{code}": "1" if code in yes else "0" for code in shown if code in ITEMS})
            saved = client.post(answer, data)
            self.assertEqual(saved.status_code, 302, saved.content.decode()[:2000])
        review = reverse("instruments:response_review", args=[self.case.pk, response.pk])
        self.assertContains(client.get(review), "Check your answers")
        submitted = client.post(review)
        self.assertRedirects(
            submitted,
            reverse("instruments:response_detail", args=[self.case.pk, response.pk]),
            fetch_redirect_response=False,
        )
        return response

    def test_a_high_check_holds_the_case_alerts_and_only_a_newer_low_check_lets_the_supervisor_lift_it(self):
        with time_machine.travel(NOW, tick=False):
            ada = self.client_for(self.ada)
            response = self.run_check_through_the_pages(ada, "strangulation")

            check = SafetyCheck.objects.get(response=response)
            self.assertEqual(
                (check.level, check.entered_by, check.participant), ("high", self.ada, self.survivor)
            )
            self.case.refresh_from_db()
            self.assertTrue(self.case.on_hold)
            hold = SafetyHold.objects.get(case=self.case)
            safety_page = ada.get(reverse("safety:case", args=[self.case.pk]))
            self.assertContains(safety_page, "This case is on safety hold")
            self.assertContains(safety_page, "<strong>High</strong>", html=True)

            # The alert waits on the supervisor's and the advocate's dashboards; the task is on the case.
            sam = self.client_for(self.sam)
            for client in (sam, ada):
                dashboard = client.get(reverse("dashboard"))
                self.assertContains(dashboard, "Safety alerts")
                self.assertContains(
                    dashboard, reverse("safety:alert_ack", args=[self.case.pk, hold.alerts.get().pk])
                )
            self.assertTrue(
                CaseTask.objects.filter(
                    case=self.case,
                    participant=self.survivor,
                    kind=TaskKind.REVIEW_SAFETY_PLAN,
                    done_at__isnull=True,
                ).exists()
            )
            self.assertContains(
                ada.get(reverse("cases:detail", args=[self.case.pk])),
                "Review the safety plan with the survivor",
            )

            # The supervisor cannot lift it yet: no newer check.
            lift = reverse("safety:hold_lift", args=[self.case.pk, hold.pk])
            self.assertContains(sam.get(lift), "The hold cannot be lifted yet.")
            self.assertEqual(sam.post(lift, {"reason": "She says it is calmer"}).status_code, 400)
            hold.refresh_from_db()
            self.assertTrue(hold.is_open)

        with time_machine.travel(NOW + datetime.timedelta(minutes=20), tick=False):
            self.run_check_through_the_pages(ada)  # every answer "no"
            self.assertContains(sam.get(reverse("dashboard")), "a newer check below high is in")
            lifted = sam.post(lift, {"reason": "He moved out; a protection order is in place"})
            self.assertRedirects(
                lifted, reverse("safety:case", args=[self.case.pk]), fetch_redirect_response=False
            )
            hold.refresh_from_db()
            self.case.refresh_from_db()
            self.assertFalse(hold.is_open)
            self.assertFalse(self.case.on_hold)
            self.assertEqual(self.case.risk_level, "low")

            history = ada.get(reverse("safety:case", args=[self.case.pk]))
            self.assertNotContains(history, "This case is on safety hold")
            self.assertContains(history, "A safety check came out high or severe")
            self.assertContains(history, "automatically")
            self.assertContains(history, "He moved out; a protection order is in place")
            self.assertContains(history, "after a check: Low")
            self.assertContains(history, "Sam")
