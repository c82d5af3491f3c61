"""The dashboard's ranked worklist (issue 18, build 4): holds and alerts first, then overdue checks and plan reviews,
then approvals waiting, then cases without movement; each row one line with its action link; the counts at the
top; paged past 20; the same number of queries however long the list."""

import datetime

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.cases.models import Case, ParticipantRole, TeamRole
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.protocol.tests.worklist_rows import counts, worklist_rows
from circlekeeper.safety import services as safety
from circlekeeper.testing import PersonaTestCase, make_case, make_participant

NOW = datetime.datetime(2026, 5, 4, 17, 0, tzinfo=datetime.UTC)
LONG_AGO = datetime.date(2026, 3, 1)  # more than the 30 days without movement that make a case "stalled"
DASHBOARD = reverse("dashboard")


@time_machine.travel(NOW, tick=False)
class WorklistTests(PersonaTestCase):
    numbers = iter(range(100, 1000))

    def team_case(self, *, survivor: bool = True, **kwargs) -> Case:
        kwargs.setdefault("reference", f"HAR-2026-{next(self.numbers):04d}")
        case = make_case(
            self.harbor,
            team=(
                (self.alice, TeamRole.KEEPER),
                (self.ada, TeamRole.SAFETY_ADVOCATE),
                (self.sam, TeamRole.SUPERVISOR),
            ),
            **kwargs,
        )
        if survivor:
            make_participant(case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        return case

    def dashboard(self, person, **query):
        self.login(person)
        page = self.client.get(DASHBOARD, query)
        self.assertEqual(page.status_code, 200)
        return page

    def test_the_supervisor_sees_holds_and_alerts_then_approvals_then_quiet_cases(self):
        quiet = self.team_case(opened_on=LONG_AGO)
        ready = self.team_case(opened_on=LONG_AGO, survivor=False)
        Walk(ready, self.alice, self.sam).to_dialogue()
        held = self.team_case(opened_on=LONG_AGO)
        safety.report_new_violence(case=held, by=self.alice, details="x")

        page = self.dashboard(self.sam)
        rows = worklist_rows(page)
        texts = [row.text for row in rows]

        self.assertEqual(
            [text.split(" · ")[0] for text in texts],
            [held.reference, held.reference, ready.reference, "HAR-2026-0001", quiet.reference],
        )
        self.assertIn("Safety alert: New violence was reported", " ".join(texts[:2]))
        self.assertIn("waiting for a newer safety check below high", " ".join(texts[:2]))
        self.assertIn(reverse("protocol:approve", args=[ready.pk]), rows[2].links)
        self.assertEqual(rows[4].links, [reverse("protocol:timeline", args=[quiet.pk])])
        # The alert is acknowledged from its row, without JavaScript.
        alert = held.safety_alerts.get()
        self.assertIn(reverse("safety:alert_ack", args=[held.pk, alert.pk]), rows[0].forms + rows[1].forms)
        board = counts(page)
        self.assertEqual(board["Safety alerts"], 1)
        self.assertEqual(board["Holds waiting for your review"], 1)
        self.assertEqual(board["Joint dialogues waiting for your approval"], 1)
        self.assertEqual(board["Open cases without movement for 30 days"], 2)
        # The supervisor's role shows no keeper's lists.
        self.assertNotIn("Safety checks due", board)

    def test_the_advocate_sees_the_hold_before_the_checks_and_plans(self):
        checked = self.team_case()
        safety.save_plan(
            survivor=checked.participants.get(), revision=0, by=self.ada, people_to_call="sister"
        )
        held = self.team_case()
        safety.report_new_violence(case=held, by=self.alice, details="x")

        rows = [row.text for row in worklist_rows(self.dashboard(self.ada))]

        ranks = []
        for text in rows:
            if "Safety alert" in text or "on hold since" in text:
                ranks.append(0)
            elif "safety check" in text or "plan" in text:
                ranks.append(1)
            else:
                ranks.append(9)
        self.assertEqual(ranks, sorted(ranks), rows)
        self.assertEqual(ranks.count(0), 2)  # the alert (she is the case's safety advocate) and the hold
        self.assertIn(f"{held.reference} · Survivor A: no plan yet", " | ".join(rows))
        self.assertNotIn(f"{checked.reference} · Survivor A: no plan yet", " | ".join(rows))

    def test_past_20_rows_the_list_is_paged_and_the_counts_stay_whole(self):
        for _ in range(23):
            self.team_case(opened_on=LONG_AGO)

        first = self.dashboard(self.sam)
        self.assertEqual(len(worklist_rows(first)), 20)
        self.assertContains(first, "Page 1 of 2")
        self.assertEqual(counts(first)["Open cases without movement for 30 days"], 24)
        second = self.dashboard(self.sam, page=2)
        self.assertEqual(len(worklist_rows(second)), 4)
        self.assertContains(second, '<ol class="task-list dashboard-list worklist" start="21">')
        seen = {row.text for row in worklist_rows(first)} | {row.text for row in worklist_rows(second)}
        self.assertEqual(len(seen), 24)

    def test_only_the_rows_of_the_page_shown_are_made(self):
        # 24 rows, 20 a page: the words and links of the 4 rows on another page are never made (issue 23: a
        # keeper with hundreds of overdue checks paid for every row on every visit).
        from unittest import mock

        from circlekeeper.protocol import worklist

        for _ in range(23):
            self.team_case(opened_on=LONG_AGO)
        made = mock.Mock(wraps=worklist.WorkItem)
        with mock.patch.object(worklist, "WorkItem", made):
            first = self.dashboard(self.sam)
        self.assertEqual(len(worklist_rows(first)), 20)
        self.assertEqual(made.call_count, 20)
        self.assertEqual(counts(first)["Open cases without movement for 30 days"], 24)

    def test_the_pages_cost_the_same_with_24_rows_as_with_60(self):
        for _ in range(23):
            self.team_case(opened_on=LONG_AGO)
        self.dashboard(self.sam)
        with CaptureQueriesContext(connection) as few:
            self.client.get(DASHBOARD, {"page": 2})
        for _ in range(36):
            case = self.team_case(opened_on=LONG_AGO)
            safety.report_new_violence(case=case, by=self.alice, details="x")
        with CaptureQueriesContext(connection) as many:
            page = self.client.get(DASHBOARD, {"page": 2})
        self.assertEqual(len(worklist_rows(page)), 20)
        self.assertEqual(len(many), len(few))

    def test_only_the_persons_own_team_cases_and_nothing_for_roles_that_work_no_cases(self):
        held = self.team_case(opened_on=LONG_AGO)
        safety.report_new_violence(case=held, by=self.alice, details="x")
        for person in (self.bob, self.charlie):
            self.assertNotIn(
                held.reference, " ".join(row.text for row in worklist_rows(self.dashboard(person)))
            )
        for person in (self.pat, self.eve, self.nora):
            page = self.dashboard(person)
            self.assertNotContains(page, 'id="worklist"')
            self.assertNotContains(page, held.reference)
