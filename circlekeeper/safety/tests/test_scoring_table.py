"""The safety check's scoring, from its definition (data): a table of answer sets → risk level.

Critical indicators (strangulation, a weapon, threats to kill, forced sex) raise the level to high on their
own; the others count toward it; danger right now is severe; "prefer not to say" never lowers a level.
"""

from pathlib import Path

import pytest
import yaml

from circlekeeper.instruments.builtins import BUILTIN_DIR
from circlekeeper.instruments.definition import PNTS, validate_definition
from circlekeeper.instruments.scoring import score_response

CRITICAL = ["strangulation", "weapon", "threats_to_kill", "forced_sex"]
OTHERS = [
    "escalation",
    "separation",
    "stalking",
    "jealousy",
    "threats_to_children",
    "suicide_threats",
    "violations",
]
SCREEN_ITEMS = ["danger_now", "strangulation", "weapon", "threats_to_kill", "escalation"]


def definition(name: str) -> dict:
    return validate_definition(yaml.safe_load(Path(BUILTIN_DIR, f"{name}.yaml").read_text(encoding="utf-8")))


def answers(yes: tuple[str, ...] = (), pnts: tuple[str, ...] = (), items: list[str] | None = None) -> dict:
    codes = items or ["danger_now", *CRITICAL, *OTHERS]
    return {code: PNTS if code in pnts else "1" if code in yes else "0" for code in codes}


CHECK_TABLE = [
    # (what the survivor said, expected level)
    ((), (), "low"),
    (("escalation",), (), "low"),
    (("escalation", "stalking"), (), "elevated"),
    (("escalation", "stalking", "jealousy"), (), "elevated"),
    (("escalation", "stalking", "jealousy", "separation"), (), "high"),
    (("strangulation",), (), "high"),
    (("weapon",), (), "high"),
    (("threats_to_kill",), (), "high"),
    (("forced_sex",), (), "high"),
    (("strangulation", "weapon"), (), "severe"),
    (("strangulation", "escalation", "stalking", "jealousy", "separation"), (), "severe"),
    (tuple(OTHERS), (), "high"),
    (("danger_now",), (), "severe"),
    (("danger_now", "strangulation"), (), "severe"),
    # "Prefer not to say" never lowers a level: it may stand for "yes".
    ((), ("escalation",), "low"),
    (("escalation",), ("stalking",), "elevated"),
    ((), ("strangulation",), "high"),
    ((), ("danger_now",), "severe"),
    (("strangulation",), ("weapon",), "severe"),
]


@pytest.mark.parametrize(("yes", "pnts", "level"), CHECK_TABLE)
def test_the_safety_check_gives_the_level_in_the_table(yes, pnts, level):
    scores = score_response(definition("safety_check"), answers(yes, pnts))
    assert scores["risk"] == level


@pytest.mark.parametrize("critical", CRITICAL)
def test_each_critical_indicator_alone_raises_the_level_to_high(critical):
    assert score_response(definition("safety_check"), answers((critical,)))["risk"] == "high"


@pytest.mark.parametrize("item", ["danger_now", *CRITICAL, *OTHERS])
def test_prefer_not_to_say_never_gives_a_lower_level_than_any_real_answer(item):
    check = definition("safety_check")
    for base in [(), ("escalation",), ("escalation", "stalking", "jealousy")]:
        others = tuple(code for code in base if code != item)
        with_pnts = score_response(check, answers(others, (item,)))["risk"]
        order = ["low", "elevated", "high", "severe"]
        for real in ("0", "1"):
            real_answers = answers(others)
            real_answers[item] = real
            assert order.index(with_pnts) >= order.index(score_response(check, real_answers)["risk"])


SCREEN_TABLE = [
    ((), "low"),
    (("escalation",), "elevated"),
    (("strangulation",), "high"),
    (("weapon", "threats_to_kill"), "severe"),
    (("danger_now",), "severe"),
]


@pytest.mark.parametrize(("yes", "level"), SCREEN_TABLE)
def test_the_immediate_danger_screen_gives_the_level_in_the_table(yes, level):
    scores = score_response(definition("immediate_danger"), answers(yes, items=SCREEN_ITEMS))
    assert scores["risk"] == level


def test_the_screen_is_a_short_version_of_the_check_with_the_same_questions():
    check, screen = definition("safety_check"), definition("immediate_danger")
    check_items = {i["code"]: i for s in check["sections"] for i in s["items"]}
    for section in screen["sections"]:
        for item in section["items"]:
            assert item["code"] in check_items
            assert item["choice_list"] == check_items[item["code"]]["choice_list"]
    assert [lv["code"] for lv in screen["scoring"]["bands"][0]["levels"]] == [
        "low",
        "elevated",
        "high",
        "severe",
    ]


def test_every_question_asks_in_english_and_spanish_and_offers_prefer_not_to_say():
    for name in ("safety_check", "immediate_danger"):
        for section in definition(name)["sections"]:
            for item in section["items"]:
                assert set(item["label"]) == {"en", "es"}, item["code"]
                if item["type"] == "single_choice":
                    assert item["prefer_not_to_say"] and item["required"], item["code"]
