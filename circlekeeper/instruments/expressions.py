"""Skip logic and calculations: one small expression language, parsed by hand and never run as Python.

Definitions store expressions as *canonical* text. Imported REDCap logic and XLSForm expressions are
translated into it (`translate_redcap`, `translate_xlsform`); `Expression.to_redcap` writes one back out.
Text is tokenized and parsed into a tree here; nothing the user wrote reaches `eval`, `exec` or
`ast.literal_eval`, because definitions come from imported files and answers come from participants.

Canonical syntax

    items       age, given_birth             ASCII letters, digits and _; `.` is the current item's value
                                             (a constraint's answer, given to evaluate() as self_value)
    literals    18   2.5   'yes'   "yes"     a quote inside quoted text is doubled: 'it''s'
    operators   from loosest to tightest:    or · and · not · = == != <> < <= > >= (not chained)
                                             · + - · * / · unary - · ^ (right-associative)
                so 2^3^2 is 512, -2^2 is -4, and `not a = 1 and b` is (not (a = 1)) and b.
                The words and, or, not are case-insensitive.
    functions   sum mean min max             numbers; blanks are ignored; all blank gives blank
                round roundup rounddown      (x, places=0); halves round away from zero, as REDCap does
                abs sqrt int mod             int truncates toward zero; mod keeps the dividend's sign
                if(cond, a, b)               only the branch taken is evaluated
                selected(item, 'code')       membership in a multiple-choice answer (or equality for one)
                count_selected(item)
                datediff(d1, d2, unit[, signed])  unit 'y', 'm' or 'd'; REDCap's rules: d2 - d1 in days,
                                             / 30.44 for months, / 365.2425 for years, unsigned unless the
                                             4th argument is true; d1 and d2 may be 'today'
                isblank(x) coalesce(a, b, ...) concat(...) length(x) today() true() false()
                contains(x, y) starts_with(x, y) ends_with(x, y)   text, case ignored; blank is false
                year(d) month(d) day(d)       a date's parts; log(x[, base])  natural log without a base
                calcdate(d, n, unit)          the date n units ('y', 'm', 'd') after d (REDCap @CALCDATE)
                answer_at('t0_arm_1', 'score') the same person's answer to score at that REDCap event, read
                                             where the event maps to a timepoint (evaluate's `events`,
                                             an EventAnswers); blank anywhere else

Survey semantics

    A missing, unanswered or skipped item is None, and so are '' and an empty list. `=` holds between two
    blanks (`x = ''` asks "is x blank?"); every other comparison with None is false, never an error.
    Numbers compare as numbers when both sides read as numbers, text or not (`x = '1'` and `x = 1` agree,
    and so, note, do the codes '01' and '1'); other text compares as text; dates compare with dates or
    ISO date text. Arithmetic with a blank, or with text that is not a number, is blank (None), as in a
    REDCap calc; so is division by zero and any overflow. A multiple-choice answer is a list of codes (or
    XLSForm's space-separated text). Dates may be date objects or ISO text; in arithmetic, as in XPath,
    a date counts as days since 1970-01-01. Evaluation raises nothing but ExpressionError, and in
    practice nothing at all.

Translation

    REDCap      [field] → field; [field(code)] = '1' (or "1", 1) → selected(field, 'code'), = '0' → not
                selected(...), elsewhere → if(selected(field, 'code'), 1, 0); [event][field] →
                answer_at('event', 'field') (and [event][field(code)] as a checkbox of it); <> → !=;
                AND/OR, || and &&; lines that start
                with # are comments (REDCap 13); contains, starts_with, ends_with, year, month, day and log
                keep their names; true/false; datediff units "M" (months) → 'm', and
                its "ymd"/"mdy"/"dmy" argument is dropped (stored dates are always Y-M-D). Smart variables
                ([event-name], [field:value]), repeating instances ([field][2]), minutes/hours/seconds and
                functions without an equivalent raise TranslationError naming them.
    XLSForm     ${age} → age; . → .; div → /; mod → mod(a, b); not(x) → not x; count-selected →
                count_selected; string-length → length; today() → today(); selected, if, concat, round,
                int, abs, sqrt, min, max, sum, coalesce, true(), false() keep their names. regex() is not
                translated: a pattern from an imported form run against participants' text could
                backtrack for minutes, and XPath and Python regexes differ. Paths, `..`, unions and names
                that are not canonical identifiers (${label-test}) raise TranslationError too.
    Translators raise only TranslationError, for unreadable text too (its message names the character).

API: parse(text) → Expression (cached; ParseError); Expression.variables, .uses_self, .canonical(),
.evaluate(answers, today=, self_value=, events=), .is_true(...) (REDCap truthiness: blank, 0 and '0' are
false), .event_references, .to_redcap(); translate_redcap(text) and translate_xlsform(text) → canonical text.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation, localcontext
from functools import lru_cache
from typing import Any, ClassVar

__all__ = [
    "FUNCTIONS",
    "MAX_LENGTH",
    "MAX_NESTING",
    "Binary",
    "Call",
    "Current",
    "EvaluationError",
    "EventAnswers",
    "Expression",
    "ExpressionError",
    "Name",
    "Node",
    "Number",
    "ParseError",
    "String",
    "TranslationError",
    "Unary",
    "parse",
    "translate_redcap",
    "translate_xlsform",
]

# Limits keep a hostile or broken definition from exhausting memory or the stack.
MAX_LENGTH = 10_000
MAX_NESTING = 50
_MAX_INT_BITS = 1000
_MAX_NUMBER_DIGITS = 300


# --- errors ---------------------------------------------------------------------------------------


class ExpressionError(ValueError):
    """Anything wrong with an expression: its text, its translation, or (a safety net) its evaluation."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position  # index into the text (from 0), where known


class ParseError(ExpressionError):
    """Canonical text that cannot be read; the message names the character and what was expected there."""

    def __init__(self, message: str, *, position: int, expected: str) -> None:
        super().__init__(message, position=position)
        self.expected = expected


class TranslationError(ExpressionError):
    """REDCap or XLSForm text (or an export to REDCap) that cannot be translated; names the construct."""

    def __init__(self, message: str, *, construct: str, position: int | None = None) -> None:
        super().__init__(message, position=position)
        self.construct = construct


class EvaluationError(ExpressionError):
    """Raised only if evaluation meets a case it was not written for; it is written to meet none."""


@dataclass(frozen=True, slots=True)
class EventAnswers:
    """What `answer_at(event, item)` reads: the same person's answers at other events (REDCap [event][field]).

    `answers` holds, per (event, item), the respondent's own answer at the timepoint that event maps to;
    `own_events` are the events the response being evaluated itself belongs to, read from its own (live)
    answers. Anything else is blank, as an empty value is in REDCap. `definitions` holds, per (event, item)
    where it is known, the definition the answer was given with, so piping can show the label of a choice of
    another instrument (or of another version), in the reader's language; logic never reads it.
    """

    answers: Mapping[tuple[str, str], object] = dataclasses.field(default_factory=dict)
    own_events: frozenset[str] = frozenset()
    definitions: Mapping[tuple[str, str], Mapping[str, Any]] = dataclasses.field(default_factory=dict)


