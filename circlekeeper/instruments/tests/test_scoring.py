"""Scores (sums, means, subscales, reverse coding, minimum answered) and bands (thresholds, critical items)."""

import pytest

from circlekeeper.instruments.definition import PNTS, validate_definition
from circlekeeper.instruments.scoring import score_response
from circlekeeper.instruments.tests.helpers import make_definition


@pytest.fixture
def definition():
    return validate_definition(make_definition())


def with_scores(*scores, bands=()):
    definition = make_definition()
    definition["scoring"] = {"scores": list(scores), "bands": list(bands)}
    return validate_definition(definition)


def test_a_mean_reverse_codes_its_reversed_items(definition):
    # q4 = 1 counts as 5 + 1 - 1 = 5.
    assert score_response(definition, {"q1": "5", "q2": "4", "q3": "3", "q4": "1"})["total"] == 4.25


def test_a_sum_with_subscales():
    definition = with_scores(
        {"code": "all", "method": "sum", "items": ["q1", "q2", "q3", "q4"]},
        {"code": "first", "method": "sum", "items": ["q1", "q2"]},
        {"code": "second", "method": "mean", "items": ["q3", "q4"], "reverse": {"q3": {"min": 1, "max": 5}}},
    )
    scores = score_response(definition, {"q1": "2", "q2": "3", "q3": "5", "q4": "4"})
    assert scores == {"all": 14, "first": 5, "second": 2.5}
    assert isinstance(scores["all"], int)


def test_missing_items_are_left_out_of_a_mean_until_too_few_are_answered(definition):
    assert score_response(definition, {"q1": "5", "q2": "4", "q4": "5"})["total"] == pytest.approx(10 / 3)
    assert score_response(definition, {"q1": "5", "q4": "5"})["total"] is None


def test_without_min_answered_every_item_is_needed():
    definition = with_scores({"code": "all", "method": "sum", "items": ["q1", "q2"]})
    assert score_response(definition, {"q1": "2"}) == {"all": None}
    assert score_response(definition, {"q1": "2", "q2": "1"}) == {"all": 3}


def test_prefer_not_to_say_counts_as_unanswered_in_scores(definition):
    assert score_response(definition, {"q1": "5", "q2": "4", "q3": PNTS, "q4": "5"})[
        "total"
    ] == pytest.approx(10 / 3)
    assert score_response(definition, {"q1": "5", "q2": PNTS, "q3": PNTS, "q4": "5"})["total"] is None


def test_empty_and_unreadable_answers_are_unanswered():
    definition = with_scores(
        {"code": "all", "method": "sum", "items": ["q1", "q2", "age"], "min_answered": 1}
    )
    assert score_response(definition, {"q1": "", "q2": "9", "age": "forty"}) == {"all": None}
    assert score_response(definition, {"q1": "", "q2": "9", "age": 40}) == {"all": 40}


def test_choice_scores_replace_codes():
    raw = make_definition()
    raw["choice_lists"]["agreement"] = [
        {"code": "never", "label": {"en": "Never"}, "score": 0},
        {"code": "often", "label": {"en": "Often"}, "score": 3},
    ]
    raw["scoring"] = {"scores": [{"code": "all", "method": "sum", "items": ["q1", "q2"]}]}
    definition = validate_definition(raw)
    assert score_response(definition, {"q1": "often", "q2": "never"}) == {"all": 3}


def test_a_band_follows_its_score_thresholds(definition):
    assert score_response(definition, {"q1": "1", "q2": "1", "q3": "2", "q4": "5"})["risk"] == "low"
    assert score_response(definition, {"q1": "3", "q2": "3", "q3": "3", "q4": "3"})["risk"] == "medium"
    assert score_response(definition, {"q1": "5", "q2": "5", "q3": "5", "q4": "1"})["risk"] == "high"


def test_any_critical_item_answered_yes_makes_it_high(definition):
    answers = {"q1": "1", "q2": "1", "q3": "1", "q4": "5", "threat": "0", "weapon": "1"}
    assert score_response(definition, answers)["risk"] == "high"
    answers["weapon"] = "0"
    assert score_response(definition, answers)["risk"] == "low"


def test_a_band_without_enough_answers_says_nothing(definition):
    assert score_response(definition, {"q1": "5"})["risk"] is None
    assert score_response(definition, {"q1": "5", "threat": "1"})["risk"] == "high"


def test_prefer_not_to_say_on_a_critical_item_never_lowers_the_level(definition):
    answers = {"q1": "1", "q2": "1", "q3": "1", "q4": "5", "threat": "0", "weapon": PNTS}
    assert score_response(definition, answers)["risk"] == "high"


def test_prefer_not_to_say_in_a_score_gives_the_highest_level_any_answer_could_give(definition):
    # Answered: 1, 1 (mean 1, low). q3 and q4 could each reach 5 → mean 3, medium. Never low.
    answers = {"q1": "1", "q2": "1", "q3": PNTS, "q4": PNTS, "threat": "0", "weapon": "0"}
    scores = score_response(definition, answers)
    assert scores["total"] is None
    assert scores["risk"] == "medium"
    # The same answers with q3 and q4 simply skipped say nothing either way.
    assert score_response(definition, {"q1": "1", "q2": "1", "threat": "0", "weapon": "0"})["risk"] == "low"


def test_the_guard_can_be_turned_off():
    raw = make_definition()
    raw["scoring"]["bands"][0]["never_lower_for"] = []
    definition = validate_definition(raw)
    answers = {"q1": "1", "q2": "1", "q3": "1", "q4": "5", "threat": "0", "weapon": PNTS}
    assert score_response(definition, answers)["risk"] == "low"


def test_levels_can_run_against_the_score():
    # A higher score is better here: "concern" falls as the score rises; PNTS still never lowers it.
    definition = with_scores(
        {"code": "all", "method": "mean", "items": ["q1", "q2"]},
        bands=[
            {
                "code": "concern",
                "levels": [{"code": "none"}, {"code": "some"}],
                "default": "some",
                "score": "all",
                "thresholds": [{"min": 1, "level": "some"}, {"min": 3, "level": "none"}],
            }
        ],
    )
    assert score_response(definition, {"q1": "1", "q2": "5"})["concern"] == "none"
    assert score_response(definition, {"q1": "1", "q2": "1"})["concern"] == "some"
    assert score_response(definition, {"q1": "1", "q2": PNTS})["concern"] == "some"
    # Every answer to q2 would give "none" here, so "none" it is.
    assert score_response(definition, {"q1": "5", "q2": PNTS})["concern"] == "none"


def test_multiple_choice_answers_match_rules_by_any_code():
    raw = make_definition()
    raw["sections"][0]["items"].append(
        {
            "code": "kinds",
            "type": "multiple_choice",
            "label": {"en": "Kinds"},
            "choices": [{"code": "a", "label": {"en": "A"}}, {"code": "b", "label": {"en": "B"}}],
        }
    )
    raw["scoring"]["bands"][0]["rules"].append({"items": ["kinds"], "codes": ["b"], "level": "medium"})
    definition = validate_definition(raw)
    assert score_response(definition, {"kinds": ["a", "b"]})["risk"] == "medium"
    assert score_response(definition, {"kinds": ["a"]})["risk"] == "low"
    assert score_response(definition, {})["risk"] is None
