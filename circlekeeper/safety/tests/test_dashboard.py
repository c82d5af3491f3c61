"""The dashboard's safety lists: keepers and advocates see their open holds, overdue safety checks and plans due
for review; supervisors and advocates see their unacknowledged alerts; supervisors see the holds waiting for
their review. Each list is one query, however many cases."""

import datetime

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.cases.models import CaseStatus, Participant, ParticipantRole, TeamRole
from circlekeeper.protocol.tests.worklist_rows import counts, worklist_rows
from circlekeeper.safety import services
from circlekeeper.safety.models import SafetyPlan
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, audit_log, make_case, make_participant

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def section(page, heading_id: str) -> str:
    """The text of one section of the page (from its heading to its end), with its whitespace collapsed."""
    html = page.content.decode()
    start = html.index(f'id="{heading_id}"')
    return " ".join(html[start : html.index("</section>", start)].split())


@time_machine.travel(NOW, tick=False)
class DashboardTests(PersonaTestCase):
    survivor: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")

    def team_case(self, **kwargs):
        return make_case(
            self.harbor,
            team=(
                (self.alice, TeamRole.KEEPER),
                (self.ada, TeamRole.SAFETY_ADVOCATE),
                (self.sam, TeamRole.SUPERVISOR),
            ),
            **kwargs,
        )

    def dashboard(self, person):
        self.login(person)
        page = self.client.get(reverse("dashboard"))
        self.assertEqual(page.status_code, 200)
        return page

    def test_keepers_and_advocates_see_their_cases_on_hold(self):
        services.report_new_violence(case=self.case, by=self.alice, details="x")
        for person in (self.alice, self.ada):
            page = self.dashboard(person)
            self.assertEqual(counts(page)["Your cases on safety hold"], 1)
            held = [row for row in worklist_rows(page) if row.text.startswith("HAR-2026-0001 · New violence")]
            self.assertEqual(len(held), 1, person)
            self.assertIn(reverse("safety:case", args=[self.case.pk]), held[0].links)
        self.assertNotContains(self.dashboard(self.bob), "HAR-2026-0001")
        self.assertNotContains(self.dashboard(self.charlie), "HAR-2026-0001")

    def test_opening_the_safety_lists_is_audited_and_a_dashboard_without_them_is_not(self):

        self.dashboard(self.ada)
        self.dashboard(self.pat)
        events = audit_log().filter(action="safety.dashboard")
        self.assertEqual(list(events.values_list("actor_id", flat=True)), [self.ada.pk])

    def test_a_survivor_never_checked_or_checked_too_long_ago_is_overdue(self):
        recent_case = self.team_case(reference="HAR-2026-0010")
        recent = make_participant(recent_case, label="Survivor R")
        run_check(recent, by=self.ada, at=NOW - 10 * DAY)
        old_case = self.team_case(reference="HAR-2026-0011")
        old = make_participant(old_case, label="Survivor O")
        run_check(old, by=self.ada, at=NOW - 40 * DAY)
        screened_case = self.team_case(reference="HAR-2026-0012")
        screened = make_participant(screened_case, label="Survivor S")
        run_check(screened, by=self.ada, code="immediate_danger", at=NOW - DAY)
        closed = self.team_case(reference="HAR-2026-0013", status=CaseStatus.CLOSED, closed_on=NOW.date())
        make_participant(closed, label="Survivor C")

        rows = worklist_rows(self.dashboard(self.alice))
        due = " | ".join(row.text for row in rows if row.text.endswith("Run the safety check"))
        self.assertIn("HAR-2026-0001 · Survivor A: no full safety check yet", due)
        self.assertIn("HAR-2026-0011 · Survivor O: last full safety check on 03/25/2026", due)
        self.assertIn("HAR-2026-0012 · Survivor S: no full safety check yet", due)  # a screen is not one
        self.assertNotIn("Survivor R", due)
        self.assertNotIn("Survivor C", due)

    def test_plans_due_for_review_or_missing_are_listed(self):
        fresh_case = self.team_case(reference="HAR-2026-0020")
        fresh = make_participant(fresh_case, label="Survivor F")
        services.save_plan(survivor=fresh, revision=0, by=self.ada, people_to_call="sister")
        stale_case = self.team_case(reference="HAR-2026-0021")
        stale = make_participant(stale_case, label="Survivor T")
        with time_machine.travel(NOW - 45 * DAY, tick=False):
            services.save_plan(survivor=stale, revision=0, by=self.ada, people_to_call="brother")
        changed_case = self.team_case(reference="HAR-2026-0022")
        changed = make_participant(changed_case, label="Survivor X")
        services.save_plan(survivor=changed, revision=0, by=self.ada, people_to_call="friend")
        services.report_new_violence(case=changed_case, by=self.alice, details="x")
        self.assertIsNotNone(SafetyPlan.objects.get(participant=changed).review_due_since)

        rows = worklist_rows(self.dashboard(self.ada))
        due = " | ".join(row.text for row in rows if row.text.endswith("Review the safety plan"))
        self.assertIn("HAR-2026-0001 · Survivor A: no plan yet", due)
        self.assertIn("HAR-2026-0021 · Survivor T: due for its regular review", due)
        self.assertIn("HAR-2026-0022 · Survivor X: due for review since the risk changed", due)
        self.assertNotIn("Survivor F: ", due)
        stale_row = next(row for row in rows if "Survivor T: due" in row.text)
        self.assertIn(reverse("safety:plan", args=[stale_case.pk, stale.pk]), stale_row.links)

    def test_the_supervisor_and_the_advocate_see_unacknowledged_alerts_and_the_keeper_does_not(self):
        hold = services.report_new_violence(case=self.case, by=self.alice, details="x")
        ack = reverse("safety:alert_ack", args=[self.case.pk, hold.alerts.get().pk])
        for person in (self.sam, self.ada):
            page = self.dashboard(person)
            self.assertContains(page, "Safety alerts")
            self.assertContains(page, "New violence was reported")
            self.assertContains(page, ack)
        self.assertNotContains(self.dashboard(self.alice), ack)
        self.assertNotContains(self.dashboard(self.alice), "Safety alerts")

        self.login(self.sam)
        self.client.post(ack, {"next": reverse("dashboard")})
        self.assertEqual(counts(self.dashboard(self.sam))["Safety alerts"], 0)

    def test_supervisors_see_the_holds_waiting_for_their_review_and_whether_they_can_lift_them(self):
        run_check(self.survivor, "weapon", by=self.ada, at=NOW - DAY)
        hold = self.case.safety_holds.get()
        services.SafetyHold.objects.filter(pk=hold.pk).update(opened_at=NOW - DAY)
        page = self.dashboard(self.sam)
        self.assertContains(page, "Holds waiting for your review")
        self.assertContains(page, "waiting for a newer safety check below high")
        self.assertNotContains(page, reverse("safety:hold_lift", args=[self.case.pk, hold.pk]))

        run_check(self.survivor, by=self.ada, at=NOW - DAY / 2)
        page = self.dashboard(self.sam)
        self.assertContains(page, "a newer check below high is in: review and lift")
        self.assertContains(page, reverse("safety:hold_lift", args=[self.case.pk, hold.pk]))
        self.assertNotContains(self.dashboard(self.alice), "Holds waiting for your review")

    def test_program_admins_find_the_risk_instruments_page(self):
        page = self.dashboard(self.pat)
        self.assertContains(page, reverse("safety:risk_instruments"))
        self.assertNotContains(page, 'id="worklist"')

    def test_the_number_of_queries_does_not_grow_with_cases_or_holds(self):
        def grow(start: int, stop: int) -> None:
            for n in range(start, stop):
                case = self.team_case(reference=f"HAR-2026-{100 + n:04d}")
                survivor = make_participant(case, label=f"Survivor {n}")
                run_check(survivor, "strangulation", by=self.ada, at=NOW - (40 + n) * DAY)
                services.save_plan(survivor=survivor, revision=0, by=self.ada, signals="porch light")
                services.report_new_violence(case=case, by=self.alice, details=f"incident {n}")

        # More cases than the protocol lists read the gates of (SHOWN, see protocol/dashboard.py), so that
        # growing further adds no query there either.
        with self.captureOnCommitCallbacks(execute=True):
            grow(500, 521)
        for person in (self.alice, self.ada, self.sam):
            self.login(person)
            self.client.get(reverse("dashboard"))
            with CaptureQueriesContext(connection) as small:
                before = self.client.get(reverse("dashboard"))
            grow(10 * person.pk, 10 * person.pk + 8)
            with CaptureQueriesContext(connection) as large:
                page = self.client.get(reverse("dashboard"))
            # The lists are capped: the new cases show in their "and N more" counts.
            self.assertNotEqual(page.content, before.content, person)
            self.assertEqual(len(small), len(large), person)
            self.assertLessEqual(len(large), 80, person)
