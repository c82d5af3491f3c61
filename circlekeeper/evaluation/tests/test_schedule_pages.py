"""The plan page (program admins), a case's evaluation page (its team), enrolling and ending, entering answers from a
timepoint, and the due list: what they show, audit events, query budgets, and who gets 403 or 404."""

import datetime

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.cases.models import ParticipantRole, TeamRole
from circlekeeper.evaluation import scheduling
from circlekeeper.evaluation.models import Enrollment, EvaluationPlan, Timepoint, TimepointStatus
from circlekeeper.evaluation.scheduling import run_scheduler
from circlekeeper.evaluation.tests.schedule_helpers import enrolled, local, set_up_builtins, survivor_and_harm
from circlekeeper.instruments.models import Response
from circlekeeper.testing import PersonaTestCase, audit_log, make_case, make_participant

NOW = local(2026, 3, 3, 10)


class PagesTestCase(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        set_up_builtins()

    def setUp(self):
        self.clock = time_machine.travel(NOW, tick=False)
        self.clock.start()
        self.addCleanup(self.clock.stop)

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


class PlanPageTests(PagesTestCase):
    def test_the_program_admin_sees_the_plan_made_on_first_visit_and_the_visit_is_audited(self):
        page = self.get(self.pat, reverse("evaluation:plan"))
        self.assertEqual(page.status_code, 200)
        plan = EvaluationPlan.objects.get(organization=self.harbor)
        self.assertContains(page, "Felt safety", count=0)  # scores are not listed, questionnaires are
        self.assertContains(page, "How safe you feel")
        self.assertContains(
            page, reverse("evaluation:plan_timepoint_edit", args=[plan.timepoints.get(code="T3").pk])
        )
        self.assertTrue(
            audit_log().filter(action="evaluation.schedule_view", object_type="evaluation_plan").exists()
        )

    def test_only_program_admins_reach_the_plan_pages(self):
        scheduling.default_plan_for(self.harbor)
        timepoint = EvaluationPlan.objects.get(organization=self.harbor).timepoints.get(code="T3")
        for user in (self.alice, self.ada, self.sam, self.bob, self.eve, self.charlie, self.nora):
            for url in (
                reverse("evaluation:plan"),
                reverse("evaluation:plan_timepoint_add"),
                reverse("evaluation:plan_timepoint_edit", args=[timepoint.pk]),
            ):
                self.assertEqual(self.get(user, url).status_code, 403, (user, url))
            retire = reverse("evaluation:plan_timepoint_retire", args=[timepoint.pk])
            self.assertEqual(self.post(user, retire, {"lock_version": 1}).status_code, 403)
        anonymous = self.get(None, reverse("evaluation:plan"))
        self.assertEqual(anonymous.status_code, 302)

    def test_another_organizations_timepoint_is_404(self):
        valley_plan = scheduling.default_plan_for(self.valley)
        theirs = valley_plan.timepoints.get(code="T3")
        self.assertEqual(
            self.get(self.pat, reverse("evaluation:plan_timepoint_edit", args=[theirs.pk])).status_code, 404
        )
        retire = reverse("evaluation:plan_timepoint_retire", args=[theirs.pk])
        self.assertEqual(self.post(self.pat, retire, {"lock_version": 1}).status_code, 404)
        theirs.refresh_from_db()
        self.assertIsNone(theirs.retired_at)

    def form_data(self, timepoint, **changes):
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

    def test_changing_a_timepoint_on_the_page_saves_it_and_audits_it(self):
        plan = scheduling.default_plan_for(self.harbor)
        t3 = plan.timepoints.get(code="T3")
        url = reverse("evaluation:plan_timepoint_edit", args=[t3.pk])
        answer = self.post(self.pat, url, self.form_data(t3, offset_days=100, label="Three months"))
        self.assertRedirects(answer, reverse("evaluation:plan") + f"#timepoint-{t3.pk}")
        t3.refresh_from_db()
        self.assertEqual((t3.offset_days, t3.label), (100, "Three months"))
        self.assertTrue(audit_log().filter(action="evaluation.plan", object_id=str(t3.pk)).exists())

    def test_a_stale_page_or_bad_input_is_refused_with_a_message_and_saves_nothing(self):
        plan = scheduling.default_plan_for(self.harbor)
        t3 = plan.timepoints.get(code="T3")
        url = reverse("evaluation:plan_timepoint_edit", args=[t3.pk])
        stale = self.post(self.pat, url, self.form_data(t3, offset_days=100, lock_version=0))
        self.assertEqual(stale.status_code, 400)
        self.assertContains(stale, "Someone else changed this plan", status_code=400)
        bad = self.post(self.pat, url, self.form_data(t3, code="T 3!", roles=["child"]))
        self.assertEqual(bad.status_code, 400)
        self.assertContains(bad, "Use letters, digits", status_code=400)
        t3.refresh_from_db()
        self.assertEqual((t3.offset_days, t3.code), (90, "T3"))

    def test_adding_and_retiring_timepoints_on_the_page(self):
        plan = scheduling.default_plan_for(self.harbor)
        t0 = plan.timepoints.get(code="T0")
        data = self.form_data(t0, code="T6", label="Two years", offset_days=730)
        answer = self.post(self.pat, reverse("evaluation:plan_timepoint_add"), data)
        self.assertEqual(answer.status_code, 302)
        t6 = plan.timepoints.get(code="T6")
        answer = self.post(
            self.pat, reverse("evaluation:plan_timepoint_retire", args=[t6.pk]), {"lock_version": 2}
        )
        self.assertRedirects(answer, reverse("evaluation:plan"))
        t6.refresh_from_db()
        self.assertEqual(t6.retired_at, NOW)

    def test_the_plan_page_takes_the_same_queries_with_more_timepoints(self):
        self.login(self.pat)
        self.client.get(reverse("evaluation:plan"))
        with CaptureQueriesContext(connection) as few:
            self.client.get(reverse("evaluation:plan"))
        plan = EvaluationPlan.objects.get(organization=self.harbor)
        t0 = plan.timepoints.get(code="T0")
        for n in range(5):
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
                lock_version=plan.lock_version + n,
                by=self.pat,
                now=NOW,
            )
        with self.assertNumQueries(len(few)):
            self.client.get(reverse("evaluation:plan"))


