"""The survivor's safety plan: every revision kept and encrypted, or a recorded decision not to have one;
reviewed dates tracked; due for review when the risk changes or a hold opens."""

import datetime

import time_machine
from django.core.exceptions import ValidationError
from django.db import connection

from circlekeeper.cases.models import CaseTask, Participant, ParticipantRole, TaskKind
from circlekeeper.cases.participants import StaleEdit
from circlekeeper.safety import services
from circlekeeper.safety.models import SafetyPlan, SafetyPlanRevision
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, make_participant

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


@time_machine.travel(NOW, tick=False)
class SafetyPlanTests(PersonaTestCase):
    survivor: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, label="Survivor A")

    def save(self, revision=0, **fields):
        return services.save_plan(survivor=self.survivor, revision=revision, by=self.ada, **fields)

    def test_each_revision_is_kept_and_the_plan_points_at_the_newest(self):
        first = self.save(people_to_call="My sister Ana", safe_places="The library on 5th")
        second = self.save(revision=1, people_to_call="My sister Ana, my neighbour")
        plan = SafetyPlan.objects.get(participant=self.survivor)
        self.assertEqual((plan.revision, plan.current()), (2, second))
        first.refresh_from_db()
        self.assertEqual((first.people_to_call, first.safe_places), ("My sister Ana", "The library on 5th"))
        self.assertIsNone(second.safe_places)
        self.assertEqual(plan.last_reviewed_at, NOW)

    def test_what_the_plan_says_is_encrypted_in_the_database(self):
        self.save(people_to_call="Call Ana at the bakery", in_their_words="I keep the spare key at work")
        with connection.cursor() as cursor:
            cursor.execute("SELECT people_to_call, in_their_words FROM safety_safetyplanrevision")
            stored = b"".join(bytes(v) for v in cursor.fetchone())
        self.assertNotIn(b"bakery", stored)
        self.assertNotIn(b"spare key", stored)

    def test_a_save_from_an_outdated_page_is_refused_and_writes_nothing(self):
        self.save(people_to_call="Ana")
        self.save(revision=1, people_to_call="Ana and Luz")
        with self.assertRaises(StaleEdit):
            self.save(revision=1, people_to_call="Only Ana")
        self.assertEqual(SafetyPlanRevision.objects.count(), 2)

    def test_an_empty_plan_is_refused_but_a_decision_not_to_have_one_is_recorded(self):
        with self.assertRaises(ValidationError):
            self.save()
        declined = self.save(declined=True, in_their_words="Not now; I have my own plan", signals="ignored")
        self.assertTrue(declined.declined)
        self.assertIsNone(declined.signals)
        self.assertEqual(declined.in_their_words, "Not now; I have my own plan")
        self.assertFalse(services.plan_review_due(SafetyPlan.objects.get(), NOW))

    def test_only_a_survivor_has_a_plan(self):
        harm = make_participant(self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        with self.assertRaises(ValidationError):
            services.save_plan(survivor=harm, revision=0, by=self.ada, signals="x")

    def test_a_change_of_risk_level_makes_the_plan_due_and_a_review_clears_it(self):
        run_check(self.survivor)  # low
        self.save(signals="He starts drinking")
        self.assertFalse(services.plan_review_due(SafetyPlan.objects.get(), NOW))
        run_check(self.survivor, "escalation", "stalking")  # elevated: changed
        plan = SafetyPlan.objects.get()
        self.assertTrue(services.plan_review_due(plan, NOW))
        task = CaseTask.objects.get(case=self.case, kind=TaskKind.REVIEW_SAFETY_PLAN, done_at__isnull=True)
        services.review_plan(survivor=self.survivor, revision=plan.revision, by=self.ada)
        plan.refresh_from_db()
        self.assertFalse(services.plan_review_due(plan, NOW))
        task.refresh_from_db()
        self.assertIsNotNone(task.done_at)

    def test_the_same_level_again_does_not_make_it_due(self):
        run_check(self.survivor, "escalation")
        self.save(signals="He starts drinking")
        run_check(self.survivor, "separation")
        self.assertFalse(services.plan_review_due(SafetyPlan.objects.get(), NOW))

    def test_a_plan_not_reviewed_for_thirty_days_is_due(self):
        self.save(signals="He starts drinking")
        plan = SafetyPlan.objects.get()
        self.assertFalse(services.plan_review_due(plan, NOW + datetime.timedelta(days=29)))
        self.assertTrue(services.plan_review_due(plan, NOW + datetime.timedelta(days=31)))

    def test_a_review_needs_a_plan_first(self):
        with self.assertRaises(ValidationError):
            services.review_plan(survivor=self.survivor, revision=0, by=self.ada)
