"""gates.preread (issue 23): the dashboards read the survivors and latest survivor checks of the cases whose gates
they show in three queries for all of them. Every gate must come out exactly as when each case is read on its own:
the same conditions, met or not, with the same details and dates, for cases in every stage and track; a survivor
entered in error counts for neither (PROTOCOL.md: a record entered in error is left out of every gate)."""

import datetime

from django.conf import settings
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import (
    Case,
    CaseStatus,
    ConsentKind,
    EventKind,
    Participant,
    ParticipantRole,
    record_event,
)
from circlekeeper.cases.participants import withdraw_consent
from circlekeeper.demo.cases import seed_network
from circlekeeper.demo.protocol import seed_protocol
from circlekeeper.demo.safety import seed_safety
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.protocol import gates
from circlekeeper.protocol.corrections import participant_in_error, plan_revision_in_error
from circlekeeper.protocol.models import Approval
from circlekeeper.safety.models import SafetyPlan


def described(conditions: list[gates.Condition]) -> list[tuple[object, ...]]:
    # `since` is left out of Condition's equality: compared here too.
    return [(c.code, c.label, c.met, c.detail, c.url, c.since) for c in conditions]


@override_settings(DEMO_MODE=True)
class DemoNetworkTestCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        # The demo network's cases: every stage and track, survivors with checks of both kinds, some without.
        seed_network(settings.DEMO_PASSWORD, timezone.localdate())
        load_builtins()
        seed_safety()
        seed_protocol()

    def both_ways(self, ids: list[int], *, joint: bool = False) -> tuple[list[Case], list[Case]]:
        alone = list(Case.objects.filter(pk__in=ids).order_by("pk"))
        together = list(Case.objects.filter(pk__in=ids).order_by("pk"))
        gates.preread(together, joint=joint)
        return alone, together

    def assert_same_gates(self, alone: list[Case], together: list[Case]) -> None:
        now = timezone.now()
        for one, other in zip(alone, together, strict=True):
            self.assertEqual(
                described(gates.stage_conditions(one, now)),
                described(gates.stage_conditions(other, now)),
                one,
            )
            self.assertEqual(
                described(gates.joint_gate(one, now)), described(gates.joint_gate(other, now)), one
            )


class GatesPrereadTests(DemoNetworkTestCase):
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


@override_settings(DEMO_MODE=True)
class JointPrereadTests(DemoNetworkTestCase):
    """preread(joint=True), for the supervisor's approval candidates: everything the joint-dialogue gate and its
    approval read, for all the cases at once; each gate the same as when its case is read alone."""

    def test_every_open_case_gets_the_same_joint_gate_either_way(self):
        ids = list(Case.objects.filter(status=CaseStatus.OPEN).values_list("pk", flat=True))
        alone, together = self.both_ways(ids, joint=True)
        now = timezone.now()
        gate = {case.pk: {c.code: c for c in gates.joint_gate(case, now)} for case in alone}
        # The comparison covers gates with and without each condition met, and approvals given.
        for code in ("direct_consent", "acknowledgment", "recent_check", "plan", "monitor", "prep_survivor"):
            self.assertEqual({g[code].met for g in gate.values()}, {True, False}, code)
        self.assertTrue(any(g["approval"].since for g in gate.values()))
        self.assert_same_gates(alone, together)

    def test_people_entered_in_error_count_for_neither(self):
        keeper = User.objects.get(email="keeper@harbor.example")
        monitor = Participant.objects.filter(
            case__status=CaseStatus.OPEN, role=ParticipantRole.SAFETY_MONITOR, consents__isnull=False
        ).first()
        assert monitor is not None
        participant_in_error(participant=monitor, by=keeper, reason="the wrong person")
        survivor = (
            Participant.objects.survivors()
            .filter(case__status=CaseStatus.OPEN, case__approvals__isnull=False)
            .first()
        )
        assert survivor is not None
        participant_in_error(participant=survivor, by=keeper, reason="the wrong person")
        alone, together = self.both_ways([monitor.case_id, survivor.case_id], joint=True)
        for case in together:
            self.assertNotIn(
                monitor.pk, [p.pk for p in gates._consenting(case, ParticipantRole.SAFETY_MONITOR)]
            )
            self.assertNotIn(survivor.pk, [p.pk for p in gates._survivors(case)])
        self.assert_same_gates(alone, together)

    def test_withdrawals_corrections_and_lapses_read_the_same_either_way(self):
        keeper = User.objects.get(email="keeper@harbor.example")
        now = timezone.now()
        gate = {
            case: {c.code: c for c in gates.joint_gate(case, now)}
            for case in Case.objects.filter(status=CaseStatus.OPEN).order_by("pk")
        }
        approved = [case for case, g in gate.items() if g["approval"].met]
        consenting = [case for case, g in gate.items() if g["direct_consent"].met and case not in approved]
        planned = [
            case for case, g in gate.items() if g["plan"].met and case not in approved + consenting[:1]
        ]
        self.assertTrue(approved and consenting and planned)
        # An approval lapses on a hold opened after it (PROTOCOL.md), even though the case is not on hold now.
        record_event(approved[0], EventKind.HOLD_OPENED)
        # The survivor withdraws consent to take part: the direct track's consent no longer holds.
        survivor = gates._survivors(consenting[0])[0]
        for consent in survivor.consents.current().filter(kind=ConsentKind.TAKE_PART):
            withdraw_consent(consent=consent, how="oral", by=keeper)
        # The plan's newest revision entered in error: the one before it counts, or none.
        plan = SafetyPlan.objects.get(participant=gates._survivors(planned[0])[0])
        current = plan.current()
        assert current is not None
        plan_revision_in_error(revision=current, by=keeper, reason="the wrong plan")
        ids = [approved[0].pk, consenting[0].pk, planned[0].pk]
        alone, together = self.both_ways(ids, joint=True)
        changed = {case.pk: {c.code: c for c in gates.joint_gate(case, now)} for case in alone}
        self.assertFalse(changed[approved[0].pk]["approval"].met)
        self.assertFalse(changed[consenting[0].pk]["direct_consent"].met)
        self.assert_same_gates(alone, together)

    def test_an_approval_dated_after_now_counts_for_neither(self):
        # PROTOCOL.md: the joint dialogue needs a supervisor's approval given *before* it; an approval recorded
        # with a later date (a clock ahead, a back-dated check) approves nothing yet, read alone or together.
        supervisor = User.objects.get(email="supervisor@harbor.example")
        now = timezone.now()
        case = next(
            case
            for case in Case.objects.filter(status=CaseStatus.OPEN, organization__slug="harbor").order_by(
                "pk"
            )
            if not {c.code: c for c in gates.joint_gate(case, now)}["approval"].met
        )
        Approval.objects.create(
            organization=case.organization,
            case=case,
            approved_by=supervisor,
            approved_at=now + datetime.timedelta(days=1),
        )
        alone, together = self.both_ways([case.pk], joint=True)
        for read in (alone[0], together[0]):
            approval = {c.code: c for c in gates.joint_gate(read, now)}["approval"]
            self.assertFalse(approval.met)
            self.assertIsNone(approval.since)
        self.assert_same_gates(alone, together)

    def test_eight_queries_read_every_joint_gate(self):
        cases = list(Case.objects.filter(status=CaseStatus.OPEN).order_by("pk")[:10])
        with CaptureQueriesContext(connection) as read:
            gates.preread(cases, joint=True)
        self.assertEqual(len(read), 8)
        now = timezone.now()
        with CaptureQueriesContext(connection) as used:
            for case in cases:
                gates.joint_gate(case, now)
        self.assertEqual(len(used), 0)
