"""Answering one section per page: progress saved per section, resumed on reload, skipped items stored as skipped."""

from django.conf import settings
from django.urls import reverse
from django.utils import translation

from circlekeeper.cases.models import Participant
from circlekeeper.instruments.models import InstrumentVersion, Response, ResponseStatus
from circlekeeper.instruments.tests.survey import make_link, make_participant, make_survey_version
from circlekeeper.testing import PersonaTestCase

PAGE = "links:page"


class AnsweringTests(PersonaTestCase):
    version: InstrumentVersion
    participant: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.version = make_survey_version()
        cls.participant = make_participant(cls.case)

    def setUp(self):
        self.link, token = make_link(self.participant, self.version, by=self.alice)
        self.client.get(reverse("links:open", args=[token]))

    def save(self, section, shown, **answers):
        data = {
            "section": str(section),
            "_shown": shown,
            **{f"q-{code}": value for code, value in answers.items()},
        }
        return self.client.post(reverse(PAGE), data)

    def response(self):
        self.link.refresh_from_db()
        return self.link.response

    def test_nothing_is_written_until_a_section_is_saved(self):
        self.client.get(reverse(PAGE))
        self.assertFalse(Response.objects.exists())

    def test_each_saved_section_is_kept_and_a_reload_resumes_at_the_next(self):
        first = self.save(0, ["hurt", "hurt_when", "age"], hurt="1", hurt_when="week", age="30")

        self.assertRedirects(first, reverse(PAGE) + "?section=1", fetch_redirect_response=False)
        response = self.response()
        self.assertEqual(response.status, ResponseStatus.IN_PROGRESS)
        self.assertEqual(response.answers, {"hurt": "1", "hurt_when": "week", "age": 30})
        self.assertEqual(response.participant, self.participant)
        self.assertEqual(response.purpose, "T1")
        self.assertIsNone(response.entered_by_staff)

        # A reload (or coming back to the link later) opens the part still to answer.
        resumed = self.client.get(reverse(PAGE))
        self.assertContains(resumed, "How you feel")
        self.assertContains(resumed, "Part 2 of 3")
        self.assertContains(resumed, "Who could you turn to?")

        self.save(1, ["safe", "support", "hours", "visit", "nickname"], safe="4", support=["family"])
        self.assertEqual(self.response().answers["support"], ["family"])
        self.assertIsNone(self.response().answers["hours"], "seen and left blank")
        self.assertContains(self.client.get(reverse(PAGE)), "Anything else to tell us?")

    def test_going_back_shows_the_answers_given(self):
        self.save(0, ["hurt", "hurt_when", "age"], hurt="1", hurt_when="month", age="30")
        page = self.client.get(reverse(PAGE) + "?section=0")
        self.assertContains(page, 'value="month" checked', html=False)
        self.assertContains(page, 'name="q-age" value="30"', html=False)

    def test_a_question_shown_by_an_answer_on_the_same_page_is_asked_before_moving_on(self):
        response = self.save(0, ["hurt", "age"], hurt="1", age="30")

        self.assertRedirects(response, reverse(PAGE) + "?section=0&new=1", fetch_redirect_response=False)
        page = self.client.get(response["Location"])
        self.assertContains(page, "New questions appeared because of your answers.")
        self.assertContains(page, "When did it happen?")
        self.assertNotIn("hurt_when", self.response().answers, "not seen yet, so not saved as blank")

    def test_skipped_items_are_stored_as_skipped_never_as_empty_answers(self):
        self.save(0, ["hurt", "hurt_when", "age"], hurt="1", hurt_when="week", age="17")
        self.save(1, ["safe", "support", "hours", "visit", "nickname"], safe="6", support=["friends"])
        # Back to part 1: the answer changes, so what it had shown is hidden again.
        self.save(0, ["hurt", "hurt_when", "age"], hurt="0", hurt_when="week", age="17")
        self.assertNotIn("hurt_when", self.response().answers)

        self.assertRedirects(self.client.post(reverse("links:review")), reverse("links:done"))

        response = Response.objects.get()
        self.assertEqual(response.status, ResponseStatus.SUBMITTED)
        self.assertEqual(sorted(response.skipped), ["comments", "hurt_when", "support"])
        self.assertEqual(response.answers, {"hurt": "0", "age": 17, "safe": 6})
        self.assertEqual(response.scores, {"safety": 6, "concern": "low"})

    def test_submitting_before_every_shown_part_is_seen_goes_back_to_it(self):
        self.save(0, ["hurt", "hurt_when", "age"], hurt="1", hurt_when="week", age="30")

        response = self.client.post(reverse("links:review"))

        self.assertRedirects(response, reverse(PAGE) + "?section=1", fetch_redirect_response=False)
        self.assertEqual(self.response().status, ResponseStatus.IN_PROGRESS)

    def test_the_review_lists_the_answers_in_words(self):
        self.save(0, ["hurt", "hurt_when", "age"], hurt="1", hurt_when="week", age="30")
        self.save(1, ["safe", "support", "hours", "visit", "nickname"], safe="4", support=["family", "none"])
        self.save(2, ["comments"], comments="all fine")

        page = self.client.get(reverse("links:review"))

        self.assertContains(page, "Check your answers")
        for words in ("In the last week", "Family, No one", "all fine", "Not answered"):
            self.assertContains(page, words)
        self.assertContains(page, reverse(PAGE) + "?section=1")

    def test_the_live_update_redraws_only_what_the_answers_show_or_hide_and_saves_nothing(self):
        live = reverse("links:live")

        shown = self.client.post(live, {"section": "0", "_shown": ["intro", "hurt", "age"], "q-hurt": "1"})
        hidden = self.client.post(
            live, {"section": "0", "_shown": ["intro", "hurt", "hurt_when", "age"], "q-hurt": "0"}
        )
        same = self.client.post(live, {"section": "0", "_shown": ["intro", "hurt", "age"], "q-hurt": "0"})

        self.assertContains(
            shown, '<div id="item-hurt_when" class="answer-item" hx-swap-oob="true">', html=False
        )
        self.assertContains(shown, "When did it happen?")
        self.assertNotContains(shown, 'id="item-hurt"')
        self.assertContains(shown, "A new question appeared below.")
        self.assertContains(
            hidden, '<div id="item-hurt_when" class="answer-item" hidden hx-swap-oob="true">', html=False
        )
        self.assertContains(hidden, "A question was taken away.")
        self.assertNotContains(same, "item-")
        self.assertFalse(Response.objects.exists())

    def test_a_live_redraw_claims_no_form_token_so_the_save_right_after_it_is_not_told_to_wait(self):
        # The redraw is sent the form's fields, its token among them, while the person answers. Had it claimed the
        # token (lib/idempotency.py), "Save and continue" pressed while it ran would answer "this form is being
        # saved" (409) and save nothing: a survivor pressing Enter right after typing their last answer.
        from unittest import mock

        from circlekeeper.instruments import answering
        from circlekeeper.lib.idempotency import FormSubmission

        token = "t" * 32
        claimed_while_redrawing = []
        original = answering.live

        def redraw(request, answering_):
            claimed_while_redrawing.append(FormSubmission.objects.filter(token=token).exists())
            return original(request, answering_)

        with mock.patch.object(answering, "live", redraw):
            redrawn = self.client.post(
                reverse("links:live"),
                {"section": "0", "_shown": ["intro", "hurt", "age"], "q-hurt": "1", "form_token": token},
            )
        self.assertEqual(redrawn.status_code, 200)
        self.assertEqual(claimed_while_redrawing, [False])
        saved = self.client.post(
            reverse(PAGE),
            {
                "section": "0",
                "_shown": ["intro", "hurt", "hurt_when", "age"],
                "q-hurt": "1",
                "q-hurt_when": "week",
                "q-age": "30",
                "form_token": token,
            },
        )
        self.assertEqual(saved.status_code, 302)
        self.assertEqual(self.response().status, ResponseStatus.IN_PROGRESS)
        self.assertFalse(FormSubmission.objects.filter(token=token, location="").exists())

    def test_pages_follow_the_chosen_language(self):
        # The locale middleware leaves the request's language active in this thread: put English back after.
        self.addCleanup(translation.activate, settings.LANGUAGE_CODE)
        self.client.cookies["django_language"] = "es"
        page = self.client.get(reverse(PAGE))
        self.assertContains(page, "¿Alguien te ha hecho daño desde la última vez?")
        self.assertContains(page, "Cuestionario")
        self.assertContains(page, "Guardar y continuar")
