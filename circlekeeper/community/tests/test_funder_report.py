"""The quarterly funder report: cases and people unduplicated, cases by track and stage at the quarter's end,
services, community events and trainings, outcomes; small cells suppressed with the network's threshold (and
complementary cells in tables with totals), on the page and in the CSV (formula-escaped); the default quarter,
a bad one refused, every opening audited, a query budget that does not grow with the data, and a suppression
remembered for the same data, quarters and settings (no linear programme solved on a second view)."""

import csv
import datetime
import io
import time
import uuid
from decimal import Decimal
from typing import Any
from unittest import mock

import scipy.optimize
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.http import urlencode

from circlekeeper.accounts.reauth import REAUTHENTICATED_AT_KEY
from circlekeeper.cases.models import ParticipantRole, Stage, Track, TrackChoice
from circlekeeper.community import activities
from circlekeeper.community.funder_report import Quarter, build_report
from circlekeeper.community.models import AttendeeRole, Competency
from circlekeeper.community.tests.test_facilitators_factory import make_event, make_facilitator, make_training
from circlekeeper.evaluation import disclosure
from circlekeeper.evaluation.models import (
    Anchor,
    Enrollment,
    EvaluationPlan,
    PlanTimepoint,
    Timepoint,
    TimepointStatus,
)
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.instruments.models import Instrument, InstrumentVersion, Response
from circlekeeper.lib.keys import clear_key_cache
from circlekeeper.protocol.models import Meeting, MeetingKind, MeetingStatus, Transition, TransitionKind
from circlekeeper.testing import PersonaTestCase, audit_log, make_case, make_participant

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)
Q1 = Quarter(2026, 1)


def at(day: datetime.date, hour: int = 12) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=datetime.UTC)


def mark_reauthenticated_in(session) -> None:
    session[REAUTHENTICATED_AT_KEY] = time.time()


class ReportData(PersonaTestCase):
    """Harbor in Q1 2026: the personas' two cases (opened 1 March) are served; two others are not."""

    def login(self, user):
        """Signed in, and confirmed again a moment ago: the CSV is a file leaving the system (export guard)."""
        super().login(user)
        session = self.client.session
        mark_reauthenticated_in(session)
        session.save()

    def set_threshold(self, n):
        self.network.suppression_threshold = n
        self.network.save()
        self.harbor.refresh_from_db()

    def meeting(self, kind, held_on, status=MeetingStatus.HELD):
        return Meeting.objects.create(
            organization=self.harbor,
            case=self.case,
            kind=kind,
            starts_at=at(held_on),
            status=status,
            held_at=at(held_on) if status == MeetingStatus.HELD else None,
            scheduled_by=self.alice,
        )

    def choose(self, case, survivor, track, recorded_on):
        return TrackChoice.objects.create(
            organization=self.harbor,
            case=case,
            track=track,
            survivor=survivor,
            explained_by=self.alice,
            explained_on=recorded_on,
            recorded_by=self.alice,
            recorded_at=at(recorded_on),
        )

    def move(self, case, from_stage, to_stage, on):
        return Transition.objects.create(
            organization=self.harbor,
            case=case,
            kind=TransitionKind.ADVANCE,
            from_stage=from_stage,
            to_stage=to_stage,
            by=self.sam,
            at=at(on),
        )


