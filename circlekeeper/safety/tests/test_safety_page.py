"""A case's safety page: risk level, the open hold, alerts, checks, holds history and plans; starting a check,
reporting new violence and acknowledging alerts from it. Only the case team sees it."""

import datetime

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import Participant, ParticipantRole, TaskKind, Track
from circlekeeper.instruments.models import Response
from circlekeeper.lib.audit import Outcome
from circlekeeper.safety import services
from circlekeeper.safety.models import HoldReason, SafetyAlert, SafetyHold
from circlekeeper.safety.tests.checks import builtin_version, run_check
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant, ready_for_contact

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


@time_machine.travel(NOW, tick=False)
class SafetyPageTests(PersonaTestCase):
    survivor: Participant
    harm: Participant
    child: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        cls.harm = make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        cls.child = make_participant(cls.case, role=ParticipantRole.CHILD, label="Child C", reachable=False)
        builtin_version("safety_check")
        builtin_version("immediate_danger")

    def url(self, case=None):
        return reverse("safety:case", args=[(case or self.case).pk])

    def test_the_team_sees_the_risk_level_the_open_hold_its_details_and_the_checks(self):
        check = run_check(self.survivor, "strangulation", by=self.ada)
        services.report_new_violence(case=self.case, by=self.alice, details="Pushed on Sunday night")
        for person in (self.alice, self.ada, self.sam):
            self.login(person)
            page = self.client.get(self.url())
            self.assertContains(page, "This case is on safety hold")
            self.assertContains(page, "A safety check came out high or severe")
            self.assertContains(page, "Automatically, from the safety check")
            self.assertContains(page, "<strong>High</strong>", html=True)
            self.assertContains(
                page, reverse("instruments:response_detail", args=[self.case.pk, check.response_id])
            )
            self.assertContains(page, "Survivor A")

    def test_the_details_of_a_hold_opened_by_a_person_are_shown_with_their_name(self):
        services.report_new_violence(case=self.case, by=self.alice, details="Pushed on Sunday night")
        self.login(self.ada)
        page = self.client.get(self.url())
        self.assertContains(page, "New violence was reported")
        self.assertContains(page, "Pushed on Sunday night")
        self.assertContains(page, "<dd>Alice</dd>", html=True)

    def test_only_a_supervisor_on_the_team_is_offered_to_lift_the_hold(self):
        hold = services.report_new_violence(case=self.case, by=self.alice, details="x")
        lift = reverse("safety:hold_lift", args=[self.case.pk, hold.pk])
        self.login(self.sam)
        self.assertContains(self.client.get(self.url()), lift)
        for person in (self.alice, self.ada):
            self.login(person)
            page = self.client.get(self.url())
            self.assertNotContains(page, lift)
            self.assertContains(page, "Only a supervisor on the case team can lift the hold.")

    def choose_track(self):
        choose_track(
            case=self.case,
            survivor=self.survivor,
            track=Track.COMMUNITY_ACCOUNTABILITY,
            explained_by=self.alice,
            explained_on=NOW.date(),
            by=self.alice,
        )

    def test_there_is_a_check_and_a_screen_button_for_each_participant_but_children(self):
        self.choose_track()
        ready_for_contact(self.case, self.alice)  # the stage reached (issue 17): a plan or decline, a monitor
        self.login(self.ada)
        page = self.client.get(self.url())
        self.assertContains(page, "Run the safety check with Survivor A")
        self.assertContains(page, "Immediate-danger screen with Survivor A")
        self.assertContains(page, "Run the safety check with Person B")
        self.assertNotContains(page, "Run the safety check with Child C")
        self.assertContains(page, reverse("safety:check_start", args=[self.case.pk, self.survivor.pk]))
        self.assertNotContains(page, reverse("safety:check_start", args=[self.case.pk, self.child.pk]))

    def test_the_person_who_caused_harm_is_not_asked_while_contact_with_them_is_refused(self):
        self.login(self.ada)
        page = self.client.get(self.url())
        self.assertContains(page, "Run the safety check with Survivor A")
        self.assertNotContains(page, "Run the safety check with Person B")
        self.assertContains(page, "The survivor has not chosen a track yet")
        self.choose_track()
        services.report_new_violence(case=self.case, by=self.alice, details="x")
        page = self.client.get(self.url())
        self.assertNotContains(page, "Run the safety check with Person B")
        self.assertContains(page, "The case is on a safety hold: no contact with the person who caused harm")
        self.assertContains(page, "Run the safety check with Survivor A")  # the survivor always can be

    def test_the_holds_history_shows_opened_and_lifted_with_the_reason(self):
        hold = services.report_new_violence(case=self.case, by=self.alice, details="x")
        with time_machine.travel(NOW + datetime.timedelta(hours=2), tick=False):
            run_check(self.survivor, by=self.ada)
            services.lift_hold(hold=hold, by=self.sam, reason="Moved to her sister's; he is in custody")
        self.login(self.alice)
        page = self.client.get(self.url())
        self.assertNotContains(page, "This case is on safety hold")
        self.assertContains(page, "Moved to her sister&#x27;s; he is in custody")
        self.assertContains(page, "after a check: Low")

    def test_each_survivors_plan_status_is_shown(self):
        self.login(self.alice)
        page = self.client.get(self.url())
        self.assertContains(page, "None yet")
        self.assertContains(page, "Make a plan with the survivor")
        services.save_plan(survivor=self.survivor, revision=0, by=self.ada, people_to_call="Her sister")
        services.save_plan(survivor=self.survivor, revision=1, by=self.ada, declined=True)
        page = self.client.get(self.url())
        self.assertContains(page, "The survivor chose not to have a plan (revision 2)")
        self.assertContains(page, reverse("safety:plan", args=[self.case.pk, self.survivor.pk]))
        self.assertNotContains(page, "Her sister")  # the plan's contents stay on the plan page

    def test_opening_the_page_is_audited(self):
        self.login(self.alice)
        self.client.get(self.url())
        self.assertTrue(
            audit_log().filter(action="safety.view", object_type="case", object_id=str(self.case.pk)).exists()
        )

    def test_other_teams_other_organizations_and_other_roles_get_nothing(self):
        for person in (self.bob, self.charlie, self.pat, self.eve):
            self.login(person)
            self.assertEqual(self.client.get(self.url()).status_code, 404, person)

    def test_anonymous_visitors_are_sent_to_sign_in(self):
        self.assertRedirects(self.client.get(self.url()), f"{reverse('accounts:login')}?next={self.url()}")

    def test_the_number_of_queries_does_not_grow_with_checks_or_holds(self):
        self.login(self.ada)

        def grow(n: int) -> None:
            for i in range(n):
                hold = services.report_new_violence(case=self.case, by=self.alice, details=f"incident {i}")
                # Only the survivor's: asking the other side anything during a hold is refused (issue 17).
                run_check(self.survivor, by=self.ada, at=hold.opened_at + datetime.timedelta(minutes=1 + i))
                hold.refresh_from_db()
                services.lift_hold(hold=hold, by=self.sam, reason=f"reason {i}")

        with self.captureOnCommitCallbacks(execute=True):
            grow(1)
        services.report_new_violence(case=self.case, by=self.alice, details="open at first")
        self.client.get(self.url())
        with CaptureQueriesContext(connection) as small:
            self.client.get(self.url())
        grow(6)
        services.report_new_violence(case=self.case, by=self.alice, details="still open")
        with CaptureQueriesContext(connection) as large:
            page = self.client.get(self.url())
        self.assertContains(page, "reason 5")
        self.assertContains(page, "still open")
        self.assertEqual(len(small), len(large))
        # Session, person, device, roles, keys, case, participants, holds, plans, alerts, checks, team roles,
        # the instruments of every kind (three queries for all kinds since issue 23: 28 before), whether a
        # supervisor, the audit event, savepoints.
        self.assertLessEqual(len(large), 25)


