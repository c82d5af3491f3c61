"""The case list as a worklist (issue 18, build 4): each case's stage, track, latest risk level with its date, a hold
badge, its next step and when it is due, its keeper; filters by stage, track, risk, hold and "needs me"; search by
reference (exact or prefix); sorting by what is due; a query budget that does not grow with the cases."""

import datetime
import re

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.cases.models import (
    Case,
    CaseStatus,
    CaseTask,
    ParticipantRole,
    Stage,
    TaskKind,
    TeamRole,
    Track,
)
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, make_case, make_participant, ready_for_contact

LIST = reverse("cases:list")
# 10:00 in the organization's time zone (America/Los_Angeles).
NOW = datetime.datetime(2026, 5, 4, 17, 0, tzinfo=datetime.UTC)
TODAY = datetime.date(2026, 5, 4)
DAY = datetime.timedelta(days=1)
# PROTOCOL.md / safety: a survivor's full safety check is overdue 30 days after the last one.
CHECK_EVERY = datetime.timedelta(days=30)


def rows(page) -> dict[str, str]:
    """Each row of the list by its reference: its visible text, whitespace collapsed."""
    html = page.content.decode()
    body = html[html.index("<tbody>") : html.index("</tbody>")] if "<tbody>" in html else ""
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        visible = re.sub(r'<span class="visually-hidden">.*?</span>', "", row, flags=re.S)
        text = " ".join(re.sub(r"<[^>]+>", " ", visible).split())
        found[text.split(" ")[0]] = text
    return found


def references(page) -> list[str]:
    return list(rows(page))