@time_machine.travel(NOW, tick=False)
class CountsTests(ReportData):
    def setUp(self):
        self.set_threshold(1)  # nothing suppressed: the counts themselves are under test

    def test_cases_and_people_are_counted_once(self):
        maria: dict[str, Any] = {"name": "Maria Lopez", "date_of_birth": datetime.date(1990, 5, 1)}
        make_participant(self.case, label="Survivor A", **maria)
        make_participant(self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        # The same person (same name and date of birth) in a later case, as a support person: one person.
        make_participant(
            self.other_team_case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister", **maria
        )
        # No date of birth: no blind index, so counted as the participant.
        make_participant(self.other_team_case, label="Survivor C", name="Ana")
        closed_before = make_case(
            self.harbor, opened_on=datetime.date(2025, 6, 1), closed_on=datetime.date(2025, 12, 1)
        )
        opened_after = make_case(self.harbor, opened_on=datetime.date(2026, 4, 2))
        for case in (closed_before, opened_after):
            make_participant(case, label="Elsewhere", **maria)
        for from_stage, to_stage, on in (
            (Stage.REFERRAL, Stage.INTAKE, datetime.date(2026, 3, 5)),
            (Stage.INTAKE, Stage.SAFETY_PLANNING, datetime.date(2026, 3, 10)),
        ):
            self.move(self.case, from_stage, to_stage, on)

        report = build_report(self.harbor, Q1)
        self.assertEqual(report.figure("cases_served").value, 2)
        self.assertEqual(report.figure("cases_opened").value, 2)
        self.assertEqual(report.figure("people_served").value, 3)
        roles = {row.label: row.cells[0] for row in report.table("people_by_role").rows}
        self.assertEqual(
            (roles["Survivor"], roles["Person who caused harm"], roles["Support person for the survivor"]),
            (1, 1, 1),
        )
        self.assertEqual(sum(roles.values()), 3)
        # A case with two stage changes is one case in the track-by-stage table.
        self.assertEqual(report.table("cases_by_track_and_stage").total, 2)

    def test_track_and_stage_are_taken_at_the_end_of_the_quarter(self):
        survivor = make_participant(self.case)
        self.choose(self.case, survivor, Track.DIRECT_DIALOGUE, datetime.date(2026, 2, 1))
        self.choose(self.case, survivor, Track.SUPPORT_ONLY, datetime.date(2026, 4, 15))
        self.case.track, self.case.stage = Track.SUPPORT_ONLY, Stage.MAPPING_SUPPORT
        self.case.save()
        self.move(self.case, Stage.REFERRAL, Stage.INTAKE, datetime.date(2026, 3, 5))
        self.move(self.case, Stage.INTAKE, Stage.SAFETY_PLANNING, datetime.date(2026, 3, 10))
        self.move(self.case, Stage.SAFETY_PLANNING, Stage.MAPPING_SUPPORT, datetime.date(2026, 4, 10))
        table = build_report(self.harbor, Q1).table("cases_by_track_and_stage")
        stages = list(Stage.values)
        rows = {row.label: row for row in table.rows}
        self.assertEqual(rows["Direct dialogue"].cells[stages.index(Stage.SAFETY_PLANNING)], 1)
        self.assertEqual(rows["Direct dialogue"].total, 1)
        self.assertEqual(rows["Support only"].total, 0)
        # The other case has no history: as it is now (no track, first stage).
        self.assertEqual(rows["Not chosen yet"].cells[stages.index(Stage.REFERRAL)], 1)

    def test_services_events_and_trainings_of_the_quarter(self):
        for kind, day in (
            (MeetingKind.PREPARATION, datetime.date(2026, 1, 10)),
            (MeetingKind.PREPARATION, datetime.date(2026, 2, 10)),
            (MeetingKind.CIRCLE, datetime.date(2026, 3, 31)),
            (MeetingKind.CIRCLE, datetime.date(2026, 4, 1)),  # next quarter
        ):
            self.meeting(kind, day)
        self.meeting(MeetingKind.SHUTTLE, datetime.date(2026, 2, 1), status=MeetingStatus.CANCELLED)
        make_event(
            self.harbor, self.pat, attendance={AttendeeRole.COMMUNITY_MEMBER: 20, AttendeeRole.YOUTH: 5}
        )
        make_event(
            self.harbor, self.pat, date=datetime.date(2026, 4, 20), attendance={AttendeeRole.YOUTH: 50}
        )
        training = make_training(
            self.harbor,
            self.pat,
            competencies=[Competency.CHILDREN],
            hours="6",
            attendance={AttendeeRole.FACILITATOR: 3},
        )
        for name, completed in (("A", True), ("B", True), ("C", False)):
            activities.record_training(
                event=training,
                facilitator=make_facilitator(self.harbor, self.pat, name=name),
                hours=Decimal(6 if completed else 2),
                completed=completed,
                by=self.pat,
            )
        report = build_report(self.harbor, Q1)
        meetings = {row.label: row.cells[0] for row in report.table("meetings_by_kind").rows}
        self.assertEqual(meetings[str(MeetingKind.PREPARATION.label)], 2)
        self.assertEqual(meetings[str(MeetingKind.CIRCLE.label)], 1)
        self.assertEqual(meetings[str(MeetingKind.SHUTTLE.label)], 0)
        self.assertEqual(report.table("meetings_by_kind").totals, [3])
        events = {row.label: row.cells for row in report.table("events_by_kind").rows}
        self.assertEqual(events["Community conversation"], [1, 25])
        self.assertEqual(events["Circle-keeper training"], [1, 3])
        self.assertEqual(report.table("events_by_kind").totals, [2, 28])
        self.assertEqual(report.figure("trainings").value, 1)
        self.assertEqual(report.figure("training_hours").value, "6")
        self.assertEqual(report.figure("facilitators_trained").value, 2)
        self.assertEqual(report.figure("facilitator_hours").value, "12")


@time_machine.travel(NOW, tick=False)
class SuppressionTests(ReportData):
    def setUp(self):
        for n in range(12):
            make_participant(self.case, label=f"Survivor {n}")
        make_participant(self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        make_participant(self.other_team_case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person C")

    def test_small_counts_are_shown_as_below_the_threshold_and_cannot_be_worked_out(self):
        report = build_report(self.harbor, Q1)
        self.assertEqual(report.threshold, 11)
        self.assertEqual(report.figure("cases_served").value, "<11")
        roles = report.table("people_by_role")
        shown = {row.label: row.cells[0] for row in roles.rows}
        self.assertEqual(shown["Person who caused harm"], "<11")
        # 12 survivors, 14 people: showing both would give the 2 away, so one of them is hidden too.
        assert roles.totals is not None
        self.assertIn("*", (shown["Survivor"], roles.totals[0]))
        self.assertEqual(report.table("cases_by_track_and_stage").total, "<11")

    def test_cases_served_is_shown_exactly_as_the_track_and_stage_table_shows_its_total(self):
        # The two are the same number: were they shown differently, a hidden cell would come back.
        for threshold in (2, 5, 11):
            self.set_threshold(threshold)
            report = build_report(self.harbor, Q1)
            self.assertEqual(
                report.figure("cases_served").value, report.table("cases_by_track_and_stage").total
            )

    def test_the_threshold_is_the_networks(self):
        self.set_threshold(2)
        report = build_report(self.harbor, Q1)
        self.assertEqual(report.figure("cases_served").value, 2)
        self.assertEqual(
            {row.label: row.cells[0] for row in report.table("people_by_role").rows}["Survivor"], 12
        )

    def test_the_page_and_the_csv_show_only_the_suppressed_values(self):
        self.login(self.eve)
        page = self.client.get(reverse("community:funder_report"), {"quarter": "2026-Q1"})
        self.assertContains(page, "Harbor: report for Q1 2026")
        self.assertContains(page, "Counts from 1 to 10 are shown as &lt;11")
        self.assertContains(page, "<dd>&lt;11</dd>", html=True)
        response = self.client.get(reverse("community:funder_report_csv"), {"quarter": "2026-Q1"})
        self.assertEqual(response["Content-Type"], "text/csv; charset=utf-8")
        self.assertIn('filename="funder-report-harbor-2026-Q1.csv"', response["Content-Disposition"])
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        self.assertEqual(rows[0], ["Section", "What", "Column", "Value"])
        values = {(r[0], r[1], r[2]): r[3] for r in rows}
        self.assertEqual(values[("Summary", "Cases served (open at any time in the quarter)", "")], "<11")
        caption = "People served, each counted once, by their role"
        self.assertEqual(values[(caption, "Person who caused harm", "People")], "<11")
        shown = [r[3] for r in rows if r[0] == caption]
        self.assertNotIn("2", shown)
        # 12 survivors and 14 people: never both, or 14 - 12 gives the hidden 2 away.
        self.assertFalse("12" in shown and "14" in shown, shown)

    def test_text_in_the_csv_cannot_run_as_a_formula(self):
        self.harbor.name = '=HYPERLINK("http://evil.example","x")'
        self.harbor.save()
        self.login(self.pat)
        response = self.client.get(reverse("community:funder_report_csv"), {"quarter": "2026-Q1"})
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        self.assertEqual(rows[1], ["Organization", '\'=HYPERLINK("http://evil.example","x")', "", ""])
        self.assertFalse(any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row))


@time_machine.travel(NOW, tick=False)
class OutcomeTests(ReportData):
    version: InstrumentVersion
    points: dict[str, PlanTimepoint]
    plan: EvaluationPlan

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        load_builtins()
        version = Instrument.objects.get(code="outcome_safety", owner=None).latest_version()
        assert version is not None
        cls.version = version
        plan = EvaluationPlan.objects.create(organization=cls.harbor, name="Plan")
        cls.points = {
            code: PlanTimepoint.objects.create(
                plan=plan, code=code, label=code, anchor=Anchor.ENROLMENT, offset_days=days
            )
            for code, days in (("T0", 0), ("T2", 30), ("T3", 90))
        }
        cls.plan = plan

    def survivor(self, t0, later, *, code="T2", later_on=datetime.date(2026, 2, 15)):
        case = make_case(self.harbor, opened_on=datetime.date(2025, 12, 1))
        person = make_participant(case, reachable=False)
        enrollment = Enrollment.objects.create(
            organization=self.harbor, case=case, plan=self.plan, enrolled_on=datetime.date(2025, 12, 1)
        )
        for point, value, day in (
            (self.points["T0"], t0, datetime.date(2025, 12, 2)),
            (self.points[code], later, later_on),
        ):
            if value is None:
                continue
            response = Response.objects.create(
                organization=self.harbor,
                version=self.version,
                participant=person,
                case=case,
                answers={},
                scores={"felt_safety": value},
                status="submitted",
                started_at=at(day),
                submitted_at=at(day),
            )
            Timepoint.objects.create(
                organization=self.harbor,
                enrollment=enrollment,
                case=case,
                participant=person,
                plan_timepoint=point,
                code=point.code,
                instrument=self.version.instrument,
                opens_at=at(day),
                due_at=at(day),
                closes_at=at(day) + datetime.timedelta(days=14),
                status=TimepointStatus.COMPLETED,
                response=response,
            )

    def test_the_share_of_survivors_feeling_safer_than_at_intake_with_its_n(self):
        for _n in range(8):
            self.survivor(2.0, 3.5)
        for _n in range(3):
            self.survivor(3.0, 3.0)  # the same: not safer
        self.survivor(4.0, 2.5, code="T3")
        self.survivor(2.0, 4.0, later_on=datetime.date(2026, 4, 10))  # next quarter
        self.survivor(None, 4.0)  # no intake score: not paired
        self.set_threshold(3)
        report = build_report(self.harbor, Q1)
        self.assertEqual(report.figure("survivors_followed_up").value, 12)
        self.assertEqual(report.figure("survivors_safer").value, "67 %")
        # With the default threshold of 11: 8 safer and 4 not are small, so the share would give them away.
        self.set_threshold(11)
        report = build_report(self.harbor, Q1)
        self.assertEqual(report.figure("survivors_followed_up").value, 12)
        self.assertEqual(report.figure("survivors_safer").value, "suppressed")

    def test_no_follow_up_gives_no_share(self):
        report = build_report(self.harbor, Q1)
        self.assertEqual(
            (report.figure("survivors_followed_up").value, report.figure("survivors_safer").value), (0, "—")
        )


@time_machine.travel(NOW, tick=False)
class ExportGuardTests(ReportData):
    def test_the_csv_asks_for_the_same_re_authentication_as_every_export(self):
        PersonaTestCase.login(self, self.pat)  # signed in, not confirmed again
        url = reverse("community:funder_report_csv")
        response = self.client.get(url, {"quarter": "2026-Q1"})
        self.assertRedirects(
            response,
            f"{reverse('accounts:reauthenticate')}?{urlencode({'next': url + '?quarter=2026-Q1'})}",
            fetch_redirect_response=False,
        )
        self.assertFalse(audit_log().filter(action="community.funder_report").exists())
        session = self.client.session
        mark_reauthenticated_in(session)
        session.save()
        self.assertEqual(
            self.client.get(url, {"quarter": "2026-Q1"})["Content-Type"], "text/csv; charset=utf-8"
        )


@time_machine.travel(NOW, tick=False)
class PageTests(ReportData):
    def test_the_default_quarter_is_the_last_full_one_and_every_opening_is_audited(self):
        self.login(self.sam)
        page = self.client.get(reverse("community:funder_report"))
        self.assertContains(page, "Harbor: report for Q1 2026")
        self.assertContains(page, '<option value="2026-Q1" selected>Q1 2026</option>', html=True)
        self.client.get(reverse("community:funder_report_csv"), {"quarter": "2025-Q4"})
        self.assertEqual(
            list(
                audit_log()
                .filter(action="community.funder_report")
                .order_by("sequence")
                .values_list("object_type", "object_id")
            ),
            [("funder_report", "2026-Q1"), ("funder_report", "2025-Q4.csv")],
        )

    def test_a_quarter_not_offered_is_refused_with_a_message(self):
        self.login(self.pat)
        for bad in ("2026-Q5", "next", "2019-Q1"):
            response = self.client.get(reverse("community:funder_report"), {"quarter": bad})
            self.assertContains(response, "Select a valid choice", status_code=400)
            self.assertEqual(
                self.client.get(reverse("community:funder_report_csv"), {"quarter": bad}).status_code, 400
            )
        self.assertFalse(audit_log().filter(action="community.funder_report").exists())

    def test_the_current_and_future_quarters_are_refused_naming_the_latest_complete_one(self):
        # Issue 21: the current quarter changes from day to day; only complete quarters are published.
        self.login(self.pat)
        page = self.client.get(reverse("community:funder_report"))
        self.assertNotContains(page, 'value="2026-Q2"')
        self.assertContains(page, 'value="2026-Q1"')
        for asked in ("2026-Q2", "2026-Q3", "2030-Q1"):
            response = self.client.get(reverse("community:funder_report"), {"quarter": asked})
            self.assertContains(response, "The latest complete quarter is Q1 2026.", status_code=400)
            self.assertNotContains(response, "Select a valid choice", status_code=400)
            csv_response = self.client.get(reverse("community:funder_report_csv"), {"quarter": asked})
            self.assertEqual(csv_response.status_code, 400)
        audited = audit_log().filter(action="community.funder_report").values_list("object_id", flat=True)
        self.assertEqual(list(audited), ["2026-Q1"])  # the default page only
        with self.assertRaisesMessage(ValueError, "The latest complete quarter is Q1 2026."):
            build_report(self.harbor, Quarter(2026, 2))

    def test_the_query_budget_does_not_grow_with_the_data(self):
        self.login(self.eve)
        url = reverse("community:funder_report") + "?quarter=2026-Q1"

        def count():
            clear_key_cache(everything=True)
            with CaptureQueriesContext(connection) as queries:
                self.assertEqual(self.client.get(url).status_code, 200)
            return len(queries)

        count()
        make_participant(self.case)
        self.meeting(MeetingKind.PREPARATION, datetime.date(2026, 2, 1))
        make_event(self.harbor, self.pat, attendance={AttendeeRole.YOUTH: 3})
        first = count()
        for n in range(5):
            case = make_case(self.harbor, opened_on=datetime.date(2026, 1, n + 1))
            make_participant(case, name=f"P{n}", date_of_birth=datetime.date(1980, 1, n + 1))
            self.move(case, Stage.REFERRAL, Stage.INTAKE, datetime.date(2026, 2, n + 1))
            self.meeting(MeetingKind.PREPARATION, datetime.date(2026, 2, n + 1))
            make_event(self.harbor, self.pat, uid=uuid.uuid4(), attendance={AttendeeRole.STAFF: n + 1})
        self.assertEqual(count(), first)
        self.assertEqual(
            first, 29
        )  # + the organization's first case and first event (where its releases start)


class LinprogCounter:
    """scipy's linprog, counted: every linear programme the suppression solves goes through it."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = scipy.optimize.linprog

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)

    def __enter__(self) -> "LinprogCounter":
        self.patches = [
            mock.patch("scipy.optimize.linprog", self),
            mock.patch.object(disclosure, "linprog", self),
        ]
        for patch in self.patches:
            patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for patch in self.patches:
            patch.stop()


@time_machine.travel(NOW, tick=False)
class RememberedSuppressionTests(ReportData):
    def setUp(self):
        cache.clear()
        for n in range(3):
            make_participant(self.case, label=f"Survivor {n}")
        self.login(self.eve)

    def view(self, path="community:funder_report"):
        with LinprogCounter() as counter:
            response = self.client.get(reverse(path), {"quarter": "2026-Q1"})
        self.assertEqual(response.status_code, 200)
        return response, counter.calls

    def test_a_second_view_of_the_same_report_solves_no_linear_programme(self):
        first, solved = self.view()
        self.assertGreater(solved, 0)  # 3 survivors and 2 cases: small counts, audited
        second, solved_again = self.view()
        self.assertEqual(solved_again, 0)
        self.assertEqual(first.context["report"].figures, second.context["report"].figures)
        _csv, solved_for_the_csv = self.view("community:funder_report_csv")
        self.assertEqual(solved_for_the_csv, 0)

    def test_a_change_in_the_data_is_suppressed_anew(self):
        self.set_threshold(5)
        for n in (3, 4):
            make_participant(self.case, label=f"Survivor {n}")
        first, _solved = self.view()
        survivors = {row.label: row.cells[0] for row in first.context["report"].table("people_by_role").rows}
        self.assertEqual(survivors["Survivor"], 5)
        make_participant(self.case, label="Survivor 5")
        second, solved = self.view()
        self.assertGreater(solved, 0)
        survivors = {row.label: row.cells[0] for row in second.context["report"].table("people_by_role").rows}
        self.assertEqual(survivors["Survivor"], 6)

    def test_another_threshold_is_suppressed_anew(self):
        self.view()
        self.set_threshold(5)
        _page, solved = self.view()
        self.assertGreater(solved, 0)
