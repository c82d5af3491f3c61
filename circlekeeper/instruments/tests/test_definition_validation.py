"""One function validates a definition and names every problem with where it is."""

import copy

import pytest

from circlekeeper.instruments.definition import (
    PNTS,
    DefinitionError,
    choices_for,
    content_hash,
    localized,
    validate_definition,
)
from circlekeeper.instruments.tests.helpers import make_definition


def problems_of(definition):
    with pytest.raises(DefinitionError) as caught:
        validate_definition(definition)
    return caught.value.problems


def item(definition, code):
    return next(i for s in definition["sections"] for i in s["items"] if i["code"] == code)


def test_a_valid_definition_comes_back_with_the_same_content():
    definition = make_definition()
    assert validate_definition(copy.deepcopy(definition))["sections"] == definition["sections"]


def test_every_problem_is_listed_with_its_item():
    definition = make_definition()
    item(definition, "age")["min"] = "eighteen"
    item(definition, "q1")["type"] = "radio"
    item(definition, "q2")["choice_list"] = "missing"
    item(definition, "threat")["required"] = "yes"
    problems = problems_of(definition)
    assert "item 'age': min must be a whole number" in problems
    assert any(p.startswith("item 'q1': type must be one of single_choice") for p in problems)
    assert "item 'q2': choice_list 'missing' is not in choice_lists" in problems
    assert "item 'threat': required must be true or false" in problems
    assert len(problems) == 4


def test_top_level_problems_are_named():
    definition = make_definition(languages=["en", "en"], default_language="fr", title={})
    definition["code"] = "has space"
    definition["extra"] = 1
    problems = problems_of(definition)
    assert "definition: unknown key 'extra'" in problems
    assert any("definition: code must be a code" in p for p in problems)
    assert any("languages must be a list of distinct language codes" in p for p in problems)
    assert "definition: title must map languages to texts, e.g. {en: …}" in problems


def test_item_codes_must_be_unique_and_labels_in_listed_languages():
    definition = make_definition()
    definition["sections"][0]["items"].append({"code": "q1", "type": "long_text", "label": {"fr": "Texte"}})
    problems = problems_of(definition)
    assert "item 'q1': the code is used by another item" in problems
    assert "item 'q1': label has languages not listed in languages: fr" in problems


def test_choices_need_string_codes_that_are_not_reserved_and_not_repeated():
    definition = make_definition()
    definition["sections"][0]["items"].append(
        {
            "code": "color",
            "type": "single_choice",
            "label": {"en": "Color"},
            "choices": [
                {"code": 1, "label": {"en": "one"}},
                {"code": "a", "label": {"en": "A"}},
                {"code": "a", "label": {"en": "again"}},
                {"code": PNTS, "label": {"en": "no"}},
            ],
        }
    )
    problems = problems_of(definition)
    assert "item 'color': choice code 1 must be a non-empty string" in problems
    assert "item 'color': choice code 'a' appears twice" in problems
    assert "item 'color': choice code '_pnts' is reserved for “prefer not to say”" in problems


def test_ranges_are_checked_by_type():
    definition = make_definition()
    items = definition["sections"][0]["items"]
    items.append(
        {"code": "when", "type": "date", "label": {"en": "When"}, "min": "2026-13-01", "max": "today"}
    )
    items.append({"code": "low_high", "type": "decimal", "label": {"en": "x"}, "min": 5, "max": 1})
    items.append({"code": "note", "type": "long_text", "label": {"en": "x"}, "max": 3})
    items.append(
        {"code": "slide", "type": "slider", "label": {"en": "x"}, "step": 0, "anchors": [{"en": "a"}] * 4}
    )
    problems = problems_of(definition)
    assert "item 'when': min must be a date written YYYY-MM-DD, or today" in problems
    assert "item 'low_high': min must not be greater than max" in problems
    assert "item 'note': a long_text item cannot have max" in problems
    assert "item 'slide': step must be a positive number" in problems
    assert "item 'slide': anchors must be a list of 1 to 3 texts" in problems


def test_items_that_are_not_asked_cannot_be_required_and_calculations_need_a_calculation():
    definition = make_definition()
    definition["sections"][0]["items"].append(
        {"code": "info", "type": "descriptive", "label": {"en": "x"}, "required": True}
    )
    definition["sections"][0]["items"].append({"code": "bmi", "type": "calculated"})
    problems = problems_of(definition)
    assert "item 'info': a descriptive item cannot be required" in problems
    assert "item 'bmi': a calculated item needs a calculation" in problems


