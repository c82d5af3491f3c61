"""Item-level de-identified tables: one row per submitted response, one column per exportable answer (issue 8
items 4 and 10), with the variable and value labels that the exports (SPSS, Stata, REDCap) carry.

De-identified by construction, as dataset.py: a row names its person by their code in the evaluation
(`Evaluation.code_for`), its organization by its short name, and its time by the month of submission. Columns
come only from items of types that hold a code or a number (`EXPORTABLE_TYPES`): free text, dates and
descriptive items are never read, nor any item flagged `identifying` in any version of the instrument. A
calculated item is a number column with its formula (`Variable.formula`, for the codebook) unless its
calculation reads an identifying item; a value that is not a number is left empty (a computed text could
carry what the answers it reads say). Answers are decrypted here, on the server, and only the selected
items leave this module.

Values in a table are the answers as stored: a choice's code (a number when the code is one, e.g. 3; text
otherwise, e.g. "na"), a number, 1/0 for each choice of a multiple-choice item (`item___code`, as REDCap
names them), and the marker of a missing answer (instruments/missing.py): "_pnts" for "prefer not to say",
"_na" and "_dk" for a choice that is a missing code ("not applicable", "don't know"), never its own code, so
that no mean counts it. `Variable.codes` gives each choice code a whole number for the statistics packages
(a missing code its reason's number, e.g. -7).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from django.db.models import Q, QuerySet
from django.utils import translation
from django.utils.translation import gettext as _

from circlekeeper.cases.models import ParticipantRole
from circlekeeper.evaluation.dataset import Coder, Scope, month_of, timepoints_frame
from circlekeeper.evaluation.deidentify import Plan, plan_for
from circlekeeper.instruments import expressions
from circlekeeper.instruments.definition import PNTS, choices_for, iter_items, localized
from circlekeeper.instruments.missing import PREFER_NOT_TO_SAY, missing_codes
from circlekeeper.instruments.models import Instrument, InstrumentVersion, Response, ResponseStatus

if TYPE_CHECKING:
    # `Table.frame` imports pandas when called: the data and export pages read rows without it, and a web
    # worker should not load it for them (issue 10, its memory).
    import pandas as pd

EXPORTABLE_TYPES = (
    "single_choice",
    "multiple_choice",
    "yes_no",
    "integer",
    "decimal",
    "slider",
    "calculated",
)
CATEGORY_TYPES = ("single_choice", "yes_no")
CHECKBOX = "___"
PNTS_CHOICE = "pnts"
# Names no column may take: the context columns, and words that Stata or SPSS reserve.
CONTEXT = ("participant", "organization", "track", "role", "timepoint", "month")
RESERVED = frozenset(
    {
        *CONTEXT,
        "record_id",
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        # Stata
        "byte",
        "double",
        "float",
        "if",
        "in",
        "int",
        "long",
        "str",
        "strl",
        "using",
        "with",
        # SPSS
        "all",
        "and",
        "by",
        "eq",
        "ge",
        "gt",
        "le",
        "lt",
        "ne",
        "not",
        "or",
        "to",
    }
)
_STATA_STR = re.compile(r"^str\d+$")
# A row's key (not a column) for the purpose of a response imported from REDCap without a timepoint.
REDCAP_EVENT = "_redcap_event"
REDCAP_PURPOSE = "REDCap "  # redcap_records.PURPOSE_PREFIX and its space (not imported: it loads the forms)
NAME_MAX = 100  # REDCap's limit; the statistics packages get shorter names (exports.short_names)

Kind = Literal["text", "category", "flag", "number"]


@dataclass
class Variable:
    """One column: its name, its label, what it holds, and the labels of its values."""

    name: str
    label: str
    kind: Kind
    item: str = ""  # the item it comes from ("" for the context columns and scores)
    item_type: str = ""  # the item's type, or "score"
    choice: str = ""  # a multiple-choice column's choice code (PNTS for "prefer not to say")
    item_label: str = ""  # the item's own label (a multiple-choice column's label adds the choice's)
    choice_label: str = ""
    # A category's codes as they are stored, with the whole number each stands for, and their labels.
    codes: dict[str, int] = field(default_factory=dict)
    value_labels: dict[str, str] = field(default_factory=dict)
    pnts: bool = False  # the item offers "prefer not to say"
    # A category's choices that are missing codes: their code → the marker the table holds instead.
    missing: dict[str, str] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None
    formula: str = ""  # a calculated item's formula (the codebook and REDCap's calc field show it)

    @property
    def in_redcap(self) -> bool:
        # REDCap has no place for "prefer not to say" as a checkbox of its own.
        return self.choice != PNTS


@dataclass
class Table:
    """A de-identified table: its variables, in order, and its rows (dicts keyed by variable name)."""

    code: str
    title: str
    variables: list[Variable]
    rows: list[dict[str, Any]]
    language: str = "en"
    # What the k-anonymity plan did to the rows (deidentify.Plan.summary): each file's codebook says it.
    deidentification: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [variable.name for variable in self.variables]

    def frame(self) -> pd.DataFrame:
        import pandas as pd  # here, not at the top: see the TYPE_CHECKING import

        return pd.DataFrame(self.rows, columns=self.names, dtype=object)


# --- names --------------------------------------------------------------------------------------------------


def safe_name(text: str) -> str:
    """A variable name every target accepts: lower-case letters, digits and _, starting with a letter."""
    name = re.sub(r"[^a-z0-9_]", "_", text.lower())
    name = re.sub(r"_{3,}", "_", name)  # three underscores mark a checkbox column
    if not name or not name[0].isalpha():
        name = "v_" + name.lstrip("_")
    return name[:NAME_MAX]


def unique_name(wanted: str, taken: set[str], *, limit: int = NAME_MAX) -> str:
    """`wanted` (cut to `limit`), or, if taken or reserved, the first free `wanted_2`, `wanted_3`, ...

    Deterministic: the same names in the same order always give the same result.
    """
    candidate = wanted[:limit]
    number = 1
    while candidate in taken or candidate in RESERVED or _STATA_STR.match(candidate):
        number += 1
        suffix = f"_{number}"
        candidate = wanted[: limit - len(suffix)] + suffix
    taken.add(candidate)
    return candidate


def choice_name(code: str) -> str:
    """A choice code as REDCap writes it after `___` (lower case, anything but letters and digits as _)."""
    return re.sub(r"[^a-z0-9]", "_", code.lower())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def stored_code(code: str) -> int | str:
    """A choice code as it goes into a table: a whole number when the code is one, else the code."""
    if re.fullmatch(r"-?[0-9]{1,9}", code) and str(int(code)) == code:
        return int(code)
    return code


# --- variables ----------------------------------------------------------------------------------------------


def context_variables() -> list[Variable]:
    return [
        Variable("participant", _("Participant code (pseudonymous, this evaluation only)"), "text"),
        Variable("organization", _("Organization"), "text"),
        Variable("track", _("Track"), "text"),
        Variable("role", _("Role in the case"), "text"),
        Variable("timepoint", _("Evaluation timepoint"), "text"),
        Variable("month", _("Month submitted (YYYY-MM)"), "text"),
    ]


def exportable(item: dict[str, Any], definition: dict[str, Any] | None = None) -> bool:
    if item["type"] not in EXPORTABLE_TYPES or item.get("identifying"):
        return False
    if item["type"] == "calculated":
        return not (_formula_names(item) & _identifying_codes(definition or {}))
    return True


def formula_of(item: dict[str, Any]) -> str:
    """A calculated item's formula as written in its definition (translated, or the source text kept)."""
    if item.get("calculation"):
        return str(item["calculation"])
    source = item.get("source_logic", {}).get("calculation")
    return str(source["text"]) if source else ""


