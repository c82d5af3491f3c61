"""The stage page: the case's stage, the checklist of its next gate with where to act, and moving on through
`advance` only, which refuses with what is missing (409) and writes nothing; the checklist fragment for htmx."""

from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import Case, CaseEvent, CaseStatus, EventKind, ParticipantRole, Stage
from circlekeeper.lib.audit import Outcome
from circlekeeper.protocol.models import Transition
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant


class StagePageTests(PersonaTestCase):
    def url(self, name="protocol:case", case=None):
        return reverse(name, args=[(case or self.case).pk])

    def advance(self, stage=Stage.REFERRAL, **data):
        return self.client.post(self.url("protocol:advance"), {"stage": stage, **data})

    def ready_for_two_stages(self) -> Walk:
        """At referral, with the intake gate already met too: a double click could move it twice."""
        walk = Walk(self.case, self.alice, self.sam)
        walk.people()
        assert walk.survivor is not None
        run_check(walk.survivor, by=self.alice, code="immediate_danger")
        run_check(walk.survivor, by=self.alice)
        choose_track(
            case=self.case,
            survivor=walk.survivor,
            track="direct_dialogue",
            explained_by=self.alice,
            explained_on=timezone.localdate(),
            by=self.alice,
        )
        return walk

    def test_the_team_sees_the_stage_the_next_stage_and_each_condition_with_where_to_act(self):
        for person in (self.alice, self.ada, self.sam):
            self.login(person)
            page = self.client.get(self.url())
            self.assertContains(page, "Referral and first contact")
            self.assertContains(page, "Intake: getting clear")
            self.assertContains(page, "Still needed:")
            self.assertContains(page, "The survivor is recorded")
            self.assertContains(page, reverse("cases:participant_add", args=[self.case.pk]))
            self.assertContains(page, reverse("safety:case", args=[self.case.pk]))
            self.assertContains(page, reverse("protocol:withdraw", args=[self.case.pk]))
            self.assertContains(page, reverse("protocol:refer_out", args=[self.case.pk]))
        self.assertTrue(audit_log().filter(action="protocol.view", object_id=str(self.case.pk)).exists())

    def test_a_met_condition_is_marked_done(self):
        make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        self.login(self.alice)
        page = self.client.get(self.url())
        self.assertContains(page, 'Done:</span>\n    <a href="/cases/', count=1)

    def test_anyone_off_the_team_gets_404_and_anonymous_visitors_are_sent_to_sign_in(self):
        for person in (self.bob, self.charlie, self.pat, self.eve, self.nora):
            self.login(person)
            for name in ("protocol:case", "protocol:withdraw", "protocol:refer_out"):
                self.assertEqual(self.client.get(self.url(name)).status_code, 404, (person, name))
            headers = {"HX-Request": "true"}
            self.assertEqual(
                self.client.get(self.url("protocol:checklist"), headers=headers).status_code, 404
            )
            self.assertEqual(self.advance().status_code, 404)
        self.login(self.charlie)
        self.assertEqual(self.client.get(self.url(case=self.valley_case)).status_code, 200)
        self.client.logout()
        page = self.client.get(self.url())
        self.assertRedirects(page, f"{reverse('accounts:login')}?next={self.url()}")
        self.assertFalse(Transition.objects.exists())

    def test_moving_on_too_early_lists_what_is_missing_with_409_and_writes_nothing(self):
        self.login(self.alice)
        page = self.advance(reason="Let's go")
        self.assertContains(page, "The case cannot move on yet. Still needed:", status_code=409)
        self.assertContains(page, "The survivor is recorded", status_code=409)
        self.assertContains(page, "The immediate-danger screen", status_code=409)
        self.assertContains(page, "Nothing was changed.", status_code=409)
        self.case.refresh_from_db()
        self.assertEqual(self.case.stage, Stage.REFERRAL)
        self.assertFalse(Transition.objects.exists())
        self.assertFalse(CaseEvent.objects.filter(case=self.case, kind=EventKind.STAGE_CHANGED).exists())
        self.assertTrue(
            audit_log()
            .filter(action="protocol.advance", object_id=str(self.case.pk), outcome=Outcome.REFUSED)
            .exists()
        )

    def test_moving_on_when_the_gate_holds_records_who_and_why(self):
        walk = Walk(self.case, self.alice, self.sam)
        walk.people()
        assert walk.survivor is not None
        run_check(walk.survivor, by=self.alice, code="immediate_danger")
        self.login(self.alice)
        page = self.advance(reason="Screened, no immediate danger")
        self.assertRedirects(page, self.url(), fetch_redirect_response=False)
        self.case.refresh_from_db()
        self.assertEqual(self.case.stage, Stage.INTAKE)
        transition = Transition.objects.get(case=self.case)
        self.assertEqual((transition.by, transition.reason), (self.alice, "Screened, no immediate danger"))
        follow = self.client.get(self.url())
        self.assertContains(follow, "The case moved on to Intake: getting clear.")
        self.assertTrue(audit_log().filter(action="protocol.advance", object_id=str(transition.pk)).exists())

    def test_a_double_click_moves_the_case_one_stage_only(self):
        self.ready_for_two_stages()
        self.login(self.alice)
        self.assertEqual(self.advance().status_code, 302)
        second = self.advance()
        self.assertContains(second, "already moved on to Intake", status_code=409)
        self.case.refresh_from_db()
        self.assertEqual(self.case.stage, Stage.INTAKE)
        self.assertEqual(Transition.objects.filter(case=self.case).count(), 1)

    def test_fields_a_person_may_not_set_are_ignored(self):
        self.ready_for_two_stages()
        self.login(self.alice)
        page = self.advance(
            to_stage=Stage.CLOSURE,
            status=CaseStatus.CLOSED,
            organization=self.valley.pk,
            case=self.other_team_case.pk,
            by=self.bob.pk,
        )
        self.assertEqual(page.status_code, 302)
        self.case.refresh_from_db()
        self.assertEqual((self.case.stage, self.case.status), (Stage.INTAKE, CaseStatus.OPEN))
        transition = Transition.objects.get()
        self.assertEqual((transition.case, transition.by), (self.case, self.alice))
        self.assertFalse(Transition.objects.filter(case=self.other_team_case).exists())

    def test_moving_on_only_by_post(self):
        self.ready_for_two_stages()
        self.login(self.alice)
        self.assertEqual(self.client.get(self.url("protocol:advance")).status_code, 405)
        self.assertFalse(Transition.objects.exists())

    def test_leaving_monitoring_needs_a_reason(self):
        Case.objects.filter(pk=self.case.pk).update(stage=Stage.MONITORING)
        self.login(self.alice)
        self.assertContains(self.client.get(self.url()), "Leaving monitoring needs a reason")
        page = self.advance(Stage.MONITORING, reason="  ")
        self.assertContains(page, "Say whether the plan is complete or ended, and why.", status_code=400)
        self.assertFalse(Transition.objects.exists())
        page = self.advance(Stage.MONITORING, reason="Every commitment kept for twelve months")
        self.assertEqual(page.status_code, 302)
        self.case.refresh_from_db()
        self.assertEqual(self.case.stage, Stage.CLOSURE)

    def test_a_closed_case_does_not_move_on(self):
        Case.objects.filter(pk=self.case.pk).update(status=CaseStatus.WITHDRAWN)
        self.login(self.alice)
        page = self.client.get(self.url())
        self.assertContains(page, "The case is no longer open")
        self.assertNotContains(page, 'action="' + self.url("protocol:advance"))
        self.assertContains(self.advance(), "The case is no longer open.", status_code=409)
        self.assertFalse(Transition.objects.exists())

    def test_on_the_direct_track_in_preparation_the_joint_gate_is_shown_and_the_supervisor_is_led_to_approve(
        self,
    ):
        Walk(self.case, self.alice, self.sam).to_preparation()
        approve = reverse("protocol:approve", args=[self.case.pk])
        self.login(self.sam)
        page = self.client.get(self.url())
        self.assertContains(page, "The joint-dialogue gate")
        self.assertContains(page, "A supervisor&#x27;s approval, given after all of the above")
        self.assertContains(page, f'href="{approve}">Review and approve')
        self.login(self.alice)
        page = self.client.get(self.url())
        self.assertContains(page, "The joint-dialogue gate")
        self.assertNotContains(page, "Review and approve")

    def test_off_the_direct_track_there_is_no_joint_gate(self):
        Walk(self.case, self.alice, self.sam, track="indirect_dialogue").to_preparation()
        self.login(self.sam)
        self.assertNotContains(self.client.get(self.url()), "The joint-dialogue gate")

    def test_the_queries_do_not_grow_with_participants_meetings_or_history(self):
        walk = Walk(self.case, self.alice, self.sam)
        walk.to_preparation()
        walk.prepare()
        self.login(self.sam)
        self.client.get(self.url())
        with self.assertNumQueries(24):
            self.client.get(self.url())
        for n in range(8):
            make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label=f"Friend {n}")
            make_participant(self.case, role=ParticipantRole.COMMUNITY_MEMBER, label=f"Neighbour {n}")
        walk.prepare()
        walk.prepare()
        with self.assertNumQueries(24):
            self.client.get(self.url())


