"""The network hub: who opens it, suppressed counts side by side, and an organization leaving the pooled data."""

import datetime

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.accounts.models import Organization, Role, User
from circlekeeper.cases.models import Track
from circlekeeper.community import hub
from circlekeeper.community.models import EventKind, ImpactDecision
from circlekeeper.community.public_views import HUB_VIEW, IMPACT_DECISION, POOL_DECISION
from circlekeeper.community.tests.test_impact import ImpactData
from circlekeeper.evaluation.dataset import Scope
from circlekeeper.evaluation.models import EvaluationPlan, PlanTimepoint, PoolDecision
from circlekeeper.testing import audit_log, make_network, make_organization, make_user

NOW = datetime.datetime(2026, 6, 15, 18, 0, tzinfo=datetime.UTC)  # the hub shows 2026 Q1 (ended 31 March)
LATER = datetime.datetime(2026, 8, 15, 18, 0, tzinfo=datetime.UTC)  # 2026 Q2, released on 31 July


class HubData(ImpactData):
    elsewhere_org: Organization
    other_admin: User
    other_evaluator: User
    valley_evaluator: User

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        elsewhere = make_network(name="Elsewhere", slug="elsewhere")
        cls.elsewhere_org = make_organization(network=elsewhere, slug="elsewhere-org")
        cls.other_admin = make_user(organization=cls.elsewhere_org, roles=(Role.NETWORK_ADMIN,))
        cls.other_evaluator = make_user(organization=cls.elsewhere_org, roles=(Role.EVALUATOR,))
        cls.valley_evaluator = make_user(organization=cls.valley, roles=(Role.EVALUATOR,))

    def url(self, slug=None):
        return reverse("community:hub", args=[slug or self.network.slug])

    def open_hub(self, user=None, at=NOW):
        self.login(user or self.nora)
        with time_machine.travel(at, tick=False):
            response = self.client.get(self.url())
        self.assertEqual(response.status_code, 200)
        return response


class AccessTests(HubData):
    def test_network_admins_and_the_evaluators_of_its_organizations_open_it(self):
        for user in (self.nora, self.eve, self.valley_evaluator):
            self.login(user)
            self.assertEqual(self.client.get(self.url()).status_code, 200, user)

    def test_other_roles_are_refused(self):
        for user in (self.alice, self.ada, self.sam, self.bob, self.pat, self.charlie):
            self.login(user)
            self.assertEqual(self.client.get(self.url()).status_code, 403, user)

    def test_another_networks_people_get_not_found(self):
        for user in (self.other_admin, self.other_evaluator):
            self.login(user)
            self.assertEqual(self.client.get(self.url()).status_code, 404, user)
        self.login(self.nora)
        self.assertEqual(self.client.get(self.url("elsewhere")).status_code, 404)
        self.assertEqual(self.client.get(self.url("no-such-network")).status_code, 404)

    def test_anonymous_visitors_are_sent_to_sign_in(self):
        response = self.client.get(self.url())

        self.assertEqual(response.status_code, 302)
        self.assertIn(reverse("accounts:login"), response["Location"])

    def test_opening_it_is_audited(self):
        self.open_hub()

        event = audit_log().get(action=HUB_VIEW)
        self.assertEqual((event.actor_id, event.object_id), (self.nora.pk, str(self.network.pk)))


