"""De-identified tables (items.py) written as files: flat CSV, a REDCap data dictionary and flat records,
SPSS `.sav` and Stata `.dta` (issue 8 item 10; EVALUATION.md "Exports"; SECURITY.md 21).

A flat CSV and an SPSS file stream (`csv_stream`, `sav_stream` with sav.py: a chunk of rows in memory at a
time, issue 10 item 6); the other formats are made in memory, and a Stata file goes through a temporary
folder (pyreadstat writes a whole DataFrame to a path) that is removed before the answer is sent. Every CSV
cell passes the spreadsheet-formula escape.

- CSV: the table as it is: codes, numbers, 1/0, and the markers of missing answers ("_pnts" for "prefer not
  to say", "_na" not applicable, "_dk" don't know: instruments/missing.py), which no program reads as a
  number; UTF-8.
- REDCap: a dictionary of the table's columns (record_id = participant code; choices "1, Label | 2, Label";
  checkboxes; "prefer not to say" as the @CK-PREFER-NOT-TO-SAY action tag) and records matching it
  (redcap_event_name = the timepoint's unique event name, redcap_events.py, with the events and
  instrument-event mapping files to go with them). A missing answer is written as REDCap's missing-data code (DECL, NA,
  UNK: the project lists them under "Missing Data Codes"); the dictionary's field notes name them.
- SPSS and Stata: every choice a whole number with its value label (numeric columns only), every column
  its variable label; names of at most 32 characters, shortened uniquely (`short_names`). A missing answer
  ("prefer not to say", "not applicable", "don't know") is its own labelled code: in SPSS a number declared
  user-missing (-9, -7, -8), in Stata an extended missing value (.a, .b, .c) with its label; so every mean
  leaves it out. "Prefer not to say" on a number item is empty in SPSS, .a in Stata. An SPSS
  string is as wide as its longest value (`to_sav`), or, streamed, as wide as any value the column can take
  (`context_widths`): at most 255 bytes either way (sav.STRING_MAX).
"""

from __future__ import annotations

import csv
import io
import math
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from circlekeeper.cases.models import Case, Participant
from circlekeeper.evaluation import deidentify, sav
from circlekeeper.evaluation.dataset import Scope
from circlekeeper.evaluation.items import CONTEXT, REDCAP_EVENT, Table, Variable, safe_name, unique_name
from circlekeeper.evaluation.models import Timepoint
from circlekeeper.evaluation.redcap_events import arm_of, event_map, redcap_event_name
from circlekeeper.instruments import expressions
from circlekeeper.instruments.definition import PNTS
from circlekeeper.instruments.missing import by_marker, missing_codes
from circlekeeper.instruments.redcap import COLUMNS as REDCAP_COLUMNS
from circlekeeper.instruments.redcap import PNTS_TAG, renamed_tree
from circlekeeper.lib.csv_safety import escape_cell, escape_row

if TYPE_CHECKING:
    # Only a Stata file needs pandas and pyreadstat, and `statistical_frame` and `to_dta` import them when
    # called: CSV, REDCap and SPSS files are written without them, and a web worker should not load them for
    # the export page itself (issue 10, its memory).
    import pandas as pd

STATA_NAME_MAX = 32
STATA_LABEL_MAX = 80
SPSS_LABEL_MAX = 256
SPSS_FILE_LABEL_MAX = 64


class Format(models.TextChoices):
    CSV = "csv", gettext_lazy("Flat CSV (UTF-8)")
    SPSS = "sav", gettext_lazy("SPSS (.sav) with variable and value labels")
    STATA = "dta", gettext_lazy("Stata (.dta) with variable and value labels")
    REDCAP_DICTIONARY = "redcap_dictionary", gettext_lazy("REDCap data dictionary (CSV)")
    REDCAP_RECORDS = "redcap_records", gettext_lazy("REDCap records (flat CSV)")
    REDCAP_EVENTS = "redcap_events", gettext_lazy("REDCap events (CSV), for a longitudinal project")
    REDCAP_INSTRUMENT_EVENTS = (
        "redcap_instrument_events",
        gettext_lazy("REDCap instrument-event mapping (CSV), for a longitudinal project"),
    )
    CODEBOOK = (
        "codebook",
        gettext_lazy("Codebook (CSV): each column's label, values, missing codes and formula"),
    )


