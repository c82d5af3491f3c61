"""Skip logic, calculations, scores and bands of one response, from its definition (see definition.py).

Answers are a dict {item code: value}: a choice code (str) for single choice and yes/no ("1"/"0"), a list of
codes for multiple choice, a number for integer/decimal/slider, "YYYY-MM-DD" for a date, text for text.
PNTS ("_pnts") is the answer "prefer not to say" for any type.

- Skip logic sees only the answers of items still shown, and never PNTS (it reads as unanswered); an item
  whose expression cannot be evaluated, or whose logic could not be translated on import, is shown: asking
  one question too many is better than silently skipping one.
- Scores count PNTS as unanswered. A score with fewer than `min_answered` answered items is None.
- Bands take the highest level reached by the score's thresholds and by the rules. With
  `never_lower_for: [prefer_not_to_say]` (the default), PNTS can never give a lower level than some real
  answer would have: in a rule it counts as a match, and in a score every value it could have stood for is
  tried. "Prefer not to say" is a right; it must not read as "all is well".
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from circlekeeper.instruments import expressions
from circlekeeper.instruments.definition import PNTS, PNTS_RULE, choice_value, choices_for, items_by_code

Answers = dict[str, Any]


def _unanswered(value: object) -> bool:
    return value is None or value == "" or value == [] or value == PNTS


def _walk(
    definition: dict[str, Any],
    answers: Answers,
    today: datetime.date | None,
    events: expressions.EventAnswers | None = None,
) -> tuple[list[str], Answers]:
    """(codes of the items shown, in order; values of the calculated items shown)."""
    # What logic may read: answers still in play, PNTS as unanswered. Items found hidden leave it.
    context = {code: value for code, value in answers.items() if not _unanswered(value)}
    shown: list[str] = []
    calculated: Answers = {}
    for section in definition["sections"]:
        section_shown = _holds(section.get("show_if"), context, today, events)
        for item in section["items"]:
            code = item["code"]
            hidden = item.get("hidden") and item["type"] != "calculated"  # @HIDDEN: never asked
            if hidden or not section_shown or not _holds(item.get("show_if"), context, today, events):
                context.pop(code, None)
                continue
            shown.append(code)
            if item["type"] == "calculated":
                value = _calculate(item, context, today, events)
                if value is None:
                    context.pop(code, None)
                else:
                    context[code] = calculated[code] = value
    return shown, calculated


def _holds(
    text: str | None,
    context: Answers,
    today: datetime.date | None,
    events: expressions.EventAnswers | None,
) -> bool:
    if not text:
        return True
    try:
        return expressions.parse(text).is_true(context, today=today or datetime.date.today(), events=events)
    except expressions.ExpressionError:
        return True


def _calculate(
    item: dict[str, Any],
    context: Answers,
    today: datetime.date | None,
    events: expressions.EventAnswers | None,
) -> Any:
    if "calculation" not in item:
        return None  # kept only as untranslated source text
    try:
        value = expressions.parse(item["calculation"]).evaluate(
            context, today=today or datetime.date.today(), events=events
        )
    except expressions.ExpressionError:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value if isinstance(value, str | int | float | bool) else None


def visible_items(
    definition: dict[str, Any],
    answers: Answers,
    *,
    today: datetime.date | None = None,
    events: expressions.EventAnswers | None = None,
) -> list[str]:
    """Codes of the items skip logic shows for these answers, in the order they are asked.

    `events`: the same person's answers at other REDCap events, for logic that reads [event][field]."""
    return _walk(definition, answers, today, events)[0]


def calculated_values(
    definition: dict[str, Any],
    answers: Answers,
    *,
    today: datetime.date | None = None,
    events: expressions.EventAnswers | None = None,
) -> Answers:
    """Values of the calculated items shown for these answers (those that cannot be computed are left out)."""
    return _walk(definition, answers, today, events)[1]


# --- scores ------------------------------------------------------------------------------------


def _item_value(definition: dict[str, Any], item: dict[str, Any], answer: object) -> float | None:
    if _unanswered(answer):
        return None
    if item["type"] in ("single_choice", "yes_no"):
        for choice in choices_for(definition, item, with_pnts=False):
            if choice["code"] == answer:
                return choice_value(choice)
        return None
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int | float):
        return float(answer) if math.isfinite(answer) else None
    try:
        value = float(str(answer))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _item_bounds(definition: dict[str, Any], item: dict[str, Any]) -> tuple[float, float]:
    """The lowest and highest value an item can take in a score (infinite when it has no bound)."""
    if item["type"] in ("single_choice", "yes_no"):
        values = [
            v for c in choices_for(definition, item, with_pnts=False) if (v := choice_value(c)) is not None
        ]
        return (min(values), max(values)) if values else (-math.inf, math.inf)
    if item["type"] == "slider":
        return float(item.get("min", 0)), float(item.get("max", 100))
    low, high = item.get("min"), item.get("max")
    return (
        float(low) if isinstance(low, int | float) else -math.inf,
        float(high) if isinstance(high, int | float) else math.inf,
    )


