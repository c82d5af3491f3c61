"""Issue 21, findings 1 and 3: a linear-programming audit of the public impact page as the demo publishes it.

A reader who saves every release of the page knows, for each quarter and table, the cells shown and how they add
up: a row's cells sum to its total, and a calendar year's cells are the sums of its quarters'. Facilitators are
people counted once per quarter and once per year, so a year is at least any of its quarters and at most their sum.
"<11" says 1 to 10; "*" says nothing more than 0 or more. With those relations and every number of every release
(written here from the page's own words, independently of evaluation/disclosure.py), the smallest and largest
value of every hidden number is found with scipy's linprog. None may be narrower than 3 (the issue's width).
"""

from __future__ import annotations

import datetime
import io
from collections import defaultdict

import numpy as np
import time_machine
from django.core.management import call_command
from django.test import TestCase
from scipy.optimize import linprog

from circlekeeper.accounts.models import Network
from circlekeeper.community import impact
from circlekeeper.evaluation.tests.schedule_helpers import local

MIN_WIDTH = 3
SEEDED = local(2026, 6, 15, 10)
TABLES = ("tracks", "agreements", "safer", "reach")


def year_of(label: str) -> int:
    return int(label.split()[-1])


class Attack:
    """Every number of every release saved, as linear constraints over the quarters' cells."""

    def __init__(self, threshold: int, rounding: int = 0) -> None:
        self.threshold, self.rounding = threshold, rounding
        self.variables: dict[tuple, int] = {}
        self.known: dict[tuple, object] = {}  # a published number: its value as shown, by what it sums
        self.facilitator_years: dict[str, list[str]] = defaultdict(list)

    def variable(self, key: tuple) -> int:
        return self.variables.setdefault(key, len(self.variables))

    def see(self, key: tuple, shown: object) -> None:
        if key in self.known and self.known[key] != shown:
            raise AssertionError(
                f"{key} shown as {self.known[key]!r} in one release and {shown!r} in another"
            )
        self.known[key] = shown

    def read(self, report: impact.ImpactReport) -> None:
        if report.tracks is None:  # nobody counted yet: the page says so and shows no number
            return
        for name in TABLES:
            table = getattr(report, name)
            skip = 1 if name == "reach" else 0  # events held are not people: shown as they are
            for row in [*table.rows, *table.years]:
                for column, cell in enumerate(row.cells[skip:]):
                    self.see((name, row.label, column), cell)
                if name != "reach":
                    self.see((name, row.label, "total"), row.total)
        for label, shown in report.facilitators:
            self.see(("facilitators", label), shown)
        for label, shown in report.facilitators_years:
            self.see(("facilitators", label.removesuffix(" (each person once)")), shown)

    def quarters(self) -> list[str]:
        """Every quarter shown, and every quarter of a year shown (a year sums quarters no longer on the page)."""
        shown = {key[1] for key in self.known if "Q" in key[1]}
        years = {year_of(key[1]) for key in self.known if "Year" in key[1]}
        return sorted(shown | {f"{year} Q{n}" for year in years for n in (1, 2, 3, 4)})

    def row(self, key: tuple, quarters: list[str]) -> np.ndarray:
        """A published number as a sum of quarter cells (facilitators: their own variables)."""
        name, label = key[0], key[1]
        if name == "facilitators":
            vector = np.zeros(len(self.variables))
            vector[self.variables[key]] = 1
            return vector
        members = [label] if "Q" in label else [q for q in quarters if q.startswith(f"{year_of(label)} ")]
        columns = (
            [key[2]]
            if key[2] != "total"
            else sorted({k[2] for k in self.known if k[0] == name and k[2] != "total"})
        )
        vector = np.zeros(len(self.variables))
        for quarter in members:
            for column in columns:
                vector[self.variables[(name, quarter, column)]] = 1
        return vector

    def intervals(self) -> dict[tuple, tuple[float, float]]:
        quarters = self.quarters()
        for key in self.known:
            if key[0] == "facilitators" or "Q" in key[1] and key[2] != "total":
                self.variable(key)
        for quarter in quarters:
            self.variable(("facilitators", quarter))
        for name in TABLES:  # every quarter a year spans has its cells, shown or not
            columns = {k[2] for k in self.known if k[0] == name and k[2] != "total"}
            for quarter in quarters:
                for column in columns:
                    self.variable((name, quarter, column))
        equal, equal_to, upper, upper_to = [], [], [], []
        hidden = []
        for key, shown in self.known.items():
            row = self.row(key, quarters)
            if isinstance(shown, int):
                if self.rounding:
                    upper += [row, -row]
                    upper_to += [shown + self.rounding / 2, -(shown - self.rounding / 2)]
                else:
                    equal.append(row)
                    equal_to.append(shown)
            else:
                hidden.append(key)
                if shown == f"<{self.threshold}":
                    upper += [row, -row]
                    upper_to += [self.threshold - 1, -1]
        # Facilitators: a year is at least each of its quarters and at most their sum.
        for key in [k for k in self.known if k[0] == "facilitators" and "Q" not in k[1]]:
            year = year_of(key[1])
            members = [("facilitators", q) for q in quarters if q.startswith(f"{year} ")]
            total = np.zeros(len(self.variables))
            for member in members:
                single = np.zeros(len(self.variables))
                single[self.variables[member]] = 1
                total[self.variables[member]] = 1
                upper.append(single - self.row(key, quarters))
                upper_to.append(0)
            upper.append(self.row(key, quarters) - total)
            upper_to.append(0)
        arguments = {
            "A_eq": np.array(equal) if equal else None,
            "b_eq": np.array(equal_to) if equal else None,
            "A_ub": np.array(upper) if upper else None,
            "b_ub": np.array(upper_to) if upper else None,
            "bounds": [(0, None)] * len(self.variables),
            "method": "highs",
        }
        found = {}
        for key in hidden:
            objective = self.row(key, quarters)
            low, high = linprog(objective, **arguments), linprog(-objective, **arguments)
            assert low.status == 0, (key, low.message)  # the published numbers are consistent
            found[key] = (low.fun, -high.fun if high.status == 0 else float("inf"))
        return found


