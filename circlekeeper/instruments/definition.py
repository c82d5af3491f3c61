"""Instrument definitions as data: the schema, and the one function that validates it.

A definition is a JSON-serializable dict. Built-ins are written in YAML (definitions/*.yaml); the REDCap and
XLSForm importers produce the same dict. `validate_definition()` returns it (with every expression in
canonical form) or raises `DefinitionError` listing every problem with where it is.

    code              str, required: [A-Za-z_][A-Za-z0-9_.-]* (as every code below)
    title             {language: text}, required
    languages         [language, ...], required, e.g. ["en", "es"]
    default_language  one of languages, required; every text falls back to it
    description       {language: text}
    source            {"format": "builtin"|"redcap"|"xlsform"|"manual", "file": name}: where it came from
    choice_lists      {name: [choice, ...]}: lists shared by several items (a matrix group, an XLSForm list)
    sections          [section, ...], at least one
    scoring           {"scores": [score, ...], "bands": [band, ...]}

A text is a dict {language: text} whose languages are among `languages`; read it with `localized()`, which
falls back to the default language. A choice is {"code": str, "label": {language: text}, "score": number?,
"missing": reason?}; codes are strings ("1", "yes"), never the reserved PNTS ("_pnts"). `score` gives a choice
its number in scores; without it the code must read as a number (REDCap codes do). `missing` (one of
missing.REASONS: prefer_not_to_say, not_applicable, dont_know) makes the choice a missing code: it counts
for no score and is declared missing in every export (missing.py).

A section: {"code", "title", "show_if"?, "items": [item, ...]} (an XLSForm group; a REDCap form). A hidden
section hides all its items.

An item:

    code, type        required; type is one of ITEM_TYPES:
                      single_choice, multiple_choice, yes_no, integer, decimal, short_text, long_text, date,
                      slider, descriptive (text shown, nothing asked), calculated (computed, never asked)
    hidden            bool: never shown to the person answering (REDCap @HIDDEN, @HIDDEN-SURVEY); a calculated
                      item is still computed
    readonly          bool: shown, with its default, but not changed (REDCap @READONLY)
    default           text: the answer a question starts with; "today" (a date: the day it is answered, REDCap
                      @TODAY) and "now" (REDCap @NOW) are filled when the form is shown (REDCap @DEFAULT)
    exclusive         [code, ...]: a multiple-choice item's choices that cannot be chosen with any other
                      (REDCap @NONEOFTHEABOVE)
    label             {language: text}; optional (REDCap allows an empty label: a question without one shows
                      its code)
    help              {language: text}: a note under the label (REDCap field note, XLSForm hint)
    heading           {language: text}: a heading shown before the item (REDCap section header)
    required          bool
    identifying       bool: the answer identifies the person (REDCap identifier); left out of de-identified
                      exports. Every answer is stored encrypted anyway.
    prefer_not_to_say bool: offers the reserved answer PNTS ("_pnts"), for any type. It counts as unanswered
                      in scores and never lowers a band's level (see scoring.py).
    choices           [choice, ...]            single_choice and multiple_choice need exactly one of these
    choice_list       name in choice_lists     two; yes_no may carry choices coded exactly "1" and "0" to
                                               rename its answers (e.g. True/False); else Yes/No.
    matrix_group      name: items of one matrix group share one choice_list, type and section
    min, max          integer, decimal, slider: numbers; date: "YYYY-MM-DD" or "today";
                      short_text with a validation (times, datetimes): text
    step              slider (default 1), decimal: a positive number
    anchors           slider: [{language: text}, ...], up to 3 labels spread from min to max
    show_value        slider: bool, show the number chosen
    validation        short_text: a text validation type (TEXT_VALIDATIONS, e.g. "email", "phone", "time",
                      "datetime_ymd"); integer, decimal, date: the REDCap flavour kept for export
                      ("number_2dp", "date_dmy"); any other name is kept and reported by the importer
    show_if           expression (canonical form, see expressions.py): the item is asked only when true
    calculation       calculated: expression giving its value
    constraint        expression that must hold for an answer, "." (self) being the answer
    constraint_message {language: text}
    source_logic      {"show_if"|"calculation"|"constraint": {"syntax": "redcap"|"xlsform", "text": str}}:
                      the original of an expression that could not be translated, kept so nothing is lost.
                      An item with untranslated show_if is always shown.
    annotation        str: kept as it came (REDCap field annotation) and exported back

A score (sum or mean of item values, after reverse coding; fewer than min_answered answered → None):

    {"code", "label"?, "method": "sum"|"mean", "items": [code, ...],
     "reverse": {item code: {"min": n, "max": n}}   value becomes min + max - value
     "min_answered": n}                             default: every item

A band (a level from a score and/or from answers; the highest level reached wins):

    {"code", "label"?, "levels": [{"code", "label"?}, ...]   ordered from lowest to highest
     "default": level code                           when nothing raises it
     "score": score code, "thresholds": [{"min": n, "level": code}, ...]   ascending; score >= min
     "rules": [{"items": [code, ...], "codes": [str, ...], "level": code}]  any item answered with any code
     "never_lower_for": ["prefer_not_to_say"]}      default; [] lets "prefer not to say" lower a level

Score and band codes share one namespace (a response's scores). Subscales are just more scores.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import re
from collections.abc import Iterator
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from circlekeeper.instruments import expressions
from circlekeeper.instruments.missing import REASONS as MISSING_REASONS

SCHEMA_VERSION = 1
PNTS = "_pnts"
PNTS_RULE = "prefer_not_to_say"

ITEM_TYPES = (
    "single_choice",
    "multiple_choice",
    "yes_no",
    "integer",
    "decimal",
    "short_text",
    "long_text",
    "date",
    "slider",
    "descriptive",
    "calculated",
)
CHOICE_TYPES = ("single_choice", "multiple_choice")
NOT_ASKED = ("descriptive", "calculated")
SCORED_TYPES = ("single_choice", "yes_no", "integer", "decimal", "slider", "calculated")
SOURCES = ("builtin", "redcap", "xlsform", "manual")
EXPRESSION_KEYS = ("show_if", "calculation", "constraint")
# Text validations the forms know how to check; others are kept as they came.
TEXT_VALIDATIONS = {
    "email": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    "phone": r"^[0-9()+.\- ]{7,25}$",
    "zipcode": r"^\d{5}(-\d{4})?$",
    "alpha_only": r"^[A-Za-z]+$",
    "time": r"^([01]\d|2[0-3]):[0-5]\d$",
    "time_hh_mm_ss": r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$",
    "time_mm_ss": r"^[0-5]\d:[0-5]\d$",
    "datetime_ymd": r"^\d{4}-\d{2}-\d{2} ([01]\d|2[0-3]):[0-5]\d$",
    "datetime_seconds_ymd": r"^\d{4}-\d{2}-\d{2} ([01]\d|2[0-3]):[0-5]\d:[0-5]\d$",
}

_CODE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
_LANGUAGE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_VALIDATION = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ITEM_KEYS = {
    "code",
    "type",
    "label",
    "help",
    "heading",
    "required",
    "identifying",
    "prefer_not_to_say",
    "choices",
    "choice_list",
    "matrix_group",
    "min",
    "max",
    "step",
    "anchors",
    "show_value",
    "validation",
    "show_if",
    "calculation",
    "constraint",
    "constraint_message",
    "source_logic",
    "annotation",
    "hidden",
    "readonly",
    "default",
    "exclusive",
}
_TOP_KEYS = {
    "schema",
    "code",
    "title",
    "languages",
    "default_language",
    "description",
    "source",
    "choice_lists",
    "sections",
    "scoring",
}


class DefinitionError(ValueError):
    """A definition that cannot be used; `problems` lists each one with where it is."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


