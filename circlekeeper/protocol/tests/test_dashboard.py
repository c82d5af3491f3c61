"""The dashboard's protocol lists: a keeper's meetings today and this week and what each open case needs next; a
supervisor's joint dialogues waiting for approval and cases without movement. Only the person's own teams' cases,
and a number of queries that does not grow with the cases."""

import datetime

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.cases.models import (
    Case,
    CaseStatus,
    EventKind,
    Participant,
    ParticipantRole,
    Stage,
    TeamRole,
    Track,
    record_event,
)
from circlekeeper.protocol import services
from circlekeeper.protocol.dashboard import GATES_READ
from circlekeeper.protocol.models import Acknowledgment, Invitation, Meeting, MeetingKind, MeetingStatus
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.protocol.tests.worklist_rows import counts, worklist_rows
from circlekeeper.safety import services as safety
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, make_case, make_participant

# 10:00 in the organization's time zone (America/Los_Angeles).
NOW = datetime.datetime(2026, 5, 4, 17, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


def section(page, heading_id: str) -> str:
    """The text of one section of the page (from its heading to its end), with its whitespace collapsed."""
    html = page.content.decode()
    start = html.index(f'id="{heading_id}"')
    return " ".join(html[start : html.index("</section>", start)].split())


def approvals(page):
    return [row for row in worklist_rows(page) if row.text.endswith("Review and approve")]


@time_machine.travel(NOW, tick=False)
class DashboardTestCase(PersonaTestCase):
    numbers = iter(range(100, 1000))

    def team_case(self, team=None, *, survivor: bool = True, **kwargs) -> Case:
        team = team or (
            (self.alice, TeamRole.KEEPER),
            (self.ada, TeamRole.SAFETY_ADVOCATE),
            (self.sam, TeamRole.SUPERVISOR),
        )
        kwargs.setdefault("reference", f"HAR-2026-{next(self.numbers):04d}")
        case = make_case(self.harbor, team=team, **kwargs)
        if survivor:
            make_participant(case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        return case

    def dashboard(self, person):
        self.login(person)
        page = self.client.get(reverse("dashboard"))
        self.assertEqual(page.status_code, 200)
        return page


class KeeperDayTests(DashboardTestCase):
    survivor: Participant
    bobs_survivor: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        cls.bobs_survivor = make_participant(
            cls.other_team_case, role=ParticipantRole.SURVIVOR, label="Survivor Z"
        )

    def meeting(self, at, *, case=None, by=None) -> Meeting:
        case = case or self.case
        survivor = case.participants.get(role=ParticipantRole.SURVIVOR)
        meeting = services.schedule_meeting(
            case=case,
            kind=MeetingKind.PREPARATION,
            starts_at=max(at, NOW + datetime.timedelta(minutes=1)),
            invitees=[survivor],
            by=by or self.alice,
            place="12 Hidden Lane",
        )
        # Meetings earlier today were booked before: scheduling itself is never in the past.
        Meeting.objects.filter(pk=meeting.pk).update(starts_at=at)
        meeting.starts_at = at
        return meeting

    def test_a_keeper_sees_their_scheduled_meetings_today_and_in_the_coming_week(self):
        later_today = self.meeting(NOW + 3 * HOUR)
        this_morning = self.meeting(NOW - 2 * HOUR)
        in_three_days = self.meeting(NOW + 3 * DAY)
        self.meeting(NOW + 8 * DAY)
        self.meeting(NOW - DAY)
        services.cancel_meeting(meeting=self.meeting(NOW + 4 * HOUR), by=self.alice)
        bobs = self.meeting(NOW + HOUR, case=self.other_team_case, by=self.bob)

        page = self.dashboard(self.alice)

        today = section(page, "meetings-today")
        for meeting in (this_morning, later_today):
            self.assertIn(reverse("protocol:meeting", args=[self.case.pk, meeting.pk]), today)
        self.assertEqual(today.count("HAR-2026-0001 · Preparation meeting"), 2)
        self.assertIn("with Survivor A", today)
        self.assertLess(
            today.index(f"/meetings/{this_morning.pk}/"), today.index(f"/meetings/{later_today.pk}/")
        )
        week = section(page, "meetings-week")
        self.assertIn(reverse("protocol:meeting", args=[self.case.pk, in_three_days.pk]), week)
        self.assertEqual(week.count("<li>"), 1)
        # Never where: a place can reveal where a survivor is.
        self.assertNotContains(page, "Hidden Lane")
        self.assertNotContains(page, "Survivor Z")
        self.assertIn(f"/meetings/{bobs.pk}/", section(self.dashboard(self.bob), "meetings-today"))
        self.assertNotContains(self.dashboard(self.charlie), "HAR-2026")

    def test_each_open_case_says_its_stage_and_the_first_thing_its_gate_still_needs(self):
        at_intake = self.team_case()
        run_check(at_intake.participants.get(), by=self.alice, code="immediate_danger")
        services.advance(case=at_intake, by=self.alice)
        screened = self.team_case()
        run_check(screened.participants.get(), by=self.alice, code="immediate_danger")
        on_hold = self.team_case()
        safety.report_new_violence(case=on_hold, by=self.ada, details="x")
        self.team_case(status=CaseStatus.CLOSED, closed_on=datetime.date(2026, 4, 1))

        steps = section(self.dashboard(self.alice), "next-steps")

        self.assertIn(
            f'<a href="/cases/{self.case.pk}/">HAR-2026-0001</a> · Referral and first contact: '
            f'<a href="{reverse("safety:case", args=[self.case.pk])}">The immediate-danger screen',
            steps,
        )
        self.assertIn(
            f"{at_intake.reference}</a> · Intake: getting clear: "
            f'<a href="{reverse("cases:intake", args=[at_intake.pk])}">What happened, in the survivor',
            steps,
        )
        self.assertIn(
            f"{on_hold.reference}</a> · Referral and first contact · <strong>on safety hold</strong>", steps
        )
        self.assertIn(
            f'{screened.reference}</a> · Referral and first contact: <a href="'
            f'{reverse("protocol:case", args=[screened.pk])}">ready to move on to Intake: getting clear',
            steps,
        )
        self.assertEqual(steps.count("<li"), 4)  # not the closed case, not Bob's
        self.assertNotIn("HAR-2026-0002", steps)

    def test_only_the_10_cases_that_moved_least_recently_are_read_and_the_rest_counted(self):
        moved = self.team_case()
        record_event(moved, EventKind.DETAILS_CHANGED, participant="Survivor A")
        for _ in range(11):
            self.team_case()
        steps = section(self.dashboard(self.alice), "next-steps")
        self.assertEqual(steps.count("<li"), GATES_READ)
        self.assertIn("And 3 more open cases", steps)
        self.assertNotIn(moved.reference, steps)

    def test_the_keepers_day_costs_the_same_with_11_cases_as_with_30(self):
        def add(count: int) -> None:
            for n in range(count):
                case = self.team_case()
                self.meeting(NOW + (n % 5) * DAY + HOUR, case=case)

        add(10)
        self.dashboard(self.alice)
        with CaptureQueriesContext(connection) as few:
            self.client.get(reverse("dashboard"))
        add(19)
        with CaptureQueriesContext(connection) as many:
            page = self.client.get(reverse("dashboard"))
        self.assertEqual(section(page, "next-steps").count("<li"), GATES_READ)
        self.assertEqual(len(many), len(few))
        # Issue 23: the open cases counted once, and the survivors and latest checks of the GATES_READ cases read
        # together (gates.preread), not two queries a case: 17 here (36 before; 38 on the benchmark data).
        self.assertLessEqual(len(many), 17)


class SupervisorQueueTests(DashboardTestCase):
    def test_a_prepared_direct_dialogue_waits_for_the_supervisors_approval_until_given(self):
        Walk(self.case, self.alice, self.sam).to_dialogue()

        waiting = approvals(self.dashboard(self.sam))

        self.assertEqual(len(waiting), 1)
        self.assertTrue(waiting[0].text.startswith("HAR-2026-0001 · Dialogue: every other condition"))
        self.assertEqual(waiting[0].links, [reverse("protocol:approve", args=[self.case.pk])])
        self.assertNotIn("Joint dialogues waiting for your approval", counts(self.dashboard(self.alice)))
        services.approve_joint_dialogue(case=self.case, by=self.sam)
        page = self.dashboard(self.sam)
        self.assertEqual(approvals(page), [])
        self.assertEqual(counts(page)["Joint dialogues waiting for your approval"], 0)

    def test_a_case_not_ready_on_hold_on_another_track_or_another_team_is_not_waiting(self):
        Walk(self.case, self.alice, self.sam).to_preparation()  # no preparation meetings yet
        on_hold = self.team_case(survivor=False)
        Walk(on_hold, self.alice, self.sam).to_dialogue()
        safety.report_new_violence(case=on_hold, by=self.ada, details="x")
        indirect = self.team_case(survivor=False)
        Walk(indirect, self.alice, self.sam, Track.INDIRECT_DIALOGUE).to_dialogue()
        Walk(self.other_team_case, self.bob, self.sam).to_dialogue()  # Sam is not on Bob's team

        self.assertEqual(approvals(self.dashboard(self.sam)), [])

    def test_open_cases_without_movement_for_30_days_are_listed_for_their_supervisor(self):
        opened = datetime.date(2026, 3, 1)
        quiet = self.team_case(opened_on=opened)
        record_event(quiet, EventKind.DETAILS_CHANGED, at=NOW - 40 * DAY, participant="Survivor A")
        busy = self.team_case(opened_on=opened)
        record_event(busy, EventKind.DETAILS_CHANGED, at=NOW - 10 * DAY, participant="Survivor A")
        new = self.team_case(opened_on=datetime.date(2026, 4, 25))
        closed = self.team_case(
            opened_on=opened, status=CaseStatus.CLOSED, closed_on=datetime.date(2026, 3, 2)
        )

        page = self.dashboard(self.sam)

        self.assertEqual(counts(page)["Open cases without movement for 30 days"], 2)
        rows = [row for row in worklist_rows(page) if row.text.endswith("Open the timeline")]
        stalled = " | ".join(row.text for row in rows)
        self.assertIn(f"{quiet.reference} · Referral and first contact: last recorded on", stalled)
        self.assertIn([reverse("protocol:timeline", args=[quiet.pk])], [row.links for row in rows])
        self.assertIn(
            "HAR-2026-0001 · Referral and first contact: nothing recorded since it opened on", stalled
        )
        # Never moved (since it opened on 1 March) before moved long ago (25 March).
        self.assertLess(stalled.index("HAR-2026-0001"), stalled.index(quiet.reference))
        for case in (busy, new, closed, self.other_team_case):
            self.assertNotIn(case.reference, stalled)
        self.assertNotIn("Open cases without movement for 30 days", counts(self.dashboard(self.alice)))
        self.assertNotContains(self.dashboard(self.bob), quiet.reference)
        self.assertNotContains(self.dashboard(self.charlie), "HAR-2026")

    def add_candidates(self, count: int) -> None:
        """Direct-track cases in preparation whose joint gate holds but for the approval."""
        for _ in range(count):
            case = self.team_case(opened_on=datetime.date(2026, 3, 1))
            Case.objects.filter(pk=case.pk).update(track=Track.DIRECT_DIALOGUE, stage=Stage.PREPARATION)
            survivor = case.participants.get()
            harm = make_participant(case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
            for person in (survivor, harm):
                meeting = Meeting.objects.create(
                    organization=self.harbor,
                    case=case,
                    kind=MeetingKind.PREPARATION,
                    starts_at=NOW - DAY,
                    status=MeetingStatus.HELD,
                    held_at=NOW - DAY,
                    scheduled_by=self.alice,
                )
                Invitation.objects.create(
                    organization=self.harbor, meeting=meeting, participant=person, attended=True
                )
            make_participant(case, role=ParticipantRole.SAFETY_MONITOR, label="Monitor E")
            run_check(survivor, by=self.ada)
            Acknowledgment.objects.create(
                organization=self.harbor,
                case=case,
                participant=harm,
                meeting=meeting,
                in_their_words="x",
                recorded_by=self.alice,
            )

    def test_the_supervisors_queue_costs_the_same_with_11_candidates_as_with_25(self):
        candidates = self.add_candidates
        candidates(11)
        self.dashboard(self.sam)
        with CaptureQueriesContext(connection) as few:
            page = self.client.get(reverse("dashboard"))
        self.assertIn(
            "1 more direct-track case in preparation or dialogue was not checked", section(page, "worklist")
        )
        candidates(14)
        with CaptureQueriesContext(connection) as many:
            page = self.client.get(reverse("dashboard"))
        self.assertIn("15 more direct-track cases", section(page, "worklist"))
        self.assertEqual(len(many), len(few))

    def test_reading_the_joint_gates_costs_the_same_for_2_candidates_as_for_6(self):
        # Issue 23: each candidate's joint gate (consents, track choice, preparation meetings, acknowledgment,
        # plan, monitor, approval) read with the others' (gates.preread(joint=True)), not a dozen queries each.
        def ready(count: int) -> None:
            for _ in range(count):
                Walk(self.team_case(survivor=False), self.alice, self.sam).to_dialogue()

        ready(2)
        self.dashboard(self.sam)
        with CaptureQueriesContext(connection) as few:
            page = self.client.get(reverse("dashboard"))
        self.assertEqual(len(approvals(page)), 2)
        ready(4)
        with CaptureQueriesContext(connection) as many:
            page = self.client.get(reverse("dashboard"))
        self.assertEqual(len(approvals(page)), 6)
        self.assertEqual(len(many), len(few))
        # 21 here; before, 34 with 2 candidates and 70 with 6 (nine queries a candidate).
        self.assertLessEqual(len(many), 21)
