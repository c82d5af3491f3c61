"""The network's shared evaluation plan: its network admins make and change it, with the organization plan's forms
and services; every case enrolled in it, in any organization, follows the change for what is not open yet."""

import datetime

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Organization, Role, User
from circlekeeper.cases.models import ParticipantRole
from circlekeeper.evaluation import scheduling
from circlekeeper.evaluation.models import EvaluationPlan, PlanTimepoint, Timepoint, TimepointStatus
from circlekeeper.evaluation.scheduling import run_scheduler
from circlekeeper.evaluation.tests.schedule_helpers import local, set_up_builtins, survivor_and_harm
from circlekeeper.instruments.models import Instrument
from circlekeeper.testing import (
    PersonaTestCase,
    audit_log,
    make_network,
    make_organization,
    make_participant,
    make_user,
)

NOW = local(2026, 3, 3, 10)
ENROLLED_ON = datetime.date(2026, 3, 2)


class NetworkPlanTestCase(PersonaTestCase):
    elsewhere: Organization
    otto: User

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        set_up_builtins()
        cls.elsewhere = make_organization(network=make_network(name="Elsewhere", slug="elsewhere"))
        cls.otto = make_user(
            "otto@elsewhere.example",
            organization=cls.elsewhere,
            roles=(Role.NETWORK_ADMIN,),
            display_name="Otto",
        )

    def setUp(self):
        self.clock = time_machine.travel(NOW, tick=False)
        self.clock.start()
        self.addCleanup(self.clock.stop)
        self.url = reverse("evaluation:network_plan", args=["test-network"])
        self.add_url = reverse("evaluation:network_plan_timepoint_add", args=["test-network"])

    def get(self, user, url):
        self.client.logout()
        if user is not None:
            self.login(user)
        return self.client.get(url)

    def post(self, user, url, data=None):
        self.client.logout()
        if user is not None:
            self.login(user)
        return self.client.post(url, data or {})

    def shared_plan(self):
        return scheduling.default_network_plan_for(self.network)

    def edit_url(self, timepoint):
        return reverse("evaluation:network_plan_timepoint_edit", args=["test-network", timepoint.pk])

    def retire_url(self, timepoint):
        return reverse("evaluation:network_plan_timepoint_retire", args=["test-network", timepoint.pk])

    def form_data(self, timepoint, **changes):
        timepoint.plan.refresh_from_db()
        data = {
            "lock_version": timepoint.plan.lock_version,
            "code": timepoint.code,
            "label": timepoint.label,
            "anchor": timepoint.anchor,
            "offset_days": timepoint.offset_days,
            "opens_days_before": timepoint.opens_days_before,
            "closes_days_after": timepoint.closes_days_after,
            "instruments": [i.pk for i in timepoint.instruments.all()],
            "roles": list(timepoint.roles),
        }
        data.update(changes)
        return data


