"""A section's form checks what the definition says: required, ranges, types, choice codes, constraints."""

import copy
import datetime

from django.test import SimpleTestCase
from django.utils import translation

from circlekeeper.instruments.definition import PNTS, validate_definition
from circlekeeper.instruments.forms import SectionForm
from circlekeeper.instruments.scoring import visible_items
from circlekeeper.instruments.tests.survey import SURVEY

TODAY = datetime.date(2026, 5, 4)


def definition_with(*items, **top):
    definition = copy.deepcopy(SURVEY)
    if items:
        definition["sections"] = [{"code": "only", "title": {"en": "Only"}, "items": list(items)}]
        definition.pop("scoring")
    definition.update(top)
    return validate_definition(definition)


def section_form(definition, position, data, *, answers=None, shown=None, language="en"):
    answers = answers or {}
    section = definition["sections"][position]
    codes = {item["code"] for item in section["items"]}
    raw = {key[2:]: value for key, value in data.items() if key.startswith("q-")}
    visible = set(visible_items(definition, {**answers, **raw}, today=TODAY)) & codes
    unseen = frozenset(visible - set(shown)) if shown is not None else frozenset()
    return SectionForm(
        {**data},
        definition=definition,
        section=section,
        visible=visible,
        language=language,
        answers=answers,
        unseen=unseen,
        today=TODAY,
    )


