"""The graph built from a real case, and the measures stored at each change of the pods (not when a change
leaves the numbers as they were): the outcome rows evaluation reads."""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from circlekeeper.cases.models import CaseEvent, CaseStatus, ConsentKind, EventKind, ParticipantRole
from circlekeeper.cases.participants import withdraw_consent
from circlekeeper.support import services
from circlekeeper.support.measures import HARM, SURVIVOR, build_graph, member_node
from circlekeeper.support.models import PodMeasure, PodTie
from circlekeeper.support.tests.helpers import add, change
from circlekeeper.testing import PersonaTestCase, make_participant


class BuildGraphTests(PersonaTestCase):
    def test_the_graph_has_both_centers_each_member_with_its_facts_and_their_ties(self):
        make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        sister = make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister")
        monitor = make_participant(
            self.case, role=ParticipantRole.SAFETY_MONITOR, label="Neighbour", reachable=False
        )
        a = add(self.case, self.alice, participant=sister, help=["childcare"])
        b = add(self.case, self.alice, participant=monitor, side="both", both_reason="Trusted by both")
        c = add(self.case, self.alice, label="Friend K", side="harm", stance="barrier", active=False)
        services.add_tie(case=self.case, a=b, b=a, by=self.alice)
        add(self.other_team_case, self.bob, label="Elsewhere")
        graph = build_graph(self.case)
        self.assertEqual(graph.nodes[SURVIVOR]["label"], "Survivor A")
        self.assertEqual(graph.nodes[HARM]["label"], "")
        self.assertEqual(len(graph), 5)
        facts = graph.nodes[member_node(a.pk)]
        self.assertEqual(
            (
                facts["side"],
                facts["stance"],
                facts["active"],
                facts["consented"],
                facts["in_touch"],
                facts["help"],
            ),
            ("survivor", "ally", True, True, True, ["childcare"]),
        )
        self.assertEqual(facts["role"], "survivor_supporter")
        self.assertEqual(graph.nodes[member_node(b.pk)]["consented"], False)
        self.assertEqual(graph.nodes[member_node(c.pk)]["role"], "")
        self.assertTrue(
            graph.has_edge(SURVIVOR, member_node(b.pk)) and graph.has_edge(HARM, member_node(b.pk))
        )
        self.assertFalse(graph.has_edge(SURVIVOR, member_node(c.pk)))
        self.assertEqual(graph.edges[member_node(a.pk), member_node(b.pk)]["kind"], "tie")

    def test_consent_withdrawn_on_the_participant_page_counts_at_once(self):
        sister = make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister")
        member = add(self.case, self.alice, participant=sister)
        self.assertTrue(build_graph(self.case).nodes[member_node(member.pk)]["consented"])
        withdraw_consent(consent=sister.consents.get(kind=ConsentKind.TAKE_PART), how="oral", by=self.alice)
        facts = build_graph(self.case).nodes[member_node(member.pk)]
        self.assertEqual((facts["consented"], facts["in_touch"]), (False, True))