def _formula_names(item: dict[str, Any]) -> set[str]:
    if not item.get("calculation"):
        # An untranslated formula: every word in it might be an item it reads.
        return set(re.findall(r"[A-Za-z_][A-Za-z0-9_.-]*", formula_of(item)))
    try:
        return set(expressions.parse(item["calculation"]).variables)
    except expressions.ExpressionError:
        return set(re.findall(r"[A-Za-z_][A-Za-z0-9_.-]*", item["calculation"]))


def _identifying_codes(definition: dict[str, Any]) -> set[str]:
    return (
        {item["code"] for _section, item in iter_items(definition) if item.get("identifying")}
        if definition
        else set()
    )


def _category_codes(
    codes: Sequence[str], pnts: bool, missing: dict[str, str] | None = None
) -> dict[str, int]:
    """A whole number for each code: the code itself when it is one; others after the highest. A missing
    code is keyed by its marker and takes its reason's number (PNTS -9, not applicable -7, don't know -8), or
    the next free one below the real codes when a real code takes it."""
    missing = missing or {}
    numbers: dict[str, int] = {}
    real = [code for code in codes if code not in missing]
    for code in real:
        value = stored_code(code)
        if isinstance(value, int):
            numbers[code] = value
    used = set(numbers.values())
    following = max(used, default=0) + 1
    for code in real:
        if code not in numbers:
            while following in used:
                following += 1
            numbers[code] = following
            used.add(following)
    reserved = missing_codes()
    markers = [reserved[PREFER_NOT_TO_SAY].marker] if pnts else []
    markers += [marker for marker in dict.fromkeys(missing.values()) if marker not in markers]
    for marker in markers:
        wanted = next(code.number for code in reserved.values() if code.marker == marker)
        candidates = (wanted, wanted * 11, wanted * 111)
        number = next((v for v in candidates if v not in used), None)
        if number is None:
            number = min(used, default=0) - 1
        numbers[marker] = number
        used.add(number)
    return numbers