NO_EVENTS = EventAnswers()


# --- the tree -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Number:
    value: int | float  # finite and not negative: -2 is Unary("-", Number(2))


@dataclass(frozen=True, slots=True)
class String:
    value: str


@dataclass(frozen=True, slots=True)
class Name:
    name: str


@dataclass(frozen=True, slots=True)
class Current:
    """`.`: the value of the item the expression belongs to (a constraint's answer)."""


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # one of the canonical operators in _PRECEDENCE
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...] = ()


Node = Number | String | Name | Current | Unary | Binary | Call

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EVENT_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")  # a REDCap unique event name, e.g. baseline_arm_1
_KEYWORDS = frozenset({"and", "or", "not"})
_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})
# Canonical precedence, loosest first; `not` is 3, unary minus 7, anything atomic 9.
_PRECEDENCE = {"or": 1, "and": 2, **dict.fromkeys(_COMPARISONS, 4), "+": 5, "-": 5, "*": 6, "/": 6, "^": 8}
_NOT, _NEGATION, _ATOM = 3, 7, 9
_DATEDIFF_UNITS = {"d": 1.0, "m": 30.44, "y": 365.2425}  # days per unit, as REDCap counts them
# name -> (fewest, most) arguments; None is "any number".
_ARITY: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "answer_at": (2, 2),
    "calcdate": (3, 3),
    "coalesce": (2, None),
    "concat": (1, None),
    "contains": (2, 2),
    "count_selected": (1, 1),
    "day": (1, 1),
    "ends_with": (2, 2),
    "datediff": (3, 4),
    "false": (0, 0),
    "if": (3, 3),
    "int": (1, 1),
    "isblank": (1, 1),
    "length": (1, 1),
    "log": (1, 2),
    "max": (1, None),
    "mean": (1, None),
    "min": (1, None),
    "mod": (2, 2),
    "month": (1, 1),
    "round": (1, 2),
    "rounddown": (1, 2),
    "roundup": (1, 2),
    "selected": (2, 2),
    "sqrt": (1, 1),
    "starts_with": (2, 2),
    "sum": (1, None),
    "today": (0, 0),
    "true": (0, 0),
    "year": (1, 1),
}
FUNCTIONS = frozenset(_ARITY)


def _arity_text(name: str) -> str:
    low, high = _ARITY[name]
    if high is None:
        return f"at least {low} argument{'s' if low != 1 else ''}"
    if low == high:
        return f"{low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"


def _check_tree(root: Node) -> tuple[set[str], bool]:
    """(the item names read, whether `.` is read); ExpressionError if the tree is not a valid expression."""
    names: set[str] = set()
    uses_self = False
    stack: list[object] = [root]
    while stack:  # a loop, not recursion: a sum of a thousand terms is a thousand levels deep
        node = stack.pop()
        if isinstance(node, Number):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ExpressionError(f"a number node holds {value!r}")
            if isinstance(value, int) and (value < 0 or value.bit_length() > _MAX_INT_BITS):
                raise ExpressionError(f"a number node holds {value!r}")
            if isinstance(value, float) and not (math.isfinite(value) and math.copysign(1.0, value) > 0):
                raise ExpressionError(f"a number node holds {value!r}")
        elif isinstance(node, String):
            if not isinstance(node.value, str):
                raise ExpressionError(f"a text node holds {node.value!r}")
        elif isinstance(node, Name):
            if not _is_identifier(node.name):
                raise ExpressionError(f"{node.name!r} is not an item name")
            names.add(node.name)
        elif isinstance(node, Current):
            uses_self = True
        elif isinstance(node, Unary):
            if node.op not in ("-", "not"):
                raise ExpressionError(f"unknown prefix operator {node.op!r}")
            stack.append(node.operand)
        elif isinstance(node, Binary):
            if node.op not in _PRECEDENCE:
                raise ExpressionError(f"unknown operator {node.op!r}")
            stack += (node.left, node.right)
        elif isinstance(node, Call):
            problem = _call_problem(node.name, node.args)
            if problem:
                raise ExpressionError(problem)
            stack += node.args
        else:
            raise ExpressionError(f"{node!r} is not an expression node")
    return names, uses_self


def _is_identifier(name: object) -> bool:
    return isinstance(name, str) and bool(_IDENTIFIER.fullmatch(name)) and name.lower() not in _KEYWORDS


def _call_problem(name: str, args: Sequence[Node]) -> str:
    if name not in _ARITY:
        return f"unknown function {name}()"
    low, high = _ARITY[name]
    if len(args) < low or (high is not None and len(args) > high):
        return f"{name}() takes {_arity_text(name)}, not {len(args)}"
    if name == "datediff" and not (isinstance(args[2], String) and args[2].value in _DATEDIFF_UNITS):
        return "datediff() needs its unit written as 'y', 'm' or 'd'"
    if name == "calcdate" and not (isinstance(args[2], String) and args[2].value in _DATEDIFF_UNITS):
        return "calcdate() needs its unit written as 'y', 'm' or 'd'"
    if name == "answer_at" and not (
        isinstance(args[0], String)
        and _EVENT_NAME.fullmatch(args[0].value)
        and isinstance(args[1], String)
        and _is_identifier(args[1].value)
    ):
        return "answer_at() needs an event name and an item name, both quoted: answer_at('t0_arm_1', 'score')"
    return ""


# --- writing the tree as text ---------------------------------------------------------------------


def _number_text(value: int | float) -> str:
    return str(value) if isinstance(value, int) else repr(value)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Writer:
    """Writes a tree as canonical text with the fewest parentheses that keep its shape."""

    def level(self, node: Node) -> int:
        if isinstance(node, Binary):
            return _PRECEDENCE[node.op]
        if isinstance(node, Unary):
            return _NOT if node.op == "not" else _NEGATION
        return _ATOM

    def write(self, node: Node) -> str:
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Unary):
            operand = self.write(node.operand)
            if self.level(node.operand) < self.level(node):
                operand = f"({operand})"
            return f"not {operand}" if node.op == "not" else f"-{operand}"
        if isinstance(node, Number):
            return self.number(node.value)
        if isinstance(node, String):
            return self.string(node.value)
        if isinstance(node, Name):
            return self.name(node.name)
        if isinstance(node, Current):
            return self.current()
        return self.call(node)

    def binary(self, node: Binary) -> str:
        chain: list[Binary] = []
        bottom: Node = node
        while isinstance(bottom, Binary):  # left operands in a loop, so long sums need no deep recursion
            chain.append(bottom)
            bottom = bottom.left
        text, level = self.write(bottom), self.level(bottom)
        for link in reversed(chain):
            own = _PRECEDENCE[link.op]
            bare_left, bare_right = text, self.write(link.right)
            right_level = self.level(link.right)
            left_wrapped = level < own or (level == own and link.op in _COMPARISONS | {"^"})
            right_wrapped = right_level < own or (right_level == own and link.op != "^")
            text = self.join(
                link.op,
                f"({bare_left})" if left_wrapped else bare_left,
                f"({bare_right})" if right_wrapped else bare_right,
                bare_left,
                bare_right,
            )
            level = own
        return text

    def join(self, op: str, left: str, right: str, bare_left: str, bare_right: str) -> str:
        return f"{left} {op} {right}"

    def number(self, value: int | float) -> str:
        return _number_text(value)

    def string(self, value: str) -> str:
        return _quote(value)

    def name(self, name: str) -> str:
        return name

    def current(self) -> str:
        return "."

    def call(self, node: Call) -> str:
        return f"{node.name}({', '.join(self.write(arg) for arg in node.args)})"