class ChecklistFragmentTests(PersonaTestCase):
    def test_htmx_gets_the_checklist_alone_with_a_link_to_the_stage_page(self):
        self.login(self.alice)
        url = reverse("protocol:checklist", args=[self.case.pk])
        page = self.client.get(url, headers={"HX-Request": "true"})
        self.assertContains(page, "The survivor is recorded")
        self.assertContains(page, "Referral and first contact")
        self.assertContains(page, f'href="{reverse("protocol:case", args=[self.case.pk])}"')
        self.assertNotContains(page, "<html")
        self.assertNotContains(page, "<form")

    def test_without_htmx_the_checklist_address_leads_to_the_stage_page(self):
        self.login(self.alice)
        url = reverse("protocol:checklist", args=[self.case.pk])
        self.assertRedirects(self.client.get(url), reverse("protocol:case", args=[self.case.pk]))

    def test_the_case_page_shows_the_stage_links_the_stage_page_and_loads_the_checklist(self):
        self.login(self.alice)
        page = self.client.get(reverse("cases:detail", args=[self.case.pk]))
        stage_page = reverse("protocol:case", args=[self.case.pk])
        self.assertContains(page, "Referral and first contact")
        self.assertContains(page, f'href="{stage_page}"', count=2)
        self.assertContains(page, f'hx-get="{reverse("protocol:checklist", args=[self.case.pk])}"')
        self.assertContains(page, 'hx-trigger="load"')
        self.assertContains(page, "django_htmx/htmx-2.min.js")