def item_variables(
    versions: Iterable[InstrumentVersion], language: str, taken: set[str] | None = None
) -> list[Variable]:
    """The columns of an instrument's answers and scores, over all the versions given (oldest first).

    An item is a column when it is exportable in every version that has it; the latest version gives its
    labels and choices. Scores are the numeric scores of the latest version that defines them.
    """
    taken = set(CONTEXT) if taken is None else taken
    latest_items: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    order: list[str] = []
    refused: set[str] = set()
    scores: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    score_order: list[str] = []
    for version in versions:
        definition = version.definition
        for _section, item in iter_items(definition):
            code = item["code"]
            if not exportable(item, definition):
                refused.add(code)
            if code not in latest_items:
                order.append(code)
            latest_items[code] = (definition, item)
        for score in definition.get("scoring", {}).get("scores", []):
            if score["code"] not in scores:
                score_order.append(score["code"])
            scores[score["code"]] = (definition, score)
    variables: list[Variable] = []
    for code in order:
        if code in refused:
            continue
        definition, item = latest_items[code]
        variables += _variables_of(definition, item, language, taken)
    for code in score_order:
        definition, score = scores[code]
        label = localized(score.get("label"), language, definition) or code
        variables.append(
            Variable(
                unique_name(safe_name(code), taken),
                _one_line(_("Score: %(label)s") % {"label": label}),
                "number",
                item=code,
                item_type="score",
            )
        )
    return variables