class _RedcapWriter(_Writer):
    """Canonical tree → REDCap logic, for exporting a data dictionary."""

    def level(self, node: Node) -> int:
        # These are written as comparisons: [x(2)] = "1", [x] = "", if(..., 0, 1) = 1.
        if isinstance(node, Unary) and node.op == "not":
            return _PRECEDENCE["="]
        if isinstance(node, Call) and node.name in ("selected", "isblank"):
            return _PRECEDENCE["="]
        return super().level(node)

    def join(self, op: str, left: str, right: str, bare_left: str, bare_right: str) -> str:
        if op == "^":  # REDCap asks for parentheses around both sides of ^
            return f"({bare_left})^({bare_right})"
        return f"{left} {'<>' if op == '!=' else op} {right}"

    def write(self, node: Node) -> str:
        if isinstance(node, Unary) and node.op == "not":
            operand = node.operand
            if isinstance(operand, Call) and operand.name == "selected":
                return f'{self.checkbox(operand)} = "0"'
            if isinstance(operand, Call) and operand.name == "isblank":
                return self.write(Binary("!=", operand.args[0], String("")))
            # REDCap logic has no `not`; if() does the same job.
            return f"if({self.write(operand)}, 0, 1) = 1"
        return super().write(node)

    def string(self, value: str) -> str:
        if '"' not in value:
            return f'"{value}"'
        if "'" not in value:
            return f"'{value}'"
        raise TranslationError(
            f"REDCap logic cannot hold text with both kinds of quote: {value!r}", construct=_quote(value)
        )

    def number(self, value: int | float) -> str:
        if isinstance(value, int):
            return str(value)
        # REDCap reads no exponents: 1.5e-07 is written 0.00000015, and 1e+16 as 10000000000000000.0.
        text = format(Decimal(repr(value)), "f")
        return text if "." in text else text + ".0"

    def name(self, name: str) -> str:
        if not _REDCAP_NAME.fullmatch(name):
            raise TranslationError(f"{name!r} is not a REDCap field name (a letter first)", construct=name)
        return f"[{name}]"

    def current(self) -> str:
        raise TranslationError("REDCap logic has no `.` (the current item's value)", construct=".")

    def checkbox(self, node: Call) -> str:
        item, code = node.args
        text = _code(code.value) if isinstance(code, Number | String) else None
        at_event = isinstance(item, Call) and item.name == "answer_at"
        if not (isinstance(item, Name) or at_event) or text is None or not _REDCAP_CODE.fullmatch(text):
            raise TranslationError(
                "REDCap can only ask whether a field's option, named by its code, is checked",
                construct=_Writer().write(node),
            )
        return self.write(item)[:-1] + f"({text})]"

    def call(self, node: Call) -> str:
        name, args = node.name, node.args
        if name == "selected":
            return f'{self.checkbox(node)} = "1"'
        if name == "isblank":
            return self.write(Binary("=", args[0], String("")))
        if name in ("true", "false"):
            return name
        if name == "answer_at":
            event, field = (arg.value if isinstance(arg, String) else "" for arg in args)
            return f"[{event}]{self.name(field)}"
        if name == "int":
            return f"rounddown({self.write(args[0])}, 0)"
        if name == "datediff":
            dates = [
                String("today") if isinstance(arg, Call) and arg.name == "today" else arg for arg in args[:2]
            ]
            unit = args[2].value if isinstance(args[2], String) else ""
            parts = [self.write(dates[0]), self.write(dates[1]), '"M"' if unit == "m" else f'"{unit}"']
            if len(args) == 4:
                signed = args[
                    3
                ]  # REDCap wants true or false here; quoted text is fixed, so it is one of them
                signed_text = (
                    ("true" if _truthy(signed.value) else "false") if isinstance(signed, String) else None
                )
                parts += ['"ymd"', signed_text or self.write(signed)]
            return f"datediff({', '.join(parts)})"
        if name in ("count_selected", "coalesce", "today", "calcdate"):
            raise TranslationError(f"REDCap logic has no {name}()", construct=f"{name}()")
        return super().call(node)


# --- tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # num str name item self op ( ) , end
    text: str  # exactly as written
    pos: int
    number: int | float = 0
    string: str = ""


def _found(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the text"
    return repr(token.text if len(token.text) <= 30 else token.text[:27] + "...")


# Operator text (lower case) -> (binding level, canonical operator, "left" or "none" for no chaining).
_CANONICAL_OPERATORS: dict[str, tuple[int, str, str]] = {
    "or": (1, "or", "left"),
    "and": (2, "and", "left"),
    **{op: (4, canon, "none") for op, canon in {"=": "=", "==": "=", "!=": "!=", "<>": "!="}.items()},
    **{op: (4, op, "none") for op in ("<", "<=", ">", ">=")},
    "+": (5, "+", "left"),
    "-": (5, "-", "left"),
    "*": (6, "*", "left"),
    "/": (6, "/", "left"),
}
# XPath binds = and != more loosely than < > <= >=, and has div and mod where we have / and mod().
_XPATH_OPERATORS: dict[str, tuple[int, str, str]] = {
    "or": (1, "or", "left"),
    "and": (2, "and", "left"),
    "=": (3, "=", "left"),
    "!=": (3, "!=", "left"),
    **{op: (4, op, "left") for op in ("<", "<=", ">", ">=")},
    "+": (5, "+", "left"),
    "-": (5, "-", "left"),
    "*": (6, "*", "left"),
    "div": (6, "/", "left"),
    "mod": (6, "mod", "left"),
}
_CANONICAL_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_XPATH_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_XPATH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?::[A-Za-z_][A-Za-z0-9_-]*)?")
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_REDCAP_CODE = re.compile(r"-?[A-Za-z0-9_.]+")
_REDCAP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_REDCAP_FIELD = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*(?:\(\s*(-?[A-Za-z0-9_.]+)\s*\))?\s*")
_REDCAP_EVENT = re.compile(r"\s*[A-Za-z0-9_]+\s*")
_REDCAP_DATE_FORMATS = frozenset({"ymd", "mdy", "dmy"})
_REDCAP_FUNCTIONS = frozenset(  # the same function under the same name; datediff has its own translation
    (
        "abs",
        "concat",
        "contains",
        "day",
        "ends_with",
        "if",
        "length",
        "log",
        "max",
        "mean",
        "min",
        "mod",
        "month",
        "round",
        "rounddown",
        "roundup",
        "sqrt",
        "starts_with",
        "sum",
        "year",
    )
)
_XLSFORM_FUNCTIONS = {
    "abs": "abs",
    "coalesce": "coalesce",
    "concat": "concat",
    "contains": "contains",
    "count-selected": "count_selected",
    "ends-with": "ends_with",
    "log": "log",
    "starts-with": "starts_with",
    "false": "false",
    "if": "if",
    "int": "int",
    "max": "max",
    "min": "min",
    "round": "round",
    "selected": "selected",
    "sqrt": "sqrt",
    "string-length": "length",
    "sum": "sum",
    "today": "today",
    "true": "true",
}
_CHECKBOX = "_checkbox"  # a REDCap [field(code)] while its parser still needs to see what it is compared with


