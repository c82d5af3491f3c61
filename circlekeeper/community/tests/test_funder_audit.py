"""Issue 21, finding 1 for the funder report: a linear-programming audit of every complete quarter's report of a
demo organization, as the view builds them (funder_report.build_reports), read together.

The relations are written here from the report's own words, independently of evaluation/disclosure.py: in each
quarter, a one-column table's rows add up to its total; the track-by-stage table's cells add up to their row and
column totals and those to the grand total; "cases served" is that grand total, "people served" the roles' total;
the new cases opened are among the cases served; survivors feeling safer and not add up to those followed up.
"<t" says 1..t-1 and "*" says 0 or more. Every hidden number's smallest and largest value is found with scipy's
linprog; none may be narrower than 3.

The same audit runs on random small organizations (hypothesis) at a threshold of 5: a few cases with random
tracks, stages, track choices, stage changes, participants and dates over 2 to 4 complete quarters.
"""

from __future__ import annotations

import datetime
import io
from typing import Any

import numpy as np
import time_machine
from django.core.management import call_command
from django.test import TestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase
from scipy.optimize import linprog

from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import Participant, ParticipantRole, Stage, Track, TrackChoice
from circlekeeper.community import funder_report
from circlekeeper.community.funder_report import FunderReport, Quarter
from circlekeeper.evaluation.tests.schedule_helpers import local
from circlekeeper.protocol.models import Transition, TransitionKind
from circlekeeper.testing import make_case, make_network, make_organization, make_user

MIN_WIDTH = 3
SEEDED = local(2026, 6, 15, 10)


class FunderAttack:
    """Every number of every quarter's report, each a variable, with the report's arithmetic as constraints."""

    def __init__(self, threshold: int, rounding: int = 0) -> None:
        self.threshold, self.rounding = threshold, rounding
        self.known: dict[tuple, Any] = {}
        self.sums: list[tuple[tuple, list[tuple]]] = []  # (total, its parts)
        self.at_most: list[tuple[tuple, tuple]] = []  # (part, whole)

    def see(self, key: tuple, shown: Any) -> tuple:
        if key in self.known and self.known[key] != shown:
            raise AssertionError(f"{key} shown as {self.known[key]!r} and as {shown!r}")
        self.known[key] = shown
        return key

    def read(self, report: FunderReport) -> None:
        q = report.quarter.code
        for table in report.tables:
            skip = 1 if table.key == "events_by_kind" else 0  # events held are not people: shown as they are
            columns = range(skip, len(table.columns))
            cells = {
                (i, j): self.see((q, table.key, row.label, j), row.cells[j])
                for i, row in enumerate(table.rows)
                for j in columns
            }
            totals = (
                {j: self.see((q, table.key, "total", j), table.totals[j]) for j in columns}
                if table.totals
                else {}
            )
            for j in columns:
                if totals:
                    self.sums.append((totals[j], [cells[(i, j)] for i in range(len(table.rows))]))
            if table.has_row_totals:
                rows = {
                    i: self.see((q, table.key, row.label, "total"), row.total)
                    for i, row in enumerate(table.rows)
                }
                for i in rows:
                    self.sums.append((rows[i], [cells[(i, j)] for j in columns]))
                grand = self.see((q, table.key, "total", "total"), table.total)
                self.sums.append((grand, list(rows.values())))
                self.sums.append((grand, list(totals.values())))
        figures = {f.key: f for f in (*report.figures, *report.services, *report.community, *report.outcomes)}
        served = self.see((q, "cases_served"), figures["cases_served"].value)
        self.sums.append((served, [(q, "cases_by_track_and_stage", "total", "total")]))
        opened = self.see((q, "cases_opened"), figures["cases_opened"].value)
        self.at_most.append((opened, served))
        people = self.see((q, "people_served"), figures["people_served"].value)
        self.sums.append((people, [(q, "people_by_role", "total", 0)]))
        for key in (
            "safety_checks",
            "safety_plans_made",
            "safety_plans_revised",
            "safety_plans_reviewed",
            "agreements_affirmed",
            "progress_checkins",
            "facilitators_trained",
            "survivors_followed_up",
        ):
            self.see((q, key), figures[key].value)

    def intervals(self) -> dict[tuple, tuple[float, float]]:
        keys = list(self.known)
        index = {key: n for n, key in enumerate(keys)}

        def vector(*pairs: tuple[tuple, float]) -> np.ndarray:
            row = np.zeros(len(keys))
            for key, weight in pairs:
                row[index[key]] += weight
            return row

        equal, equal_to, upper, upper_to = [], [], [], []
        for total, parts in self.sums:
            equal.append(vector((total, 1), *[(part, -1) for part in parts]))
            equal_to.append(0)
        for part, whole in self.at_most:
            upper.append(vector((part, 1), (whole, -1)))
            upper_to.append(0)
        bounds: list[tuple[float, float | None]] = []
        hidden = []
        for key in keys:
            shown = self.known[key]
            if isinstance(shown, int):
                half = self.rounding / 2 if self.rounding else 0
                bounds.append((max(shown - half, 0), shown + half))
            elif shown == f"<{self.threshold}":
                hidden.append(key)
                bounds.append((1, self.threshold - 1))
            else:
                hidden.append(key)
                bounds.append((0, None))
        arguments = {
            "A_eq": np.array(equal) if equal else None,
            "b_eq": np.array(equal_to) if equal else None,
            "A_ub": np.array(upper) if upper else None,
            "b_ub": np.array(upper_to) if upper else None,
            "bounds": bounds,
            "method": "highs",
        }
        found = {}
        for key in hidden:
            objective = vector((key, 1))
            low, high = linprog(objective, **arguments), linprog(-objective, **arguments)
            assert low.status == 0, (key, low.message)  # the published numbers are consistent
            found[key] = (low.fun, -high.fun if high.status == 0 else float("inf"))
        return found