def releases(network: Network, first: datetime.date, last: datetime.date) -> list[impact.ImpactReport]:
    """Every release of the page from `first` to `last`: one per quarter boundary (plus lag)."""
    found, day, seen = [], first, None
    while day <= last:
        quarters = impact.release_quarters(day)
        if quarters != seen:
            found.append(impact.impact_report(network, day))
            seen = quarters
        day += datetime.timedelta(days=1)
    return found


class DemoImpactAuditTest(TestCase):
    @classmethod
    def setUpTestData(cls):
        with time_machine.travel(SEEDED, tick=True):
            call_command("seed_demo", "--force", stdout=io.StringIO())
        cls.network = Network.objects.get()

    def audit(self, reports: list[impact.ImpactReport]) -> tuple[Attack, dict]:
        attack = Attack(self.network.suppression_threshold, self.network.rounding_base)
        for report in reports:
            attack.read(report)
        return attack, attack.intervals()

    def test_no_hidden_number_of_the_demo_release_is_narrower_than_3(self):
        report = impact.impact_report(self.network, SEEDED.date())
        attack, intervals = self.audit([report])

        self.assertGreater(len(intervals), 5)  # the demo's page does hide numbers
        narrow = {
            key: bounds for key, bounds in intervals.items() if bounds[1] - bounds[0] < MIN_WIDTH - 1e-6
        }
        self.assertEqual(narrow, {})
        # Years, not a rolling total: a complete calendar year is on the page.
        self.assertTrue(any("Year" in key[1] for key in attack.known))

    def test_every_release_since_the_first_together_narrows_no_hidden_number_below_3(self):
        # A year of releases: every quarter since the network's first shown decision, then four more.
        reports = releases(self.network, SEEDED.date() - datetime.timedelta(days=3 * 365), SEEDED.date())
        self.assertGreaterEqual(len(reports), 12)
        _attack, intervals = self.audit(reports)

        narrow = {
            key: bounds for key, bounds in intervals.items() if bounds[1] - bounds[0] < MIN_WIDTH - 1e-6
        }
        self.assertEqual(narrow, {})
