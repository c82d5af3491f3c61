"""The survivor's safety plan pages: every save is a new revision (earlier ones stay readable), a save from an
outdated page is refused, a decision not to have a plan is recorded, a review without changes is recorded,
printing needs the warning step first, and nothing of the plan reaches the person who caused harm."""

import datetime

import time_machine
from django.urls import reverse

from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import CaseTask, Participant, ParticipantRole, TaskKind, Track
from circlekeeper.instruments.tests.survey import make_link, make_survey_version
from circlekeeper.safety import services
from circlekeeper.safety.models import PLAN_FIELDS, SafetyPlan, SafetyPlanRevision
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)
MARKER = "Aunt Rosa on Elm Street, code word BLUEBIRD"


def plan_data(revision: int, **fields: str) -> dict[str, str]:
    data = dict.fromkeys(PLAN_FIELDS, "")
    data.update(fields, revision=str(revision))
    return data


@time_machine.travel(NOW, tick=False)
class PlanPageTests(PersonaTestCase):
    survivor: Participant
    harm: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        cls.harm = make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        make_participant(cls.case, role=ParticipantRole.SAFETY_MONITOR, label="Monitor M")

    def url(self, name="plan", participant=None, *extra):
        participant = participant or self.survivor
        return reverse(f"safety:{name}", args=[participant.case_id, participant.pk, *extra])

    def save(self, revision=0, **fields):
        return services.save_plan(survivor=self.survivor, revision=revision, by=self.ada, **fields)

    def test_without_a_plan_the_page_says_so_and_offers_to_make_one(self):
        self.login(self.alice)
        page = self.client.get(self.url())
        self.assertContains(page, "No plan yet")
        self.assertContains(page, "make one with the survivor, or record their decision not to have one")
        self.assertContains(page, self.url("plan_edit"))

    def test_the_form_has_every_part_of_the_plan_and_explains_the_survivors_words(self):
        self.login(self.ada)
        page = self.client.get(self.url("plan_edit"))
        for label in (
            "People to call",
            "Signals",
            "Safe places",
            "Things to keep ready",
            "Plan for the children",
            "Back-up person",
            "In the survivor&#x27;s words",
        ):
            self.assertContains(page, label)
        self.assertContains(page, "write what they say, not a summary")
        self.assertContains(page, "The survivor chose not to have a safety plan")
        self.assertContains(page, 'name="revision" value="0"')

    def test_two_saves_keep_two_revisions_and_the_first_stays_readable(self):
        self.login(self.ada)
        saved = self.client.post(
            self.url("plan_edit"), plan_data(0, people_to_call=MARKER, signals="Porch light on")
        )
        self.assertRedirects(saved, self.url(), fetch_redirect_response=False)
        self.client.post(
            self.url("plan_edit"), plan_data(1, people_to_call="Her brother", signals="Porch light on")
        )

        self.assertEqual(SafetyPlanRevision.objects.filter(plan__participant=self.survivor).count(), 2)
        page = self.client.get(self.url())
        self.assertContains(page, "Her brother")
        self.assertNotContains(page, MARKER)
        history = self.client.get(self.url("plan_history"))
        self.assertContains(history, "Revision 1")
        self.assertContains(history, "Revision 2")
        first = self.client.get(self.url("plan_revision", None, 1))
        self.assertContains(first, MARKER)
        self.assertContains(first, "This is an earlier revision: the current one is revision 2.")
        self.assertEqual(self.client.get(self.url("plan_revision", None, 3)).status_code, 404)

    def test_a_save_from_an_outdated_page_is_refused_and_nothing_is_written(self):
        self.save(people_to_call="Her sister")
        self.login(self.alice)
        page = self.client.post(self.url("plan_edit"), plan_data(0, people_to_call="Her neighbour"))
        self.assertContains(page, "Someone else changed this while you were editing", status_code=409)
        self.assertEqual(SafetyPlan.objects.get(participant=self.survivor).revision, 1)
        self.assertFalse(audit_log().filter(action="safety.plan.save").exists())

    def test_an_empty_plan_is_refused_with_the_reason(self):
        self.login(self.alice)
        page = self.client.post(self.url("plan_edit"), plan_data(0))
        self.assertContains(page, "Write at least one part of the plan", status_code=400)
        self.assertFalse(SafetyPlanRevision.objects.exists())

    def test_the_survivors_decision_not_to_have_a_plan_is_recorded_with_their_words_only(self):
        self.login(self.ada)
        self.client.post(
            self.url("plan_edit"),
            plan_data(
                0, declined="on", safe_places="not kept", in_their_words="I have my own plan with my sister"
            ),
        )
        revision = SafetyPlanRevision.objects.get()
        self.assertTrue(revision.declined)
        self.assertIsNone(revision.safe_places)
        page = self.client.get(self.url())
        self.assertContains(page, "The survivor chose not to have a safety plan")
        self.assertContains(page, "I have my own plan with my sister")
        self.assertNotContains(page, self.url("plan_print"))
        self.assertContains(
            self.client.get(self.url("plan_history")), "The survivor chose not to have a plan"
        )

    def test_a_review_without_changes_is_recorded_and_closes_the_review_task(self):
        self.save(people_to_call="Her sister")
        services.report_new_violence(case=self.case, by=self.alice, details="x")
        self.login(self.ada)
        self.assertContains(self.client.get(self.url()), "Due for review since")
        with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
            self.login(self.ada)
            answer = self.client.post(self.url("plan_review"), {"revision": "1"}, follow=True)
        self.assertContains(answer, "the plan was reviewed with the survivor, with no changes")
        plan = SafetyPlan.objects.get()
        self.assertEqual((plan.revision, plan.review_due_since), (1, None))
        self.assertEqual(plan.last_reviewed_at, NOW + datetime.timedelta(minutes=5))
        self.assertFalse(
            CaseTask.objects.filter(kind=TaskKind.REVIEW_SAFETY_PLAN, done_at__isnull=True).exists()
        )
        self.assertTrue(audit_log().filter(action="safety.plan.review", object_id=str(plan.pk)).exists())

    def test_a_review_from_an_outdated_page_is_refused(self):
        self.save(people_to_call="Her sister")
        self.save(revision=1, people_to_call="Her brother")
        self.login(self.ada)
        answer = self.client.post(self.url("plan_review"), {"revision": "1"}, follow=True)
        self.assertContains(answer, "Someone else changed this")
        self.assertFalse(audit_log().filter(action="safety.plan.review").exists())

    def test_reviewing_only_accepts_post(self):
        self.login(self.ada)
        self.assertEqual(self.client.get(self.url("plan_review")).status_code, 405)

    def test_printing_shows_the_warning_first_and_the_plan_only_after_choosing_to_print(self):
        self.save(people_to_call=MARKER)
        self.login(self.ada)
        warning = self.client.get(self.url("plan_print"))
        self.assertContains(
            warning,
            "Paper can be found. Only print this if the survivor chooses to take it, "
            "and talk about where to keep it safely.",
        )
        self.assertNotContains(warning, MARKER)
        self.assertFalse(audit_log().filter(action="safety.plan.print").exists())

        printed = self.client.post(self.url("plan_print"))
        self.assertContains(printed, MARKER)
        self.assertContains(printed, 'class="no-print')
        self.assertNotContains(printed, self.case.reference)
        self.assertNotContains(printed, "Plan for the children")  # empty parts are left off the paper
        self.assertTrue(audit_log().filter(action="safety.plan.print").exists())

    def test_every_read_and_write_is_audited(self):
        self.login(self.ada)
        self.client.get(self.url())
        self.client.post(self.url("plan_edit"), plan_data(0, signals="Porch light"))
        self.client.get(self.url())
        self.client.get(self.url("plan_history"))
        self.client.get(self.url("plan_revision", None, 1))
        plan = SafetyPlan.objects.get()
        actions = list(
            audit_log()
            .filter(action__startswith="safety.plan")
            .order_by("sequence")
            .values_list("action", "object_type")
        )
        self.assertEqual(
            actions,
            [
                ("safety.plan.view", "participant"),
                ("safety.plan.save", "safety_plan"),
                ("safety.plan.view", "safety_plan"),
                ("safety.plan.view", "safety_plan"),
                ("safety.plan.view", "safety_plan"),
            ],
        )
        self.assertEqual(
            set(
                audit_log()
                .filter(action__startswith="safety.plan", object_type="safety_plan")
                .values_list("object_id", flat=True)
            ),
            {str(plan.pk)},
        )

    def test_only_a_survivor_has_a_plan(self):
        self.login(self.alice)
        for name in ("plan", "plan_edit", "plan_history", "plan_print"):
            self.assertEqual(self.client.get(self.url(name, self.harm)).status_code, 404, name)
        self.assertEqual(
            self.client.post(self.url("plan_edit", self.harm), plan_data(0, signals="x")).status_code, 404
        )
        self.assertEqual(
            self.client.post(self.url("plan_review", self.harm), {"revision": "0"}).status_code, 404
        )
        self.assertFalse(SafetyPlan.objects.exists())

    def test_other_teams_other_organizations_and_other_roles_get_404(self):
        self.save(people_to_call=MARKER)
        for person in (self.bob, self.charlie, self.pat, self.eve):
            self.login(person)
            for name in ("plan", "plan_edit", "plan_history", "plan_print"):
                page = self.client.get(self.url(name))
                self.assertEqual(page.status_code, 404, (person, name))
                self.assertNotContains(page, MARKER, status_code=404)
            self.assertEqual(self.client.get(self.url("plan_revision", None, 1)).status_code, 404)
            self.assertEqual(self.client.post(self.url("plan_print")).status_code, 404)
            self.assertEqual(
                self.client.post(self.url("plan_edit"), plan_data(1, signals="x")).status_code, 404
            )
            self.assertEqual(self.client.post(self.url("plan_review"), {"revision": "1"}).status_code, 404)
        self.assertEqual(SafetyPlan.objects.get().revision, 1)

    def test_the_plan_never_reaches_the_person_who_caused_harm_through_their_link(self):
        self.save(people_to_call=MARKER, safe_places=MARKER)
        choose_track(
            case=self.case,
            survivor=self.survivor,
            track=Track.COMMUNITY_ACCOUNTABILITY,
            explained_by=self.alice,
            explained_on=NOW.date(),
            by=self.alice,
        )
        _link, token = make_link(self.harm, make_survey_version(), by=self.alice)
        visitor = self.client_class()
        pages = [visitor.get(reverse("links:open", args=[token]), follow=True)]
        pages.append(
            visitor.post(
                reverse("links:page"),
                {"section": "0", "_shown": ["hurt", "age"], "q-hurt": "0", "q-age": "40"},
                follow=True,
            )
        )
        pages.append(visitor.get(reverse("links:review")))
        for page in pages:
            self.assertEqual(page.status_code, 200)
            self.assertNotContains(page, MARKER)
            self.assertNotContains(page, "Safety plan")
        # Nor through the team's pages about the case as a whole.
        self.login(self.alice)
        for url in (
            reverse("safety:case", args=[self.case.pk]),
            reverse("cases:detail", args=[self.case.pk]),
        ):
            self.assertNotContains(self.client.get(url), MARKER)