class ContentTests(HubData):
    def test_organizations_side_by_side_with_small_counts_suppressed(self):
        for _ in range(6):
            self.add_case(self.harbor)
        self.add_event(self.harbor, people=10, day=datetime.date(2026, 1, 5))
        self.train(self.valley, 2, day=datetime.date(2026, 1, 6))

        data = hub.hub_for(self.network, datetime.date(2026, 6, 15))

        rows = {row.organization.slug: row for row in data.rows}
        # Eight (six here and the two persona cases) and Valley's one: Harbor's total and the network's cannot
        # both be shown, or 9 - 8 gives Valley's one case away.
        self.assertEqual(rows["valley"].open_cases, "<5")
        self.assertFalse(isinstance(rows["harbor"].open_cases, int) and isinstance(data.stage_total, int))
        self.assertEqual(rows["harbor"].events, "<5")
        self.assertEqual(rows["valley"].trainings, "<5")
        self.assertEqual(rows["valley"].facilitators, "<5")
        self.assertEqual(rows["harbor"].facilitators, 0)
        stages = {row.organization.slug: row for row in data.stages}
        self.assertEqual(stages["valley"].total, "<5")
        # Valley's one case would be 9 - 8 in its stage's column: a column with one hidden cell has its total
        # hidden too (one pass over the whole page, evaluation.release).
        grid = [[*row.cells, row.total] for row in data.stages] + [[*data.stage_totals, data.stage_total]]
        for column in zip(*grid, strict=True):
            self.assertNotEqual(sum(isinstance(cell, str) for cell in column), 1, column)
        self.assertNotIn(1, [cell for line in grid for cell in line])

    def test_pooled_felt_safety_is_described_per_timepoint_with_small_groups_withheld(self):
        case = self.add_case(self.harbor)
        for _ in range(5):
            self.answer(case, {"T0": 2.0})
        self.answer(case, {"T0": 4.0, "T2": 5.0})

        data = hub.hub_for(self.network, datetime.date(2026, 6, 15))

        rows = {row.timepoint: row for row in data.felt_safety}
        self.assertEqual(rows["T0"].n, 6)
        self.assertEqual(rows["T0"].mean, "2.33")
        self.assertEqual(rows["T2"].n, "<5")
        self.assertEqual(rows["T2"].mean, "")

    def test_shared_instruments_and_the_networks_plan_are_listed(self):
        plan = EvaluationPlan.objects.create(network=self.network, name="Network plan 2026")
        point = PlanTimepoint.objects.create(plan=plan, code="T0", label="Intake", anchor="enrolment")
        point.instruments.add(self.instrument)

        html = self.open_hub().content.decode()

        self.assertIn("Network plan 2026", html)
        self.assertIn("T0 · Intake", html)
        self.assertIn(self.instrument.name, html)


class PoolTests(HubData):
    def leave(self, pooled="no", reason="Our board wants to review the data first."):
        self.login(self.pat)
        return self.client.post(reverse("community:pool_decide"), {"pooled": pooled, "reason": reason})

    def test_an_organization_that_left_the_pool_disappears_from_pooled_results(self):
        case = self.add_case(self.harbor, track=Track.SUPPORT_ONLY)
        for _ in range(6):
            self.answer(case, {"T0": 2.0})
        self.assertIn(self.harbor, Scope.for_network(self.network).organizations)

        response = self.leave()

        self.assertRedirects(response, reverse("community:sharing"))
        # The pooled row data follow the decision at once; the published aggregates from the next quarter.
        self.assertNotIn(self.harbor, Scope.for_network(self.network).organizations)
        self.assertIn(self.valley, Scope.for_network(self.network).organizations)
        # Decided in 2026 Q1: the hub follows it from 2026 Q2, released 30 days after that quarter ended (on
        # 31 July). Until then the hub shows 2026 Q1, when Harbor was in the pool.
        PoolDecision.objects.filter(organization=self.harbor).update(
            at=datetime.datetime(2026, 2, 10, 12, 0, tzinfo=datetime.UTC)
        )
        for day in (datetime.date(2026, 3, 15), NOW.date(), datetime.date(2026, 7, 30)):
            same_quarter = hub.hub_for(self.network, day)
            self.assertEqual([row.organization for row in same_quarter.rows], [self.harbor, self.valley], day)
        data = hub.hub_for(self.network, LATER.date())
        self.assertEqual(data.quarter.label, "2026 Q2")
        self.assertEqual([row.organization for row in data.rows], [self.valley])
        self.assertEqual([row.organization for row in data.stages], [self.valley])
        self.assertEqual(data.felt_safety, [])
        self.assertEqual([item.organization for item in data.out], [self.harbor])
        html = self.open_hub(at=LATER).content.decode()
        self.assertIn("left the pool", html)
        self.assertIn("Our board wants to review the data first.", html)
        self.assertNotIn('<th scope="row">Harbor</th>', html)
        self.assertTrue(audit_log().filter(action=POOL_DECISION, actor_id=self.pat.pk).exists())

    def test_joining_again_brings_it_back(self):
        self.leave()
        self.leave(pooled="yes", reason="Reviewed.")

        self.assertIn(self.harbor, Scope.for_network(self.network).organizations)
        html = self.open_hub().content.decode()
        self.assertIn('<th scope="row">Harbor</th>', html)

    def test_the_same_decision_sent_twice_is_recorded_once(self):
        self.leave()
        self.leave()

        self.assertEqual(PoolDecision.objects.filter(organization=self.harbor).count(), 1)

    def test_only_the_organizations_program_admin_decides(self):
        for user in (self.alice, self.sam, self.eve, self.nora):
            self.login(user)
            response = self.client.post(reverse("community:pool_decide"), {"pooled": "no"})
            self.assertEqual(response.status_code, 403, user)
            self.assertEqual(self.client.get(reverse("community:sharing")).status_code, 403, user)
        self.assertFalse(PoolDecision.objects.exists())

    def test_a_decision_needs_a_choice(self):
        self.login(self.pat)
        response = self.client.post(reverse("community:pool_decide"), {"reason": "?"})

        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "This field is required.", status_code=400)
        self.assertFalse(PoolDecision.objects.exists())