class CaseSchedulePageTests(PagesTestCase):
    def setUp(self):
        super().setUp()
        self.survivor, self.harm = survivor_and_harm(self.case)
        self.url = reverse("evaluation:case_schedule", args=[self.case.pk])

    def test_the_team_sees_the_timepoints_per_participant_with_window_and_status(self):
        enrolled(self.case, self.alice, on=datetime.date(2026, 3, 2))
        run_scheduler(NOW)
        for user in (self.alice, self.ada, self.sam):
            page = self.get(user, self.url)
            self.assertEqual(page.status_code, 200)
        self.assertContains(page, "Evaluation timepoints for survivor 1")
        self.assertContains(page, "How safe you feel")
        self.assertContains(page, "Link sent by email")
        self.assertContains(
            page, reverse("evaluation:timepoint_entry", args=[self.case.pk, rows_of(self.survivor)[0].pk])
        )
        self.assertNotContains(page, "survivor@example.org")
        self.assertTrue(
            audit_log()
            .filter(action="evaluation.schedule_view", object_type="case", object_id=str(self.case.pk))
            .exists()
        )

    def test_off_the_team_another_organization_and_evaluators_get_404(self):
        for user in (self.bob, self.charlie, self.eve, self.pat, self.nora):
            self.assertEqual(self.get(user, self.url).status_code, 404, user)
        self.assertEqual(
            self.get(
                self.charlie, reverse("evaluation:case_schedule", args=[self.valley_case.pk])
            ).status_code,
            200,
        )
        self.assertEqual(self.get(None, self.url).status_code, 302)

    def test_a_keeper_on_the_team_enrols_the_case_from_the_page(self):
        page = self.get(self.alice, self.url)
        self.assertContains(page, "Enrol the case")
        plan = EvaluationPlan.objects.get(organization=self.harbor)
        answer = self.post(
            self.alice,
            reverse("evaluation:case_enrol", args=[self.case.pk]),
            {"plan": plan.pk, "enrolled_on": "2026-03-02"},
        )
        self.assertRedirects(answer, self.url)
        self.assertEqual(Enrollment.objects.get(case=self.case).enrolled_by, self.alice)
        self.assertTrue(Timepoint.objects.filter(participant=self.survivor, code="T0").exists())
        self.assertTrue(audit_log().filter(action="evaluation.enrol", object_type="enrollment").exists())

    def test_enrolling_is_for_the_keeper_and_supervisor_on_the_team(self):
        plan = scheduling.default_plan_for(self.harbor)
        enrol = reverse("evaluation:case_enrol", args=[self.case.pk])
        data = {"plan": plan.pk, "enrolled_on": "2026-03-02"}
        self.assertEqual(self.post(self.ada, enrol, data).status_code, 403)
        self.assertEqual(self.post(self.bob, enrol, data).status_code, 404)
        self.assertEqual(self.post(self.charlie, enrol, data).status_code, 404)
        self.assertEqual(self.post(self.eve, enrol, data).status_code, 404)
        self.assertFalse(Enrollment.objects.exists())
        self.assertNotContains(self.get(self.ada, self.url), "Enrol the case")

    def test_a_bad_date_is_refused_with_a_message(self):
        plan = scheduling.default_plan_for(self.harbor)
        answer = self.post(
            self.sam,
            reverse("evaluation:case_enrol", args=[self.case.pk]),
            {"plan": plan.pk, "enrolled_on": "2026-04-30"},
        )
        self.assertContains(answer, "between the case&#x27;s opening and today", status_code=400)
        self.assertFalse(Enrollment.objects.exists())

    def test_ending_the_enrolment_on_the_page(self):
        enrolled(self.case, self.alice, on=datetime.date(2026, 3, 2))
        answer = self.post(self.sam, reverse("evaluation:case_enrolment_end", args=[self.case.pk]))
        self.assertRedirects(answer, self.url)
        self.assertIsNotNone(Enrollment.objects.get(case=self.case).ended_at)
        self.assertEqual(
            set(Timepoint.objects.filter(code="T3").values_list("status", flat=True)),
            {TimepointStatus.CANCELLED},
        )

    def test_staff_enter_the_answers_from_an_open_timepoint(self):
        enrolled(self.case, self.alice, on=datetime.date(2026, 3, 2))
        run_scheduler(NOW)
        row = Timepoint.objects.get(participant=self.survivor, code="T0", instrument__code="outcome_safety")
        answer = self.post(self.ada, reverse("evaluation:timepoint_entry", args=[self.case.pk, row.pk]))
        row.refresh_from_db()
        response = Response.objects.get(timepoint=row)
        self.assertRedirects(
            answer,
            reverse("instruments:response_answer", args=[self.case.pk, response.pk]),
            fetch_redirect_response=False,
        )
        self.assertEqual(response.entered_by_staff, self.ada)
        # Again: the same entry goes on, no second response.
        self.post(self.ada, reverse("evaluation:timepoint_entry", args=[self.case.pk, row.pk]))
        self.assertEqual(Response.objects.filter(participant=self.survivor).count(), 1)

    def test_a_timepoint_of_another_case_is_404(self):
        other = make_case(self.harbor, team=((self.alice, TeamRole.KEEPER),))
        make_participant(other)
        enrolled(other, self.alice, on=datetime.date(2026, 3, 2))
        theirs = Timepoint.objects.filter(case=other).earliest("id")
        answer = self.post(self.alice, reverse("evaluation:timepoint_entry", args=[self.case.pk, theirs.pk]))
        self.assertEqual(answer.status_code, 404)
        answer = self.post(self.bob, reverse("evaluation:timepoint_entry", args=[other.pk, theirs.pk]))
        self.assertEqual(answer.status_code, 404)
        self.assertFalse(Response.objects.exists())

    def test_the_case_page_takes_the_same_queries_with_more_participants_and_timepoints(self):
        enrolled(self.case, self.alice, on=datetime.date(2026, 3, 2))
        run_scheduler(NOW)
        self.login(self.alice)
        self.client.get(self.url)
        with CaptureQueriesContext(connection) as few:
            self.client.get(self.url)
        for n in range(3):
            make_participant(self.case, role=ParticipantRole.SURVIVOR, label=f"More {n}")
        run_scheduler(NOW)
        self.assertGreater(Timepoint.objects.filter(case=self.case).count(), 40)
        with self.assertNumQueries(len(few)):
            self.client.get(self.url)