class MakingAndChangingTheSharedPlanTests(NetworkPlanTestCase):
    def test_the_network_admin_finds_the_plan_made_on_first_visit_once_and_the_visit_is_audited(self):
        page = self.get(self.nora, self.url)
        self.assertEqual(page.status_code, 200)
        plan = EvaluationPlan.objects.get(network=self.network)
        self.assertIsNone(plan.organization_id)
        self.assertEqual(plan.created_by, self.nora)
        self.assertIn("Test Network", plan.name)
        self.assertEqual(
            list(plan.timepoints.values_list("code", flat=True)), ["T0", "T1", "T2", "T3", "T4", "T5"]
        )
        self.assertContains(page, "How safe you feel")
        self.assertContains(page, self.edit_url(plan.timepoints.get(code="T3")))
        self.assertContains(page, self.retire_url(plan.timepoints.get(code="T3")))
        self.assertContains(page, self.add_url)
        self.assertEqual(self.get(self.nora, self.url).status_code, 200)
        self.assertEqual(EvaluationPlan.objects.filter(network=self.network).count(), 1)
        self.assertEqual(
            audit_log()
            .filter(
                action=Action.EVALUATION_SCHEDULE_VIEW, object_type="evaluation_plan", object_id=str(plan.pk)
            )
            .count(),
            2,
        )

    def test_the_network_admin_changes_adds_and_retires_timepoints_and_each_change_is_audited(self):
        plan = self.shared_plan()
        t3 = plan.timepoints.get(code="T3")
        answer = self.post(
            self.nora, self.edit_url(t3), self.form_data(t3, offset_days=100, label="Three months")
        )
        self.assertRedirects(answer, self.url + f"#timepoint-{t3.pk}")
        t3.refresh_from_db()
        self.assertEqual((t3.offset_days, t3.label), (100, "Three months"))

        t0 = plan.timepoints.get(code="T0")
        answer = self.post(
            self.nora, self.add_url, self.form_data(t0, code="T6", label="Two years", offset_days=730)
        )
        t6 = plan.timepoints.get(code="T6")
        self.assertRedirects(answer, self.url + f"#timepoint-{t6.pk}")
        self.assertEqual(t6.offset_days, 730)

        plan.refresh_from_db()
        answer = self.post(self.nora, self.retire_url(t6), {"lock_version": plan.lock_version})
        self.assertRedirects(answer, self.url)
        t6.refresh_from_db()
        self.assertEqual(t6.retired_at, NOW)
        changes = audit_log().filter(action=Action.EVALUATION_PLAN_CHANGE, object_type="plan_timepoint")
        self.assertEqual(
            sorted(changes.values_list("object_id", flat=True)), sorted([str(t3.pk), str(t6.pk), str(t6.pk)])
        )
        self.assertTrue(all(event.actor_id == self.nora.pk for event in changes))

    def test_the_change_form_shows_the_timepoint_as_it_is(self):
        t3 = self.shared_plan().timepoints.get(code="T3")
        page = self.get(self.nora, self.edit_url(t3))
        self.assertContains(page, 'name="code" value="T3"')
        self.assertContains(page, 'name="offset_days" value="90"')
        safety = Instrument.objects.get(owner=None, code="outcome_safety")
        self.assertContains(page, f'value="{safety.pk}" id="id_instruments_', count=1)
        self.assertRegex(page.content.decode(), rf'value="{safety.pk}" id="id_instruments_\d+"\s+checked')

    def test_only_the_shared_questionnaires_are_offered_and_an_organizations_own_is_refused(self):
        own = Instrument.objects.create(
            owner=self.harbor, code="harbor_own", name="Harbor's own questionnaire"
        )
        form = self.get(self.nora, self.add_url)
        self.assertEqual(form.status_code, 200)
        self.assertContains(form, "How safe you feel")
        self.assertNotContains(form, "Harbor&#x27;s own questionnaire")
        # The organization's own plan offers it to its program admin.
        self.assertContains(
            self.get(self.pat, reverse("evaluation:plan_timepoint_add")), "Harbor&#x27;s own questionnaire"
        )
        t0 = self.shared_plan().timepoints.get(code="T0")
        answer = self.post(self.nora, self.add_url, self.form_data(t0, code="T6", instruments=[own.pk]))
        self.assertEqual(answer.status_code, 400)
        self.assertFalse(PlanTimepoint.objects.filter(code="T6").exists())

    def test_the_program_admins_page_shows_the_shared_plan_read_only_and_who_keeps_it(self):
        plan = self.shared_plan()
        page = self.get(self.pat, reverse("evaluation:plan"))
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, plan.name)
        self.assertContains(page, "the network administrators of Test Network keep it")
        self.assertNotContains(page, self.edit_url(plan.timepoints.get(code="T3")))
        self.assertNotContains(page, self.retire_url(plan.timepoints.get(code="T3")))
        self.assertNotContains(page, self.url)