class ImpactDecisionPageTests(HubData):
    def test_a_program_admin_records_whether_the_impact_page_shows_their_numbers(self):
        self.login(self.pat)

        response = self.client.post(
            reverse("community:impact_decide"), {"shown": "yes", "reason": "The board agreed."}
        )

        self.assertRedirects(response, reverse("community:sharing"))
        decision = ImpactDecision.objects.get(organization=self.harbor)
        self.assertEqual(
            (decision.shown, decision.reason, decision.by), (True, "The board agreed.", self.pat)
        )
        self.assertTrue(audit_log().filter(action=IMPACT_DECISION, object_id=str(decision.pk)).exists())
        page = self.client.get(reverse("community:sharing")).content.decode()
        self.assertIn("Now: our numbers are counted on the public page", page)
        self.assertIn("The board agreed.", page)

    def test_other_roles_may_not_decide(self):
        for user in (self.alice, self.eve, self.nora, self.charlie):
            self.login(user)
            self.assertEqual(
                self.client.post(reverse("community:impact_decide"), {"shown": "yes"}).status_code, 403
            )
        self.assertFalse(ImpactDecision.objects.exists())


class QueryBudgetTests(HubData):
    def queries(self):
        self.login(self.nora)
        with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as captured:
            self.assertEqual(self.client.get(self.url()).status_code, 200)
        return len(captured)

    def test_the_hub_takes_as_many_queries_for_few_rows_as_for_many(self):
        case = self.add_case(self.harbor)
        self.answer(case, {"T0": 2.0})
        self.add_event(self.harbor, people=3, day=datetime.date(2026, 2, 1))
        self.train(self.harbor, 1, day=datetime.date(2026, 2, 1))
        self.train(self.valley, 1, day=datetime.date(2026, 2, 1))
        self.queries()  # the first visit makes the network's evaluation (its code key), once
        few = self.queries()

        for organization in (self.harbor, self.valley):
            for _ in range(12):
                case = self.add_case(organization)
                self.answer(case, {"T0": 2.0, "T2": 3.0})
                self.add_event(organization, people=4, day=datetime.date(2026, 3, 1), kind=EventKind.WORKSHOP)
            self.train(organization, 6, day=datetime.date(2026, 3, 2))

        self.assertEqual(self.queries(), few)
        self.assertLessEqual(few, 30)


class SharingPageQueryBudgetTests(HubData):
    def count(self):
        self.login(self.pat)
        with CaptureQueriesContext(connection) as captured:
            self.assertEqual(self.client.get(reverse("community:sharing")).status_code, 200)
        return len(captured)

    def test_the_sharing_page_takes_as_many_queries_for_one_decision_as_for_many(self):
        self.show(self.harbor)
        PoolDecision.objects.create(organization=self.harbor, pooled=True, by=self.pat)
        one = self.count()

        for n in range(5):
            self.show(self.harbor, shown=n % 2 == 0)
            PoolDecision.objects.create(organization=self.harbor, pooled=n % 2 == 0, by=self.pat)

        self.assertEqual(self.count(), one)