def _variables_of(
    definition: dict[str, Any], item: dict[str, Any], language: str, taken: set[str]
) -> list[Variable]:
    kind = item["type"]
    label = _one_line(localized(item.get("label"), language, definition)) or item["code"]
    pnts = bool(item.get("prefer_not_to_say"))
    base = unique_name(safe_name(item["code"]), taken)
    choices = choices_for(definition, item, with_pnts=False)
    if kind in CATEGORY_TYPES:
        codes = [str(choice["code"]) for choice in choices]
        reserved = missing_codes()
        missing = {str(c["code"]): reserved[c["missing"]].marker for c in choices if c.get("missing")}
        labels = {
            missing.get(str(c["code"]), str(c["code"])): _one_line(
                localized(c.get("label"), language, definition)
            )
            for c in choices
        }
        if pnts:
            labels[PNTS] = _("Prefer not to say")
        return [
            Variable(
                base,
                label,
                "category",
                item=item["code"],
                item_type=kind,
                item_label=label,
                codes=_category_codes(codes, pnts, missing),
                value_labels=labels,
                pnts=pnts,
                missing=missing,
            )
        ]
    if kind == "multiple_choice":
        flags = {"1": _("Chosen"), "0": _("Not chosen")}
        columns = []
        wanted = [(str(c["code"]), localized(c.get("label"), language, definition)) for c in choices]
        if pnts:
            wanted.append((PNTS, _("Prefer not to say")))
        for code, choice_label in wanted:
            suffix = PNTS_CHOICE if code == PNTS else choice_name(code)
            columns.append(
                Variable(
                    unique_name(f"{base}{CHECKBOX}{suffix}", taken),
                    _one_line(f"{label}: {choice_label}"),
                    "flag",
                    item=item["code"],
                    item_type=kind,
                    choice=code,
                    item_label=label,
                    choice_label=_one_line(choice_label),
                    codes={"1": 1, "0": 0},
                    value_labels=flags,
                    pnts=pnts,
                )
            )
        return columns
    if kind == "calculated":
        return [
            Variable(
                base,
                label,
                "number",
                item=item["code"],
                item_type=kind,
                item_label=label,
                formula=formula_of(item),
            )
        ]
    low, high = item.get("min"), item.get("max")
    if kind == "slider":
        low = 0 if low is None else low
        high = 100 if high is None else high
    return [
        Variable(
            base,
            label,
            "number",
            item=item["code"],
            item_type=kind,
            item_label=label,
            pnts=pnts,
            minimum=float(low) if isinstance(low, int | float) else None,
            maximum=float(high) if isinstance(high, int | float) else None,
        )
    ]


# --- rows ---------------------------------------------------------------------------------------------------


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(str(value))
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and isinstance(value, str) and "." not in value else number


def answer_cells(
    variables: Iterable[Variable], answers: dict[str, Any], scores: dict[str, Any]
) -> dict[str, Any]:
    """The cells of one response's answers and scores; None where nothing was answered (or skipped)."""
    cells: dict[str, Any] = {}
    for variable in variables:
        if variable.item_type == "score":
            value = scores.get(variable.item)
            cells[variable.name] = (
                value if isinstance(value, int | float) and not isinstance(value, bool) else None
            )
            continue
        answer = answers.get(variable.item)
        if answer is None or answer == "" or answer == []:
            cells[variable.name] = None
        elif variable.kind == "category":
            code = variable.missing.get(str(answer), str(answer))
            cells[variable.name] = stored_code(code) if code in variable.codes else None
        elif variable.kind == "flag":
            if answer == PNTS:
                cells[variable.name] = 1 if variable.choice == PNTS else None
            elif isinstance(answer, list):
                cells[variable.name] = int(variable.choice in [str(a) for a in answer])
            else:
                cells[variable.name] = None
        else:
            cells[variable.name] = PNTS if answer == PNTS else _number(answer)
    return cells


def instruments_with_data(scope: Scope) -> list[Instrument]:
    """The instruments with at least one submitted response in this (organization) scope, by name."""
    return list(
        Instrument.objects.filter(
            versions__responses__organization_id__in=scope.organization_ids,
            versions__responses__status=ResponseStatus.SUBMITTED,
        )
        .filter(Q(owner__isnull=True) | Q(owner_id__in=scope.organization_ids))
        .distinct()
        .order_by("name", "id")
    )


def instruments_by_code(scope: Scope) -> dict[str, Instrument]:
    """The instruments with data, one per code: the organization's own before a shared one of that code."""
    found: dict[str, Instrument] = {}
    for instrument in instruments_with_data(scope):
        if instrument.code not in found or found[instrument.code].owner_id is None:
            found[instrument.code] = instrument
    return found