class EnrolledCasesFollowTheSharedPlanTests(NetworkPlanTestCase):
    def setUp(self):
        super().setUp()
        self.plan = self.shared_plan()
        self.survivor, _harm = survivor_and_harm(self.case)
        self.valley_survivor = make_participant(self.valley_case, role=ParticipantRole.SURVIVOR)
        for case, by in ((self.case, self.alice), (self.valley_case, self.charlie)):
            scheduling.enrol(
                case=case, plan=self.plan, by=by, enrolled_on=ENROLLED_ON, now=local(2026, 3, 2, 9)
            )
        # A Harbor case in Harbor's own plan must not follow the network's changes.
        self.own_case_survivor = make_participant(self.other_team_case, role=ParticipantRole.SURVIVOR)
        scheduling.enrol(
            case=self.other_team_case,
            plan=scheduling.default_plan_for(self.harbor),
            by=self.bob,
            enrolled_on=ENROLLED_ON,
            now=local(2026, 3, 2, 9),
        )
        run_scheduler(NOW)

    def rows(self, participant, code):
        return list(Timepoint.objects.filter(participant=participant, code=code).order_by("instrument__code"))

    def test_an_added_timepoint_reaches_every_enrolled_case_of_the_network_and_open_ones_keep_their_window(
        self,
    ):
        t0 = self.plan.timepoints.get(code="T0")
        open_before = self.rows(self.survivor, "T0")
        self.assertTrue(open_before)
        self.assertTrue(all(row.status == TimepointStatus.OPEN for row in open_before))

        answer = self.post(
            self.nora, self.edit_url(t0), self.form_data(t0, offset_days=5, closes_days_after=30)
        )
        self.assertEqual(answer.status_code, 302)
        answer = self.post(
            self.nora, self.add_url, self.form_data(t0, code="T6", label="Two years", offset_days=730)
        )
        self.assertEqual(answer.status_code, 302)

        # The open T0 questionnaires keep the window they were opened with.
        open_after = self.rows(self.survivor, "T0")
        self.assertEqual(
            [(r.pk, r.status, r.opens_at, r.due_at, r.closes_at) for r in open_after],
            [(r.pk, r.status, r.opens_at, r.due_at, r.closes_at) for r in open_before],
        )
        # T6 is scheduled for both organizations' cases in the plan, two years after enrolment.
        for participant in (self.survivor, self.valley_survivor):
            t6 = self.rows(participant, "T6")
            self.assertTrue(t6, participant)
            self.assertTrue(all(row.status == TimepointStatus.SCHEDULED for row in t6))
            self.assertEqual(
                {scheduling.due_day(row) for row in t6}, {ENROLLED_ON + datetime.timedelta(days=730)}
            )
            self.assertEqual({row.organization_id for row in t6}, {participant.organization_id})
        self.assertEqual(self.rows(self.own_case_survivor, "T6"), [])

    def test_a_changed_timepoint_moves_the_scheduled_rows_and_a_retired_one_cancels_them(self):
        t3 = self.plan.timepoints.get(code="T3")
        self.post(self.nora, self.edit_url(t3), self.form_data(t3, offset_days=100))
        for participant in (self.survivor, self.valley_survivor):
            self.assertEqual(
                {scheduling.due_day(row) for row in self.rows(participant, "T3")},
                {ENROLLED_ON + datetime.timedelta(days=100)},
            )
        own_t3 = self.rows(self.own_case_survivor, "T3")
        self.assertEqual(
            {scheduling.due_day(row) for row in own_t3}, {ENROLLED_ON + datetime.timedelta(days=90)}
        )

        self.plan.refresh_from_db()
        self.post(self.nora, self.retire_url(t3), {"lock_version": self.plan.lock_version})
        for participant in (self.survivor, self.valley_survivor):
            self.assertEqual(
                {row.status for row in self.rows(participant, "T3")}, {TimepointStatus.CANCELLED}
            )
        self.assertEqual({row.status for row in own_t3}, {TimepointStatus.SCHEDULED})
        self.assertTrue(all(row.status == TimepointStatus.OPEN for row in self.rows(self.survivor, "T0")))