class DemoFunderReportAuditTest(TestCase):
    organization: Any

    @classmethod
    def setUpTestData(cls):
        with time_machine.travel(SEEDED, tick=True):
            call_command("seed_demo", "--force", stdout=io.StringIO())
        cls.organization = Organization.objects.order_by("pk").first()

    def test_every_complete_quarters_report_read_together_narrows_no_hidden_count_below_3(self):
        today = SEEDED.date()
        reports = funder_report.build_reports(self.organization, today)
        self.assertEqual(max(reports), Quarter(2026, 1))  # complete quarters only
        self.assertGreater(len(reports), 3)
        attack = FunderAttack(
            self.organization.network.suppression_threshold, self.organization.network.rounding_base
        )
        for report in reports.values():
            attack.read(report)
        intervals = attack.intervals()
        self.assertGreater(len(intervals), 5)  # the demo's reports do hide counts
        narrow = {key: b for key, b in intervals.items() if b[1] - b[0] < MIN_WIDTH - 1e-6}
        self.assertEqual(narrow, {})

    def test_the_reports_of_every_release_since_the_first_read_together_narrow_nothing_below_3(self):
        # The reports as published on the first day of each quarter since the organization's first, all saved:
        # a number is the same in every release that shows it, and together they narrow nothing below 3.
        attack = FunderAttack(
            self.organization.network.suppression_threshold, self.organization.network.rounding_base
        )
        day = funder_report.first_quarter(self.organization, SEEDED.date()).next().start
        releases = 0
        while day <= SEEDED.date():
            for report in funder_report.build_reports(self.organization, day).values():
                attack.read(report)
            releases += 1
            day = Quarter.containing(day).next().start
        self.assertGreater(releases, 3)
        intervals = attack.intervals()
        narrow = {key: b for key, b in intervals.items() if b[1] - b[0] < MIN_WIDTH - 1e-6}
        self.assertEqual(narrow, {})


FIRST = Quarter(2025, 1)
DAYS = 4 * 91  # the four quarters of 2025, roughly: days past the last complete quarter fall in none


def on(day: int) -> datetime.date:
    return FIRST.start + datetime.timedelta(days=day)


def at(day: int) -> datetime.datetime:
    return datetime.datetime.combine(on(day), datetime.time(12), tzinfo=datetime.UTC)


cases = st.lists(
    st.fixed_dictionaries(
        {
            "opened": st.integers(0, DAYS - 1),
            "open_for": st.none() | st.integers(0, DAYS),
            "track": st.sampled_from(["", *Track.values]),
            "stage": st.sampled_from(Stage.values),
            "chosen": st.none() | st.tuples(st.integers(0, DAYS), st.sampled_from(Track.values)),
            "moved": st.none() | st.tuples(st.integers(0, DAYS), st.sampled_from(Stage.values)),
            "roles": st.lists(st.sampled_from(ParticipantRole.values), min_size=1, max_size=4),
        }
    ),
    min_size=1,
    max_size=9,
)


class RandomFunderReportAuditTest(HypothesisTestCase):
    """Each example is a new organization in its own transaction, rolled back after it."""

    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(cases=cases, quarters=st.integers(2, 4))
    def test_random_organizations_reports_read_together_narrow_no_hidden_count_below_3(self, cases, quarters):
        organization = make_organization(network=make_network(suppression_threshold=5))
        staff = make_user()
        for number, case in enumerate(cases):
            # The first case opens on the first day: the organization's releases start in 2025 Q1.
            opened = 0 if number == 0 else case["opened"] % (91 * quarters)
            made = make_case(
                organization,
                opened_on=on(opened),
                closed_on=on(opened + case["open_for"]) if case["open_for"] is not None else None,
                track=case["track"],
                stage=case["stage"],
            )
            people = [
                Participant.objects.create(
                    organization=organization, case=made, role=role, label=f"{role} {n}"
                )
                for n, role in enumerate(case["roles"])
            ]
            if case["chosen"] is not None:
                day, track = case["chosen"]
                TrackChoice.objects.create(
                    organization=organization,
                    case=made,
                    track=track,
                    survivor=people[0],
                    explained_by=staff,
                    explained_on=on(opened + day),
                    recorded_by=staff,
                    recorded_at=at(opened + day),
                )
            if case["moved"] is not None:
                day, stage = case["moved"]
                Transition.objects.create(
                    organization=organization,
                    case=made,
                    kind=TransitionKind.ADVANCE,
                    from_stage=Stage.REFERRAL,
                    to_stage=stage,
                    by=staff,
                    at=at(opened + day),
                )
        today = Quarter(2025, quarters).next().start

        reports = funder_report.build_reports(organization, today)

        self.assertEqual(sorted(reports), [Quarter(2025, n) for n in range(1, quarters + 1)])
        attack = FunderAttack(threshold=5)
        for report in reports.values():
            attack.read(report)
        narrow = {
            key: bounds
            for key, bounds in attack.intervals().items()
            if bounds[1] - bounds[0] < MIN_WIDTH - 1e-6
        }
        self.assertEqual(narrow, {})
