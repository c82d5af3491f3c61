"""Skip logic and calculations through the expression language: what is shown, and what is computed."""

import datetime

from circlekeeper.instruments.definition import PNTS, validate_definition
from circlekeeper.instruments.scoring import calculated_values, visible_items


def definition(items, section_show_if=None, more=()):
    sections = [{"code": "first", "items": items}]
    if section_show_if:
        sections[0]["show_if"] = section_show_if
    sections.extend(more)
    return validate_definition(
        {
            "code": "logic",
            "title": {"en": "Logic"},
            "languages": ["en"],
            "default_language": "en",
            "sections": sections,
        }
    )


def yes_no(code, **extra):
    return {"code": code, "type": "yes_no", "label": {"en": code}, "prefer_not_to_say": True, **extra}


def test_an_item_is_shown_only_when_its_condition_holds():
    d = definition(
        [
            yes_no("threat"),
            {"code": "when", "type": "long_text", "label": {"en": "When?"}, "show_if": "threat = '1'"},
        ]
    )
    assert visible_items(d, {"threat": "1"}) == ["threat", "when"]
    assert visible_items(d, {"threat": "0"}) == ["threat"]
    assert visible_items(d, {}) == ["threat"]


def test_prefer_not_to_say_reads_as_unanswered_in_logic():
    d = definition([yes_no("threat"), yes_no("why_not", show_if="isblank(threat)")])
    assert visible_items(d, {"threat": PNTS}) == ["threat", "why_not"]


def test_hiding_carries_down_a_chain():
    d = definition(
        [
            yes_no("a"),
            yes_no("b", show_if="a = '1'"),
            yes_no("c", show_if="b = '1'"),
        ]
    )
    # b was answered before a changed; once b is hidden its answer no longer shows c.
    assert visible_items(d, {"a": "0", "b": "1"}) == ["a"]
    assert visible_items(d, {"a": "1", "b": "1"}) == ["a", "b", "c"]


def test_a_hidden_section_hides_all_its_items():
    second = {"code": "second", "show_if": "a = '1'", "items": [yes_no("b"), yes_no("c")]}
    d = definition([yes_no("a")], more=[second])
    assert visible_items(d, {"a": "0"}) == ["a"]
    assert visible_items(d, {"a": "1"}) == ["a", "b", "c"]


def test_checkbox_membership_from_redcap():
    from circlekeeper.instruments.expressions import translate_redcap

    kinds = {
        "code": "kinds",
        "type": "multiple_choice",
        "label": {"en": "Kinds"},
        "choices": [{"code": "1", "label": {"en": "Hit"}}, {"code": "2", "label": {"en": "Threat"}}],
    }
    d = definition([kinds, yes_no("follow", show_if=translate_redcap("[kinds(2)] = '1'"))])
    assert visible_items(d, {"kinds": ["1", "2"]}) == ["kinds", "follow"]
    assert visible_items(d, {"kinds": ["1"]}) == ["kinds"]


def test_untranslated_logic_shows_the_item():
    kept = yes_no("later", source_logic={"show_if": {"syntax": "redcap", "text": "[event-name] = 'x'"}})
    assert visible_items(definition([yes_no("a"), kept]), {}) == ["a", "later"]


def test_calculations_use_answers_and_earlier_calculations():
    from circlekeeper.instruments.expressions import translate_redcap

    d = definition(
        [
            {"code": "weight", "type": "decimal", "label": {"en": "kg"}},
            {"code": "height", "type": "decimal", "label": {"en": "cm"}},
            {
                "code": "bmi",
                "type": "calculated",
                "calculation": translate_redcap("round(([weight]*10000)/(([height])^(2)),1)"),
            },
            {"code": "obese", "type": "calculated", "calculation": "if(bmi >= 30, 1, 0)"},
            {"code": "days", "type": "calculated", "calculation": "datediff('2026-01-01', 'today', 'd')"},
        ]
    )
    values = calculated_values(d, {"weight": 70, "height": 175}, today=datetime.date(2026, 1, 31))
    assert values == {"bmi": 22.9, "obese": 0, "days": 30}
    # Without the answers it needs, bmi is left out, not guessed (and a comparison with a blank is false).
    assert calculated_values(d, {}, today=datetime.date(2026, 1, 31)) == {"obese": 0, "days": 30}