# Formats that describe one instrument's items: the timepoint table has none.
INSTRUMENT_ONLY = (
    Format.REDCAP_DICTIONARY,
    Format.REDCAP_RECORDS,
    Format.REDCAP_EVENTS,
    Format.REDCAP_INSTRUMENT_EVENTS,
)


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    content: bytes


def filename(basename: str, format: str) -> str:
    """The file's name: the basename made safe, with the format's suffix."""
    _writer, suffix, _content_type = WRITERS[Format(format)]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", basename) + suffix


def export(table: Table, format: str, *, basename: str) -> ExportFile:
    writer, _suffix, content_type = WRITERS[Format(format)]
    return ExportFile(filename(basename, format), content_type, writer(table))


# --- CSV ----------------------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    return value


# Rows written before a streamed CSV hands on a piece: small enough to keep memory flat, large enough
# that a million rows are a few thousand pieces.
CSV_CHUNK_ROWS = 500


def _csv_chunks(
    header: list[str], rows: Iterable[list[Any]], *, unescaped: tuple[int, ...] = ()
) -> Iterator[bytes]:
    """CSV text in UTF-8 pieces, every cell through the export guard; in the columns `unescaped` a cell made only
    of REDCap action tags (written here, they must start with @) goes through as it is."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(escape_row(header))
    for number, row in enumerate(rows, start=1):
        writer.writerow([_cell(value) for value in escape_row(row, action_tag_columns=unescaped)])
        if number % CSV_CHUNK_ROWS == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")


def _csv(header: list[str], rows: list[list[Any]], *, unescaped: tuple[int, ...] = ()) -> bytes:
    return b"".join(_csv_chunks(header, rows, unescaped=unescaped))


def csv_stream(names: list[str], rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """The flat CSV of `rows` (dicts keyed by the column names) in pieces, reading the rows as it goes."""
    return _csv_chunks(names, ([row.get(name) for name in names] for row in rows))


def to_csv(table: Table) -> bytes:
    return b"".join(csv_stream(table.names, table.rows))


# --- REDCap -------------------------------------------------------------------------------------------------


def _redcap_row(**cells: str) -> list[str]:
    row = dict.fromkeys(REDCAP_COLUMNS, "")
    for key, value in cells.items():
        row[key] = value
    return [row[column] for column in REDCAP_COLUMNS]


def _number_text(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(value)


def _answer_variables(table: Table) -> list[Variable]:
    return [v for v in table.variables if v.name not in CONTEXT and v.in_redcap]


def redcap_dictionary(table: Table) -> bytes:
    """A REDCap data dictionary (the 18 columns) of the table's columns, record_id first."""
    form = safe_name(table.code)
    rows = [
        _redcap_row(
            **{
                "Variable / Field Name": "record_id",
                "Form Name": form,
                "Field Type": "text",
                "Field Label": _("Participant code (pseudonymous, this evaluation only)"),
                "Field Note": " ".join(deidentification_notes(table)),
            }
        )
    ]
    for variable in table.variables:
        if variable.name in ("organization", "track", "role", "month"):
            rows.append(
                _redcap_row(
                    **{
                        "Variable / Field Name": variable.name,
                        "Form Name": form,
                        "Field Type": "text",
                        "Field Label": variable.label,
                    }
                )
            )
    done: set[str] = set()
    for variable in _answer_variables(table):
        if variable.item_type == "score":
            rows.append(
                _redcap_row(
                    **{
                        "Variable / Field Name": variable.name,
                        "Form Name": form,
                        "Field Type": "text",
                        "Field Label": variable.label,
                        "Field Note": _("Computed by Circlekeeper from the answers."),
                        "Text Validation Type OR Show Slider Number": "number",
                        "Field Annotation": "@READONLY",
                    }
                )
            )
            continue
        if variable.item in done:
            continue
        done.add(variable.item)
        if variable.item_type == "calculated":
            rows.append(_redcap_calc_row(table, variable, form))
            continue
        cells = {
            "Form Name": form,
            "Field Label": variable.item_label,
            "Field Annotation": PNTS_TAG if variable.pnts else "",
        }
        if variable.kind == "flag":
            flags = [v for v in _answer_variables(table) if v.item == variable.item]
            cells["Variable / Field Name"] = variable.name.split("___")[0]
            cells["Field Type"] = "checkbox"
            cells["Choices, Calculations, OR Slider Labels"] = " | ".join(
                f"{v.choice}, {v.choice_label}" for v in flags
            )
        elif variable.kind == "category":
            cells["Variable / Field Name"] = variable.name
            if variable.item_type == "yes_no":
                cells["Field Type"] = "yesno"
            else:
                cells["Field Type"] = "radio"
                cells["Choices, Calculations, OR Slider Labels"] = " | ".join(
                    f"{code}, {label}" for code, label in variable.value_labels.items() if not by_marker(code)
                )
        else:
            cells["Variable / Field Name"] = variable.name
            if variable.item_type == "slider":
                cells["Field Type"] = "slider"
                cells["Text Validation Type OR Show Slider Number"] = "number"
            else:
                cells["Field Type"] = "text"
                cells["Text Validation Type OR Show Slider Number"] = (
                    "integer" if variable.item_type == "integer" else "number"
                )
            cells["Text Validation Min"] = _number_text(variable.minimum)
            cells["Text Validation Max"] = _number_text(variable.maximum)
        rows.append(_redcap_row(**cells))
    return _csv(REDCAP_COLUMNS, rows, unescaped=(REDCAP_COLUMNS.index("Field Annotation"),))


