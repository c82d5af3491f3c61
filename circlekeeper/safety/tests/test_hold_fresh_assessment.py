"""Holds lift only on a fresh assessment (issue 17, finding 4; Build 4).

The oracle, from PROTOCOL.md ("Contact with the other side" and "Risk levels and escalation"):

    A hold is lifted only on a full check of each survivor concerned, started after the hold's latest trigger,
    taken by staff with the survivor (never a link answered alone), covering what opened it, below high; by
    default not by the person who recorded that check.

Each test builds the situation through the services the pages use, and states the expected answer from that
sentence, not from the code under test.
"""

import datetime

import time_machine
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.models import Participant, ParticipantRole, Track
from circlekeeper.instruments import filling
from circlekeeper.instruments.models import Response
from circlekeeper.safety import services
from circlekeeper.safety.models import HoldReason, HoldTrigger, SafetyAlert, SafetyHold
from circlekeeper.safety.tests.checks import ITEMS, builtin_version, run_check
from circlekeeper.testing import PersonaTestCase, make_participant

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


def at(minutes: int) -> datetime.datetime:
    return NOW + datetime.timedelta(minutes=minutes)


class FreshAssessmentCase(PersonaTestCase):
    survivor: Participant
    harm: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        cls.harm = make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        cls.case.track = Track.INDIRECT_DIALOGUE
        cls.case.save(update_fields=["track"])

    def lift(self, by=None) -> SafetyHold:
        hold = SafetyHold.objects.open().get(case=self.case)
        return services.lift_hold(hold=hold, by=by or self.sam, reason="Reviewed with her")

    def assert_refused(self, *words: str, by=None) -> None:
        with self.assertRaises(ValidationError) as refused:
            self.lift(by)
        for word in words:
            self.assertIn(word, " ".join(refused.exception.messages))
        self.case.refresh_from_db()
        self.assertTrue(self.case.on_hold)

    def assert_lifts(self, by=None) -> None:
        hold = self.lift(by)
        self.case.refresh_from_db()
        self.assertFalse(self.case.on_hold)
        self.assertIsNotNone(hold.lifted_at)


class LaterTriggersTests(FreshAssessmentCase):
    def started_then_submitted(self, started: int, submitted: int):
        """A low check with the survivor, entered by staff: answers saved at `started`, submitted at `submitted`."""
        version = builtin_version()
        asked = {i["code"] for s in version.definition["sections"] for i in s["items"]}
        with time_machine.travel(at(started), tick=False):
            saved = Response.objects.create(
                organization_id=self.case.organization_id,
                version=version,
                participant=self.survivor,
                case=self.case,
                purpose="safety_check",
                answers={item: "0" for item in ITEMS if item in asked},
                entered_by_staff=self.ada,
            )
        with time_machine.travel(at(submitted), tick=False):
            self.assertTrue(filling.submit(response=saved, today=timezone.localdate()))
        return saved.safety_check

    def test_new_violence_during_a_hold_is_a_trigger_and_a_check_started_before_it_no_longer_lifts(self):
        with time_machine.travel(at(0), tick=False):
            run_check(self.survivor, "weapon", by=self.ada)  # opens the hold
        with time_machine.travel(at(10), tick=False):
            run_check(self.survivor, by=self.ada)  # low, after the opening: would have lifted it
        with time_machine.travel(at(20), tick=False):
            services.report_new_violence(case=self.case, by=self.alice, details="Pushed her again")
        hold = SafetyHold.objects.open().get(case=self.case)
        self.assertEqual(
            list(hold.triggers.values_list("reason", flat=True)), [HoldReason.RISK, HoldReason.NEW_VIOLENCE]
        )
        self.assertIn("Pushed her again", SafetyHold.objects.get(pk=hold.pk).details)
        with time_machine.travel(at(25), tick=False):
            self.assert_refused("Survivor A")
        with time_machine.travel(at(30), tick=False):
            run_check(self.survivor, by=self.ada)
            self.assert_lifts()

    def test_a_threatened_check_in_and_a_broken_commitment_are_triggers_too(self):
        for minutes, reason in ((0, HoldReason.NEW_VIOLENCE), (20, HoldReason.MEETING_CHECK)):
            with time_machine.travel(at(minutes), tick=False):
                services.open_hold(case=self.case, reason=reason, by=self.alice)
        # Started between the two triggers, submitted after both: stale once the check-in signalled danger.
        self.started_then_submitted(10, 30)
        with time_machine.travel(at(30), tick=False):
            self.assert_refused("started before the hold's latest trigger")
            services.open_hold(case=self.case, reason=HoldReason.BROKEN_COMMITMENT, by=self.alice)
        self.started_then_submitted(25, 40)
        with time_machine.travel(at(40), tick=False):
            self.assert_refused("started before the hold's latest trigger")
            run_check(self.survivor, by=self.ada)
            self.assert_lifts()
        self.assertEqual(HoldTrigger.objects.filter(hold__case=self.case).count(), 3)
        self.assertEqual(SafetyHold.objects.filter(case=self.case).count(), 1)

    def test_a_check_saved_before_the_hold_and_submitted_after_it_does_not_count(self):
        with time_machine.travel(at(5), tick=False):
            services.report_new_violence(case=self.case, by=self.alice, details="Threats by text")
        check = self.started_then_submitted(0, 10)
        self.assertEqual(check.level, "low")
        with time_machine.travel(at(10), tick=False):
            self.assert_refused("started before the hold's latest trigger")


