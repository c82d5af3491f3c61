"""gates.preread (issue 23): the dashboards read the survivors and latest survivor checks of the cases whose gates
they show in three queries for all of them. Every gate must come out exactly as when each case is read on its own:
the same conditions, met or not, with the same details and dates, for cases in every stage and track; a survivor
entered in error counts for neither (PROTOCOL.md: a record entered in error is left out of every gate)."""

from django.conf import settings
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import Case, CaseStatus, Participant
from circlekeeper.demo.cases import seed_network
from circlekeeper.demo.protocol import seed_protocol
from circlekeeper.demo.safety import seed_safety
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.protocol import gates
from circlekeeper.protocol.corrections import participant_in_error


def described(conditions: list[gates.Condition]) -> list[tuple[object, ...]]:
    # `since` is left out of Condition's equality: compared here too.
    return [(c.code, c.label, c.met, c.detail, c.url, c.since) for c in conditions]


@override_settings(DEMO_MODE=True)
class GatesPrereadTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        # The demo network's cases: every stage and track, survivors with checks of both kinds, some without.
        seed_network(settings.DEMO_PASSWORD, timezone.localdate())
        load_builtins()
        seed_safety()
        seed_protocol()

    def both_ways(self, ids: list[int]) -> tuple[list[Case], list[Case]]:
        alone = list(Case.objects.filter(pk__in=ids).order_by("pk"))
        together = list(Case.objects.filter(pk__in=ids).order_by("pk"))
        gates.preread(together)
        return alone, together

    def test_every_open_case_gets_the_same_gate_either_way(self):
        now = timezone.now()
        ids = list(Case.objects.filter(status=CaseStatus.OPEN).values_list("pk", flat=True))
        self.assertGreater(len(ids), 10)
        alone, together = self.both_ways(ids)
        stages = {case.stage for case in alone}
        self.assertGreater(len(stages), 4)  # the comparison covers most stages' gates
        for one, other in zip(alone, together, strict=True):
            self.assertEqual(
                described(gates.stage_conditions(one, now)),
                described(gates.stage_conditions(other, now)),
                one,
            )
            self.assertEqual(
                described(gates.joint_conditions(one, now)),
                described(gates.joint_conditions(other, now)),
                one,
            )

    def test_a_survivor_entered_in_error_counts_for_neither(self):
        now = timezone.now()
        survivor = (
            Participant.objects.survivors()
            .filter(case__status=CaseStatus.OPEN, safety_checks__isnull=False)
            .first()
        )
        assert survivor is not None
        keeper = User.objects.get(email="keeper@harbor.example")
        participant_in_error(participant=survivor, by=keeper, reason="the wrong person")
        alone, together = self.both_ways([survivor.case_id])
        self.assertNotIn(survivor.pk, [p.pk for p in gates._survivors(together[0])])
        checked = gates._latest_survivor_check(together[0])
        self.assertTrue(checked is None or checked.participant_id != survivor.pk)
        self.assertEqual(
            described(gates.stage_conditions(alone[0], now)),
            described(gates.stage_conditions(together[0], now)),
        )

    def test_three_queries_read_what_every_gate_reads_first(self):
        cases = list(Case.objects.filter(status=CaseStatus.OPEN).order_by("pk")[:10])
        with CaptureQueriesContext(connection) as read:
            gates.preread(cases)
        self.assertEqual(len(read), 3)
        with CaptureQueriesContext(connection) as used:
            for case in cases:
                gates._survivors(case)
                gates._latest_survivor_check(case)
                gates._latest_survivor_check(case, kind="full")
        self.assertEqual(len(used), 0)