@time_machine.travel(NOW, tick=False)
class CheckStartTests(PersonaTestCase):
    survivor: Participant
    child: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        cls.child = make_participant(cls.case, role=ParticipantRole.CHILD, label="Child C", reachable=False)

    def url(self, participant=None, case=None):
        participant = participant or self.survivor
        return reverse("safety:check_start", args=[(case or self.case).pk, participant.pk])

    def test_starting_a_check_opens_the_answering_pages_for_the_built_in_check(self):
        version = builtin_version("safety_check")
        self.login(self.ada)
        started = self.client.post(self.url(), {"kind": "full"})
        response = Response.objects.get()
        self.assertRedirects(
            started,
            reverse("instruments:response_answer", args=[self.case.pk, response.pk]),
            fetch_redirect_response=False,
        )
        self.assertEqual(
            (response.version, response.participant, response.purpose, response.entered_by_staff),
            (version, self.survivor, "safety_check", self.ada),
        )
        self.assertTrue(
            audit_log().filter(action="safety.check.start", object_id=str(self.survivor.pk)).exists()
        )

    def test_the_screen_uses_the_immediate_danger_instrument(self):
        version = builtin_version("immediate_danger")
        self.login(self.alice)
        self.client.post(self.url(), {"kind": "screen"})
        response = Response.objects.get()
        self.assertEqual((response.version, response.purpose), (version, "immediate_danger"))

    def test_a_version_of_another_kind_or_instrument_is_refused(self):
        builtin_version("safety_check")
        screen = builtin_version("immediate_danger")
        self.login(self.ada)
        page = self.client.post(self.url(), {"kind": "full", "version": screen.pk}, follow=True)
        self.assertContains(page, "not used for this kind of check")
        self.assertFalse(Response.objects.exists())

    def test_without_a_loaded_instrument_the_team_is_told(self):
        self.login(self.ada)
        page = self.client.post(self.url(), {"kind": "full"}, follow=True)
        self.assertContains(page, "No instrument for this kind of check is loaded")
        self.assertFalse(Response.objects.exists())

    def test_the_person_who_caused_harm_is_not_asked_while_the_case_is_on_hold(self):
        builtin_version("safety_check")
        harm = make_participant(self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        choose_track(
            case=self.case,
            survivor=self.survivor,
            track=Track.COMMUNITY_ACCOUNTABILITY,
            explained_by=self.alice,
            explained_on=NOW.date(),
            by=self.alice,
        )
        services.report_new_violence(case=self.case, by=self.alice, details="x")
        self.login(self.ada)
        page = self.client.post(self.url(harm), {"kind": "full"}, follow=True)
        self.assertContains(page, "The case is on a safety hold")
        self.assertFalse(Response.objects.exists())
        self.assertTrue(
            audit_log()
            .filter(action="safety.check.start", object_id=str(harm.pk), outcome=Outcome.REFUSED)
            .exists()
        )
        self.client.post(self.url(), {"kind": "full"})
        self.assertEqual(Response.objects.get().participant, self.survivor)

    def test_children_are_never_asked(self):
        builtin_version("safety_check")
        self.login(self.ada)
        self.assertEqual(self.client.post(self.url(self.child), {"kind": "full"}).status_code, 404)
        self.assertFalse(Response.objects.exists())

    def test_it_only_accepts_post(self):
        self.login(self.ada)
        self.assertEqual(self.client.get(self.url()).status_code, 405)

    def test_other_teams_and_organizations_get_404_and_start_nothing(self):
        builtin_version("safety_check")
        for person in (self.bob, self.charlie, self.pat, self.eve):
            self.login(person)
            self.assertEqual(self.client.post(self.url(), {"kind": "full"}).status_code, 404, person)
        self.assertFalse(Response.objects.exists())


@time_machine.travel(NOW, tick=False)
class ReportViolenceTests(PersonaTestCase):
    survivor: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")

    def url(self, case=None):
        return reverse("safety:report_violence", args=[(case or self.case).pk])

    def test_reporting_puts_the_case_on_hold_alerts_and_asks_for_a_plan_review(self):
        self.login(self.alice)
        self.assertContains(self.client.get(self.url()), "Report new violence")
        page = self.client.post(self.url(), {"details": "He came to her work on Monday"}, follow=True)
        self.assertRedirects(page, reverse("safety:case", args=[self.case.pk]))
        self.assertContains(page, "The case is on safety hold")
        self.assertContains(page, "The supervisor and the safety advocate were alerted.")
        hold = SafetyHold.objects.get(case=self.case)
        self.assertEqual(
            (hold.reason, hold.opened_by, hold.details),
            (HoldReason.NEW_VIOLENCE, self.alice, "He came to her work on Monday"),
        )
        self.assertTrue(SafetyAlert.objects.filter(hold=hold).exists())
        self.assertTrue(
            self.case.tasks.filter(kind=TaskKind.REVIEW_SAFETY_PLAN, participant=self.survivor).exists()
        )
        self.assertTrue(audit_log().filter(action="safety.violence", object_id=str(hold.pk)).exists())

    def test_empty_details_are_refused_and_nothing_opens(self):
        self.login(self.alice)
        page = self.client.post(self.url(), {"details": "   "})
        self.assertContains(page, "What happened, and when")
        self.assertContains(page, "form-errors")
        self.assertFalse(SafetyHold.objects.exists())

    def test_other_teams_and_organizations_get_404(self):
        for person in (self.bob, self.charlie, self.pat, self.eve):
            self.login(person)
            self.assertEqual(self.client.get(self.url()).status_code, 404, person)
            self.assertEqual(self.client.post(self.url(), {"details": "x"}).status_code, 404, person)
        self.assertFalse(SafetyHold.objects.exists())


@time_machine.travel(NOW, tick=False)
class AlertAcknowledgeTests(PersonaTestCase):
    alert: SafetyAlert

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        hold = services.report_new_violence(case=cls.case, by=cls.alice, details="x")
        cls.alert = hold.alerts.get()

    def url(self, case=None, alert=None):
        return reverse("safety:alert_ack", args=[(case or self.case).pk, (alert or self.alert).pk])

    def test_the_supervisor_acknowledges_and_goes_back_to_the_dashboard(self):
        self.login(self.sam)
        answer = self.client.post(self.url(), {"next": reverse("dashboard")})
        self.assertRedirects(answer, reverse("dashboard"), fetch_redirect_response=False)
        self.alert.refresh_from_db()
        self.assertEqual(self.alert.acknowledged_by, self.sam)
        self.assertTrue(
            audit_log()
            .filter(action="safety.alert.ack", object_id=str(self.alert.pk), outcome=Outcome.OK)
            .exists()
        )
        self.assertTrue(SafetyHold.objects.get().is_open)  # seeing an alert lifts nothing

    def test_the_safety_advocate_acknowledges_too(self):
        self.login(self.ada)
        self.assertRedirects(
            self.client.post(self.url()),
            reverse("safety:case", args=[self.case.pk]),
            fetch_redirect_response=False,
        )
        self.alert.refresh_from_db()
        self.assertEqual(self.alert.acknowledged_by, self.ada)

    def test_a_keeper_cannot_silence_the_alert_meant_for_the_supervisor_and_advocate(self):
        self.login(self.alice)
        self.assertEqual(self.client.post(self.url()).status_code, 403)
        self.alert.refresh_from_db()
        self.assertIsNone(self.alert.acknowledged_at)
        self.assertTrue(audit_log().filter(action="safety.alert.ack", outcome=Outcome.REFUSED).exists())

    def test_an_address_elsewhere_is_not_followed(self):
        self.login(self.sam)
        answer = self.client.post(self.url(), {"next": "https://evil.example/"})
        self.assertRedirects(
            answer, reverse("safety:case", args=[self.case.pk]), fetch_redirect_response=False
        )

    def test_it_only_accepts_post(self):
        self.login(self.sam)
        self.assertEqual(self.client.get(self.url()).status_code, 405)

    def test_other_teams_and_organizations_get_404(self):
        for person in (self.bob, self.charlie, self.pat, self.eve):
            self.login(person)
            self.assertEqual(self.client.post(self.url()).status_code, 404, person)
        self.alert.refresh_from_db()
        self.assertIsNone(self.alert.acknowledged_at)