def _reversed(score: dict[str, Any], code: str, value: float) -> float:
    scale = score.get("reverse", {}).get(code)
    return scale["min"] + scale["max"] - value if scale else value


def _number(value: float) -> float | int:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _compute(score: dict[str, Any], values: list[float]) -> float | None:
    """The score of these values, or None when fewer than min_answered items were answered."""
    if not values or len(values) < score.get("min_answered", len(score["items"])):
        return None
    # fsum for exact sums; plain sum where a bound is infinite (fsum refuses infinities).
    total = math.fsum(values) if all(math.isfinite(v) for v in values) else sum(values)
    return total if score["method"] == "sum" else total / len(values)


def _score_parts(
    definition: dict[str, Any], score: dict[str, Any], answers: Answers, items: dict[str, dict[str, Any]]
) -> tuple[list[float], list[tuple[float, float]]]:
    """(values of the items answered, after reverse coding; bounds of the items answered PNTS)."""
    values, pnts_bounds = [], []
    for code in score["items"]:
        answer = answers.get(code)
        if answer == PNTS:
            low, high = _item_bounds(definition, items[code])
            a, b = _reversed(score, code, low), _reversed(score, code, high)
            pnts_bounds.append((min(a, b), max(a, b)))
            continue
        value = _item_value(definition, items[code], answer)
        if value is not None:
            values.append(_reversed(score, code, value))
    return values, pnts_bounds


def score_response(definition: dict[str, Any], answers: Answers) -> dict[str, Any]:
    """{score code: number or None, band code: level code or None} for these answers."""
    scoring = definition.get("scoring") or {}
    items = items_by_code(definition)
    result: dict[str, Any] = {}
    parts = {}
    for score in scoring.get("scores", []):
        values, pnts_bounds = _score_parts(definition, score, answers, items)
        parts[score["code"]] = (values, pnts_bounds)
        value = _compute(score, values)
        result[score["code"]] = None if value is None else _number(value)
    scores = {score["code"]: score for score in scoring.get("scores", [])}
    for band in scoring.get("bands", []):
        result[band["code"]] = _band_level(definition, band, answers, items, result, scores, parts)
    return result


def _band_level(
    definition: dict[str, Any],
    band: dict[str, Any],
    answers: Answers,
    items: dict[str, dict[str, Any]],
    results: dict[str, Any],
    scores: dict[str, dict[str, Any]],
    parts: dict[str, tuple[list[float], list[tuple[float, float]]]],
) -> str | None:
    order = [level["code"] for level in band["levels"]]
    guard = PNTS_RULE in band.get("never_lower_for", [PNTS_RULE])
    reached: list[str] = []
    known = "score" not in band
    if "score" in band:
        thresholds = band["thresholds"]
        value = results.get(band["score"])
        if value is not None:
            known = True
            reached.append(_level_at(thresholds, value, band))
        values, pnts_bounds = parts[band["score"]]
        if guard and pnts_bounds:
            reached_range = _levels_over_range(band, scores[band["score"]], values, pnts_bounds)
            known = known or bool(reached_range)
            reached.extend(reached_range)
    for rule in band.get("rules", []):
        for code in rule["items"]:
            answer = answers.get(code)
            chosen = set(answer) if isinstance(answer, list) else {answer}
            # An answer that does not match still tells something: "no" to every critical item is low.
            known = known or not _unanswered(answer)
            if chosen & set(rule["codes"]) or (guard and answer == PNTS):
                known = True
                reached.append(rule["level"])
    if not known:
        return None
    if not reached:
        return str(band.get("default", order[0]))
    return max(reached, key=order.index)


def _level_at(thresholds: list[dict[str, Any]], value: float, band: dict[str, Any]) -> str:
    level = band.get("default", band["levels"][0]["code"])
    for threshold in thresholds:
        if value >= threshold["min"]:
            level = threshold["level"]
    return str(level)


def _levels_over_range(
    band: dict[str, Any], score: dict[str, Any], values: list[float], pnts_bounds: list[tuple[float, float]]
) -> list[str]:
    """Every level the score could reach had each PNTS item been answered with any of its values."""
    low = _compute(score, [*values, *(b[0] for b in pnts_bounds)])
    high = _compute(score, [*values, *(b[1] for b in pnts_bounds)])
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return []
    thresholds = band["thresholds"]
    levels = [_level_at(thresholds, low, band)]
    levels.extend(t["level"] for t in thresholds if low < t["min"] <= high)
    return levels