class WhoseCheckTests(FreshAssessmentCase):
    second: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.second = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor C")

    def test_a_second_survivors_low_check_does_not_lift_a_hold_opened_on_the_first_survivors_answer(self):
        with time_machine.travel(at(0), tick=False):
            run_check(self.survivor, "threats_to_kill", by=self.ada)
        with time_machine.travel(at(10), tick=False):
            run_check(self.second, by=self.ada)
            self.assert_refused("Survivor A")
            run_check(self.survivor, by=self.ada)
            self.assert_lifts()

    def test_a_hold_for_new_violence_needs_a_fresh_check_of_each_survivor(self):
        with time_machine.travel(at(0), tick=False):
            services.report_new_violence(case=self.case, by=self.alice, details="At the school gate")
        with time_machine.travel(at(10), tick=False):
            run_check(self.survivor, by=self.ada)
            self.assert_refused("Survivor C")
            run_check(self.second, by=self.ada)
            self.assert_lifts()


class WhatKindOfCheckTests(FreshAssessmentCase):
    def test_the_immediate_danger_screen_never_lifts_a_hold_opened_by_violence(self):
        with time_machine.travel(at(0), tick=False):
            services.report_new_violence(case=self.case, by=self.alice, details="Forced sex")
        with time_machine.travel(at(10), tick=False):
            screen = run_check(self.survivor, by=self.ada, code="immediate_danger")
            self.assertEqual(screen.level, "low")
            self.assert_refused("immediate-danger screen never lifts")

    def test_the_screen_does_not_lift_a_hold_opened_by_a_full_check_or_a_broken_commitment_either(self):
        with time_machine.travel(at(0), tick=False):
            run_check(self.survivor, "forced_sex", by=self.ada)
            services.open_hold(case=self.case, reason=HoldReason.BROKEN_COMMITMENT, by=self.alice)
        with time_machine.travel(at(10), tick=False):
            run_check(self.survivor, by=self.ada, code="immediate_danger")
            self.assert_refused("immediate-danger screen never lifts")
            run_check(self.survivor, by=self.ada)
            self.assert_lifts()

    def test_a_check_answered_alone_through_a_link_never_lifts_a_hold(self):
        with time_machine.travel(at(0), tick=False):
            run_check(self.survivor, "stalking", "weapon", by=self.ada)
        with time_machine.travel(at(10), tick=False):
            alone = run_check(self.survivor, by=None)
            self.assertEqual((alone.level, alone.entered_by), ("low", None))
            self.assert_refused("answered alone through a link")

    def test_a_check_still_high_does_not_lift(self):
        with time_machine.travel(at(0), tick=False):
            run_check(self.survivor, "weapon", by=self.ada)
        with time_machine.travel(at(10), tick=False):
            run_check(self.survivor, "strangulation", by=self.ada)
            self.assert_refused("Survivor A")