# --- parsing --------------------------------------------------------------------------------------


class _Parser:
    """Tokenizer and precedence-climbing parser for canonical text; the translators change its dialect."""

    prefix: ClassVar[str] = ""
    operators: ClassVar[Mapping[str, tuple[int, str, str]]] = _CANONICAL_OPERATORS
    not_level: ClassVar[int | None] = _NOT
    has_power: ClassVar[bool] = True
    has_current: ClassVar[bool] = True
    doubled_quotes: ClassVar[bool] = True
    number_pattern: ClassVar[re.Pattern[str]] = _CANONICAL_NUMBER
    name_pattern: ClassVar[re.Pattern[str]] = _IDENTIFIER
    symbols: ClassVar[tuple[str, ...]] = (
        "==",
        "!=",
        "<>",
        "<=",
        ">=",
        "=",
        "<",
        ">",
        "+",
        "-",
        "*",
        "/",
        "^",
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[_Token] = []
        self.index = 0
        self.nesting = 0

    # errors

    def error(self, message: str, *, position: int, expected: str, construct: str) -> ExpressionError:
        return ParseError(self.prefix + message, position=position, expected=expected)

    def expected(self, token: _Token, expected: str) -> ExpressionError:
        return self.error(
            f"expected {expected} at character {token.pos + 1}, found {_found(token)}",
            position=token.pos,
            expected=expected,
            construct=token.text or "the end of the text",
        )

    # tokens

    def tokenize(self) -> list[_Token]:
        tokens: list[_Token] = []
        position = 0
        while position < len(self.text):
            if self.text[position].isspace():
                position += 1
                continue
            token = self.token_at(position)
            tokens.append(token)
            position = token.pos + len(token.text)
        tokens.append(_Token("end", "", len(self.text)))
        return tokens

    def token_at(self, i: int) -> _Token:
        text, char = self.text, self.text[i]
        match = self.number_pattern.match(text, i)
        if match:
            return _Token("num", match.group(), i, number=self.number(match.group(), i))
        if char in "'\"":
            return self.string_at(i)
        match = self.name_pattern.match(text, i)
        if match:
            return _Token("name", match.group(), i)
        if char in "(),":
            return _Token(char, char, i)
        if char == "." and self.has_current:
            return _Token("self", ".", i)
        for symbol in self.symbols:
            if text.startswith(symbol, i):
                return _Token("op", symbol, i)
        raise self.error(
            f"unexpected character {char!r} at character {i + 1}",
            position=i,
            expected="a value, an operator or a parenthesis",
            construct=char,
        )

    def number(self, text: str, i: int) -> int | float:
        if any(mark in text for mark in ".eE"):
            value = float(text)
            if math.isfinite(value):
                return value
        elif len(text) <= _MAX_NUMBER_DIGITS:
            return int(text)
        raise self.error(
            f"the number at character {i + 1} is too large",
            position=i,
            expected="a smaller number",
            construct=text,
        )

    def string_at(self, i: int) -> _Token:
        quote, start, parts = self.text[i], i + 1, []
        while True:
            end = self.text.find(quote, start)
            if end == -1:
                raise self.error(
                    f"expected a closing {quote} at character {len(self.text) + 1} for the text that starts at "
                    f"character {i + 1}",
                    position=len(self.text),
                    expected=f"a closing {quote}",
                    construct=self.text[i : i + 30],
                )
            parts.append(self.text[start:end])
            if self.doubled_quotes and self.text.startswith(quote, end + 1):
                parts.append(quote)
                start = end + 2
                continue
            return _Token("str", self.text[i : end + 1], i, string="".join(parts))

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def expect(self, kind: str, expected: str) -> _Token:
        if self.peek().kind != kind:
            raise self.expected(self.peek(), expected)
        return self.advance()

    @contextmanager
    def nested(self, token: _Token) -> Iterator[None]:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(
                f"the expression nests more than {MAX_NESTING} levels deep at character {token.pos + 1}",
                position=token.pos,
                expected="fewer nested parentheses, functions or prefix operators",
                construct=token.text,
            )
        yield
        self.nesting -= 1

    # grammar

    def parse(self) -> Node:
        if len(self.text) > MAX_LENGTH:
            raise self.error(
                f"the expression is longer than {MAX_LENGTH} characters",
                position=MAX_LENGTH,
                expected=f"at most {MAX_LENGTH} characters",
                construct=self.text[:30] + "...",
            )
        self.tokens = self.tokenize()
        if self.peek().kind == "end":
            raise self.expected(self.peek(), "an expression")
        node = self.binary(1)
        if self.peek().kind != "end":
            raise self.expected(self.peek(), "an operator or the end of the expression")
        return self.operand(node)

    def binary(self, min_level: int) -> Node:
        left = self.prefix_operation()
        chained: int | None = None
        while True:
            token = self.peek()
            found = self.operators.get(token.text.lower()) if token.kind in ("op", "name") else None
            if found is None or found[0] < min_level:
                return left
            level, op, chaining = found
            if level == chained:
                raise self.error(
                    f"comparisons cannot be chained (character {token.pos + 1}); join them with 'and'",
                    position=token.pos,
                    expected="'and' or 'or' between two comparisons",
                    construct=token.text,
                )
            self.advance()
            left = self.make_binary(op, left, self.binary(level + 1), token)
            chained = level if chaining == "none" else None

    def prefix_operation(self) -> Node:
        token = self.peek()
        if self.not_level is not None and token.kind == "name" and token.text.lower() == "not":
            self.advance()
            with self.nested(token):
                operand = self.binary(self.not_level)
            return self.make_unary("not", operand)
        return self.unary()

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text == "-":
            self.advance()
            with self.nested(token):
                operand = self.unary()
            return self.make_unary("-", operand)
        base = self.primary()
        token = self.peek()
        if self.has_power and token.kind == "op" and token.text == "^":
            self.advance()
            with self.nested(token):
                exponent = self.unary()  # right-associative, and 2^-1 is allowed
            return self.make_binary("^", base, exponent, token)
        return base

    def primary(self) -> Node:
        token = self.advance()
        if token.kind == "num":
            return Number(token.number)
        if token.kind == "str":
            return String(token.string)
        if token.kind == "self":
            return Current()
        if token.kind == "item":
            return self.item(token)
        if token.kind == "(":
            with self.nested(token):
                inner = self.binary(1)
            self.expect(")", "')'")
            return inner
        if token.kind == "name":
            if self.peek().kind == "(":
                return self.call(token)
            return self.bare_name(token)
        raise self.expected(token, "a value (a number, quoted text, an item, a function call or '(')")

    def call(self, name: _Token) -> Node:
        opening = self.advance()
        args: list[Node] = []
        if self.peek().kind != ")":
            with self.nested(opening):
                args.append(self.binary(1))
                while self.peek().kind == ",":
                    self.advance()
                    args.append(self.binary(1))
        self.expect(")", "',' or ')'")
        return self.make_call(name, args)

    # building nodes: the hooks the translators change

    def item(self, token: _Token) -> Node:
        raise self.expected(token, "a value")

    def bare_name(self, token: _Token) -> Node:
        if token.text.lower() in _KEYWORDS:
            raise self.expected(token, "a value (a number, quoted text, an item, a function call or '(')")
        return Name(token.text)

    def make_call(self, token: _Token, args: list[Node]) -> Node:
        name = token.text.lower()
        if name not in _ARITY:
            raise self.error(
                f"unknown function {token.text}() at character {token.pos + 1}; "
                f"expected one of {', '.join(sorted(_ARITY))}",
                position=token.pos,
                expected="a known function",
                construct=f"{token.text}()",
            )
        return self.checked_call(name, args, token)

    def checked_call(self, name: str, args: Sequence[Node], token: _Token) -> Call:
        args = [self.operand(arg) for arg in args]
        problem = _call_problem(name, args)
        if problem:
            raise self.error(
                f"{problem} (character {token.pos + 1})",
                position=token.pos,
                expected=_arity_text(name) if "takes" in problem else "'y', 'm' or 'd'",
                construct=f"{token.text}()",
            )
        return Call(name, tuple(args))

    def make_binary(self, op: str, left: Node, right: Node, token: _Token) -> Node:
        return Binary(op, self.operand(left), self.operand(right))

    def make_unary(self, op: str, operand: Node) -> Node:
        return Unary(op, self.operand(operand))

    def operand(self, node: Node) -> Node:
        return node


class _TranslatingParser(_Parser):
    def error(self, message: str, *, position: int, expected: str, construct: str) -> ExpressionError:
        return TranslationError(self.prefix + message, construct=construct, position=position)

    def unsupported(self, token: _Token, construct: str, why: str) -> TranslationError:
        return TranslationError(
            f"{self.prefix}{construct} (character {token.pos + 1}) cannot be translated: {why}",
            construct=construct,
            position=token.pos,
        )

    def item_name(self, token: _Token, name: str) -> Name:
        if not _is_identifier(name):
            raise self.unsupported(
                token, name, "item names here are letters, digits and _ (and not the words and, or, not)"
            )
        return Name(name)


class _RedcapParser(_TranslatingParser):
    prefix = "REDCap logic: "
    has_current = False
    doubled_quotes = False
    number_pattern = _PLAIN_NUMBER
    # REDCap also reads || and && for or and and.
    operators = {**_CANONICAL_OPERATORS, "||": (1, "or", "left"), "&&": (2, "and", "left")}
    symbols = ("||", "&&", *_Parser.symbols)

    def __init__(self, text: str) -> None:
        # REDCap 13 reads a line that starts with # as a comment.
        super().__init__("\n".join(line for line in text.split("\n") if not line.lstrip().startswith("#")))

    def token_at(self, i: int) -> _Token:
        if self.text[i] == "[":
            end = self.text.find("]", i + 1)
            if end == -1 or "[" in self.text[i + 1 : end]:
                raise self.error(
                    f"the '[' at character {i + 1} is not closed",
                    position=i,
                    expected="']'",
                    construct=self.text[i : i + 30],
                )
            return _Token("item", self.text[i : end + 1], i, string=self.text[i + 1 : end])
        return super().token_at(i)

    def item(self, token: _Token) -> Node:
        groups = [token]
        while self.peek().kind == "item":
            groups.append(self.advance())
        written = "".join(group.text for group in groups)
        if len(groups) > 2 or (len(groups) == 2 and groups[1].string.strip().isdigit()):
            raise self.unsupported(token, written, "references to repeating instances are not supported")
        if len(groups) == 2 and not _REDCAP_EVENT.fullmatch(groups[0].string):
            raise self.unsupported(token, groups[0].text, "it is a smart variable, not an event name")
        field = _REDCAP_FIELD.fullmatch(groups[-1].string)
        if field is None:
            raise self.unsupported(
                token, groups[-1].text, "it is a smart variable or piping option, not a field reference"
            )
        name = self.item_name(token, field.group(1))
        target: Node = name
        if len(groups) == 2:
            # The same person's answer at another event: read where the event maps to a timepoint.
            event = groups[0].string.strip().lower()
            target = self.checked_call("answer_at", [String(event), String(name.name)], token)
        if field.group(2) is None:
            return target
        return Call(_CHECKBOX, (target, String(field.group(2))))

    def bare_name(self, token: _Token) -> Node:
        if token.text.lower() in ("true", "false"):
            return Call(token.text.lower())
        if token.text.lower() in _KEYWORDS:
            return super().bare_name(token)
        raise self.unsupported(
            token, token.text, f"fields are written in square brackets, like [{token.text}]"
        )

    def make_call(self, token: _Token, args: list[Node]) -> Node:
        name = token.text.lower()
        if name == "datediff":
            return self.datediff(token, args)
        if name == "calcdate":  # @CALCDATE(date, offset, unit), read by the importer as calcdate(...)
            unit = args[2].value.strip() if len(args) == 3 and isinstance(args[2], String) else ""
            if unit not in ("y", "M", "d"):
                raise self.unsupported(
                    token, f'calcdate unit "{unit}"', 'only years "y", months "M" and days "d" are supported'
                )
            return self.checked_call(
                "calcdate", [args[0], args[1], String({"M": "m"}.get(unit, unit))], token
            )
        if name not in _REDCAP_FUNCTIONS:
            raise self.unsupported(token, f"{token.text}()", "there is no such function here")
        return self.checked_call(name, args, token)

    def datediff(self, token: _Token, args: list[Node]) -> Node:
        if not 3 <= len(args) <= 5:
            raise self.unsupported(token, "datediff()", f"it takes 3 to 5 arguments, not {len(args)}")
        first, second, unit, *rest = args
        written = unit.value if isinstance(unit, String) else ""
        units = {"y": "y", "M": "m", "d": "d"}
        if written.strip() not in units:
            why = 'only years "y", months "M" and days "d" are supported'
            if written.strip() == "m":
                why = 'REDCap\'s "m" is minutes; ' + why
            raise self.unsupported(token, f'datediff unit "{written}"', why)
        for date_argument in (first, second):
            if isinstance(date_argument, String) and date_argument.value.strip().lower() == "now":
                raise self.unsupported(token, "datediff 'now'", "times of day are not supported; use 'today'")
        # The date format names how a field is typed in; stored values are always Y-M-D, so it is dropped.
        if rest and isinstance(rest[0], String) and rest[0].value.strip().lower() in _REDCAP_DATE_FORMATS:
            rest = rest[1:]
        if len(rest) > 1 or (rest and isinstance(rest[0], String)):
            raise self.unsupported(
                token, "datediff()", "its 4th argument must be a date format or true/false"
            )
        return self.checked_call("datediff", [first, second, String(units[written.strip()]), *rest], token)

    def make_binary(self, op: str, left: Node, right: Node, token: _Token) -> Node:
        if op in ("=", "!="):
            box, other = (left, right) if _is_checkbox(left) else (right, left)
            flag = _flag(other)
            if isinstance(box, Call) and _is_checkbox(box) and flag is not None:
                selected = Call("selected", box.args)
                return selected if (flag == "1") == (op == "=") else Unary("not", selected)
        return super().make_binary(op, left, right, token)

    def operand(self, node: Node) -> Node:
        if isinstance(node, Call) and _is_checkbox(node):
            # Unchecked is "0" in REDCap, even on a form never opened: the same as `selected` being false.
            return Call("if", (Call("selected", node.args), Number(1), Number(0)))
        return node


def _is_checkbox(node: Node) -> bool:
    return isinstance(node, Call) and node.name == _CHECKBOX


def _flag(node: Node) -> str | None:
    """'1' or '0' if the node is that literal, quoted or not."""
    if isinstance(node, Number) and node.value in (0, 1):
        return str(int(node.value))
    if isinstance(node, String) and node.value.strip() in ("0", "1"):
        return node.value.strip()
    return None


class _XlsformParser(_TranslatingParser):
    prefix = "XLSForm expression: "
    operators = _XPATH_OPERATORS
    not_level = None
    has_power = False
    doubled_quotes = False
    number_pattern = _XPATH_NUMBER
    name_pattern = _XPATH_NAME
    symbols = ("!=", "<=", ">=", "=", "<", ">", "+", "-", "*")

    def token_at(self, i: int) -> _Token:
        text = self.text
        if text.startswith("${", i):
            end = text.find("}", i + 2)
            if end == -1:
                raise self.error(
                    f"the '${{' at character {i + 1} is not closed",
                    position=i,
                    expected="'}'",
                    construct=text[i : i + 30],
                )
            name = text[i + 2 : end]
            if not _XML_NAME.fullmatch(name):
                raise self.error(
                    f"{text[i : end + 1]} at character {i + 1} does not name a question",
                    position=i,
                    expected="${name}",
                    construct=text[i : end + 1],
                )
            return _Token("item", text[i : end + 1], i, string=name)
        unsupported = {
            "..": "parent references",
            "/": "XPath paths (refer to questions as ${name})",
            "|": "node-set unions",
            "@": "attributes",
            "[": "XPath predicates",
            "$": "variables other than ${name}",
        }
        for construct, what in unsupported.items():
            if text.startswith(construct, i):
                raise self.unsupported(_Token("op", construct, i), construct, f"{what} are not supported")
        return super().token_at(i)

    def item(self, token: _Token) -> Node:
        return self.item_name(token, token.string)

    def bare_name(self, token: _Token) -> Node:
        raise self.unsupported(token, token.text, f"questions are written ${{{token.text}}}")

    def make_call(self, token: _Token, args: list[Node]) -> Node:
        name = token.text.lower()
        if name == "not":
            if len(args) != 1:
                raise self.unsupported(token, "not()", f"it takes 1 argument, not {len(args)}")
            return self.make_unary("not", args[0])
        if name == "regex":
            # A pattern from an imported form, run on participants' text, can backtrack for minutes; and
            # XPath and Python patterns do not mean quite the same.
            raise self.unsupported(token, "regex()", "patterns are not run on answers here")
        if name not in _XLSFORM_FUNCTIONS:
            raise self.unsupported(token, f"{token.text}()", "there is no such function here")
        return self.checked_call(_XLSFORM_FUNCTIONS[name], args, token)

    def make_binary(self, op: str, left: Node, right: Node, token: _Token) -> Node:
        if op == "mod":
            return self.checked_call("mod", [left, right], token)
        return super().make_binary(op, left, right, token)


def _parse_with(parser: _Parser) -> Node:
    try:
        return parser.parse()
    except RecursionError:  # the nesting limit should come first; this is the backstop
        raise parser.error(
            "the expression nests too deeply",
            position=0,
            expected="a simpler expression",
            construct=parser.text[:30],
        ) from None


# --- the public face ------------------------------------------------------------------------------


class Expression:
    """A parsed expression: `evaluate` it, read the items it names, or write it back as canonical text."""

    __slots__ = ("_text", "root", "uses_self", "variables")

    def __init__(self, root: Node) -> None:
        names, uses_self = _check_tree(root)
        self.root: Node = root
        self.variables: frozenset[str] = frozenset(names)
        self.uses_self: bool = uses_self  # reads `.`, so it belongs in a constraint
        self._text = _Writer().write(root)

    def canonical(self) -> str:
        return self._text

    def to_redcap(self) -> str:
        """REDCap logic with the same meaning; TranslationError names what REDCap cannot say (`.`, ...)."""
        return _RedcapWriter().write(self.root)

    def evaluate(
        self,
        answers: Mapping[str, object],
        *,
        today: date | None = None,
        self_value: object = None,
        events: EventAnswers | None = None,
    ) -> object:
        """The value for these answers: None, bool, int, float, str, a date or a tuple of codes.

        `today` is the date `today()` and 'today' stand for (the current date if not given); `self_value`
        is what `.` stands for; `events` what answer_at() reads (nothing, if not given).
        """
        try:
            return _Evaluation(answers, today, self_value, events or NO_EVENTS).value(self.root)
        except ExpressionError:
            raise
        except Exception as error:  # evaluation promises only ExpressionError, whatever answers hold
            raise EvaluationError(f"{self._text!r} could not be evaluated: {error!r}") from error

    def is_true(
        self,
        answers: Mapping[str, object],
        *,
        today: date | None = None,
        self_value: object = None,
        events: EventAnswers | None = None,
    ) -> bool:
        """Whether the value counts as true: blank, 0, '0', false and '' do not (as in REDCap)."""
        return _truthy(self.evaluate(answers, today=today, self_value=self_value, events=events))

    @property
    def event_references(self) -> frozenset[tuple[str, str]]:
        """The (event, item) pairs answer_at() reads."""
        return frozenset(event_references(self.root))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __repr__(self) -> str:
        return f"parse({self._text!r})"


def parse(text: str) -> Expression:
    """Canonical text as an Expression; ParseError names the character and what was expected there."""
    if not isinstance(text, str):
        raise ParseError(f"an expression is text, not {type(text).__name__}", position=0, expected="text")
    return _parse_cached(text)


@lru_cache(maxsize=2048)
def _parse_cached(text: str) -> Expression:
    return Expression(_parse_with(_Parser(text)))


def translate_redcap(text: str) -> str:
    """REDCap branching logic or a calc field's equation, as canonical text (see the module docstring)."""
    return _translate(_RedcapParser, text)


def translate_xlsform(text: str) -> str:
    """An XLSForm relevant, constraint or calculation, as canonical text (see the module docstring)."""
    return _translate(_XlsformParser, text)


def _translate(parser_class: type[_TranslatingParser], text: str) -> str:
    if not isinstance(text, str):
        raise TranslationError(f"{parser_class.prefix}expected text, not {type(text).__name__}", construct="")
    return Expression(_parse_with(parser_class(text))).canonical()


# --- values ---------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1)
_NUMERIC_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _tidy(number: int | float) -> int | float | None:
    """A result as stored: integral floats as ints, and overflow (or nan/inf) as blank."""
    if isinstance(number, int):
        return int(number) if number.bit_length() <= _MAX_INT_BITS else None
    if not math.isfinite(number):
        return None
    if number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def _normalize(value: object) -> object:
    """An answer as expressions see it: blanks as None, numbers bounded, choices as a tuple of codes."""
    if value is None or isinstance(value, bool | str | date):
        return None if value == "" else value
    if isinstance(value, int | float):
        return _tidy(value) if isinstance(value, int) or math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite() or value.adjusted() > _MAX_NUMBER_DIGITS:
            return None
        return _tidy(int(value)) if value == value.to_integral_value() else _tidy(float(value))
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        codes = [code for code in (_code(element) for element in value) if code]
        if isinstance(value, set | frozenset):
            codes.sort()
        return tuple(codes) or None
    return None


def _code(value: object) -> str | None:
    """A value as a choice code: '2' for 2, 2.0 and '2'; None for blanks and lists."""
    if isinstance(value, list | tuple | set | frozenset):
        return None
    value = _normalize(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return _text(value)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return " ".join(str(code) for code in value)
    return ""


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str | tuple) and len(value) == 0)