def rows_of(participant):
    return list(Timepoint.objects.filter(participant=participant).order_by("due_at", "id"))


class DuePageTests(PagesTestCase):
    def setUp(self):
        super().setUp()
        self.survivor, self.harm = survivor_and_harm(self.case)
        enrolled(self.case, self.alice, on=datetime.date(2026, 3, 2))
        run_scheduler(NOW)

    def test_staff_see_what_is_due_on_their_own_cases(self):
        page = self.get(self.alice, reverse("evaluation:due"))
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, self.case.reference)
        self.assertContains(page, "survivor 1")
        self.assertNotContains(self.get(self.bob, reverse("evaluation:due")), self.case.reference)

    def test_people_who_work_no_cases_are_refused(self):
        for user in (self.eve, self.pat, self.nora):
            self.assertEqual(self.get(user, reverse("evaluation:due")).status_code, 403, user)

    def test_the_due_page_takes_the_same_queries_with_more_cases(self):
        self.login(self.alice)
        self.client.get(reverse("evaluation:due"))
        with CaptureQueriesContext(connection) as few:
            self.client.get(reverse("evaluation:due"))
        for _ in range(3):
            other = make_case(
                self.harbor, team=((self.alice, TeamRole.KEEPER),), opened_on=datetime.date(2026, 3, 1)
            )
            survivor_and_harm(other)
            enrolled(other, self.alice, on=datetime.date(2026, 3, 2))
        with self.assertNumQueries(len(few)):
            self.client.get(reverse("evaluation:due"))