class SectionValidationTests(SimpleTestCase):
    definition = definition_with()

    def setUp(self):
        # Messages are compared in English, whatever language an earlier test left active in this thread.
        self.enterContext(translation.override("en"))

    def errors(self, position, data, **kwargs):
        form = section_form(self.definition, position, data, **kwargs)
        self.assertFalse(form.is_valid())
        return {code: [str(e) for e in errors] for code, errors in form.errors.items()}

    def answers(self, position, data, **kwargs):
        form = section_form(self.definition, position, data, **kwargs)
        self.assertTrue(form.is_valid(), form.errors)
        return form.answers()

    def test_a_required_question_must_be_answered_or_declined(self):
        self.assertEqual(
            self.errors(0, {}), {"hurt": ["Answer this question, or choose “Prefer not to say”."]}
        )
        self.assertEqual(self.answers(0, {"q-hurt": PNTS}), {"hurt": PNTS, "age": None})

    def test_a_choice_code_that_is_not_offered_is_refused(self):
        self.assertIn("Select a valid choice", self.errors(0, {"q-hurt": "maybe"})["hurt"][0])

    def test_whole_numbers_are_checked_for_type_and_range(self):
        self.assertEqual(self.errors(0, {"q-hurt": "0", "q-age": "abc"}), {"age": ["Enter a whole number."]})
        self.assertEqual(self.errors(0, {"q-hurt": "0", "q-age": "2.5"}), {"age": ["Enter a whole number."]})
        self.assertIn("greater than or equal to 16", self.errors(0, {"q-hurt": "0", "q-age": "15"})["age"][0])
        self.assertIn("less than or equal to 120", self.errors(0, {"q-hurt": "0", "q-age": "121"})["age"][0])
        self.assertEqual(self.answers(0, {"q-hurt": "0", "q-age": " 42 "})["age"], 42)

    def test_prefer_not_to_say_beside_a_number_wins_over_what_was_typed(self):
        self.assertEqual(self.answers(0, {"q-hurt": "0", "q-age": "abc", "q-age~pnts": "on"})["age"], PNTS)

    def test_decimals_take_a_point_or_a_comma_and_respect_their_range(self):
        base = {"q-safe": "5"}
        self.assertEqual(self.answers(1, {**base, "q-hours": "7,5"})["hours"], 7.5)
        self.assertEqual(self.answers(1, {**base, "q-hours": "8"})["hours"], 8)
        self.assertEqual(self.errors(1, {**base, "q-hours": "lots"}), {"hours": ["Enter a number."]})
        self.assertIn("less than or equal to 24", self.errors(1, {**base, "q-hours": "25"})["hours"][0])

    def test_dates_must_be_real_and_within_their_bounds(self):
        base = {"q-safe": "5"}
        self.assertEqual(self.answers(1, {**base, "q-visit": "2026-05-01"})["visit"], "2026-05-01")
        self.assertEqual(
            self.errors(1, {**base, "q-visit": "2026-02-30"}),
            {"visit": ["Enter the date as YYYY-MM-DD, for example 2026-03-31."]},
        )
        self.assertEqual(
            self.errors(1, {**base, "q-visit": "2026-05-05"}),
            {"visit": ["Enter a date on or before 2026-05-04."]},
        )

    def test_a_scale_takes_only_its_points(self):
        self.assertEqual(self.answers(1, {"q-safe": "10"})["safe"], 10)
        self.assertIn("Select a valid choice", self.errors(1, {"q-safe": "11"})["safe"][0])

    def test_a_constraint_expression_is_checked_with_its_message(self):
        self.assertEqual(
            self.errors(1, {"q-safe": "5", "q-nickname": "extraordinarily"}),
            {"nickname": ["At most 10 letters."]},
        )
        self.assertEqual(self.answers(1, {"q-safe": "5", "q-nickname": "calm"})["nickname"], "calm")

    def test_the_constraint_message_comes_in_the_chosen_language(self):
        form = section_form(
            self.definition, 1, {"q-safe": "5", "q-nickname": "extraordinarily"}, language="es"
        )
        self.assertFalse(form.is_valid())
        self.assertEqual(form.errors["nickname"], ["Como mucho 10 letras."])

    def test_prefer_not_to_say_stands_alone_among_several_answers(self):
        answers = {"hurt": "1"}
        self.assertEqual(
            self.errors(1, {"q-safe": "5", "q-support": ["friends", PNTS]}, answers=answers),
            {"support": ["Choose “Prefer not to say” on its own, or only other answers."]},
        )
        self.assertEqual(
            self.answers(1, {"q-safe": "5", "q-support": [PNTS]}, answers=answers)["support"], PNTS
        )
        self.assertEqual(
            self.answers(1, {"q-safe": "5", "q-support": ["family", "friends"]}, answers=answers)["support"],
            ["friends", "family"],
        )

    def test_items_hidden_by_skip_logic_are_neither_asked_nor_checked(self):
        form = section_form(self.definition, 0, {"q-hurt": "0", "q-hurt_when": "nonsense"})
        self.assertTrue(form.is_valid(), form.errors)
        self.assertNotIn("hurt_when", form.answers())

    def test_a_question_shown_by_an_answer_on_the_same_page_is_not_refused_before_it_is_seen(self):
        form = section_form(self.definition, 0, {"q-hurt": "1"}, shown=["hurt", "age"])
        self.assertTrue(form.is_valid(), form.errors)
        self.assertEqual(form.answers(), {"hurt": "1", "age": None})

        form = section_form(self.definition, 0, {"q-hurt": "1"}, shown=["hurt", "hurt_when", "age"])
        self.assertEqual(form.errors, {"hurt_when": ["Answer this question."]})

    def test_text_validations_are_checked(self):
        definition = definition_with(
            {"code": "mail", "type": "short_text", "validation": "email", "label": {"en": "Email"}},
            {"code": "at", "type": "short_text", "validation": "time", "label": {"en": "Time"}},
        )
        form = section_form(definition, 0, {"q-mail": "not an address", "q-at": "25:00"})
        self.assertFalse(form.is_valid())
        self.assertEqual(form.errors["at"], ["Write it in the form HH:MM."])
        self.assertIn("mail", form.errors)
        self.assertTrue(section_form(definition, 0, {"q-mail": "a@example.org", "q-at": "09:30"}).is_valid())

    def test_labels_fall_back_to_the_default_language(self):
        definition = definition_with(
            {"code": "only_en", "type": "yes_no", "label": {"en": "English only"}},
            {"code": "both", "type": "yes_no", "label": {"en": "Both", "es": "Ambos"}},
        )
        form = section_form(definition, 0, {}, language="es")
        labels = [row.item.label for row in form.rows()]
        self.assertEqual(labels, ["English only", "Ambos"])

    def test_labels_help_and_errors_are_tied_to_their_inputs(self):
        form = section_form(self.definition, 0, {"q-hurt": "0", "q-age": "abc"})
        form.is_valid()
        rows = {row.code: row for row in form.rows()}
        hurt, age = rows["hurt"].item, rows["age"].item
        self.assertEqual(hurt.described_by, "id_q-hurt-help")
        self.assertEqual(age.described_by, "id_q-age-error")
        self.assertEqual(age.input_id, "id_q-age")
        html = str(age.bound)
        self.assertIn('aria-describedby="id_q-age-error"', html)
        self.assertIn('aria-invalid="true"', html)
        # The error summary links to the first choice of a radio group.
        self.assertEqual(form["hurt"].id_for_label, "id_q-hurt_0")
        self.assertEqual(rows["hurt_when"].kind, "hidden")

    def test_matrix_groups_are_drawn_together(self):
        group = {"type": "single_choice", "choice_list": "agree", "matrix_group": "feelings"}
        definition = definition_with(
            {**group, "code": "calm", "label": {"en": "I feel calm"}},
            {**group, "code": "heard", "label": {"en": "I feel heard"}},
            choice_lists={
                "agree": [{"code": "1", "label": {"en": "Yes"}}, {"code": "0", "label": {"en": "No"}}]
            },
        )
        [row] = section_form(definition, 0, {}).rows()
        self.assertEqual(row.kind, "group")
        self.assertEqual([member.code for member in row.members], ["calm", "heard"])
        self.assertEqual(row.legend, "For each statement, choose one answer.")