# --- reading a definition ----------------------------------------------------------------------


def localized(text: dict[str, str] | None, language: str, definition: dict[str, Any]) -> str:
    """The text in this language, else in the definition's default language, else any; "" if none."""
    if not text:
        return ""
    return text.get(language) or text.get(definition["default_language"]) or next(iter(text.values()), "")


def iter_items(definition: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(section, item) in the order they are asked."""
    for section in definition["sections"]:
        for item in section["items"]:
            yield section, item


def items_by_code(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["code"]: item for _section, item in iter_items(definition)}


def _in_each_language(definition: dict[str, Any], message: str) -> dict[str, str]:
    texts = {}
    for language in definition["languages"]:
        with translation.override(language):
            texts[language] = _(message)
    return texts


def choices_for(
    definition: dict[str, Any], item: dict[str, Any], *, with_pnts: bool = True
) -> list[dict[str, Any]]:
    """The answers offered for a choice or yes/no item, "prefer not to say" last when the item offers it."""
    if item["type"] == "yes_no":
        choices = item.get("choices") or [
            {"code": "1", "label": _in_each_language(definition, gettext_noop("Yes"))},
            {"code": "0", "label": _in_each_language(definition, gettext_noop("No"))},
        ]
    elif "choice_list" in item:
        choices = definition.get("choice_lists", {}).get(item["choice_list"], [])
    else:
        choices = item.get("choices", [])
    choices = list(choices)
    if with_pnts and item.get("prefer_not_to_say"):
        choices.append(
            {"code": PNTS, "label": _in_each_language(definition, gettext_noop("Prefer not to say"))}
        )
    return choices


def canonical_json(definition: dict[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def content_hash(definition: dict[str, Any]) -> str:
    """What makes two definitions the same version: the SHA-256 of their canonical JSON."""
    return hashlib.sha256(canonical_json(definition).encode("utf-8")).hexdigest()


# --- validating --------------------------------------------------------------------------------


def validate_definition(data: object) -> dict[str, Any]:
    """The definition with its expressions in canonical form, or DefinitionError naming every problem."""
    checker = _Checker()
    definition = checker.check(data)
    if checker.problems:
        raise DefinitionError(checker.problems)
    try:
        canonical_json(definition)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(
            [_("definition: it is not plain JSON data (%(error)s)") % {"error": exc}]
        ) from None
    return definition


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_date(value: object) -> bool:
    if value == "today":
        return True
    if not isinstance(value, str):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def choice_value(choice: dict[str, Any]) -> float | None:
    """The number a choice counts for in scores: its `score`, else its code read as a number; None for a
    missing code ("not applicable", "don't know"), which counts for nothing."""
    if choice.get("missing"):
        return None
    if _is_number(choice.get("score")):
        return float(choice["score"])
    try:
        value = float(choice["code"])
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.languages: list[str] = []
        self.choice_lists: dict[str, list[dict[str, Any]]] = {}
        self.items: dict[str, dict[str, Any]] = {}

    def problem(self, where: str, message: str, **params: object) -> None:
        self.problems.append(f"{where}: {message % params if params else message}")

    # -- top level

    def check(self, data: object) -> dict[str, Any]:
        where = _("definition")
        if not isinstance(data, dict):
            self.problem(where, _("it must be a mapping of keys to values"))
            return {}
        definition = dict(data)
        for key in sorted(set(definition) - _TOP_KEYS, key=str):
            self.problem(where, _("unknown key %(key)r"), key=key)
        if definition.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            self.problem(where, _("schema must be %(version)s"), version=SCHEMA_VERSION)
        self.code(where, definition.get("code"))
        languages = definition.get("languages")
        if (
            not isinstance(languages, list)
            or not languages
            or not all(isinstance(lang, str) and _LANGUAGE.match(lang) for lang in languages)
            or len(set(languages)) != len(languages)
        ):
            self.problem(where, _("languages must be a list of distinct language codes such as en, es"))
        else:
            self.languages = languages
        default = definition.get("default_language")
        if self.languages and default not in self.languages:
            self.problem(where, _("default_language must be one of the languages"))
        self.text(where, "title", definition.get("title"), required=True)
        self.text(where, "description", definition.get("description"))
        source = definition.get("source")
        if source is not None and (
            not isinstance(source, dict)
            or source.get("format") not in SOURCES
            or not set(source) <= {"format", "file"}
        ):
            self.problem(where, _("source must be {format: builtin|redcap|xlsform|manual, file: name}"))
        self.check_choice_lists(definition.get("choice_lists"))
        sections = definition.get("sections")
        if not isinstance(sections, list) or not sections:
            self.problem(where, _("sections must be a list with at least one section"))
            sections = []
        definition["sections"] = [self.check_section(n, s) for n, s in enumerate(sections, 1)]
        self.check_expressions(definition)
        self.check_matrix_groups(definition)
        if "scoring" in definition:
            self.check_scoring(definition.get("scoring"))
        return definition

    def code(self, where: str, value: object, what: str = "code") -> bool:
        if not isinstance(value, str) or not _CODE.match(value):
            self.problem(
                where,
                _("%(what)s must be a code of letters, digits and _ . - starting with a letter or _"),
                what=what,
            )
            return False
        return True

    def text(self, where: str, key: str, value: object, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.problem(where, _("%(key)s is required"), key=key)
            return
        if (
            not isinstance(value, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            or (required and not any(v.strip() for v in value.values()))
        ):
            self.problem(where, _("%(key)s must map languages to texts, e.g. {en: …}"), key=key)
            return
        unknown = sorted(set(value) - set(self.languages)) if self.languages else []
        if unknown:
            self.problem(
                where,
                _("%(key)s has languages not listed in languages: %(unknown)s"),
                key=key,
                unknown=", ".join(unknown),
            )

    def flag(self, where: str, item: dict[str, Any], key: str) -> None:
        if key in item and not isinstance(item[key], bool):
            self.problem(where, _("%(key)s must be true or false"), key=key)

    def check_choices(self, where: str, choices: object) -> list[dict[str, Any]]:
        if not isinstance(choices, list) or not choices:
            self.problem(where, _("choices must be a non-empty list of {code, label}"))
            return []
        seen: set[str] = set()
        for choice in choices:
            if not isinstance(choice, dict) or not set(choice) <= {"code", "label", "score", "missing"}:
                self.problem(where, _("each choice must be {code, label} (and an optional score)"))
                continue
            code = choice.get("code")
            if not isinstance(code, str) or not code.strip() or code != code.strip():
                self.problem(where, _("choice code %(code)r must be a non-empty string"), code=code)
                continue
            if code == PNTS:
                self.problem(where, _("choice code %(code)r is reserved for “prefer not to say”"), code=code)
            if code in seen:
                self.problem(where, _("choice code %(code)r appears twice"), code=code)
            seen.add(code)
            self.text(where, _("label of choice %(code)r") % {"code": code}, choice.get("label"))
            if "score" in choice and not _is_number(choice["score"]):
                self.problem(where, _("score of choice %(code)r must be a number"), code=code)
            if "missing" in choice and choice["missing"] not in MISSING_REASONS:
                self.problem(
                    where,
                    _("missing of choice %(code)r must be one of %(reasons)s"),
                    code=code,
                    reasons=", ".join(MISSING_REASONS),
                )
        return choices

    def check_choice_lists(self, lists: object) -> None:
        if lists is None:
            return
        if not isinstance(lists, dict):
            self.problem(_("definition"), _("choice_lists must map names to lists of choices"))
            return
        for name, choices in lists.items():
            where = _("choice list %(name)r") % {"name": name}
            if self.code(where, name, "name"):
                self.choice_lists[name] = self.check_choices(where, choices)

    # -- sections and items

    def check_section(self, number: int, section: object) -> dict[str, Any]:
        if not isinstance(section, dict):
            self.problem(_("section %(number)s") % {"number": number}, _("it must be a mapping"))
            return {"items": []}
        section = dict(section)
        code = section.get("code")
        where = (
            _("section %(code)r") % {"code": code}
            if isinstance(code, str)
            else _("section %(number)s") % {"number": number}
        )
        self.code(where, code)
        for key in sorted(set(section) - {"code", "title", "show_if", "items"}, key=str):
            self.problem(where, _("unknown key %(key)r"), key=key)
        self.text(where, "title", section.get("title"))
        items = section.get("items")
        if not isinstance(items, list):
            self.problem(where, _("items must be a list"))
            items = []
        section["items"] = [self.check_item(where, n, item) for n, item in enumerate(items, 1)]
        return section

    def check_item(self, section_where: str, number: int, item: object) -> dict[str, Any]:
        if not isinstance(item, dict):
            self.problem(section_where, _("item %(number)s must be a mapping"), number=number)
            return {}
        item = dict(item)
        code = item.get("code")
        where = (
            _("item %(code)r") % {"code": code}
            if isinstance(code, str)
            else _("%(section)s, item %(number)s") % {"section": section_where, "number": number}
        )
        if self.code(where, code) and isinstance(code, str):
            if code in self.items:
                self.problem(where, _("the code is used by another item"))
            self.items[code] = item
        for key in sorted(set(item) - _ITEM_KEYS, key=str):
            self.problem(where, _("unknown key %(key)r"), key=key)
        kind = item.get("type")
        if kind not in ITEM_TYPES:
            self.problem(where, _("type must be one of %(types)s"), types=", ".join(ITEM_TYPES))
            return item
        self.text(where, "label", item.get("label"))
        for key in ("help", "heading", "constraint_message"):
            self.text(where, key, item.get(key))
        for key in ("required", "identifying", "prefer_not_to_say", "show_value"):
            self.flag(where, item, key)
        if kind in NOT_ASKED:
            for key in ("required", "prefer_not_to_say", "identifying"):
                if item.get(key):
                    self.problem(where, _("a %(type)s item cannot be %(key)s"), type=kind, key=key)
        self.check_item_choices(where, kind, item)
        self.check_range(where, kind, item)
        if "validation" in item:
            if kind not in ("short_text", "integer", "decimal", "date"):
                self.problem(where, _("validation applies to text, number and date items only"))
            elif not isinstance(item["validation"], str) or not _VALIDATION.match(item["validation"]):
                self.problem(where, _("validation must be a name such as email or date_ymd"))
        if "annotation" in item and not isinstance(item["annotation"], str):
            self.problem(where, _("annotation must be text"))
        for key in ("hidden", "readonly"):
            self.flag(where, item, key)
        if "default" in item and (not isinstance(item["default"], str) or kind in NOT_ASKED):
            self.problem(where, _("default must be text, on an item that is asked"))
        if "exclusive" in item and (
            kind != "multiple_choice"
            or not isinstance(item["exclusive"], list)
            or not all(isinstance(code, str) for code in item["exclusive"])
        ):
            self.problem(where, _("exclusive must list choice codes of a multiple-choice item"))
        if "matrix_group" in item:
            self.code(where, item["matrix_group"], "matrix_group")
        if (
            kind == "calculated"
            and "calculation" not in item
            and "calculation" not in item.get("source_logic", {})
        ):
            self.problem(where, _("a calculated item needs a calculation"))
        if "calculation" in item and kind != "calculated":
            self.problem(where, _("only calculated items have a calculation"))
        self.check_source_logic(where, item.get("source_logic"))
        return item

    def check_item_choices(self, where: str, kind: str, item: dict[str, Any]) -> None:
        has_choices, has_list = "choices" in item, "choice_list" in item
        if kind in CHOICE_TYPES:
            if has_choices == has_list:
                self.problem(where, _("a choice item needs either choices or choice_list"))
            elif has_choices:
                self.check_choices(where, item["choices"])
            elif item["choice_list"] not in self.choice_lists:
                self.problem(
                    where, _("choice_list %(name)r is not in choice_lists"), name=item["choice_list"]
                )
        elif kind == "yes_no" and has_choices:
            choices = self.check_choices(where, item["choices"])
            if sorted(str(c.get("code")) for c in choices if isinstance(c, dict)) != ["0", "1"]:
                self.problem(where, _("the choices of a yes/no item must be coded exactly 1 and 0"))
        elif has_choices or has_list:
            self.problem(where, _("only choice and yes/no items have choices"))

    def check_range(self, where: str, kind: str, item: dict[str, Any]) -> None:
        low, high = item.get("min"), item.get("max")
        for key, value in (("min", low), ("max", high)):
            if value is None:
                continue
            if kind in ("integer", "decimal", "slider"):
                if not _is_number(value) or (kind == "integer" and not float(value).is_integer()):
                    message = (
                        _("%(key)s must be a whole number")
                        if kind == "integer"
                        else _("%(key)s must be a number")
                    )
                    self.problem(where, message, key=key)
                    return
            elif kind == "date":
                if not _is_date(value):
                    self.problem(where, _("%(key)s must be a date written YYYY-MM-DD, or today"), key=key)
                    return
            elif kind == "short_text" and "validation" in item:
                if not isinstance(value, str | int | float) or isinstance(value, bool):
                    self.problem(where, _("%(key)s must be text or a number"), key=key)
                    return
            else:
                self.problem(where, _("a %(type)s item cannot have %(key)s"), type=kind, key=key)
                return
        if _is_number(low) and _is_number(high) and low > high:  # type: ignore[operator]
            self.problem(where, _("min must not be greater than max"))
        if kind == "date" and _is_date(low) and _is_date(high) and "today" not in (low, high) and low > high:  # type: ignore[operator]
            self.problem(where, _("min must not be after max"))
        if "step" in item:
            if kind not in ("slider", "decimal"):
                self.problem(where, _("only sliders and decimals have a step"))
            elif not _is_number(item["step"]) or item["step"] <= 0:
                self.problem(where, _("step must be a positive number"))
        if "anchors" in item:
            anchors = item["anchors"]
            if kind != "slider":
                self.problem(where, _("only sliders have anchors"))
            elif not isinstance(anchors, list) or not 1 <= len(anchors) <= 3:
                self.problem(where, _("anchors must be a list of 1 to 3 texts"))
            else:
                for anchor in anchors:
                    self.text(where, "anchors", anchor)
        if "show_value" in item and kind != "slider":
            self.problem(where, _("only sliders have show_value"))

    def check_source_logic(self, where: str, source_logic: object) -> None:
        if source_logic is None:
            return
        if not isinstance(source_logic, dict) or not all(
            key in EXPRESSION_KEYS
            and isinstance(value, dict)
            and set(value) == {"syntax", "text"}
            and value["syntax"] in ("redcap", "xlsform")
            and isinstance(value["text"], str)
            for key, value in source_logic.items()
        ):
            self.problem(
                where, _("source_logic must map show_if, calculation or constraint to {syntax, text}")
            )

    # -- expressions: parsed, put in canonical form, and checked to name only items that exist

    def check_expressions(self, definition: dict[str, Any]) -> None:
        codes = set(self.items)
        for section in definition["sections"]:
            if isinstance(section.get("code"), str) and "show_if" in section:
                where = _("section %(code)r") % {"code": section["code"]}
                section["show_if"] = self.expression(where, "show_if", section["show_if"], codes)
            for item in section["items"]:
                for key in EXPRESSION_KEYS:
                    if key in item and isinstance(item.get("code"), str):
                        where = _("item %(code)r") % {"code": item["code"]}
                        item[key] = self.expression(where, key, item[key], codes)

    def expression(self, where: str, key: str, text: object, codes: set[str]) -> object:
        if not isinstance(text, str) or not text.strip():
            self.problem(where, _("%(key)s must be an expression"), key=key)
            return text
        try:
            parsed = expressions.parse(text)
        except expressions.ExpressionError as exc:
            self.problem(where, _("%(key)s cannot be read: %(error)s"), key=key, error=exc)
            return text
        unknown = sorted(set(parsed.variables) - codes)
        if unknown:
            self.problem(
                where, _("%(key)s names unknown items: %(names)s"), key=key, names=", ".join(unknown)
            )
        return parsed.canonical()

    def check_matrix_groups(self, definition: dict[str, Any]) -> None:
        groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for section in definition["sections"]:
            for item in section["items"]:
                if isinstance(item.get("matrix_group"), str):
                    groups.setdefault(item["matrix_group"], []).append((str(section.get("code")), item))
        for name, members in groups.items():
            where = _("matrix group %(name)r") % {"name": name}
            shapes = {(section, item.get("type"), item.get("choice_list")) for section, item in members}
            if len(shapes) != 1 or any(
                item.get("type") not in CHOICE_TYPES or "choice_list" not in item for _s, item in members
            ):
                self.problem(
                    where,
                    _("its items must be choice items of one type in one section, sharing one choice_list"),
                )

    # -- scoring

    def check_scoring(self, scoring: object) -> None:
        where = _("scoring")
        if not isinstance(scoring, dict) or not set(scoring) <= {"scores", "bands"}:
            self.problem(where, _("scoring must be {scores: [...], bands: [...]}"))
            return
        names: set[str] = set()
        scores = scoring.get("scores", [])
        bands = scoring.get("bands", [])
        if not isinstance(scores, list) or not isinstance(bands, list):
            self.problem(where, _("scores and bands must be lists"))
            return
        score_codes = set()
        for number, score in enumerate(scores, 1):
            code = self.check_score(number, score, names)
            if code:
                score_codes.add(code)
        for number, band in enumerate(bands, 1):
            self.check_band(number, band, names, score_codes)

    def named(
        self, kind: str, number: int, entry: object, names: set[str], keys: set[str]
    ) -> tuple[str, dict[str, Any]] | None:
        if not isinstance(entry, dict):
            self.problem(
                _("%(kind)s %(number)s") % {"kind": kind, "number": number}, _("it must be a mapping")
            )
            return None
        code = entry.get("code")
        where = (
            _("%(kind)s %(code)r") % {"kind": kind, "code": code}
            if isinstance(code, str)
            else _("%(kind)s %(number)s") % {"kind": kind, "number": number}
        )
        if self.code(where, code) and isinstance(code, str):
            if code in names:
                self.problem(where, _("the code is used by another score or band"))
            names.add(code)
        for key in sorted(set(entry) - keys, key=str):
            self.problem(where, _("unknown key %(key)r"), key=key)
        self.text(where, "label", entry.get("label"))
        return where, entry

    def check_score(self, number: int, score: object, names: set[str]) -> str | None:
        found = self.named(
            _("score"), number, score, names, {"code", "label", "method", "items", "reverse", "min_answered"}
        )
        if found is None:
            return None
        where, entry = found
        if entry.get("method") not in ("sum", "mean"):
            self.problem(where, _("method must be sum or mean"))
        items = entry.get("items")
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            self.problem(where, _("items must be a non-empty list of item codes"))
            return None
        for code in items:
            item = self.items.get(code)
            if item is None:
                self.problem(where, _("item %(code)r does not exist"), code=code)
            elif item.get("type") not in ITEM_TYPES:
                continue  # already reported with the item
            elif item.get("type") not in SCORED_TYPES:
                self.problem(
                    where,
                    _("item %(code)r is a %(type)s item and has no number to score"),
                    code=code,
                    type=item.get("type"),
                )
            elif item.get("type") == "single_choice":
                choices = item.get("choices") or self.choice_lists.get(item.get("choice_list", ""), [])
                if any(
                    isinstance(c, dict) and not c.get("missing") and choice_value(c) is None for c in choices
                ):
                    self.problem(
                        where,
                        _("item %(code)r has choices that are not numbers and have no score"),
                        code=code,
                    )
        reverse = entry.get("reverse", {})
        if not isinstance(reverse, dict):
            self.problem(where, _("reverse must map item codes to {min, max}"))
        else:
            for code, scale in reverse.items():
                if code not in items:
                    self.problem(where, _("reverse-coded item %(code)r is not among its items"), code=code)
                if not (
                    isinstance(scale, dict)
                    and set(scale) == {"min", "max"}
                    and _is_number(scale["min"])
                    and _is_number(scale["max"])
                    and scale["min"] < scale["max"]
                ):
                    self.problem(
                        where,
                        _("reverse-coded item %(code)r needs its scale as {min, max}, min below max"),
                        code=code,
                    )
        if "min_answered" in entry:
            value = entry["min_answered"]
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= len(items):
                self.problem(where, _("min_answered must be a whole number from 1 to the number of items"))
        return entry.get("code") if isinstance(entry.get("code"), str) else None

    def check_band(self, number: int, band: object, names: set[str], scores: set[str]) -> None:
        found = self.named(
            _("band"),
            number,
            band,
            names,
            {"code", "label", "levels", "default", "score", "thresholds", "rules", "never_lower_for"},
        )
        if found is None:
            return
        where, entry = found
        levels = entry.get("levels")
        codes: list[str] = []
        if not isinstance(levels, list) or not levels:
            self.problem(where, _("levels must be a non-empty list of {code, label}, lowest first"))
        else:
            for level in levels:
                if (
                    not isinstance(level, dict)
                    or not set(level) <= {"code", "label"}
                    or not self.code(where, level.get("code"), _("level code"))
                ):
                    continue
                self.text(where, "label", level.get("label"))
                codes.append(level["code"])
            if len(set(codes)) != len(codes):
                self.problem(where, _("level codes must be distinct"))
        if "default" in entry and entry["default"] not in codes:
            self.problem(where, _("default must be one of its levels"))
        if ("score" in entry) != ("thresholds" in entry):
            self.problem(where, _("score and thresholds go together"))
        if "score" in entry and entry["score"] not in scores:
            self.problem(where, _("score %(code)r is not one of the scores"), code=entry["score"])
        if "score" not in entry and "rules" not in entry:
            self.problem(where, _("a band needs a score with thresholds, or rules, or both"))
        thresholds = entry.get("thresholds", [])
        if not isinstance(thresholds, list) or not all(
            isinstance(t, dict) and set(t) == {"min", "level"} and _is_number(t["min"]) for t in thresholds
        ):
            self.problem(where, _("thresholds must be a list of {min: number, level: code}"))
        else:
            bounds = [t["min"] for t in thresholds]
            if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
                self.problem(where, _("thresholds must be in ascending order of min"))
            for threshold in thresholds:
                if threshold["level"] not in codes:
                    self.problem(where, _("level %(code)r is not one of its levels"), code=threshold["level"])
        rules = entry.get("rules", [])
        if not isinstance(rules, list):
            self.problem(where, _("rules must be a list of {items, codes, level}"))
            rules = []
        for rule in rules:
            self.check_rule(where, rule, codes)
        never = entry.get("never_lower_for", [PNTS_RULE])
        if not isinstance(never, list) or not set(never) <= {PNTS_RULE}:
            self.problem(where, _("never_lower_for may only list prefer_not_to_say"))

    def offered(self, item: dict[str, Any]) -> list[Any]:
        if item.get("type") == "yes_no":
            return item.get("choices") or [{"code": "1"}, {"code": "0"}]
        choices = item.get("choices") or self.choice_lists.get(item.get("choice_list", ""), [])
        return choices if isinstance(choices, list) else []

    def check_rule(self, where: str, rule: object, levels: list[str]) -> None:
        if not isinstance(rule, dict) or set(rule) != {"items", "codes", "level"}:
            self.problem(where, _("each rule must be {items, codes, level}"))
            return
        items, codes = rule["items"], rule["codes"]
        if not isinstance(items, list) or not items or not isinstance(codes, list) or not codes:
            self.problem(where, _("a rule needs a list of items and a list of answer codes"))
            return
        for code in items:
            item = self.items.get(code)
            if item is None:
                self.problem(where, _("item %(code)r does not exist"), code=code)
            elif item.get("type") not in (*CHOICE_TYPES, "yes_no"):
                self.problem(
                    where, _("rules apply to choice and yes/no items; %(code)r is neither"), code=code
                )
            else:
                offered = {c.get("code") for c in self.offered(item) if isinstance(c, dict)}
                for answer in codes:
                    if answer not in offered:
                        self.problem(
                            where, _("item %(code)r has no answer %(answer)r"), code=code, answer=answer
                        )
        if rule["level"] not in levels:
            self.problem(where, _("level %(code)r is not one of its levels"), code=rule["level"])
        if not all(isinstance(c, str) for c in codes):
            self.problem(where, _('answer codes must be strings, e.g. "1"'))


# --- what the importers hand back ----------------------------------------------------------------


class ImportRejected(ValueError):
    """A file that cannot be imported, with every problem found, each naming its row."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclasses.dataclass
class Imported:
    """A definition read from a file, and what could not be kept as it was (each naming its row).

    warnings: what was changed or left out; kept_as_text: logic kept as text, not applied; translated: logic
    translated (original → translation); not_applied: action tags kept in the annotation but not applied.
    """

    definition: dict[str, Any]
    warnings: list[str]
    translated: list[str] = dataclasses.field(default_factory=list)
    kept_as_text: list[str] = dataclasses.field(default_factory=list)
    not_applied: list[str] = dataclasses.field(default_factory=list)
    # REDCap events that logic reads from ([event][field]) → where; see instruments/events.py
    events: dict[str, list[str]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ReportGroup:
    """One heading of an import report and its lines (each naming its line or row), duplicates removed."""

    key: str
    title: str
    lines: list[str]


def _distinct(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(line.strip() for line in lines if line.strip()))


def import_report(
    *, problems: list[str] | None = None, imported: Imported | None = None
) -> list[ReportGroup]:
    """The one report of an import, shown on the page and printed by the commands, in this order: errors
    (nothing was imported), warnings, logic kept as text, action tags not applied, logic translated. Empty
    groups are left out; a line said twice is said once."""
    groups = [
        ("errors", _("Errors: nothing was imported"), problems or []),
        ("warnings", _("Warnings: imported, with these changes"), imported.warnings if imported else []),
        (
            "kept_as_text",
            _("Logic kept as text, not applied"),
            imported.kept_as_text if imported else [],
        ),
        (
            "not_applied",
            _("Action tags kept in the annotation, not applied"),
            imported.not_applied if imported else [],
        ),
        ("translated", _("Logic translated"), imported.translated if imported else []),
    ]
    return [ReportGroup(key, title, _distinct(lines)) for key, title, lines in groups if _distinct(lines)]


def report_as_text(groups: list[ReportGroup]) -> str:
    """The report as plain text: each group's title, its number of lines, then the lines."""
    out = []
    for group in groups:
        out.append(f"{group.title} ({len(group.lines)})")
        out.extend(f"  - {line}" for line in group.lines)
    return "\n".join(out)


def locate_problems(error: DefinitionError, rows: dict[str, str]) -> list[str]:
    """Definition problems prefixed with the row of what they name (rows: code or list name → "line 12")."""
    located = []
    for problem in error.problems:
        where = problem.split(": ", 1)[0]
        match = re.search(r"'([^']+)'", where)
        row = rows.get(match.group(1)) if match else None
        located.append(f"{row}: {problem}" if row else problem)
    return located
