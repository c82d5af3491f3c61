"""Security review of issues 8 and 9: counts that could be worked out by subtraction on aggregate pages."""

import datetime

from circlekeeper.community import hub
from circlekeeper.community.tests.test_impact import TODAY, ImpactData


class ImpactFacilitatorsTotalTests(ImpactData):
    """The public impact page's table of facilitators trained: quarters and the total, all on one page."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.show(cls.harbor)
        cls.train(cls.harbor, 6)  # 2026 Q1
        cls.train(cls.harbor, 2, day=datetime.date(2025, 8, 1))  # 2025 Q3: a small count

    def test_a_hidden_quarter_is_not_found_by_subtracting_the_shown_quarters_from_the_total(self):
        report = self.report()

        cells = [count for _label, count in report.facilitators]
        self.assertIn("<5", cells)  # the small quarter is hidden...
        line = [*cells, *(count for _label, count in report.facilitators_years)]
        hidden = [cell for cell in line if isinstance(cell, str)]
        # ...and not alone: 8 in all minus 6 shown would give the hidden 2 away.
        self.assertNotEqual(len(hidden), 1, line)

    def test_the_public_page_has_no_total_over_the_quarters_shown(self):
        # A total over the four quarters shown moves with every release (issue 21, finding 3): two releases
        # subtracted give the oldest quarter minus the newest. Only calendar years are totalled.
        table = self.page().content.decode().split('id="table-facilitators"')[1].split("</table>")[0]

        self.assertNotIn("All quarters", table)
        self.assertNotIn("<td>8</td>", table)
        self.assertIn("Year 2025 (each person once)", table)


class HubOpenCasesTests(ImpactData):
    """The hub shows open cases per organization twice: in the activity table and as the stage table's totals."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        # Harbor: the two persona cases (a small count). Valley: ten cases, all at the same stage as Harbor's.
        stage = cls.case.stage
        for _ in range(9):
            cls.add_case(cls.valley, stage=stage)

    def test_an_organizations_open_cases_are_hidden_where_its_stage_total_is(self):
        data = hub.hub_for(self.network, TODAY)

        totals = {row.organization.pk: row.total for row in data.stages}
        self.assertTrue(any(isinstance(t, str) for t in totals.values()))
        for row in data.rows:
            if isinstance(totals[row.organization.pk], str):
                # Shown here, it would undo the stage table's complementary suppression.
                self.assertIsInstance(row.open_cases, str, row.organization.slug)
            else:
                self.assertEqual(row.open_cases, totals[row.organization.pk])