def _as_number(value: object) -> int | float | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and len(value) <= _MAX_NUMBER_DIGITS:
        text = value.strip()
        if _NUMERIC_TEXT.fullmatch(text):
            return float(text) if "." in text else int(text)
    return None


def _as_datetime(value: object, today: date | None = None) -> datetime | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value
        try:
            return value.astimezone(UTC).replace(tzinfo=None)
        except (OverflowError, ValueError):
            return None
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        text = value.strip()
        if today is not None and text.lower() == "today":
            return _as_datetime(today)
        if _DATE_TEXT.match(text):
            try:
                return _as_datetime(datetime.fromisoformat(text))
            except ValueError:
                return None
    return None


def _arithmetic_number(value: object) -> int | float | None:
    """A number for arithmetic; dates (and ISO date text) count as days since 1970-01-01, as in XPath."""
    number = _as_number(value)
    if number is not None:
        return number
    moment = _as_datetime(value)
    if moment is None:
        return None
    return _tidy((moment - _EPOCH).total_seconds() / 86400)


def _truthy(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        number = _as_number(value)
        return number != 0 if number is not None else value != ""
    if isinstance(value, tuple):
        return len(value) > 0
    return True


def _compare(op: str, left: object, right: object) -> bool:
    if left is None or right is None:
        # Unanswered satisfies no condition, except "is blank": x = '' (or two blanks compared with =).
        return op == "=" and _is_blank(left) and _is_blank(right)
    left = _text(left) if isinstance(left, tuple) else left
    right = _text(right) if isinstance(right, tuple) else right
    if isinstance(left, date) or isinstance(right, date):
        left_moment, right_moment = _as_datetime(left), _as_datetime(right)
        if left_moment is None or right_moment is None:
            return op == "!="
        return _COMPARE[op](left_moment, right_moment)
    left_number, right_number = _as_number(left), _as_number(right)
    if left_number is not None and right_number is not None:
        return _COMPARE[op](left_number, right_number)
    if isinstance(left, str) and isinstance(right, str):
        return _COMPARE[op](left, right)
    return op == "!="  # a number and text that is not one: only "not equal" holds


def _arithmetic(op: str, left: object, right: object) -> int | float | None:
    x, y = _arithmetic_number(left), _arithmetic_number(right)
    if x is None or y is None:
        return None
    try:
        if op == "+":
            return _tidy(x + y)
        if op == "-":
            return _tidy(x - y)
        if op == "*":
            return _tidy(x * y)
        if op == "/":
            return None if y == 0 else _tidy(x / y)
        return _power(x, y)
    except (ArithmeticError, ValueError):
        return None


def _power(x: int | float, y: int | float) -> int | float | None:
    if (
        isinstance(x, int)
        and isinstance(y, int)
        and y >= 0
        and (abs(x) <= 1 or y * x.bit_length() <= _MAX_INT_BITS)
    ):
        return _tidy(x**y)
    try:
        return _tidy(math.pow(x, y))
    except (OverflowError, ValueError):  # too large, or a root of a negative number, or 0 ^ -1
        return None


# --- functions ------------------------------------------------------------------------------------


def _numbers(values: Sequence[object]) -> list[int | float] | None:
    """The numbers among the arguments (lists flattened, blanks left out); None if one is not a number."""
    numbers: list[int | float] = []
    for value in values:
        for element in value if isinstance(value, tuple) else (value,):
            if _is_blank(element):
                continue
            number = _as_number(element)
            if number is None:
                return None
            numbers.append(number)
    return numbers


def _aggregate(combine: Callable[[list[int | float]], int | float]) -> Callable[[list[object], date], object]:
    def run(values: list[object], today: date) -> object:
        numbers = _numbers(values)
        return _tidy(combine(numbers)) if numbers else None

    return run


def _rounding(mode: str) -> Callable[[list[object], date], object]:
    def run(values: list[object], today: date) -> object:
        number = _as_number(values[0])
        places = _as_number(values[1]) if len(values) > 1 else 0
        if number is None or places is None or places != int(places) or abs(places) > 15:
            return None
        places = int(places)
        source = Decimal(number) if isinstance(number, int) else Decimal(repr(number))
        with localcontext() as context:
            context.prec = 400
            try:
                rounded = source.quantize(Decimal(1).scaleb(-places), rounding=mode)
            except InvalidOperation:
                return None
        return _tidy(int(rounded) if places <= 0 else float(rounded))

    return run


def _unary_number(
    function: Callable[[int | float], int | float | None],
) -> Callable[[list[object], date], object]:
    def run(values: list[object], today: date) -> object:
        number = _as_number(values[0])
        if number is None:
            return None
        result = function(number)
        return None if result is None else _tidy(result)

    return run


def _mod(values: list[object], today: date) -> object:
    x, y = _as_number(values[0]), _as_number(values[1])
    if x is None or y is None or y == 0:
        return None
    remainder = abs(x) % abs(y)  # the sign follows the dividend, as in XPath, JavaScript and PHP
    return _tidy(-remainder if x < 0 else remainder)


def _selected(values: list[object], today: date) -> object:
    answer, code = values[0], _code(values[1])
    if code is None or answer is None:
        return False
    if isinstance(answer, tuple):
        return code in answer
    if isinstance(answer, str):
        return code in answer.split()
    return _code(answer) == code


def _count_selected(values: list[object], today: date) -> object:
    answer = values[0]
    if _is_blank(answer):
        return 0
    if isinstance(answer, tuple):
        return len(answer)
    if isinstance(answer, str):
        return len(answer.split())
    return 1


def _datediff(values: list[object], today: date) -> object:
    first, second = _as_datetime(values[0], today), _as_datetime(values[1], today)
    if first is None or second is None:
        return None
    span = (second - first).total_seconds() / 86400 / _DATEDIFF_UNITS[str(values[2])]
    signed = len(values) > 3 and _truthy(values[3])
    return _tidy(span if signed else abs(span))


def _text_test(test: Callable[[str, str], bool]) -> Callable[[list[object], date], object]:
    """contains / starts_with / ends_with, as REDCap: text compared without regard to case; blank is false."""

    def body(values: list[object], today: date) -> object:
        if _is_blank(values[0]) or _is_blank(values[1]):
            return False
        return test(_text(values[0]).casefold(), _text(values[1]).casefold())

    return body


def _date_part(part: str) -> Callable[[list[object], date], object]:
    def body(values: list[object], today: date) -> object:
        moment = _as_datetime(values[0])
        return None if moment is None else getattr(moment, part)

    return body


def _calcdate(values: list[object], today: date) -> object:
    """REDCap's @CALCDATE: the date `offset` units after `start` (a month 30.44 days, a year 365.2425), ISO text."""
    start, offset = _as_datetime(values[0], today), _arithmetic_number(values[1])
    if start is None or offset is None:
        return None
    try:
        moment = start + timedelta(days=offset * _DATEDIFF_UNITS[str(values[2])])
    except (OverflowError, ValueError):
        return None
    return moment.date().isoformat()


def _log(values: list[object], today: date) -> object:
    number = _arithmetic_number(values[0])
    base = _arithmetic_number(values[1]) if len(values) > 1 else math.e
    if number is None or base is None or number <= 0 or base <= 0 or base == 1:
        return None
    if base == 10:
        return _tidy(math.log10(number))
    return _tidy(math.log2(number) if base == 2 else math.log(number, base))


_FUNCTION_BODIES: dict[str, Callable[[list[object], date], object]] = {
    "contains": _text_test(lambda text, part: part in text),
    "starts_with": _text_test(lambda text, part: text.startswith(part)),
    "ends_with": _text_test(lambda text, part: text.endswith(part)),
    "year": _date_part("year"),
    "month": _date_part("month"),
    "day": _date_part("day"),
    "log": _log,
    "calcdate": _calcdate,
    "abs": _unary_number(abs),
    "concat": lambda values, today: "".join(_text(value) for value in values),
    "count_selected": _count_selected,
    "datediff": _datediff,
    "false": lambda values, today: False,
    # Toward zero, through the same decimal reading as rounddown(x, 0) (what int() becomes in REDCap), so the
    # two agree even on numbers too large for a float to hold every digit.
    "int": _rounding(ROUND_DOWN),
    "isblank": lambda values, today: _is_blank(values[0]),
    "length": lambda values, today: len(_text(values[0])),
    "max": _aggregate(max),
    "mean": _aggregate(lambda numbers: sum(numbers) / len(numbers)),
    "min": _aggregate(min),
    "mod": _mod,
    "round": _rounding(ROUND_HALF_UP),
    "rounddown": _rounding(ROUND_DOWN),
    "roundup": _rounding(ROUND_UP),
    "selected": _selected,
    "sqrt": _unary_number(lambda number: math.sqrt(number) if number >= 0 else None),
    "sum": _aggregate(sum),
    "today": lambda values, today: today,
    "true": lambda values, today: True,
}


def event_references(root: Node) -> Iterator[tuple[str, str]]:
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Call):
            if node.name == "answer_at" and all(isinstance(arg, String) for arg in node.args):
                event, item = (arg.value for arg in node.args if isinstance(arg, String))
                yield event, item
            stack += node.args
        elif isinstance(node, Binary):
            stack += (node.left, node.right)
        elif isinstance(node, Unary):
            stack.append(node.operand)