def test_an_untranslated_calculation_kept_as_source_logic_is_enough():
    definition = make_definition()
    definition["sections"][0]["items"].append(
        {
            "code": "bmi",
            "type": "calculated",
            "source_logic": {"calculation": {"syntax": "redcap", "text": "[x] ^^ 2"}},
        }
    )
    assert validate_definition(definition)


def test_matrix_group_items_share_one_choice_list():
    definition = make_definition()
    item(definition, "q1")["matrix_group"] = "grid"
    item(definition, "q2")["matrix_group"] = "grid"
    del item(definition, "q2")["choice_list"]
    item(definition, "q2")["choices"] = [{"code": "1", "label": {"en": "x"}}]
    assert (
        "matrix group 'grid': its items must be choice items of one type in one section, sharing one choice_list"
        in problems_of(definition)
    )


def test_scores_and_bands_are_checked():
    definition = make_definition()
    definition["scoring"]["scores"].append(
        {
            "code": "bad",
            "method": "median",
            "items": ["q1", "comments", "age"],
            "reverse": {"q2": {"min": 5, "max": 1}},
            "min_answered": 9,
        }
    )
    definition["scoring"]["bands"].append(
        {
            "code": "total",
            "levels": [{"code": "low"}],
            "default": "none",
            "score": "nope",
            "thresholds": [{"min": 2, "level": "low"}, {"min": 1, "level": "high"}],
            "rules": [
                {"items": ["age"], "codes": ["1"], "level": "low"},
                {"items": ["threat"], "codes": ["2"], "level": "low"},
            ],
            "never_lower_for": ["anything"],
        }
    )
    problems = problems_of(definition)
    assert "score 'bad': method must be sum or mean" in problems
    assert "score 'bad': item 'comments' does not exist" in problems
    assert "score 'bad': reverse-coded item 'q2' is not among its items" in problems
    assert "score 'bad': reverse-coded item 'q2' needs its scale as {min, max}, min below max" in problems
    assert "score 'bad': min_answered must be a whole number from 1 to the number of items" in problems
    assert "band 'total': the code is used by another score or band" in problems
    assert "band 'total': default must be one of its levels" in problems
    assert "band 'total': score 'nope' is not one of the scores" in problems
    assert "band 'total': thresholds must be in ascending order of min" in problems
    assert "band 'total': level 'high' is not one of its levels" in problems
    assert "band 'total': rules apply to choice and yes/no items; 'age' is neither" in problems
    assert "band 'total': item 'threat' has no answer '2'" in problems
    assert "band 'total': never_lower_for may only list prefer_not_to_say" in problems


def test_scored_choices_must_be_numbers_or_carry_a_score():
    definition = make_definition()
    definition["choice_lists"]["agreement"][0]["code"] = "never"
    assert "score 'total': item 'q1' has choices that are not numbers and have no score" in problems_of(
        definition
    )
    definition["choice_lists"]["agreement"][0]["score"] = 1
    assert validate_definition(definition)


def test_messages_are_translated():
    from django.utils import translation

    definition = make_definition()
    item(definition, "age")["min"] = "eighteen"
    with translation.override("es"):
        problems = problems_of(definition)
    assert problems == ["elemento 'age': min debe ser un número entero"]


def test_something_that_is_not_a_mapping_is_refused():
    assert problems_of(["not", "a", "definition"]) == ["definition: it must be a mapping of keys to values"]


def test_labels_fall_back_to_the_default_language():
    definition = validate_definition(make_definition())
    q1 = item(definition, "threat")
    assert localized(q1["label"], "es", definition) == "Threatened?"
    assert localized(item(definition, "q1")["label"], "es", definition) == "Pregunta 1"


def test_yes_no_and_prefer_not_to_say_choices_come_in_each_language():
    definition = validate_definition(make_definition())
    choices = choices_for(definition, item(definition, "threat"))
    assert [c["code"] for c in choices] == ["1", "0", PNTS]
    assert choices[0]["label"] == {"en": "Yes", "es": "Sí"}
    assert choices[2]["label"]["es"] == "Prefiero no decirlo"
    assert [c["code"] for c in choices_for(definition, item(definition, "q1"), with_pnts=False)] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]


def test_the_content_hash_ignores_key_order_but_not_content():
    definition = make_definition()
    reordered = dict(reversed(list(make_definition().items())))
    assert content_hash(definition) == content_hash(reordered)
    item(definition, "q1")["label"]["en"] = "Changed"
    assert content_hash(definition) != content_hash(reordered)
