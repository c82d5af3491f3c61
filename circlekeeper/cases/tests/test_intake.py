"""The intake (PROTOCOL.md, stage 2): recorded in plain words, every answer may be "prefer not to say", edits
are versioned and a stale page is refused, the intake gate reads it, and the narrative retention rule erases
what the survivor said."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.intake import save_intake
from circlekeeper.cases.models import CaseEvent, CaseStatus, Intake, RetentionPolicy, Stage, TeamRole
from circlekeeper.cases.participants import StaleEdit
from circlekeeper.cases.retention import purge_expired
from circlekeeper.protocol import services as protocol
from circlekeeper.protocol.gates import stage_conditions, unmet
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, audit_log, make_case


class IntakePageTests(PersonaTestCase):
    def url(self, case=None) -> str:
        return reverse("cases:intake", args=[(case or self.case).pk])

    def post(self, version: int = 0, **answers):
        data = {"version": str(version), **answers}
        return self.client.post(self.url(), data)

    def test_the_team_records_the_intake_in_the_survivors_words(self):
        self.login(self.ada)
        page = self.client.get(self.url())
        self.assertContains(page, "Prefer not to say")
        self.assertContains(page, "Technology-facilitated")
        response = self.post(
            account="He reads my messages and took my passport.",
            harm_types=["technology", "immigration"],
            frequency="weekly",
            escalation="worse",
            children_in_home="yes",
            does_not_want="No police.",
            referral_source="shelter",
        )
        self.assertRedirects(response, self.url(), fetch_redirect_response=False)
        intake = Intake.objects.get(case=self.case)
        self.assertEqual(intake.harm_types, ["technology", "immigration"])
        self.assertEqual((intake.version, intake.does_not_want), (1, "No police."))
        self.assertTrue(
            CaseEvent.objects.filter(case=self.case, kind="case.intake", facts__version="1").exists()
        )
        self.assertTrue(audit_log().filter(action="case.intake.save").exists())
        # Shown again to the team, and read aloud in the audit log as a read of the case.
        self.assertContains(self.client.get(self.url()), "He reads my messages")
        self.assertTrue(audit_log().filter(action="case.intake.view", object_id=str(self.case.pk)).exists())

    def test_what_the_survivor_said_is_stored_encrypted(self):
        self.login(self.alice)
        self.post(account="accountmarker77", goals="goalmarker77")
        with connection.cursor() as cursor:
            cursor.execute("SELECT account, goals FROM cases_intake")
            raw = cursor.fetchone()
        self.assertNotIn("accountmarker77", str(raw))
        self.assertNotIn("goalmarker77", str(raw))

    def test_prefer_not_to_say_goes_alone(self):
        self.login(self.alice)
        self.assertEqual(self.post(harm_types=["prefer_not"]).status_code, 302)
        response = self.post(version=1, harm_types=["prefer_not", "physical"])
        self.assertContains(response, "goes alone", status_code=400)
        self.assertEqual(Intake.objects.get(case=self.case).harm_types, ["prefer_not"])

    def test_a_save_from_an_outdated_page_is_refused_and_changes_nothing(self):
        self.login(self.alice)
        self.post(account="First account.")
        self.post(version=1, account="Alice's correction.")
        # Sam's page was drawn at version 1: Alice saved since.
        self.login(self.sam)
        response = self.post(version=1, account="Sam's version.")
        self.assertContains(response, "Someone else changed this", status_code=400)
        intake = Intake.objects.get(case=self.case)
        self.assertEqual((intake.account, intake.version), ("Alice's correction.", 2))

    def test_the_same_save_sent_twice_is_saved_once(self):
        self.login(self.alice)
        self.post(account="Once.")
        self.assertEqual(self.post(account="Once.").status_code, 302)
        self.assertEqual(Intake.objects.get(case=self.case).version, 1)
        self.assertEqual(CaseEvent.objects.filter(case=self.case, kind="case.intake").count(), 1)

    def test_no_one_outside_the_team_sees_or_writes_it(self):
        save_intake(case=self.case, version=0, by=self.alice, account="secretaccount")
        for person in (self.bob, self.charlie, self.pat, self.eve, self.nora):
            self.login(person)
            self.assertEqual(self.client.get(self.url()).status_code, 404, person)
            self.assertEqual(self.post(version=1, account="overwritten").status_code, 404, person)
        self.assertEqual(Intake.objects.get(case=self.case).account, "secretaccount")

    def test_the_case_page_links_to_it(self):
        self.login(self.alice)
        self.assertContains(self.client.get(reverse("cases:detail", args=[self.case.pk])), self.url())


class IntakeServiceTests(PersonaTestCase):
    def test_an_unknown_type_of_harm_is_refused(self):
        with self.assertRaises(ValidationError):
            save_intake(case=self.case, version=0, by=self.alice, harm_types=["gossip"])
        self.assertFalse(Intake.objects.exists())

    def test_a_first_save_from_a_page_drawn_before_another_first_save_is_stale(self):
        save_intake(case=self.case, version=0, by=self.alice, account="Alice's")
        with self.assertRaises(StaleEdit):
            save_intake(case=self.case, version=0, by=self.sam, account="Sam's")


class IntakeGateTests(PersonaTestCase):
    def at_intake_with_check_and_track(self) -> Walk:
        walk = Walk(self.case, self.alice, self.sam)
        walk.to_intake()
        run_check(walk.survivor, by=self.alice)
        choose_track(
            case=self.case,
            survivor=walk.survivor,
            track="support_only",
            explained_by=self.alice,
            explained_on=timezone.localdate(),
            by=self.alice,
        )
        self.case.refresh_from_db()
        return walk

    def test_the_case_leaves_intake_only_once_the_account_or_the_harm_types_are_recorded(self):
        self.at_intake_with_check_and_track()
        # Everything else of the gate holds (PROTOCOL.md: a full check and an informed choice).
        self.assertEqual([c.code for c in unmet(stage_conditions(self.case))], ["intake"])
        with self.assertRaises(protocol.GateClosed):
            protocol.advance(case=self.case, by=self.alice)
        # Answers that say nothing of what happened do not count.
        save_intake(case=self.case, version=0, by=self.alice, goals="To feel safe", frequency="weekly")
        self.assertEqual([c.code for c in unmet(stage_conditions(self.case))], ["intake"])
        save_intake(case=self.case, version=1, by=self.alice, harm_types=["prefer_not"])
        protocol.advance(case=self.case, by=self.alice)
        self.case.refresh_from_db()
        self.assertEqual(self.case.stage, Stage.SAFETY_PLANNING)

    def test_the_account_alone_is_enough(self):
        self.at_intake_with_check_and_track()
        save_intake(case=self.case, version=0, by=self.alice, account="In her words.")
        self.assertEqual(unmet(stage_conditions(self.case)), [])


class IntakeRetentionTests(PersonaTestCase):
    def test_the_narrative_rule_erases_what_the_survivor_said_and_keeps_the_codes(self):
        RetentionPolicy.objects.create(organization=self.harbor, narrative_months=6)
        case = make_case(
            self.harbor,
            opened_on=datetime.date(2015, 1, 1),
            closed_on=datetime.date(2025, 12, 15),
            status=CaseStatus.CLOSED,
            team=((self.alice, TeamRole.KEEPER),),
        )
        save_intake(
            case=case,
            version=0,
            by=self.alice,
            account="In her words.",
            goals="Safety.",
            children_exposure="They heard it.",
            harm_types=["physical"],
        )
        [result] = purge_expired(today=datetime.date(2026, 6, 15), dry_run=False)
        intake = Intake.objects.get(case=case)
        self.assertEqual((intake.account, intake.goals, intake.children_exposure), (None, None, None))
        self.assertEqual(intake.harm_types, ["physical"])
        assert result.narrative_rule is not None
        self.assertEqual(result.narrative_rule.narratives, 1)