@time_machine.travel(NOW, tick=False)
class CaseWorklistTests(PersonaTestCase):
    numbers = iter(range(100, 1000))

    def team_case(self, *, keeper=None, **kwargs) -> Case:
        kwargs.setdefault("reference", f"HAR-2026-{next(self.numbers):04d}")
        kwargs.setdefault("opened_on", TODAY - 5 * DAY)
        return make_case(
            self.harbor,
            team=((keeper or self.alice, TeamRole.KEEPER), (self.sam, TeamRole.SUPERVISOR)),
            **kwargs,
        )

    def task(self, case: Case, due_on: datetime.date, kind=TaskKind.REVIEW_COMMITMENT) -> CaseTask:
        return CaseTask.objects.create(organization=self.harbor, case=case, kind=kind, due_on=due_on)

    def page(self, person=None, **query):
        self.login(person or self.alice)
        response = self.client.get(LIST, query)
        self.assertEqual(response.status_code, 200)
        return response

    def test_each_row_shows_stage_track_risk_with_its_date_hold_next_step_and_keeper(self):
        case = self.team_case(track=Track.INDIRECT_DIALOGUE)
        Case.objects.filter(pk=case.pk).update(stage=Stage.SAFETY_PLANNING)
        survivor = make_participant(case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        with time_machine.travel(NOW - 3 * DAY, tick=False):
            run_check(survivor, "weapon", by=self.ada)  # high: opens a hold
        self.task(case, TODAY + 40 * DAY)  # later than the check: the check is the next step

        row = rows(self.page())[case.reference]

        self.assertIn("On hold", row)
        self.assertIn("Safety planning", row)
        self.assertIn("Indirect dialogue", row)
        self.assertIn("High (on 05/01/2026)", row)
        # A high level asks for the plan to be reviewed at once: that task comes before the next check.
        self.assertIn("Review the safety plan with the survivor — overdue since 05/01/2026", row)
        self.assertTrue(row.endswith("Alice"), row)
        self.assertContains(self.page(), reverse("cases:detail", args=[case.pk]) + "#tasks")

    def test_the_next_full_check_is_due_30_days_after_the_last(self):
        case = self.team_case()
        survivor = make_participant(case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        with time_machine.travel(NOW - 3 * DAY, tick=False):
            run_check(survivor, by=self.ada)
        self.task(case, TODAY + 40 * DAY)  # later than the check: the check is the next step

        page = self.page()

        check_due = TODAY - 3 * DAY + CHECK_EVERY
        self.assertIn(
            f"Full safety check with the survivor — due {check_due:%m/%d/%Y}", rows(page)[case.reference]
        )
        self.assertContains(page, reverse("safety:case", args=[case.pk]) + "#run-check")

    def test_an_earlier_task_is_the_next_step_and_an_overdue_one_says_so(self):
        case = self.team_case()
        survivor = make_participant(case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        run_check(survivor, by=self.ada)  # checked today: due in 30 days
        self.task(case, TODAY - 2 * DAY)

        row = rows(self.page())[case.reference]

        self.assertIn(
            f"Review a commitment that was not kept — overdue since {TODAY - 2 * DAY:%m/%d/%Y}", row
        )
        self.assertIn("Low (on 05/04/2026)", row)
        self.assertNotIn("On hold", row)

    def test_a_case_never_checked_is_due_since_it_opened_and_a_closed_case_has_nothing_due(self):
        never = self.team_case(opened_on=TODAY - 9 * DAY)
        closed = self.team_case(status=CaseStatus.CLOSED, closed_on=TODAY)

        found = rows(self.page())

        self.assertIn(
            f"Full safety check with the survivor — overdue since {TODAY - 9 * DAY:%m/%d/%Y}",
            found[never.reference],
        )
        self.assertIn("No safety check yet", found[never.reference])
        self.assertIn("Nothing due", found[closed.reference])
        self.assertIn("Not chosen yet", found[never.reference])

    def test_sorting_by_what_is_due_puts_the_most_overdue_first_and_nothing_due_last(self):
        soon = self.team_case(opened_on=TODAY - 10 * DAY)
        make_participant(soon, role=ParticipantRole.SURVIVOR)
        run_check(soon.participants.get(), by=self.ada)  # the check due in 30 days
        self.task(soon, TODAY + 2 * DAY)
        overdue = self.team_case(opened_on=TODAY - 10 * DAY)
        make_participant(overdue, role=ParticipantRole.SURVIVOR)
        run_check(overdue.participants.get(), by=self.ada)
        self.task(overdue, TODAY - 4 * DAY)
        later = self.team_case(opened_on=TODAY - 10 * DAY)
        make_participant(later, role=ParticipantRole.SURVIVOR)
        run_check(later.participants.get(), by=self.ada)
        closed = self.team_case(status=CaseStatus.CLOSED, closed_on=TODAY)
        never = self.team_case(opened_on=TODAY - 6 * DAY)  # the check due since it opened, 6 days ago

        order = references(self.page(sort="due"))
        mine = [ref for ref in order if ref in {c.reference for c in (soon, overdue, later, closed, never)}]
        self.assertEqual(
            mine, [never.reference, overdue.reference, soon.reference, later.reference, closed.reference]
        )
        # "Due soonest" is also what the list opens with.
        self.assertEqual(references(self.page()), order)

    def test_filters_by_stage_track_risk_and_hold(self):
        at_intake = self.team_case(track=Track.SUPPORT_ONLY)
        Case.objects.filter(pk=at_intake.pk).update(stage=Stage.INTAKE)
        held = self.team_case(track=Track.DIRECT_DIALOGUE)
        held_survivor = make_participant(held, role=ParticipantRole.SURVIVOR)
        run_check(held_survivor, "weapon", by=self.ada)
        low = self.team_case()
        run_check(make_participant(low, role=ParticipantRole.SURVIVOR), by=self.ada)

        self.assertEqual(references(self.page(stage="intake")), [at_intake.reference])
        self.assertEqual(references(self.page(track="support_only")), [at_intake.reference])
        self.assertEqual(references(self.page(track="direct_dialogue")), [held.reference])
        untracked = references(self.page(track="none"))
        self.assertIn(low.reference, untracked)
        self.assertNotIn(held.reference, untracked)
        self.assertEqual(references(self.page(risk="high")), [held.reference])
        self.assertEqual(references(self.page(risk="low")), [low.reference])
        self.assertNotIn(low.reference, references(self.page(risk="none")))
        self.assertIn(at_intake.reference, references(self.page(risk="none")))
        self.assertEqual(references(self.page(hold="yes")), [held.reference])
        self.assertNotIn(held.reference, references(self.page(hold="no")))
        self.assertIn(low.reference, references(self.page(hold="no")))

    def test_search_by_reference_whole_or_its_start(self):
        first = self.team_case(reference="HAR-2026-0510")
        second = self.team_case(reference="HAR-2026-0511")
        other = self.team_case(reference="HAR-2026-0620")

        self.assertEqual(references(self.page(reference="HAR-2026-0511")), [second.reference])
        self.assertEqual(
            sorted(references(self.page(reference="har-2026-051"))), [first.reference, second.reference]
        )
        self.assertEqual(references(self.page(reference="HAR-2026-06")), [other.reference])
        self.assertEqual(references(self.page(reference="2026-0510")), [])  # not the middle of a reference
        # Never a case outside the person's teams, however it is searched for.
        self.assertEqual(references(self.page(reference="HAR-2026-0002")), [])
        self.assertEqual(references(self.page(reference="VAL")), [])

    def test_needs_me_lists_what_is_due_for_the_keeper_and_the_holds_for_the_supervisor(self):
        overdue = self.team_case()
        run_check(make_participant(overdue, role=ParticipantRole.SURVIVOR), by=self.ada)
        self.task(overdue, TODAY)  # due today counts
        fine = self.team_case()
        run_check(make_participant(fine, role=ParticipantRole.SURVIVOR), by=self.ada)
        self.task(fine, TODAY + DAY)
        bobs = self.team_case(keeper=self.bob)  # Alice is not its keeper
        run_check(make_participant(bobs, role=ParticipantRole.SURVIVOR), by=self.ada)
        self.task(bobs, TODAY - DAY)
        held = self.team_case()
        run_check(make_participant(held, role=ParticipantRole.SURVIVOR), "weapon", by=self.ada)
        closed = self.team_case(status=CaseStatus.CLOSED, closed_on=TODAY)
        self.task(closed, TODAY - DAY)

        alices = references(self.page(needs_me="on"))
        self.assertIn(overdue.reference, alices)
        self.assertIn("HAR-2026-0001", alices)  # never checked: the check is due since it opened
        # A high check asks the keeper to review the plan at once.
        self.assertIn(held.reference, alices)
        for case in (fine, bobs, closed):
            self.assertNotIn(case.reference, alices)

        sams = references(self.page(self.sam, needs_me="on"))
        self.assertEqual(sams, [held.reference])
        self.assertIn(bobs.reference, references(self.page(self.bob, needs_me="on")))

    def test_roles_that_do_not_work_cases_are_refused_whatever_the_filters(self):
        for person in (self.eve, self.pat, self.nora):
            self.login(person)
            response = self.client.get(LIST, {"needs_me": "on", "reference": "HAR", "sort": "due"})
            self.assertEqual(response.status_code, 403, person)


@time_machine.travel(NOW, tick=False)
class CheckFactsOnTheCaseTests(PersonaTestCase):
    """The safety app keeps the risk level's date and the next check's due date on the case."""

    def test_a_full_check_of_every_survivor_sets_when_the_next_one_is_due(self):
        first = make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        second = make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor C")
        with time_machine.travel(NOW - 10 * DAY, tick=False):
            run_check(first, by=self.ada)
        self.case.refresh_from_db()
        self.assertIsNone(self.case.check_due_on)  # Survivor C has had none: due since the case opened
        self.assertEqual(self.case.risk_level, "low")
        self.assertEqual(self.case.risk_level_at, NOW - 10 * DAY)
        run_check(second, by=self.ada)
        self.case.refresh_from_db()
        self.assertEqual(self.case.check_due_on, TODAY - 10 * DAY + CHECK_EVERY)  # the earlier survivor's
        self.assertEqual(self.case.risk_level_at, NOW)

    def test_a_screen_gives_a_level_but_is_not_the_full_check(self):
        survivor = make_participant(self.case, role=ParticipantRole.SURVIVOR)
        run_check(survivor, by=self.ada, code="immediate_danger")
        self.case.refresh_from_db()
        self.assertIsNone(self.case.check_due_on)

    def test_another_participants_check_changes_neither(self):
        # A check about the person who caused harm is contact with the other side (issue 17's contact policy,
        # PROTOCOL.md): the survivor has chosen a track with contact and the case is ready for it, unchecked.
        make_participant(self.case, role=ParticipantRole.SURVIVOR)
        self.case.track = Track.INDIRECT_DIALOGUE
        self.case.save(update_fields=["track"])
        ready_for_contact(self.case, self.alice)
        harm = make_participant(self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM)
        run_check(harm, "weapon", by=self.ada)
        self.case.refresh_from_db()
        self.assertIsNone(self.case.risk_level_at)
        self.assertIsNone(self.case.check_due_on)
        self.assertEqual(self.case.risk_level, "")


class CaseWorklistQueryBudgetTests(PersonaTestCase):
    def count(self, **query) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(LIST, query)
        self.assertEqual(response.status_code, 200)
        return len(ctx.captured_queries)

    def grow(self, start: int, stop: int) -> None:
        for n in range(start, stop):
            case = make_case(
                self.harbor,
                reference=f"HAR-2024-{n:04d}",
                track=Track.SUPPORT_ONLY,
                team=((self.alice, TeamRole.KEEPER), (self.sam, TeamRole.SUPERVISOR)),
            )
            survivor = make_participant(case, role=ParticipantRole.SURVIVOR)
            run_check(survivor, *(("weapon",) if n % 3 else ()), by=self.ada)
            CaseTask.objects.create(
                organization=self.harbor, case=case, kind=TaskKind.REVIEW_SAFETY_PLAN, due_on=TODAY + n * DAY
            )

    def test_every_filter_and_the_due_sort_cost_the_same_with_4_cases_as_with_60(self):
        queries: tuple[dict[str, str], ...] = (
            {},
            {"sort": "due"},
            {
                "needs_me": "on",
                "hold": "yes",
                "risk": "high",
                "track": "support_only",
                "reference": "HAR-2024",
            },
        )
        self.login(self.alice)
        self.client.get(LIST)  # the very first audit event also creates the chain's head row
        self.grow(0, 4)
        few = [self.count(**query) for query in queries]
        self.grow(4, 60)
        many = [self.count(**query) for query in queries]
        self.assertEqual(few, many)
        self.assertLessEqual(max(many), 16)  # the budget of the plain list (test_case_list)