def responses_for(scope: Scope, instrument: Instrument) -> QuerySet[Response]:
    """The submitted responses to this instrument in the scope, oldest first; children never appear."""
    if scope.network is not None:
        raise ValueError("item-level rows are for one organization's scope, never a network's")
    return (
        Response.objects.filter(
            organization_id__in=scope.organization_ids,
            version__instrument=instrument,
            status=ResponseStatus.SUBMITTED,
            participant__isnull=False,
            case__isnull=False,
            case__organization_id__in=scope.organization_ids,
        )
        .exclude(participant__role=ParticipantRole.CHILD)
        .select_related("participant", "case", "timepoint")
        .only(
            "uid",  # the answers' ciphertext is bound to it: without it, one more query per row
            "answers",
            "scores",
            "submitted_at",
            "organization_id",
            "participant__uid",
            "participant__role",
            "case__track",
            "timepoint__code",
            "purpose",
        )
        .order_by("submitted_at", "id")
    )


def rows_of(
    scope: Scope, responses: Iterable[Response], variables: list[Variable], plan: Plan | None = None
) -> list[dict[str, Any]]:
    return list(iter_rows(scope, responses, variables, plan))


def iter_rows(
    scope: Scope, responses: Iterable[Response], variables: list[Variable], plan: Plan | None = None
) -> Iterator[dict[str, Any]]:
    """The de-identified row of each response, one at a time (a streamed export reads them as it writes),
    generalized by the scope's k-anonymity plan (deidentify.py; made here when not given): a person the plan
    leaves out has no row."""
    plan = plan_for(scope) if plan is None else plan
    code = Coder(scope.evaluation)
    slugs = {organization.pk: organization.slug for organization in scope.organizations}
    answered = [variable for variable in variables if variable.name not in CONTEXT]
    for response in responses:
        timepoint = getattr(response, "timepoint", None)
        row: dict[str, Any] = {
            "participant": code(response.participant.uid),  # type: ignore[union-attr]
            "organization": slugs[response.organization_id],
            "track": response.case.track,  # type: ignore[union-attr]
            "role": response.participant.role,  # type: ignore[union-attr]
            "timepoint": timepoint.code if timepoint is not None else "",
            "month": month_of(response.submitted_at),
        }
        if timepoint is None and response.purpose.startswith(REDCAP_PURPOSE):
            # Not a column: the REDCap event a record imported without a timepoint came from (issue 22).
            row[REDCAP_EVENT] = response.purpose
        shown = plan.apply(row)
        if shown is None:
            continue
        shown.update(answer_cells(answered, response.answers or {}, response.scores or {}))
        yield shown


def variables_for(instrument: Instrument, language: str) -> list[Variable]:
    """The columns of the instrument's table, every label in `language` (ours and the instrument's)."""
    versions = InstrumentVersion.objects.filter(instrument=instrument).order_by("number")
    with translation.override(language):
        return context_variables() + item_variables(versions, language)


def item_table(scope: Scope, instrument: Instrument, *, language: str) -> Table:
    """Every submitted response to the instrument in the scope, de-identified."""
    variables = variables_for(instrument, language)
    plan = plan_for(scope)
    rows = rows_of(scope, responses_for(scope, instrument), variables, plan)
    return Table(instrument.code, instrument.name, variables, rows, language, plan.summary)


# Responses read from the database at a time by a streamed export.
STREAM_CHUNK = 1000


def item_rows_stream(
    scope: Scope, instrument: Instrument, variables: list[Variable], plan: Plan | None = None
) -> Iterator[dict[str, Any]]:
    """The rows of `item_table`, read STREAM_CHUNK responses at a time (QuerySet.iterator), never all at once."""
    chunks = responses_for(scope, instrument).iterator(chunk_size=STREAM_CHUNK)
    return iter_rows(scope, chunks, variables, plan)


def timepoint_table(scope: Scope, *, language: str = "en") -> Table:
    """The evaluation timepoints of each participant: completed, missed or pending (dataset.timepoints_frame)."""
    frame = timepoints_frame(scope)
    with translation.override(language):
        variables = context_variables()
        variables[-1] = Variable("month", _("Month due (YYYY-MM)"), "text")
        variables.insert(5, Variable("status", _("Status (completed, missed, pending)"), "text"))
        title = _("Evaluation timepoints")
    names = [variable.name for variable in variables]
    plan = plan_for(scope)
    records = plan.apply_all(frame.to_dict("records"))
    rows = [{name: record[name] for name in names} for record in records]
    return Table("timepoints", title, variables, rows, language, plan.summary)