class RefusalsTests(NetworkPlanTestCase):
    def test_a_bad_post_is_400_with_the_reason_and_writes_nothing(self):
        plan = self.shared_plan()
        t3 = plan.timepoints.get(code="T3")
        before = plan.lock_version
        bad = self.post(self.nora, self.edit_url(t3), self.form_data(t3, code="T 3!", roles=["child"]))
        self.assertEqual(bad.status_code, 400)
        self.assertContains(bad, "Use letters, digits", status_code=400)
        missing = self.post(self.nora, self.add_url, {"lock_version": before, "code": "T9"})
        self.assertEqual(missing.status_code, 400)
        clash = self.post(self.nora, self.add_url, self.form_data(t3, code="T0"))
        self.assertContains(clash, "already has the code T0", status_code=400)
        t3.refresh_from_db()
        plan.refresh_from_db()
        self.assertEqual(
            (t3.code, t3.offset_days, t3.roles),
            ("T3", 90, [ParticipantRole.SURVIVOR, ParticipantRole.PERSON_WHO_CAUSED_HARM]),
        )
        self.assertEqual(plan.lock_version, before)
        self.assertEqual(plan.timepoints.count(), 6)
        self.assertFalse(audit_log().filter(action=Action.EVALUATION_PLAN_CHANGE).exists())

    def test_a_stale_lock_version_is_refused_for_changes_additions_and_retirement(self):
        plan = self.shared_plan()
        t3 = plan.timepoints.get(code="T3")
        scheduling.change_timepoint(
            timepoint=t3,
            change=scheduling.TimepointChange(
                "T3", "Three months", t3.anchor, 95, 14, 14, list(t3.instruments.all()), list(t3.roles)
            ),
            lock_version=plan.lock_version,
            by=self.nora,
            now=NOW,
        )
        stale = plan.lock_version  # read before the change above
        answer = self.post(
            self.nora, self.edit_url(t3), self.form_data(t3, offset_days=120, lock_version=stale)
        )
        self.assertContains(answer, "Someone else changed this plan", status_code=400)
        answer = self.post(self.nora, self.add_url, self.form_data(t3, code="T6", lock_version=stale))
        self.assertContains(answer, "Someone else changed this plan", status_code=400)
        answer = self.post(self.nora, self.retire_url(t3), {"lock_version": stale})
        self.assertRedirects(answer, self.url)
        t3.refresh_from_db()
        self.assertEqual((t3.offset_days, t3.label, t3.retired_at), (95, "Three months", None))
        self.assertFalse(plan.timepoints.filter(code="T6").exists())
        self.assertFalse(audit_log().filter(action=Action.EVALUATION_PLAN_CHANGE).exists())

    def test_access_nora_only_another_networks_admin_and_unknown_slugs_404_anonymous_to_login(self):
        plan = self.shared_plan()
        t3 = plan.timepoints.get(code="T3")
        pages = [self.url, self.add_url, self.edit_url(t3)]
        for url in pages:
            self.assertEqual(self.get(self.nora, url).status_code, 200, url)
            for user in (self.alice, self.ada, self.sam, self.bob, self.charlie, self.eve, self.pat):
                self.assertEqual(self.get(user, url).status_code, 403, (user, url))
            self.assertEqual(self.get(self.otto, url).status_code, 404, url)
            anonymous = self.get(None, url)
            self.assertEqual(anonymous.status_code, 302, url)
            self.assertIn(reverse("accounts:login"), anonymous["Location"])
        for who, status in (
            (self.pat, 403),
            (self.eve, 403),
            (self.alice, 403),
            (self.otto, 404),
            (None, 302),
        ):
            answer = self.post(who, self.retire_url(t3), {"lock_version": plan.lock_version})
            self.assertEqual(answer.status_code, status, who)
        self.assertEqual(
            self.get(self.nora, reverse("evaluation:network_plan", args=["nowhere"])).status_code, 404
        )
        self.assertEqual(self.get(self.nora, self.retire_url(t3)).status_code, 405)
        t3.refresh_from_db()
        self.assertIsNone(t3.retired_at)
        # Another network's admin reaches their own network's plan, and nothing of this one's is made for them.
        self.assertEqual(
            self.get(self.otto, reverse("evaluation:network_plan", args=["elsewhere"])).status_code, 200
        )

    def test_a_timepoint_of_another_plan_is_404(self):
        self.shared_plan()
        harbor_t3 = scheduling.default_plan_for(self.harbor).timepoints.get(code="T3")
        elsewhere_t3 = scheduling.default_network_plan_for(self.elsewhere.network).timepoints.get(code="T3")
        for theirs in (harbor_t3, elsewhere_t3):
            self.assertEqual(self.get(self.nora, self.edit_url(theirs)).status_code, 404)
            self.assertEqual(
                self.post(
                    self.nora, self.edit_url(theirs), self.form_data(theirs, offset_days=1)
                ).status_code,
                404,
            )
            self.assertEqual(
                self.post(self.nora, self.retire_url(theirs), {"lock_version": 1}).status_code, 404
            )
            theirs.refresh_from_db()
            self.assertEqual((theirs.offset_days, theirs.retired_at), (90, None))
        # ...and the shared plan's timepoints are not reached through the organization plan's URLs either.
        shared_t3 = self.shared_plan().timepoints.get(code="T3")
        self.assertEqual(
            self.get(self.pat, reverse("evaluation:plan_timepoint_edit", args=[shared_t3.pk])).status_code,
            404,
        )

    def test_the_page_takes_the_same_queries_with_more_timepoints(self):
        self.login(self.nora)
        self.client.get(self.url)
        plan = self.shared_plan()
        plan.timepoints.exclude(code="T0").delete()  # one timepoint left, nobody enrolled yet
        with CaptureQueriesContext(connection) as few:
            self.assertEqual(self.client.get(self.url).status_code, 200)
        t0 = plan.timepoints.get(code="T0")
        for n in range(8):
            scheduling.add_timepoint(
                plan=plan,
                change=scheduling.TimepointChange(
                    f"X{n}",
                    "More",
                    t0.anchor,
                    10 * n,
                    1,
                    1,
                    list(t0.instruments.all()),
                    [ParticipantRole.SURVIVOR],
                ),
                lock_version=plan.lock_version,
                by=self.nora,
                now=NOW,
            )
            plan.refresh_from_db()
        with self.assertNumQueries(len(few)):
            self.assertEqual(self.client.get(self.url).status_code, 200)
