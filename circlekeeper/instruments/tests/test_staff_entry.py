"""Staff enter a response on a participant's behalf (recorded as such), and the team sees it scored."""

from django.urls import reverse

from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import Participant, Track
from circlekeeper.instruments.models import InstrumentVersion, Response, ResponseStatus
from circlekeeper.instruments.tests.survey import make_link, make_participant, make_survey_version
from circlekeeper.testing import PersonaTestCase, audit_log, ready_for_contact


class StaffEntryTests(PersonaTestCase):
    version: InstrumentVersion
    participant: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.version = make_survey_version()
        cls.participant = make_participant(cls.case, label="Survivor A")

    def setUp(self):
        self.login(self.ada)

    def start(self):
        url = reverse("instruments:response_start", args=[self.case.pk, self.participant.pk])
        response = self.client.post(url, {"version": self.version.pk, "purpose": "T2 after dialogue"})
        return Response.objects.get(), response

    def url(self, name, response):
        return reverse(f"instruments:{name}", args=[self.case.pk, response.pk])

    def enter_everything(self, response):
        answer = self.url("response_answer", response)
        self.client.post(
            answer,
            {
                "section": "0",
                "_shown": ["hurt", "hurt_when", "age"],
                "q-hurt": "1",
                "q-hurt_when": "week",
                "q-age": "40",
            },
        )
        self.client.post(
            answer,
            {
                "section": "1",
                "_shown": ["safe", "support", "hours", "visit", "nickname"],
                "q-safe": "2",
                "q-support": "friends",
            },
        )
        self.client.post(answer, {"section": "2", "_shown": ["comments"]})
        return self.client.post(self.url("response_review", response))

    def test_a_response_entered_by_staff_is_recorded_as_entered_by_them(self):
        response, started = self.start()

        self.assertRedirects(started, self.url("response_answer", response), fetch_redirect_response=False)
        self.assertEqual(response.entered_by_staff, self.ada)
        self.assertEqual(response.participant, self.participant)
        self.assertEqual(response.case, self.case)
        self.assertEqual(response.purpose, "T2 after dialogue")
        page = self.client.get(self.url("response_answer", response))
        self.assertContains(page, "You are entering answers on behalf of Survivor A")
        self.assertNotContains(page, 'id="quick-exit"')

    def test_submitting_scores_the_response_and_the_team_sees_the_scores_and_bands(self):
        response, _started = self.start()

        submitted = self.enter_everything(response)

        self.assertRedirects(submitted, self.url("response_detail", response))
        response.refresh_from_db()
        self.assertEqual(response.status, ResponseStatus.SUBMITTED)
        self.assertEqual(response.scores, {"safety": 2, "concern": "high"})
        self.login(self.alice)
        page = self.client.get(self.url("response_detail", response))
        self.assertContains(page, "Entered by Ada on the participant's behalf")
        self.assertContains(page, "<td>Felt safety</td><td>2</td>", html=True)
        self.assertContains(page, "<td>Concern</td><td>High</td>", html=True)
        self.assertContains(page, "In the last week")

    def test_every_step_is_audited(self):
        response, _started = self.start()
        self.enter_everything(response)
        self.client.get(self.url("response_detail", response))

        actions = list(
            audit_log().about("response", response.pk).order_by("sequence").values_list("action", flat=True)
        )
        self.assertEqual(
            actions,
            [
                "response.start",
                "response.save",
                "response.save",
                "response.save",
                "response.submit",
                "response.view",
            ],
        )

    def test_a_submitted_entry_can_no_longer_be_changed(self):
        response, _started = self.start()
        self.enter_everything(response)

        self.assertEqual(self.client.get(self.url("response_answer", response)).status_code, 404)
        self.assertEqual(self.client.post(self.url("response_review", response)).status_code, 404)

    def test_staff_cannot_change_answers_a_participant_gave_through_their_link(self):
        link, token = make_link(self.participant, self.version, by=self.alice)
        participant_client = self.client_class()
        participant_client.get(reverse("links:open", args=[token]))
        participant_client.post(
            reverse("links:page"), {"section": "0", "_shown": ["hurt", "age"], "q-hurt": "0"}
        )
        link.refresh_from_db()

        self.assertEqual(self.client.get(self.url("response_answer", link.response)).status_code, 404)
        self.assertEqual(self.client.get(self.url("response_detail", link.response)).status_code, 200)

    def test_questions_to_the_person_who_caused_harm_are_refused_until_the_survivor_chose_a_track_with_contact(
        self,
    ):
        harm = make_participant(self.case, role="person_who_caused_harm", label="Person B")
        url = reverse("instruments:response_start", args=[self.case.pk, harm.pk])
        refused = self.client.post(url, {"version": self.version.pk, "purpose": "T1"})
        self.assertContains(refused, "not chosen a track yet", status_code=409)
        # The stage reached too (issue 17): a plan or a recorded decline, and a consenting safety monitor.
        ready_for_contact(self.case, self.ada)
        self.assertFalse(Response.objects.exists())
        self.assertTrue(audit_log().filter(action="response.start", outcome="refused").exists())
        choose_track(
            case=self.case,
            survivor=self.participant,
            track=Track.COMMUNITY_ACCOUNTABILITY,
            explained_by=self.ada,
            explained_on=self.case.opened_on,
            by=self.ada,
        )
        self.assertEqual(
            self.client.post(url, {"version": self.version.pk, "purpose": "T1"}).status_code, 302
        )
        self.assertEqual(Response.objects.get().participant, harm)

    def test_children_are_never_asked_questions(self):
        child = make_participant(self.case, role="child", label="Child C")
        url = reverse("instruments:response_start", args=[self.case.pk, child.pk])
        refused = self.client.post(url, {"version": self.version.pk, "purpose": "T1"})
        self.assertContains(refused, "Children are never asked to take part.", status_code=409)
        self.assertFalse(Response.objects.exists())

    def test_other_teams_and_organizations_see_nothing(self):
        response, _started = self.start()
        for person in (self.bob, self.charlie, self.eve, self.pat):
            self.login(person)
            for name in ("response_detail", "response_answer", "response_review"):
                self.assertIn(
                    self.client.get(self.url(name, response)).status_code, (403, 404), (person, name)
                )

    def test_the_response_page_takes_a_fixed_number_of_queries(self):
        response, _started = self.start()
        self.enter_everything(response)
        self.client.get(self.url("response_detail", response))  # warm the session and key caches alike

        # Session, user, device, memberships, the case, the response with its version, participant and author,
        # the audit event (one: a pending read), the key that decrypts the answers, and savepoints: however many answers.
        with self.assertNumQueries(8):
            page = self.client.get(self.url("response_detail", response))
        self.assertEqual(page.status_code, 200)