class SeparationOfDutiesTests(FreshAssessmentCase):
    def open_and_check(self, by):
        with time_machine.travel(at(0), tick=False):
            services.report_new_violence(case=self.case, by=self.alice, details="Broke the door")
        with time_machine.travel(at(10), tick=False):
            return run_check(self.survivor, by=by)

    def test_by_default_the_supervisor_who_recorded_the_check_may_not_lift_on_it(self):
        self.open_and_check(self.sam)
        with time_machine.travel(at(15), tick=False):
            self.assert_refused("you recorded it")

    def test_another_person_records_the_check_and_the_supervisor_lifts(self):
        self.open_and_check(self.ada)
        with time_machine.travel(at(15), tick=False):
            self.assert_lifts()

    @override_settings(HOLD_TWO_PERSON=False)
    def test_a_one_supervisor_program_turns_the_rule_off(self):
        self.open_and_check(self.sam)
        with time_machine.travel(at(15), tick=False):
            self.assert_lifts()

    def test_the_hold_page_says_whether_the_rule_is_on_and_why_it_cannot_be_lifted_yet(self):
        self.open_and_check(self.sam)
        hold = SafetyHold.objects.open().get(case=self.case)
        url = reverse("safety:hold_lift", args=[self.case.pk, hold.pk])
        self.login(self.sam)
        with time_machine.travel(at(15), tick=False):
            page = self.client.get(url)
            self.assertContains(page, "CIRCLEKEEPER_HOLD_TWO_PERSON")
            self.assertContains(page, "On: the supervisor who lifts the hold may not be")
            self.assertContains(page, "you recorded it")
            self.assertContains(page, "New violence was reported")
            refused = self.client.post(url, {"reason": "Fine now"})
            self.assertEqual(refused.status_code, 400)
            self.case.refresh_from_db()
            self.assertTrue(self.case.on_hold)
            with override_settings(HOLD_TWO_PERSON=False):
                page = self.client.get(url)
                self.assertContains(page, "Off for this program")
                self.assertEqual(self.client.post(url, {"reason": "Fine now"}).status_code, 302)
        self.case.refresh_from_db()
        self.assertFalse(self.case.on_hold)


class ExistingHoldsTests(FreshAssessmentCase):
    def test_the_data_migration_gives_each_existing_hold_its_opening_and_later_alerts_as_triggers(self):
        from importlib import import_module

        migration = import_module("circlekeeper.safety.migrations.0004_i17b_hold_triggers")
        with time_machine.travel(at(0), tick=False):
            check = run_check(self.survivor, "weapon", by=self.ada)
        with time_machine.travel(at(20), tick=False):
            services.report_new_violence(case=self.case, by=self.alice, details="Again")
        hold = SafetyHold.objects.get(case=self.case)
        HoldTrigger.objects.all().delete()  # as before the migration: only the hold and its two alerts
        self.assertEqual(SafetyAlert.objects.filter(hold=hold).count(), 2)
        migration.triggers_of_existing_holds(django_apps, None)
        triggers = list(HoldTrigger.objects.filter(hold=hold).order_by("at"))
        self.assertEqual(
            [(t.reason, t.at, t.survivor_id) for t in triggers],
            [(HoldReason.RISK, at(0), self.survivor.pk), (HoldReason.NEW_VIOLENCE, at(20), None)],
        )
        self.assertEqual(triggers[0].check_that_triggered, check)
        # A check taken between the two no longer lifts the migrated hold.
        run_check(self.survivor, by=self.ada, at=at(10))
        with time_machine.travel(at(30), tick=False):
            self.assert_refused("since the hold's latest trigger")
