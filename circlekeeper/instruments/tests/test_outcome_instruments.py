"""The project's own outcome instruments, one per evaluation domain: they load, speak English and Spanish in full,
offer "prefer not to say" on every question about a person's life, and score as worked out here by hand."""

from __future__ import annotations

import re
from typing import Any

from django.test import TestCase

from circlekeeper.cases.models import Case, Participant, ParticipantRole
from circlekeeper.instruments.builtins import BUILTIN_DIR, load_builtins
from circlekeeper.instruments.definition import PNTS, iter_items
from circlekeeper.instruments.models import InstrumentVersion, Response
from circlekeeper.instruments.scoring import visible_items
from circlekeeper.testing import make_case, make_organization

# Domain → instrument. Experience of the process is experience_of_process.yaml, which already existed.
OUTCOMES = {
    "safety": "outcome_safety",
    "violence recurrence": "outcome_recurrence",
    "accountability": "outcome_accountability",
    "repair": "outcome_repair",
    "healing": "outcome_healing",
    "family and child well-being": "outcome_family_wellbeing",
    "connectedness": "outcome_connectedness",
    "experience of the process": "experience_of_process",
}
WRITTEN_HERE = sorted(code for code in OUTCOMES.values() if code.startswith("outcome_"))

# Questions that are not about the person's life, so they offer no "prefer not to say".
NOT_ABOUT_THEIR_LIFE = {
    ("outcome_safety", "talk_about_safety"),  # a request for a conversation
    ("outcome_healing", "wants_to_answer"),  # "No" is the way out
    ("outcome_recurrence", "source"),  # who gives the information
}

# A weak guard: how some widely used licensed or permission-only instruments begin their items. The real guard is
# writing our own items; this only catches a pasted one.
LICENSED_OPENINGS = [
    "repeated disturbing and unwanted memories",  # PCL-5
    "repeated disturbing dreams of the stressful",  # PCL-5
    "i showed my partner i cared",  # CTS2
    "i explained my side of a disagreement",  # CTS2
    "i insulted or swore at my partner",  # CTS2
    "there is a special person who is around",  # MSPSS
    "my family really tries to help me",  # MSPSS
    "i can count on my friends when things go wrong",  # MSPSS
    "considerate of other peoples feelings",  # SDQ
    "restless overactive cannot stay still",  # SDQ
    "i often have the feeling that i cannot handle",  # PSI
    "caring for my child ren sometimes takes more time",  # Parental Stress Scale
    "i have felt cheerful and in good spirits",  # WHO-5
    "how would you rate the quality of service",  # CSQ-8
    "little interest or pleasure in doing things",  # PHQ-9
    "someone you can count on to listen to you",  # MOS social support
    "how often do you feel that you lack companionship",  # UCLA loneliness
]


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("'", "").replace("’", "")))


def texts(definition: dict[str, Any]) -> list[tuple[str, Any]]:
    """(where, text) for every text in a definition: titles, labels, helps, choices, scores, bands, levels."""
    found = [("title", definition["title"]), ("description", definition.get("description"))]
    for name, choices in definition.get("choice_lists", {}).items():
        found += [(f"list {name} {choice['code']}", choice["label"]) for choice in choices]
    for section in definition["sections"]:
        found.append((f"section {section['code']}", section.get("title")))
    for _section, item in iter_items(definition):
        for key in ("label", "help", "heading", "constraint_message"):
            if key in item or key == "label":
                found.append((f"{item['code']} {key}", item.get(key)))
        found += [(f"{item['code']} {choice['code']}", choice["label"]) for choice in item.get("choices", [])]
    scoring = definition["scoring"]
    found += [(f"score {score['code']}", score.get("label")) for score in scoring.get("scores", [])]
    for band in scoring.get("bands", []):
        found.append((f"band {band['code']}", band.get("label")))
        found += [(f"level {level['code']}", level.get("label")) for level in band["levels"]]
    return found