class _Evaluation:
    __slots__ = ("answers", "events", "self_value", "today")

    def __init__(
        self, answers: Mapping[str, object], today: date | None, self_value: object, events: EventAnswers
    ) -> None:
        self.answers = answers
        self.today = today if today is not None else date.today()
        self.self_value = self_value
        self.events = events

    def answer_at(self, event: str, item: str) -> object:
        if event in self.events.own_events:
            return _normalize(self.answers.get(item))
        return _normalize(self.events.answers.get((event, item)))

    def value(self, node: Node) -> object:
        if isinstance(node, Binary):
            chain: list[Binary] = []
            bottom: Node = node
            while isinstance(
                bottom, Binary
            ):  # a loop down the left side, so long sums need no deep recursion
                chain.append(bottom)
                bottom = bottom.left
            result = self.value(bottom)
            for link in reversed(chain):
                result = self.binary(link, result)
            return result
        if isinstance(node, Name):
            return _normalize(self.answers.get(node.name))
        if isinstance(node, Number | String):
            return node.value
        if isinstance(node, Current):
            return _normalize(self.self_value)
        if isinstance(node, Unary):
            operand = self.value(node.operand)
            if node.op == "not":
                return not _truthy(operand)
            number = _arithmetic_number(operand)
            return None if number is None else _tidy(-number)
        return self.call(node)

    def binary(self, node: Binary, left: object) -> object:
        if node.op == "and":
            return _truthy(left) and _truthy(self.value(node.right))
        if node.op == "or":
            return _truthy(left) or _truthy(self.value(node.right))
        right = self.value(node.right)
        if node.op in _COMPARISONS:
            return _compare(node.op, left, right)
        return _arithmetic(node.op, left, right)

    def call(self, node: Call) -> object:
        if node.name == "if":
            condition, then, otherwise = node.args
            return self.value(then if _truthy(self.value(condition)) else otherwise)
        if node.name == "answer_at":
            event, item = (arg.value if isinstance(arg, String) else "" for arg in node.args)
            return self.answer_at(event, item)
        if node.name == "coalesce":
            for arg in node.args:
                value = self.value(arg)
                if not _is_blank(value):
                    return value
            return None
        values = [self.value(arg) for arg in node.args]
        try:
            return _FUNCTION_BODIES[node.name](values, self.today)
        except (ArithmeticError, ValueError):  # overflow in a mean of huge numbers, and the like
            return None