def redcap_formula(table: Table, variable: Variable) -> str:
    """A calculated column's formula in REDCap syntax, over the table's REDCap names; "" when it reads an
    item that is not a single column of this table (a checkbox, free text), or cannot be written."""
    names = {v.item: v.name for v in _answer_variables(table) if v.kind in ("category", "number") and v.item}
    if not variable.formula:
        return ""
    try:
        tree = expressions.parse(variable.formula)
        if not set(tree.variables) <= set(names):
            return ""
        return expressions.Expression(renamed_tree(tree.root, names)).to_redcap()
    except expressions.ExpressionError:
        return ""


def _redcap_calc_row(table: Table, variable: Variable, form: str) -> list[str]:
    """A calc field with its formula; or, when REDCap could not compute it, a read-only number whose field
    note gives the formula."""
    formula = redcap_formula(table, variable)
    if formula:
        return _redcap_row(
            **{
                "Variable / Field Name": variable.name,
                "Form Name": form,
                "Field Type": "calc",
                "Field Label": variable.item_label,
                "Choices, Calculations, OR Slider Labels": formula,
            }
        )
    return _redcap_row(
        **{
            "Variable / Field Name": variable.name,
            "Form Name": form,
            "Field Type": "text",
            "Field Label": variable.item_label,
            "Field Note": _("Calculated by Circlekeeper: %(formula)s") % {"formula": variable.formula},
            "Text Validation Type OR Show Slider Number": "number",
            "Field Annotation": "@READONLY",
        }
    )


def _event(row: dict[str, Any], mapping: dict[str, str]) -> str:
    return redcap_event_name(row.get("timepoint") or "", purpose=row.get(REDCAP_EVENT) or "", mapping=mapping)


def redcap_missing_code(value: Any) -> Any:
    """A table cell as REDCap records hold it: a missing answer as REDCap's missing-data code (DECL, NA, UNK)."""
    code = by_marker(value)
    return code.redcap if code else value


def redcap_records(table: Table) -> bytes:
    """Flat records matching `redcap_dictionary`: record_id, redcap_event_name, then the fields."""
    fields = [name for name in ("organization", "track", "role", "month") if name in table.names]
    answers = _answer_variables(table)
    header = ["record_id", "redcap_event_name", *fields, *(v.name for v in answers)]
    rows = []
    mapping = event_map()
    for row in table.rows:
        cells = [row["participant"], _event(row, mapping), *(row[name] for name in fields)]
        cells += [redcap_missing_code(row.get(v.name)) for v in answers]
        rows.append(cells)
    return _csv(header, rows)


def _events_of(table: Table) -> list[str]:
    """The unique event names of the table's records, in the order they first appear."""
    mapping = event_map()
    return [event for event in dict.fromkeys(_event(row, mapping) for row in table.rows) if event]


def redcap_events_file(table: Table) -> bytes:
    """REDCap's events file for the records (Project Setup, "Upload events"): one row per event."""
    rows = [[event.rsplit("_arm_", 1)[0], arm_of(event), event, ""] for event in _events_of(table)]
    return _csv(["event_name", "arm_num", "unique_event_name", "custom_event_label"], rows)


def redcap_instrument_events_file(table: Table) -> bytes:
    """REDCap's instrument-event mapping (Designate Instruments, "Upload"): the form on every event."""
    form = safe_name(table.code)
    rows = [[arm_of(event), event, form] for event in _events_of(table)]
    return _csv(["arm_num", "unique_event_name", "form"], rows)