class OutcomeInstrumentTests(TestCase):
    versions: dict[str, InstrumentVersion]
    case: Case
    survivor: Participant

    @classmethod
    def setUpTestData(cls):
        cls.versions = {item.version.instrument.code: item.version for item in load_builtins()}
        organization = make_organization()
        cls.case = make_case(organization)
        cls.survivor = Participant.objects.create(
            organization=organization, case=cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A"
        )

    def definition(self, code: str) -> dict[str, Any]:
        return self.versions[code].definition

    def scores(self, code: str, answers: dict[str, Any]) -> dict[str, Any]:
        """The scores of these answers once submitted, through the same path as the pages."""
        response = Response.objects.create(
            organization=self.case.organization,
            version=self.versions[code],
            participant=self.survivor,
            case=self.case,
            purpose="T0",
            answers=answers,
        )
        response.submit()
        response.refresh_from_db()
        return response.scores

    # --- every outcome instrument

    def test_there_is_one_built_in_instrument_for_each_outcome_domain(self):
        self.assertLessEqual(set(OUTCOMES.values()), set(self.versions))
        self.assertEqual(sorted(path.stem for path in BUILTIN_DIR.glob("outcome_*.yaml")), WRITTEN_HERE)
        for code in WRITTEN_HERE:
            self.assertEqual(self.definition(code)["code"], code)
            self.assertEqual(self.definition(code)["source"], {"format": "builtin", "file": f"{code}.yaml"})

    def test_every_text_is_in_english_and_in_spanish(self):
        for code in WRITTEN_HERE:
            definition = self.definition(code)
            self.assertEqual(definition["languages"], ["en", "es"])
            for where, text in texts(definition):
                with self.subTest(instrument=code, where=where):
                    self.assertIsInstance(text, dict)
                    self.assertEqual(set(text), {"en", "es"})
                    self.assertTrue(all(isinstance(t, str) and t.strip() for t in text.values()))
                    if len(text["en"]) > 3:  # not a translation left in English
                        self.assertNotEqual(text["en"], text["es"])

    def test_each_asks_four_to_eight_questions_and_has_a_score(self):
        for code in WRITTEN_HERE:
            definition = self.definition(code)
            asked = [i for _s, i in iter_items(definition) if i["type"] not in ("descriptive", "calculated")]
            with self.subTest(instrument=code):
                self.assertTrue(4 <= len(asked) <= 8, len(asked))
                self.assertTrue(definition["scoring"]["scores"])

    def test_every_question_about_a_persons_life_offers_prefer_not_to_say(self):
        for code in WRITTEN_HERE:
            for _section, item in iter_items(self.definition(code)):
                if item["type"] in ("descriptive", "calculated", "long_text"):
                    continue  # nothing asked, or free text that can be left empty
                with self.subTest(instrument=code, item=item["code"]):
                    offered = bool(item.get("prefer_not_to_say"))
                    self.assertEqual(offered, (code, item["code"]) not in NOT_ABOUT_THEIR_LIFE)

    def test_free_text_is_never_required_and_never_scored(self):
        for code in WRITTEN_HERE:
            definition = self.definition(code)
            scored = {c for score in definition["scoring"]["scores"] for c in score["items"]}
            for _section, item in iter_items(definition):
                if item["type"] in ("long_text", "short_text"):
                    self.assertFalse(item.get("required"), item["code"])
                    self.assertNotIn(item["code"], scored)

    def test_no_item_begins_like_a_well_known_licensed_instrument(self):
        for code in WRITTEN_HERE:
            for where, text in texts(self.definition(code)):
                if not text:
                    continue
                english = words(text["en"])
                for opening in LICENSED_OPENINGS:
                    self.assertNotIn(words(opening), english, f"{code}, {where}")

    # --- safety

    def test_felt_safety_is_the_mean_with_fear_reverse_coded(self):
        safest = {
            "safe_home": "5",
            "safe_daily": "5",
            "children_safe": "5",
            "afraid": "1",
            "changed_plans": "1",
            "confident": "5",
        }
        self.assertEqual(self.scores("outcome_safety", safest), {"felt_safety": 5})
        mixed = {
            "safe_home": "4",
            "safe_daily": "3",
            "children_safe": "2",
            "afraid": "4",
            "changed_plans": "2",
            "confident": "3",
        }
        # afraid 4 counts 2, changed_plans 2 counts 4: (4 + 3 + 2 + 2 + 4 + 3) / 6.
        self.assertEqual(self.scores("outcome_safety", mixed), {"felt_safety": 3})

    def test_no_children_is_left_out_of_felt_safety(self):
        answers = {
            "safe_home": "2",
            "safe_daily": "2",
            "children_safe": "na",
            "afraid": "5",
            "changed_plans": "5",
            "confident": "4",
        }
        # (2 + 2 + 1 + 1 + 4) / 5
        self.assertEqual(self.scores("outcome_safety", answers), {"felt_safety": 2})

    def test_felt_safety_needs_three_rated_items(self):
        answers = {
            "safe_home": PNTS,
            "safe_daily": "4",
            "children_safe": PNTS,
            "afraid": PNTS,
            "changed_plans": PNTS,
            "confident": "2",
        }
        self.assertEqual(self.scores("outcome_safety", answers), {"felt_safety": None})

    def test_a_conversation_about_safety_is_offered_only_to_someone_who_feels_unsafe(self):
        definition = self.definition("outcome_safety")
        self.assertIn("talk_about_safety", visible_items(definition, {"safe_home": "2"}))
        self.assertIn("talk_about_safety", visible_items(definition, {"afraid": "4"}))
        self.assertNotIn("talk_about_safety", visible_items(definition, {"safe_home": "4", "afraid": "2"}))

    # --- recurrence

    def test_no_recurrence_needs_a_no_to_every_kind(self):
        none = dict.fromkeys(["physical", "threats", "stalking", "controlling", "violated"], "0")
        # A number of days typed before every answer became "no" is dropped with its hidden question.
        scores = self.scores("outcome_recurrence", {**none, "days_to_first": 30})
        self.assertEqual(
            scores, {"any_recurrence": 0, "kinds": 0, "days_to_first": None, "recurrence": "none"}
        )

    def test_one_kind_of_recurrence_is_counted_with_its_day(self):
        answers = {
            "physical": "1",
            "threats": "0",
            "stalking": "0",
            "controlling": "0",
            "violated": "0",
            "days_to_first": 12,
            "source": "records",
        }
        self.assertEqual(
            self.scores("outcome_recurrence", answers),
            {"any_recurrence": 1, "kinds": 1, "days_to_first": 12, "recurrence": "any"},
        )

    def test_kinds_count_the_yeses_and_a_yes_is_recurrence_whatever_else_was_said(self):
        answers = {"physical": "0", "threats": "1", "stalking": "1", "controlling": PNTS, "violated": "0"}
        self.assertEqual(
            self.scores("outcome_recurrence", answers),
            {"any_recurrence": 1, "kinds": 2, "days_to_first": None, "recurrence": "any"},
        )

    def test_prefer_not_to_say_leaves_recurrence_unknown_and_never_reads_as_none(self):
        answers = {"physical": PNTS, "threats": "0", "stalking": "0", "controlling": "0", "violated": "0"}
        self.assertEqual(
            self.scores("outcome_recurrence", answers),
            {"any_recurrence": None, "kinds": 0, "days_to_first": None, "recurrence": "any"},
        )
        every = dict.fromkeys(["physical", "threats", "stalking", "controlling", "violated"], PNTS)
        self.assertEqual(
            self.scores("outcome_recurrence", every),
            {"any_recurrence": None, "kinds": None, "days_to_first": None, "recurrence": "any"},
        )

    def test_the_day_of_the_first_recurrence_is_asked_only_after_a_yes(self):
        definition = self.definition("outcome_recurrence")
        self.assertNotIn("days_to_first", visible_items(definition, {"physical": "0", "threats": PNTS}))
        self.assertIn("days_to_first", visible_items(definition, {"violated": "1"}))

    # --- accountability

    def test_accountability_is_the_mean_with_blame_reverse_coded(self):
        fullest = {
            "names_harm": "5",
            "no_excuses": "5",
            "not_my_fault": "1",
            "effects_on_them": "5",
            "effects_on_others": "5",
            "commitments": "5",
            "changed_behavior": "5",
        }
        self.assertEqual(
            self.scores("outcome_accountability", fullest), {"accountability": 5, "acknowledgment": 5}
        )

    def test_no_agreement_yet_is_left_out_of_accountability(self):
        answers = {
            "names_harm": "4",
            "no_excuses": "3",
            "not_my_fault": "4",
            "effects_on_them": "4",
            "effects_on_others": "3",
            "commitments": "none_yet",
            "changed_behavior": "5",
        }
        # not_my_fault 4 counts 2: (4 + 3 + 2 + 4 + 3 + 5) / 6 = 3.5; acknowledgment (4 + 3 + 2) / 3 = 3.
        self.assertEqual(
            self.scores("outcome_accountability", answers), {"accountability": 3.5, "acknowledgment": 3}
        )

    def test_accountability_needs_four_rated_items_and_acknowledgment_two(self):
        answers = {
            "names_harm": "2",
            "no_excuses": PNTS,
            "not_my_fault": "2",
            "effects_on_them": PNTS,
            "effects_on_others": PNTS,
            "commitments": "3",
            "changed_behavior": PNTS,
        }
        # Three rated: no accountability score; acknowledgment (2 + 4) / 2 = 3.
        self.assertEqual(
            self.scores("outcome_accountability", answers), {"accountability": None, "acknowledgment": 3}
        )

    # --- repair

    def test_repair_is_the_mean_with_what_is_left_to_repair_reverse_coded(self):
        fullest = {
            "actions_done": "5",
            "actions_matter": "5",
            "acknowledged": "5",
            "acknowledged_by_others": "5",
            "needs_met": "5",
            "still_to_repair": "1",
        }
        self.assertEqual(self.scores("outcome_repair", fullest), {"repair": 5})
        partly = {
            "actions_done": "4",
            "actions_matter": "3",
            "acknowledged": "4",
            "acknowledged_by_others": PNTS,
            "needs_met": "4",
            "still_to_repair": "2",
            "what_repair_means": "That the children can see their grandmother again.",
        }
        # still_to_repair 2 counts 4: (4 + 3 + 4 + 4 + 4) / 5.
        self.assertEqual(self.scores("outcome_repair", partly), {"repair": 3.8})

    def test_not_knowing_whether_repairs_were_done_is_left_out_and_skips_whether_they_matter(self):
        answers = {
            "actions_done": "dk",
            "actions_matter": "5",
            "acknowledged": "2",
            "acknowledged_by_others": "3",
            "needs_met": "2",
            "still_to_repair": "4",
        }
        # actions_matter is hidden and dropped: (2 + 3 + 2 + 2) / 4.
        self.assertEqual(self.scores("outcome_repair", answers), {"repair": 2.25})
        definition = self.definition("outcome_repair")
        self.assertNotIn("actions_matter", visible_items(definition, {"actions_done": "none_yet"}))
        self.assertNotIn("actions_matter", visible_items(definition, {"actions_done": "1"}))
        self.assertIn("actions_matter", visible_items(definition, {"actions_done": "2"}))

    def test_repair_needs_three_rated_items(self):
        answers = {
            "actions_done": "1",
            "acknowledged": PNTS,
            "acknowledged_by_others": PNTS,
            "needs_met": "3",
            "still_to_repair": PNTS,
        }
        self.assertEqual(self.scores("outcome_repair", answers), {"repair": None})

    # --- healing

    def test_saying_no_to_the_healing_questions_hides_them_all_and_gives_no_score(self):
        answers = {
            "wants_to_answer": "0",
            "what_healing_means": "Sleeping through the night",
            "progress": "4",
            "hopeful": "4",
        }
        self.assertEqual(visible_items(self.definition("outcome_healing"), answers), ["wants_to_answer"])
        self.assertEqual(self.scores("outcome_healing", answers), {"healing": None, "healing_progress": None})
        response = Response.objects.filter(version=self.versions["outcome_healing"]).get()
        self.assertEqual(response.answers, {"wants_to_answer": "0"})

    def test_healing_scores_only_what_was_rated(self):
        fullest = {
            "wants_to_answer": "1",
            "progress": "5",
            "hopeful": "5",
            "own_hands": "5",
            "still_weighs": "1",
            "like_yourself": "5",
        }
        self.assertEqual(self.scores("outcome_healing", fullest), {"healing": 5, "healing_progress": 5})
        some = {
            "wants_to_answer": "1",
            "what_healing_means": "Feeling at home in my own house",
            "progress": "3",
            "hopeful": PNTS,
            "own_hands": "4",
            "still_weighs": "4",
            "like_yourself": PNTS,
        }
        # still_weighs 4 counts 2: (3 + 4 + 2) / 3.
        self.assertEqual(self.scores("outcome_healing", some), {"healing": 3, "healing_progress": 3})
        one = {"wants_to_answer": "1", "progress": PNTS, "hopeful": "2"}
        self.assertEqual(self.scores("outcome_healing", one), {"healing": 2, "healing_progress": None})
        words_only = {"wants_to_answer": "1", "what_healing_means": "Being believed", "progress": PNTS}
        self.assertEqual(
            self.scores("outcome_healing", words_only), {"healing": None, "healing_progress": None}
        )

    # --- family and child well-being

    def test_family_and_child_scores_with_children(self):
        best = {
            "children": "1",
            "get_along": "5",
            "talk_problems": "5",
            "home_settled": "5",
            "overwhelmed": "1",
            "children_safe": "5",
            "children_settled": "5",
            "children_doing": "5",
        }
        self.assertEqual(
            self.scores("outcome_family_wellbeing", best),
            {"family_functioning": 5, "child_wellbeing": 5, "parenting_stress": 1},
        )
        some = {"children": "1", "children_safe": PNTS, "children_settled": PNTS, "children_doing": "2"}
        self.assertEqual(
            self.scores("outcome_family_wellbeing", some),
            {"family_functioning": None, "child_wellbeing": 2, "parenting_stress": None},
        )

    def test_without_children_the_child_questions_are_not_asked_or_scored(self):
        answers = {
            "children": "0",
            "get_along": "3",
            "talk_problems": "4",
            "home_settled": PNTS,
            "overwhelmed": "5",
            "children_doing": "1",
        }
        self.assertEqual(
            self.scores("outcome_family_wellbeing", answers),
            {"family_functioning": 3.5, "child_wellbeing": None, "parenting_stress": None},
        )
        definition = self.definition("outcome_family_wellbeing")
        self.assertNotIn("children_safe", visible_items(definition, {"children": PNTS}))
        self.assertIn("children_safe", visible_items(definition, {"children": "1"}))

    def test_family_functioning_needs_two_rated_items(self):
        answers = {"children": PNTS, "get_along": PNTS, "talk_problems": "2", "home_settled": PNTS}
        self.assertEqual(
            self.scores("outcome_family_wellbeing", answers),
            {"family_functioning": None, "child_wellbeing": None, "parenting_stress": None},
        )

    # --- connectedness

    def test_connectedness_is_the_mean_of_the_statements_and_people_are_counted_apart(self):
        most = {
            "people_count": 20,
            "feel_supported": "5",
            "practical_help": "5",
            "emotional_help": "5",
            "safety_help": "5",
            "community": "5",
        }
        self.assertEqual(
            self.scores("outcome_connectedness", most), {"connectedness": 5, "people_to_turn_to": 20}
        )
        alone = {
            "people_count": 0,
            "feel_supported": "2",
            "practical_help": "1",
            "emotional_help": "3",
            "safety_help": PNTS,
            "community": "4",
        }
        self.assertEqual(
            self.scores("outcome_connectedness", alone), {"connectedness": 2.5, "people_to_turn_to": 0}
        )

    def test_connectedness_needs_three_rated_statements(self):
        answers = {
            "people_count": PNTS,
            "feel_supported": "4",
            "practical_help": PNTS,
            "emotional_help": PNTS,
            "safety_help": "5",
            "community": PNTS,
        }
        self.assertEqual(
            self.scores("outcome_connectedness", answers), {"connectedness": None, "people_to_turn_to": None}
        )

    def test_the_number_of_people_is_bounded_from_0_to_20(self):
        [item] = [
            i for _s, i in iter_items(self.definition("outcome_connectedness")) if i["code"] == "people_count"
        ]
        self.assertEqual((item["type"], item["min"], item["max"]), ("integer", 0, 20))
