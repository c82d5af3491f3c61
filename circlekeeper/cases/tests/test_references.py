from __future__ import annotations

import datetime

from circlekeeper.cases.models import Case, TeamRole
from circlekeeper.cases.services import open_case
from circlekeeper.testing import PersonaTestCase, make_case


class CaseReferenceTests(PersonaTestCase):
    def test_references_count_up_per_organization_and_year(self):
        first = open_case(
            organization=self.valley,
            team=[(self.charlie, TeamRole.KEEPER)],
            opened_on=datetime.date(2027, 1, 5),
        )
        second = open_case(organization=self.valley, team=[], opened_on=datetime.date(2027, 2, 5))
        other_year = open_case(organization=self.valley, team=[], opened_on=datetime.date(2028, 2, 5))
        self.assertEqual(
            [first.reference, second.reference, other_year.reference],
            ["VAL-2027-0001", "VAL-2027-0002", "VAL-2028-0001"],
        )
        self.assertEqual(list(first.assignments.values_list("user_id", flat=True)), [self.charlie.pk])

    def test_numbering_goes_past_9999(self):
        make_case(self.valley, reference="VAL-2027-9999")
        case = open_case(organization=self.valley, team=[], opened_on=datetime.date(2027, 6, 1))
        self.assertEqual(case.reference, "VAL-2027-10000")
        self.assertEqual(
            open_case(organization=self.valley, team=[], opened_on=datetime.date(2027, 6, 2)).reference,
            "VAL-2027-10001",
        )

    def test_a_closing_date_before_the_opening_is_refused_by_the_database(self):
        from django.db import IntegrityError, transaction

        with self.assertRaises(IntegrityError), transaction.atomic():
            Case.objects.create(
                organization=self.harbor,
                reference="HAR-1999-0001",
                opened_on=datetime.date(2026, 5, 1),
                closed_on=datetime.date(2026, 4, 1),
            )