# --- SPSS and Stata -----------------------------------------------------------------------------------------


def short_names(
    names: list[str], limit: int = STATA_NAME_MAX, limits: dict[str, int] | None = None
) -> dict[str, str]:
    """Each name cut to its limit (`limits`, else `limit`), made unique by `_2`, `_3`... (deterministic)."""
    limits = limits or {}
    taken: set[str] = set()
    shortened = {}
    # Names already short enough keep their name: a cut name never takes one of them.
    for name in names:
        if len(name) <= limits.get(name, limit):
            shortened[name] = name
            taken.add(name)
    for name in names:
        if name not in shortened:
            shortened[name] = unique_name(name, taken, limit=limits.get(name, limit))
    return shortened


def statistical_names(table: Table) -> dict[str, str]:
    """Names for SPSS and Stata: at most 32 characters; a labelled one leaves room for the number that
    pyreadstat appends to name its value-label set (which Stata also holds to 32 characters).
    """
    return _statistical_names(table.variables)


def _statistical_names(variables: list[Variable]) -> dict[str, str]:
    labelled = [v.name for v in variables if v.kind in ("category", "flag")]
    room = STATA_NAME_MAX - len(str(max(len(labelled) - 1, 0)))
    return short_names([v.name for v in variables], limits=dict.fromkeys(labelled, room))


def _value_labels(variable: Variable, label_max: int) -> dict[int | float, str]:
    """A category's or a flag's codes, as the whole numbers in the file, with their labels."""
    if variable.kind not in ("category", "flag"):
        return {}
    return {
        float(variable.codes[code]): label[:label_max]
        for code, label in variable.value_labels.items()
        if code in variable.codes
    }


def _missing_numbers(variable: Variable) -> tuple[float, ...]:
    """The numbers a category's missing answers are written as in SPSS (declared user-missing there)."""
    if variable.kind != "category":
        return ()
    return tuple(float(number) for code, number in variable.codes.items() if by_marker(code))


@dataclass
class StatisticalFrame:
    frame: pd.DataFrame
    column_labels: dict[str, str | None]
    value_labels: dict[str, dict[int | float, str]]
    # SPSS: each column's user-missing numbers; Stata (stata=True): each column's extended missing letters.
    missing_numbers: dict[str, list[float]]
    missing_letters: dict[str, list[str]]


def statistical_frame(table: Table, *, label_max: int, stata: bool = False) -> StatisticalFrame:
    """The table with numeric codes, short names and labels, as the statistics packages take it: a missing
    answer as its user-missing number (SPSS), or, with `stata`, as its extended missing letter (.a, .b, .c)."""
    import pandas as pd  # here, not at the top: see the TYPE_CHECKING import

    names = statistical_names(table)
    columns: dict[str, pd.Series] = {}
    labels: dict[str, str | None] = {}
    value_labels: dict[str, dict[int | float, str]] = {}
    missing_numbers: dict[str, list[float]] = {}
    missing_letters: dict[str, list[str]] = {}
    for variable in table.variables:
        name = names[variable.name]
        labels[name] = variable.label[:label_max]
        values = [row.get(variable.name) for row in table.rows]
        if variable.kind == "text":
            columns[name] = pd.Series(
                ["" if v is None else str(escape_cell(str(v))) for v in values], dtype=object
            )
            continue
        if variable.kind in ("category", "flag"):
            value_labels[name] = _value_labels(variable, label_max)
        if _missing_numbers(variable):
            missing_numbers[name] = list(_missing_numbers(variable))[: sav.MISSING_MAX]
        # A missing answer is Stata's extended missing value of its reason (.a, .b, .c), labelled.
        letters = {
            code.marker: code.stata
            for code in missing_codes().values()
            if code.marker in variable.codes
            or (variable.kind == "number" and variable.pnts and code.marker == PNTS)
        }
        if not letters or not stata:
            columns[name] = pd.Series([_numeric(variable, v) for v in values], dtype="float64")
            continue
        columns[name] = pd.Series(
            [letters[v] if isinstance(v, str) and v in letters else _numeric(variable, v) for v in values],
            dtype=object,
        )
        missing_letters[name] = sorted(letters.values())
        marker_labels = value_labels.setdefault(name, {})
        for marker, letter in letters.items():
            number = variable.codes.get(marker)
            label = variable.value_labels.get(marker) or _(by_marker(marker).label)  # type: ignore[union-attr]
            if number is not None:
                marker_labels.pop(float(number), None)
            marker_labels[letter] = label[:label_max]  # type: ignore[index]
    frame = pd.DataFrame(columns, index=range(len(table.rows)))
    return StatisticalFrame(frame, labels, value_labels, missing_numbers, missing_letters)