class StoredMeasureTests(PersonaTestCase):
    def setUp(self):
        self.start = timezone.now() - datetime.timedelta(days=30)

    def day(self, n):
        return self.start + datetime.timedelta(days=n)

    def rows(self, side=SURVIVOR):
        return list(PodMeasure.objects.filter(case=self.case, side=side).order_by("computed_at", "id"))

    def test_each_change_stores_the_new_numbers_with_its_time(self):
        sister = make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister")
        a = add(self.case, self.alice, participant=sister, help=["childcare"], at=self.day(0))
        b = add(self.case, self.alice, label="Aunt R", help=["money"], at=self.day(1))
        services.add_tie(case=self.case, a=a, b=b, by=self.alice, at=self.day(2))
        rows = self.rows()
        self.assertEqual([r.computed_at for r in rows], [self.day(0), self.day(1), self.day(2)])
        self.assertEqual(
            [(r.pod_size, r.consenting_active, r.help_covered, r.density, r.in_touch_share) for r in rows],
            [
                (1, 1, ["childcare"], 0.0, 1.0),
                (2, 1, ["childcare"], 0.0, 0.5),
                (2, 1, ["childcare"], 1.0, 0.5),
            ],
        )
        self.assertEqual(rows[0].organization_id, self.harbor.pk)
        # The harm pod stayed empty: one row, at the first change.
        self.assertEqual(
            [(r.pod_size, r.in_touch_share, r.computed_at) for r in self.rows(HARM)], [(0, None, self.day(0))]
        )

    def test_a_change_that_leaves_the_numbers_as_they_were_stores_nothing(self):
        member = add(self.case, self.alice, label="Aunt R", stance="unsure", at=self.day(0))
        change(member, self.alice, relationship="her aunt Rosa", at=self.day(1))
        add(self.case, self.alice, label="Friend K", side="harm", stance="barrier", at=self.day(2))
        self.assertEqual(len(self.rows()), 1)
        self.assertEqual(len(self.rows(HARM)), 1)
        self.assertEqual(CaseEvent.objects.filter(kind=EventKind.POD_CHANGED).count(), 3)

    def test_removing_a_tie_stores_the_lower_density_and_keeps_the_tie_stamped(self):
        a = add(self.case, self.alice, label="Aunt R", at=self.day(0))
        b = add(self.case, self.alice, label="Uncle S", at=self.day(1))
        tie = services.add_tie(case=self.case, a=a, b=b, by=self.alice, at=self.day(2))
        self.assertTrue(services.remove_tie(tie=tie, by=self.ada, at=self.day(3)))
        self.assertFalse(services.remove_tie(tie=tie, by=self.ada, at=self.day(4)))
        self.assertEqual([r.density for r in self.rows()], [0.0, 0.0, 1.0, 0.0])
        tie.refresh_from_db()
        self.assertEqual((tie.removed_at, tie.removed_by), (self.day(3), self.ada))
        again = services.add_tie(case=self.case, a=b, b=a, by=self.alice, at=self.day(5))
        self.assertNotEqual(again.pk, tie.pk)
        self.assertEqual((again.a, again.b), (a, b))
        # Newest first: the tie made again, then its removal.
        self.assertEqual(
            list(CaseEvent.objects.filter(kind=EventKind.POD_CHANGED).values_list("facts", flat=True))[:2],
            [
                {"member": "Aunt R – Uncle S", "tie": "added"},
                {"member": "Aunt R – Uncle S", "tie": "removed"},
            ],
        )

    def test_a_tie_recorded_twice_is_one_tie(self):
        a = add(self.case, self.alice, label="Aunt R")
        b = add(self.case, self.alice, label="Uncle S")
        services.add_tie(case=self.case, a=a, b=b, by=self.alice)
        services.add_tie(case=self.case, a=b, b=a, by=self.alice)
        self.assertEqual(PodTie.objects.count(), 1)

    def test_ties_to_oneself_or_across_cases_are_refused(self):
        a = add(self.case, self.alice, label="Aunt R")
        elsewhere = add(self.other_team_case, self.bob, label="Uncle S")
        for other in (a, elsewhere):
            with self.assertRaises(ValidationError):
                services.add_tie(case=self.case, a=a, b=other, by=self.alice)
        self.assertFalse(PodTie.objects.exists())

    def test_nothing_changes_on_a_case_that_is_no_longer_open(self):
        a = add(self.case, self.alice, label="Aunt R")
        b = add(self.case, self.alice, label="Uncle S")
        tie = services.add_tie(case=self.case, a=a, b=b, by=self.alice)
        stored = PodMeasure.objects.count()
        self.case.status = CaseStatus.WITHDRAWN
        self.case.save(update_fields=["status"])
        for attempt in (
            lambda: change(a, self.alice, stance="barrier"),
            lambda: services.remove_tie(tie=tie, by=self.alice),
            lambda: services.add_tie(case=self.case, a=b, b=a, by=self.alice),
        ):
            with self.assertRaisesMessage(ValidationError, "no longer open"):
                attempt()
        self.assertEqual(PodMeasure.objects.count(), stored)
        tie.refresh_from_db()
        self.assertIsNone(tie.removed_at)