def _numeric(variable: Variable, value: Any) -> float:
    if value is None:
        return math.nan
    if variable.kind == "category":
        number = variable.codes.get(str(value))
        return math.nan if number is None else float(number)
    if value == PNTS or isinstance(value, str):
        return math.nan
    return float(value)


def _through_file(suffix: str, write: Callable[[str], None]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="circlekeeper-export-") as folder:
        path = Path(folder) / f"export{suffix}"
        write(str(path))
        return path.read_bytes()


def sav_columns(variables: list[Variable], widths: Mapping[str, int]) -> list[sav.Column]:
    """The SPSS variables of a table's columns: the names, labels, value labels and "prefer not to say"
    missing values of `statistical_frame`; a text column `widths[name]` bytes wide (else the most, 255)."""
    names = _statistical_names(variables)
    columns = []
    for variable in variables:
        name, label = names[variable.name], variable.label[:SPSS_LABEL_MAX]
        if variable.kind == "text":
            width = min(max(widths.get(variable.name, sav.STRING_MAX), 1), sav.STRING_MAX)
            columns.append(sav.Column(name, label, width))
            continue
        missing = _missing_numbers(variable)[: sav.MISSING_MAX]
        columns.append(sav.Column(name, label, 0, _value_labels(variable, SPSS_LABEL_MAX), missing))
    return columns


def sav_stream(
    variables: list[Variable],
    rows: Iterable[dict[str, Any]],
    *,
    title: str,
    widths: Mapping[str, int],
    n_cases: int | None = None,
    notes: list[str] | None = None,
) -> Iterator[bytes]:
    """The SPSS file of `rows` (dicts keyed by the column names) in pieces, reading the rows as it goes:
    choices as their whole numbers, "prefer not to say" on a number empty, text as text. `notes` (the
    k-anonymity summary, deidentification_notes) go in the file's document record."""
    numeric = [(v.name, None if v.kind == "text" else v) for v in variables]
    cases = (
        [
            escape_cell(row.get(name)) if variable is None else _numeric(variable, row.get(name))
            for name, variable in numeric
        ]
        for row in rows
    )
    return sav.write(
        sav_columns(variables, widths),
        cases,
        n_cases=n_cases,
        file_label=title[:SPSS_FILE_LABEL_MAX],
        notes=notes or (),
    )


def text_widths(table: Table) -> dict[str, int]:
    """The bytes of each text column's longest value (at least 1), as pyreadstat sized them."""
    return {
        variable.name: max(
            (
                len(str(row[variable.name]).encode("utf-8"))
                for row in table.rows
                if row.get(variable.name) is not None
            ),
            default=1,
        )
        for variable in table.variables
        if variable.kind == "text"
    }


def context_widths(scope: Scope) -> dict[str, int]:
    """Bytes that hold any value the context columns of the scope's item rows (items.iter_rows) can take,
    known before the first row is read: a streamed SPSS file declares its string widths in its header."""
    return {
        # Every participant code of an evaluation is as long (an HMAC, base-32).
        "participant": len(scope.evaluation.code_for(uuid.UUID(int=0))),
        "organization": max((len(o.slug.encode("utf-8")) for o in scope.organizations), default=1),
        "track": _max_length(Case, "track"),
        "role": _max_length(Participant, "role"),
        "timepoint": _max_length(Timepoint, "code"),  # letters, digits, - and _ (TimepointForm)
        "month": len("YYYY-MM"),
    }


def _max_length(model: type[models.Model], name: str) -> int:
    field = model._meta.get_field(name)
    return field.max_length if isinstance(field, models.CharField) and field.max_length else sav.STRING_MAX


def to_sav(table: Table) -> bytes:
    """The whole SPSS file of an in-memory table (the streamed file's pieces, joined)."""
    return b"".join(
        sav_stream(
            table.variables,
            table.rows,
            title=table.title,
            widths=text_widths(table),
            n_cases=len(table.rows),
            notes=deidentification_notes(table),
        )
    )


def to_dta(table: Table) -> bytes:
    import pyreadstat  # here, not at the top: see the TYPE_CHECKING import

    data = statistical_frame(table, label_max=STATA_LABEL_MAX, stata=True)
    # A Stata file has one label of 80 characters and no notes pyreadstat can write: the label says the
    # k-anonymity in short (the codebook export says it in full).
    if table.deidentification:
        with translation.override(table.language):
            label = deidentify.summary_label(table.deidentification)
    else:
        label = table.title
    return _through_file(
        ".dta",
        lambda path: pyreadstat.write_dta(
            data.frame,
            path,
            file_label=label[:STATA_LABEL_MAX],
            column_labels=data.column_labels,
            variable_value_labels=data.value_labels,
            missing_user_values=data.missing_letters,
        ),
    )


# --- codebook -----------------------------------------------------------------------------------------------

CODEBOOK_COLUMNS = (
    "variable",
    "spss_stata_name",
    "label",
    "kind",
    "values",
    "missing_codes",
    "formula",
)


def codebook_rows(table: Table) -> list[list[str]]:
    """One row per column of the table: what every export writes for it (issue 22: missing codes as each
    format declares them, a calculated column's formula)."""
    names = statistical_names(table)
    rows = []
    for variable in table.variables:
        values = "; ".join(
            f"{variable.codes.get(code, code)} = {label}"
            for code, label in variable.value_labels.items()
            if not by_marker(code)
        )
        missing = []
        for code in missing_codes().values():
            if code.marker in variable.codes or (
                variable.kind == "number" and variable.pnts and code.marker == PNTS
            ):
                label = variable.value_labels.get(code.marker) or _(code.label)
                spss = variable.codes.get(code.marker)
                missing.append(
                    _("%(label)s: CSV %(marker)s, SPSS %(spss)s, Stata .%(stata)s, REDCap %(redcap)s")
                    % {
                        "label": label,
                        "marker": code.marker,
                        "spss": spss if spss is not None else _("empty"),
                        "stata": code.stata,
                        "redcap": code.redcap,
                    }
                )
        rows.append(
            [
                variable.name,
                names[variable.name],
                variable.label,
                variable.item_type or variable.kind,
                values,
                "; ".join(missing),
                variable.formula,
            ]
        )
    return rows


DEIDENTIFICATION_KIND = "de-identification"


def deidentification_notes(table: Table) -> list[str]:
    """The k-anonymity summary of the table's rows in sentences of its language (none for a table the plan
    did not make)."""
    if not table.deidentification:
        return []
    with translation.override(table.language):
        return deidentify.summary_lines(table.deidentification)


def deidentification_rows(table: Table) -> list[list[str]]:
    """The codebook's rows on the k-anonymity of the rows: the summary in sentences, then each figure by its
    name (`_deidentification.k_achieved`, ...), so a program can read it too."""
    if not table.deidentification:
        return []
    rows = [
        ["_deidentification", "", line, DEIDENTIFICATION_KIND, "", "", ""]
        for line in deidentification_notes(table)
    ]
    for key in deidentify.SUMMARY_KEYS:
        value = table.deidentification.get(key)
        shown = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        rows.append([f"_deidentification.{key}", "", key, DEIDENTIFICATION_KIND, shown, "", ""])
    return rows


def to_codebook(table: Table) -> bytes:
    return _csv(list(CODEBOOK_COLUMNS), codebook_rows(table) + deidentification_rows(table))


WRITERS: dict[Format, tuple[Callable[[Table], bytes], str, str]] = {
    Format.CSV: (to_csv, ".csv", "text/csv; charset=utf-8"),
    Format.REDCAP_DICTIONARY: (redcap_dictionary, "-redcap-dictionary.csv", "text/csv; charset=utf-8"),
    Format.REDCAP_RECORDS: (redcap_records, "-redcap-records.csv", "text/csv; charset=utf-8"),
    Format.SPSS: (to_sav, ".sav", "application/x-spss-sav"),
    Format.STATA: (to_dta, ".dta", "application/x-stata-dta"),
    Format.REDCAP_EVENTS: (redcap_events_file, "-redcap-events.csv", "text/csv; charset=utf-8"),
    Format.REDCAP_INSTRUMENT_EVENTS: (
        redcap_instrument_events_file,
        "-redcap-instrument-events.csv",
        "text/csv; charset=utf-8",
    ),
    Format.CODEBOOK: (to_codebook, "-codebook.csv", "text/csv; charset=utf-8"),
}
