"""REDCap data dictionaries (CSV, 18 columns): read one into a definition, and write one from a definition.

Reading. The whole dictionary becomes one instrument with one section per form (REDCap's "Form Name"), in
the order the forms first appear. Rows are read as real exports are: a UTF-8 byte-order mark, quoted labels
with line breaks and HTML (tags are removed, line breaks kept), string choice codes (`1, Yes | 0, No`),
matrix groups (each group's choices become one shared choice list named after the group). The 16-column
dictionaries of older REDCap versions (without "Matrix Ranking?" and "Field Annotation") are read too.

  text          short_text; with validation integer → integer, number* → decimal, date_* → date (the REDCap
                validation name is kept for export); other validations (email, phone, time, datetime...)
                stay short_text with their validation; an unknown validation is kept and reported
  notes         long_text            radio, dropdown   single_choice       checkbox   multiple_choice
  yesno         yes_no               truefalse         yes_no answered True (1) / False (0)
  slider        slider (labels → anchors, min/max default 0–100, "number" → show_value)
  descriptive   descriptive          calc              calculated (calculation via translate_redcap)
  file, sql     kept as descriptive items, with a warning: uploads and database queries are not asked here,
                and rejecting the whole dictionary for them would lose everything else in it

Branching logic and calculations go through expressions.translate_redcap; one that cannot be translated, or
that names a field not in the dictionary, is kept as `source_logic` and reported, never dropped. A row that
cannot be read (unknown field type, duplicate variable, bad choices, bad min/max...) rejects the whole file,
with every such problem named by its CSV line.

Writing (`export_dictionary`): the 18 columns REDCap accepts, in the default language (or the one asked).
Sections become forms; a section's show_if is joined to each item's branching logic. What REDCap cannot
hold is reported: other languages, scores, choice scores, constraints, XLSForm logic that was never
translated. "Prefer not to say" travels as the action tag @CK-PREFER-NOT-TO-SAY in the field annotation
(REDCap ignores tags it does not know), so a round trip keeps it.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Collection
from typing import Any

from django.utils.translation import gettext as _

from circlekeeper.instruments import expressions
from circlekeeper.instruments.definition import (
    DefinitionError,
    Imported,
    ImportRejected,
    iter_items,
    localized,
    locate_problems,
    validate_definition,
)
from circlekeeper.instruments.missing import guess_reason as guess_missing_reason
from circlekeeper.lib.csv_safety import escape_row, unescape_cell

COLUMNS = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]
FIELD_TYPES = (
    "text",
    "notes",
    "radio",
    "dropdown",
    "checkbox",
    "yesno",
    "truefalse",
    "slider",
    "descriptive",
    "calc",
    "file",
    "sql",
)
PNTS_TAG = "@CK-PREFER-NOT-TO-SAY"
# The same 18 columns as REDCap's API, REDCapR and PyCap write them (`field_name,form_name,...`).
API_COLUMNS = [
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DECIMALS = re.compile(r"^number(_\ddp)?(_comma_decimal)?$")
_KNOWN_TEXT_VALIDATIONS = {
    "email",
    "phone",
    "phone_australia",
    "zipcode",
    "postalcode_australia",
    "postalcode_canada",
    "postalcode_french",
    "postalcode_germany",
    "alpha_only",
    "ssn",
    "mrn_10d",
    "mrn_generic",
    "vmrn",
    "time",
    "time_hh_mm_ss",
    "time_mm_ss",
    "datetime_ymd",
    "datetime_dmy",
    "datetime_mdy",
    "datetime_seconds_ymd",
    "datetime_seconds_dmy",
    "datetime_seconds_mdy",
    "signature",
}
_DATES = ("date_ymd", "date_dmy", "date_mdy")


NOT_ASKED_TYPES = ("descriptive", "calculated")
# Action tags applied on import: @HIDDEN, @HIDDEN-SURVEY (never shown to the person answering), @READONLY,
# @DEFAULT, @TODAY and @NOW (filled when the form is shown), @CALCTEXT and @CALCDATE (calculated) and @NONEOFTHEABOVE
# (a choice chosen on its own). Any other tag stays in the annotation and is listed in the import report.
APPLIED_TAGS = (
    "@HIDDEN",
    "@HIDDEN-SURVEY",
    "@READONLY",
    "@DEFAULT",
    "@TODAY",
    "@NOW",
    "@CALCTEXT",
    "@NONEOFTHEABOVE",
)
_TAG = re.compile(r"(?<![\w@])(@[A-Z][A-Z0-9_-]*)")


def action_tags(annotation: str) -> list[tuple[str, str]]:
    """The action tags of a field annotation, each with its argument: @DEFAULT='x' → ("@DEFAULT", "x"),
    @CALCTEXT(if([a] = 1, 'one', 'other')) → ("@CALCTEXT", "if(...)"); a tag without one has ""."""
    tags = []
    for match in _TAG.finditer(annotation):
        tag, rest = match.group(1), annotation[match.end() :]
        argument = ""
        if rest.startswith("="):
            quoted = re.match(r"""=\s*(?:'([^']*)'|"([^"]*)"|(\S+))""", rest)
            if quoted:
                argument = next(group for group in quoted.groups() if group is not None)
        elif rest.startswith("("):
            depth, quote = 0, ""
            for position, char in enumerate(rest):
                if quote:
                    quote = "" if char == quote else quote
                elif char in "'\"":
                    quote = char
                elif char == "(":
                    depth += 1
                elif char == ")":
                    depth -= 1
                    if depth == 0:
                        argument = rest[1:position]
                        break
        tags.append((tag, argument.strip()))
    return tags


def _normalize_header(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().lower()


def html_to_text(value: str) -> str:
    """A label as plain text: tags removed, line breaks (and <br>, <p>, <li>...) kept, entities decoded."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    # A tag that breaks the line, written before a real line break, makes one break, not two.
    value = re.sub(r"(?i)(<br\s*/?>|</(p|div|li|h[1-6]|tr)\s*>)[ \t]*\n?", "\n", value)
    value = re.sub(r"(?s)<[^>]*>", "", value)
    value = html.unescape(value).replace("\xa0", " ")
    lines = [line.strip() for line in value.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _number(text: str) -> int | float | None:
    try:
        value = float(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def parse_choices(text: str) -> list[tuple[str, str]] | None:
    """`1, Yes | 0, No` as [("1", "Yes"), ("0", "No")]; None when an entry has no code."""
    text = text.strip()
    parts = text.split("|") if "|" in text else text.split("\n")
    choices = []
    for part in parts:
        code, comma, label = part.partition(",")
        if not comma or not code.strip() or not re.match(r"^[A-Za-z0-9_.-]+$", code.strip()):
            return None
        choices.append((code.strip(), html_to_text(label)))
    return choices


class _Reader:
    def __init__(self, *, code: str, title: str, language: str) -> None:
        self.code, self.title, self.language = code, title, language
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.kept_as_text: list[str] = []
        self.rows: dict[str, str] = {}
        self.sections: dict[str, dict[str, Any]] = {}
        self.choice_lists: dict[str, list[dict[str, Any]]] = {}
        self.matrix_first: dict[str, tuple[str, list[tuple[str, str]], str]] = {}
        self.unlabelled: list[str] = []
        self.not_applied: list[str] = []
        self.missing_seen: set[str] = set()
        self.translated: list[str] = []
        # (item, key, original text, where) for every expression, checked once every field is known.
        self.logic: list[tuple[dict[str, Any], str, str, str]] = []
        # event → where logic reads [event][field] (the import report names the events that map to no timepoint)
        self.events: dict[str, list[str]] = {}

    def text(self, value: str) -> dict[str, str]:
        return {self.language: value}

    def read(self, content: str) -> Imported:
        reader = csv.reader(io.StringIO(content, newline=""))
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ImportRejected(
                [_("line 1: the file cannot be read as CSV (%(error)s)") % {"error": exc}]
            ) from None
        if header is None:
            raise ImportRejected([_("line 1: the file is empty")])
        if not self.header_ok(header):
            raise ImportRejected(
                [
                    _(
                        "line 1: this is not a REDCap data dictionary: the first column must be “Variable / Field "
                        "Name” (as the REDCap page writes it) or “field_name” (as the API writes it), followed by "
                        "the other 15 to 17 columns in REDCap's order; this file starts with %(found)s"
                    )
                    % {"found": ", ".join(f"“{c.strip()}”" for c in header[:4]) or "—"}
                ]
            )
        width = len(header)
        line = reader.line_num
        try:
            for row in reader:
                where = _("line %(line)s") % {"line": line + 1}
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != width:
                    self.problems.append(
                        _("%(where)s: %(found)s columns where the header has %(expected)s")
                        % {"where": where, "found": len(row), "expected": width}
                    )
                    continue
                # A cell the export guard escaped ('=…) reads back as what it was.
                cells = [unescape_cell(cell).strip() for cell in row]
                self.row(where, cells + [""] * (len(COLUMNS) - width))
        except csv.Error as exc:
            self.problems.append(
                _("line %(line)s: the file cannot be read as CSV (%(error)s)")
                % {"line": line + 1, "error": exc}
            )
        if not self.sections and not self.problems:
            self.problems.append(_("the dictionary has no fields"))
        self.check_logic()
        if self.problems:
            raise ImportRejected(self.problems)
        if self.unlabelled:
            self.warnings.append(
                _(
                    "%(count)s fields have an empty label, as REDCap allows; each is shown with its variable "
                    "name as its question text: %(where)s"
                )
                % {"count": len(self.unlabelled), "where": "; ".join(self.unlabelled)}
            )
        definition: dict[str, Any] = {
            "code": self.code,
            "title": self.text(self.title),
            "languages": [self.language],
            "default_language": self.language,
            "source": {"format": "redcap"},
            "sections": list(self.sections.values()),
        }
        if self.choice_lists:
            definition["choice_lists"] = self.choice_lists
        try:
            definition = validate_definition(definition)
        except DefinitionError as exc:
            raise ImportRejected(locate_problems(exc, self.rows)) from None
        return Imported(
            definition,
            self.warnings,
            translated=self.translated,
            kept_as_text=self.kept_as_text,
            not_applied=self.not_applied,
            events=self.events,
        )

    def header_ok(self, header: list[str]) -> bool:
        names = [_normalize_header(h) for h in header]
        if names and names[0].startswith("\ufeff"):
            names[0] = names[0][1:]
        if len(names) not in (16, 17, 18):
            return False
        return any(
            names == [_normalize_header(c) for c in columns][: len(names)]
            for columns in (COLUMNS, API_COLUMNS)
        )

    def row(self, where: str, cells: list[str]) -> None:
        (
            name,
            form,
            header,
            kind,
            label,
            choices,
            note,
            validation,
            low,
            high,
            identifier,
            branching,
            required,
            _alignment,
            _number_column,
            matrix,
            ranking,
            annotation,
        ) = cells
        problems_before = len(self.problems)

        def problem(message: str, **params: object) -> None:
            self.problems.append(f"{where}: {message % params if params else message}")

        if not _NAME.match(name):
            problem(
                _("variable name %(name)r must be lower-case letters, digits and _, starting with a letter"),
                name=name,
            )
            return
        if name in self.rows:
            problem(_("variable %(name)r is already defined on %(other)s"), name=name, other=self.rows[name])
            return
        self.rows[name] = where
        where = f"{where} ({name})"
        if not _NAME.match(form):
            problem(
                _("form name %(form)r must be lower-case letters, digits and _, starting with a letter"),
                form=form,
            )
        if kind not in FIELD_TYPES:
            problem(
                _("unknown field type %(type)r (REDCap types are %(types)s)"),
                type=kind,
                types=", ".join(FIELD_TYPES),
            )
            return
        item: dict[str, Any] = {"code": name}
        label_text = html_to_text(label)
        if label_text:
            item["label"] = self.text(label_text)
        elif kind not in ("calc", "descriptive"):
            # REDCap accepts an empty label (a checkbox whose text is in its choice, a notes box under a
            # section header); so does this, with one note for all of them (see read()).
            self.unlabelled.append(where)
        if header.strip():
            item["heading"] = self.text(html_to_text(header))
        if note.strip():
            item["help"] = self.text(html_to_text(note))
        if identifier.lower() == "y":
            item["identifying"] = True
        if required.lower() == "y":
            if kind in ("descriptive", "calc", "file", "sql"):
                self.warnings.append(
                    _("%(where)s: a %(type)s field cannot be required; ignored")
                    % {"where": where, "type": kind}
                )
            else:
                item["required"] = True
        if PNTS_TAG in annotation:
            item["prefer_not_to_say"] = True
            annotation = " ".join(annotation.replace(PNTS_TAG, " ").split())
        if annotation:
            item["annotation"] = annotation
        tags = action_tags(annotation)
        if ranking.lower() == "y":
            self.warnings.append(
                _("%(where)s: matrix ranking is not supported; the choices can be repeated")
                % {"where": where}
            )

        if kind in ("radio", "dropdown", "checkbox"):
            item["type"] = "multiple_choice" if kind == "checkbox" else "single_choice"
            parsed = parse_choices(choices)
            if not parsed:
                problem(_("choices %(choices)r must read like “1, Yes | 0, No”"), choices=choices)
            elif len({code for code, _label in parsed}) != len(parsed):
                codes = [code for code, _label in parsed]
                problem(
                    _("choice code %(code)r is used twice in %(choices)r; each code must be unique"),
                    code=next(code for code in codes if codes.count(code) > 1),
                    choices=choices,
                )
            else:
                choice_list = [{"code": code, "label": self.text(text)} for code, text in parsed]
                self.missing_choices(where, choices, choice_list, parsed)
                if matrix:
                    self.matrix(where, item, kind, matrix, parsed, choice_list)
                else:
                    item["choices"] = choice_list
        elif matrix:
            problem(_("only radio and checkbox fields can be in a matrix group"))
        elif kind == "text":
            self.text_field(where, item, validation, low, high, problem)
        elif kind == "notes":
            item["type"] = "long_text"
        elif kind == "yesno":
            item["type"] = "yes_no"
        elif kind == "truefalse":
            item["type"] = "yes_no"
            item["choices"] = [
                {"code": "1", "label": self.text("True")},
                {"code": "0", "label": self.text("False")},
            ]
        elif kind == "slider":
            self.slider(item, choices, validation, low, high, problem)
        elif kind == "descriptive":
            item["type"] = "descriptive"
        elif kind == "calc":
            item["type"] = "calculated"
            if not choices.strip():
                problem(_("a calc field needs its calculation in the choices column"))
            else:
                self.logic.append((item, "calculation", choices, where))
        else:  # file, sql: not asked here (see the module docstring)
            item["type"] = "descriptive"
            item.pop("identifying", None)
            self.warnings.append(
                _("%(where)s: %(type)s fields are not supported; kept as descriptive text, nothing is asked")
                % {"where": where, "type": kind}
            )
        if kind not in ("text", "slider") and (low or high):
            problem(_("only text and slider fields have a minimum or maximum"))
        if tags:
            self.apply_tags(where, item, kind, tags)
        if branching.strip():
            self.logic.append((item, "show_if", branching, where))
        if len(self.problems) == problems_before:
            section = self.sections.setdefault(
                form, {"code": form, "title": self.text(form.replace("_", " ").capitalize()), "items": []}
            )
            section["items"].append(item)

    def matrix(
        self,
        where: str,
        item: dict[str, Any],
        kind: str,
        group: str,
        parsed: list[tuple[str, str]],
        choice_list: list[dict[str, Any]],
    ) -> None:
        if not _NAME.match(group):
            self.problems.append(
                _("%(where)s: matrix group name %(name)r must be lower-case letters, digits and _")
                % {"where": where, "name": group}
            )
            return
        first = self.matrix_first.get(group)
        if first is None:
            self.matrix_first[group] = (kind, parsed, where)
            self.choice_lists[group] = choice_list
        elif (first[0] == "checkbox") != (kind == "checkbox") or first[1] != parsed:
            self.problems.append(
                _(
                    "%(where)s: matrix group %(name)r must share the field type and choices of its first field (%(first)s)"
                )
                % {"where": where, "name": group, "first": first[2]}
            )
            return
        item["choice_list"] = group
        item["matrix_group"] = group

    def apply_tags(self, where: str, item: dict[str, Any], kind: str, tags: list[tuple[str, str]]) -> None:
        """The action tags that mean something here (see APPLIED_TAGS); every other one is reported."""
        for tag, argument in tags:
            if tag in ("@HIDDEN", "@HIDDEN-SURVEY"):
                item["hidden"] = True
                item.pop("required", None)
            elif tag == "@READONLY" and item["type"] not in NOT_ASKED_TYPES:
                item["readonly"] = True
            elif tag in ("@TODAY", "@NOW") and item["type"] in ("date", "short_text"):
                item["default"] = "today" if tag == "@TODAY" or item["type"] == "date" else "now"
            elif tag == "@DEFAULT" and argument and item["type"] not in NOT_ASKED_TYPES:
                item.setdefault("default", argument)
            elif tag == "@NONEOFTHEABOVE" and item["type"] == "multiple_choice" and argument:
                item["exclusive"] = [code.strip() for code in argument.split(",") if code.strip()]
            elif tag in ("@CALCTEXT", "@CALCDATE") and argument and kind == "text":
                for key in ("validation", "min", "max", "required", "prefer_not_to_say", "identifying"):
                    item.pop(key, None)
                item["type"] = "calculated"
                text = argument if tag == "@CALCTEXT" else f"calcdate({argument})"
                self.logic.append((item, "calculation", text, where))
            else:
                self.not_applied.append(
                    _("%(where)s: %(tag)s is kept in the annotation, not applied here")
                    % {"where": where, "tag": tag}
                )

    def missing_choices(
        self, where: str, text: str, choice_list: list[dict[str, Any]], parsed: list[tuple[str, str]]
    ) -> None:
        """Choices whose label names a missing code (“6, Not applicable”) become missing codes; said once per
        set of choices."""
        found = []
        for choice, (code, label) in zip(choice_list, parsed, strict=True):
            reason = guess_missing_reason(label)
            if reason:
                choice["missing"] = reason
                found.append(f"{code} “{label}”")
        if found and text not in self.missing_seen:
            self.missing_seen.add(text)
            self.warnings.append(
                _(
                    "%(where)s (and every field with the same choices): %(choices)s read as missing codes: "
                    "declared missing in every export and counted in no score"
                )
                % {"where": where, "choices": ", ".join(found)}
            )

    def text_field(
        self, where: str, item: dict[str, Any], validation: str, low: str, high: str, problem: Any
    ) -> None:
        if validation == "integer":
            item["type"] = "integer"
        elif _DECIMALS.match(validation):
            item["type"] = "decimal"
            if validation != "number":
                item["validation"] = validation
        elif validation in _DATES:
            item["type"] = "date"
            if validation != "date_ymd":
                item["validation"] = validation
        else:
            item["type"] = "short_text"
            if validation:
                if not re.match(r"^[a-z][a-z0-9_]*$", validation):
                    problem(
                        _("text validation type %(name)r is not a REDCap validation name"), name=validation
                    )
                    return
                item["validation"] = validation
                if validation not in _KNOWN_TEXT_VALIDATIONS:
                    self.warnings.append(
                        _(
                            "%(where)s: text validation %(name)r is not known here; kept, but answers are not checked"
                        )
                        % {"where": where, "name": validation}
                    )
            elif low or high:
                problem(_("a minimum or maximum needs a text validation type"))
                return
        for key, value in (("min", low), ("max", high)):
            if not value:
                continue
            if item["type"] in ("integer", "decimal"):
                number = _number(value)
                if number is None or (item["type"] == "integer" and not float(number).is_integer()):
                    problem(_("%(key)s %(value)r is not a number"), key=key, value=value)
                    continue
                item[key] = int(number) if item["type"] == "integer" else number
            elif item["type"] == "date":
                if value != "today" and not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
                    problem(_("%(key)s %(value)r is not a date written YYYY-MM-DD"), key=key, value=value)
                    continue
                item[key] = value
            else:
                item[key] = value
        if (
            isinstance(item.get("min"), int | float)
            and isinstance(item.get("max"), int | float)
            and item["min"] > item["max"]
        ):
            problem(_("the minimum %(min)s is above the maximum %(max)s"), min=item["min"], max=item["max"])
        if (
            item["type"] == "date"
            and "min" in item
            and "max" in item
            and "today" not in (item["min"], item["max"])
            and item["min"] > item["max"]
        ):
            problem(_("the minimum %(min)s is after the maximum %(max)s"), min=item["min"], max=item["max"])

    def slider(
        self, item: dict[str, Any], labels: str, validation: str, low: str, high: str, problem: Any
    ) -> None:
        item["type"] = "slider"
        anchors = [html_to_text(part) for part in labels.split("|")] if labels.strip() else []
        if len(anchors) > 3:
            problem(_("a slider has at most 3 labels (left | middle | right)"))
        elif anchors:
            item["anchors"] = [self.text(anchor) for anchor in anchors]
        if validation == "number":
            item["show_value"] = True
        elif validation:
            problem(_("a slider's validation column may only say “number”"))
        for key, value in (("min", low), ("max", high)):
            if value:
                number = _number(value)
                if number is None:
                    problem(_("%(key)s %(value)r is not a number"), key=key, value=value)
                else:
                    item[key] = number
        if item.get("min", 0) > item.get("max", 100):
            problem(
                _("the minimum %(min)s is above the maximum %(max)s"),
                min=item.get("min", 0),
                max=item.get("max", 100),
            )

    def check_logic(self) -> None:
        """Translate every expression; one that cannot be translated, or names unknown fields, stays as text."""
        codes = set(self.rows)
        for item, key, text, where in self.logic:
            try:
                translated = expressions.translate_redcap(text)
                unknown = sorted(set(expressions.parse(translated).variables) - codes)
            except expressions.ExpressionError as exc:
                reason = str(exc)
            else:
                if not unknown:
                    item[key] = translated
                    for event, _field in sorted(expressions.parse(translated).event_references):
                        self.events.setdefault(event, []).append(where)
                    self.translated.append(
                        _("%(where)s: %(what)s %(text)r → %(translated)r")
                        % {
                            "where": where,
                            "what": _("branching logic") if key == "show_if" else _("calculation"),
                            "text": text,
                            "translated": translated,
                        }
                    )
                    continue
                reason = _("it names fields that are not in this dictionary: %(names)s") % {
                    "names": ", ".join(unknown)
                }
            item.setdefault("source_logic", {})[key] = {"syntax": "redcap", "text": text}
            what = _("branching logic") if key == "show_if" else _("calculation")
            self.kept_as_text.append(
                _(
                    "%(where)s: the %(what)s %(text)r cannot be translated (%(reason)s); kept as text, not applied"
                )
                % {"where": where, "what": what, "text": text, "reason": reason}
            )


def read_dictionary(content: bytes | str, *, code: str, title: str = "", language: str = "en") -> Imported:
    """A REDCap data dictionary as a definition (not saved); ImportRejected names every bad row."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportRejected(
                [_("the file is not UTF-8 text (byte %(position)s)") % {"position": exc.start}]
            ) from None
    content = content.removeprefix("\ufeff")
    return _Reader(code=code, title=title or code, language=language).read(content)


# --- export ------------------------------------------------------------------------------------


def _format_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def renamed_tree(node: expressions.Node, names: dict[str, str]) -> expressions.Node:
    """The expression tree with its items under their REDCap names."""
    if isinstance(node, expressions.Name):
        return expressions.Name(names.get(node.name, node.name))
    if isinstance(node, expressions.Unary):
        return expressions.Unary(node.op, renamed_tree(node.operand, names))
    if isinstance(node, expressions.Binary):
        return expressions.Binary(node.op, renamed_tree(node.left, names), renamed_tree(node.right, names))
    if isinstance(node, expressions.Call):
        return expressions.Call(node.name, tuple(renamed_tree(arg, names) for arg in node.args))
    return node


def _to_redcap(code: str, key: str, text: str, names: dict[str, str], warnings: list[str]) -> str:
    try:
        tree = renamed_tree(expressions.parse(text).root, names)
        return expressions.Expression(tree).to_redcap()
    except expressions.ExpressionError as exc:
        warnings.append(f"{code}: its {key} {text!r} cannot be written as REDCap logic ({exc}); left out")
        return ""


def _logic(
    item: dict[str, Any], key: str, section_logic: str, names: dict[str, str], warnings: list[str]
) -> str:
    """An item's expression in REDCap syntax ("" when it has none), joined to its section's."""
    parts = [section_logic] if section_logic else []
    if key in item:
        parts.append(_to_redcap(item["code"], key, item[key], names, warnings))
    elif key in item.get("source_logic", {}):
        source = item["source_logic"][key]
        if source["syntax"] == "redcap":
            parts.append(source["text"])
        else:
            warnings.append(f"{item['code']}: the untranslated XLSForm {key} {source['text']!r} is left out")
    parts = [part for part in parts if part]
    if len(parts) == 2:
        return f"({parts[0]}) and ({parts[1]})"
    return parts[0] if parts else ""


def _redcap_names(codes: list[str], reserved: Collection[str] = ()) -> dict[str, str]:
    """REDCap names (lower-case letters, digits and _, starting with a letter) for codes, kept where valid."""
    taken = set(reserved) | {code for code in codes if _NAME.match(code)}
    names = {}
    for code in codes:
        if _NAME.match(code):
            names[code] = code
            continue
        base = re.sub(r"[^a-z0-9_]+", "_", code.lower()).strip("_")
        base = base if re.match(r"^[a-z]", base) else f"v_{base}".rstrip("_")
        name, number = base, 2
        while name in taken:
            name, number = f"{base}_{number}", number + 1
        taken.add(name)
        names[code] = name
    return names


def _is_record_id(definition: dict[str, Any], item: dict[str, Any]) -> bool:
    """Whether the first item can be REDCap's record ID: a text field; from a REDCap dictionary, any text
    field, validated or not (an integer-validated study_id), since REDCap's first field is the record ID."""
    if item["type"] == "short_text":
        return True
    from_redcap = definition.get("source", {}).get("format") == "redcap"
    return from_redcap and item["type"] in ("integer", "decimal", "date")


class _GuardedWriter:
    """Every row through the export guard (lib.csv_safety): labels and notes may come from an imported file."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def writerow(self, row: list[str]) -> None:
        self.writer.writerow(escape_row(row, action_tag_columns=(COLUMNS.index("Field Annotation"),)))


def export_dictionary(definition: dict[str, Any], *, language: str | None = None) -> tuple[str, list[str]]:
    """(the CSV text of a REDCap data dictionary for this definition, what could not be written)."""
    language = language or definition["default_language"]
    warnings: list[str] = []
    if len(definition["languages"]) > 1:
        others = ", ".join(lang for lang in definition["languages"] if lang != language)
        warnings.append(f"only the {language} texts are written (REDCap holds one language); not {others}")
    if definition.get("scoring"):
        warnings.append("scores and bands are not written: REDCap has no place for them")

    def text(value: dict[str, str] | None) -> str:
        return localized(value, language, definition)

    out = io.StringIO()
    writer = _GuardedWriter(csv.writer(out, lineterminator="\n"))
    writer.writerow(COLUMNS)
    items = list(iter_items(definition))
    record_id = not items or not _is_record_id(definition, items[0][1])
    names = _redcap_names([item["code"] for _section, item in items], {"record_id"} if record_id else set())
    forms = _redcap_names([section["code"] for section in definition["sections"]])
    groups = _redcap_names(sorted({item["matrix_group"] for _s, item in items if "matrix_group" in item}))
    for code, name in names.items():
        if code != name:
            warnings.append(f"{code}: written as {name} (REDCap names are lower-case letters, digits and _)")
    if record_id:
        form = forms[items[0][0]["code"]] if items else "form_1"
        writer.writerow(["record_id", form, "", "text", "Record ID"] + [""] * 13)
        warnings.append("REDCap needs a text field first for the record ID: record_id was added")
    for section, item in items:
        section_logic = (
            _to_redcap(section["code"], "show_if", section["show_if"], names, warnings)
            if section.get("show_if")
            else ""
        )
        row = dict.fromkeys(COLUMNS, "")
        row["Variable / Field Name"] = names[item["code"]]
        row["Form Name"] = forms[section["code"]]
        row["Section Header"] = text(item.get("heading"))
        row["Field Label"] = text(item.get("label")) or item["code"]
        row["Field Note"] = text(item.get("help"))
        row["Identifier?"] = "y" if item.get("identifying") else ""
        row["Required Field?"] = "y" if item.get("required") else ""
        row["Matrix Group Name"] = groups.get(item.get("matrix_group", ""), "")
        annotation = item.get("annotation", "")
        if item.get("prefer_not_to_say"):
            annotation = f"{annotation} {PNTS_TAG}".strip()
        row["Field Annotation"] = annotation
        row["Branching Logic (Show field only if...)"] = _logic(
            item, "show_if", section_logic, names, warnings
        )
        _write_type(definition, item, row, text, names, warnings)
        if "constraint" in item or "constraint" in item.get("source_logic", {}):
            warnings.append(f"{item['code']}: its constraint is not written (REDCap has only min and max)")
        writer.writerow([row[column] for column in COLUMNS])
    return out.getvalue(), warnings


def _write_type(
    definition: dict[str, Any],
    item: dict[str, Any],
    row: dict[str, str],
    text: Any,
    names: dict[str, str],
    warnings: list[str],
) -> None:
    kind = item["type"]
    field_type = {
        "single_choice": "radio",
        "multiple_choice": "checkbox",
        "yes_no": "yesno",
        "integer": "text",
        "decimal": "text",
        "short_text": "text",
        "date": "text",
        "long_text": "notes",
        "slider": "slider",
        "descriptive": "descriptive",
        "calculated": "calc",
    }[kind]
    if kind in ("single_choice", "multiple_choice") or (kind == "yes_no" and "choices" in item):
        choices = item.get("choices") or definition.get("choice_lists", {}).get(
            item.get("choice_list", ""), []
        )
        labels = [(c["code"], text(c.get("label"))) for c in choices]
        if kind == "yes_no":
            if sorted(labels) == [("0", "False"), ("1", "True")]:
                field_type = "truefalse"
                labels = []
            else:
                field_type = "radio"
                warnings.append(
                    f"{item['code']}: a yes/no item with its own answer labels is written as radio"
                )
        if any(c.get("score") is not None for c in choices):
            warnings.append(f"{item['code']}: choice scores are not written")
        row["Choices, Calculations, OR Slider Labels"] = " | ".join(
            f"{code}, {label}" for code, label in labels
        )
    validation = {"integer": "integer", "decimal": "number", "date": "date_ymd"}.get(kind, "")
    row["Text Validation Type OR Show Slider Number"] = item.get("validation", validation)
    if kind == "slider":
        row["Choices, Calculations, OR Slider Labels"] = " | ".join(text(a) for a in item.get("anchors", []))
        row["Text Validation Type OR Show Slider Number"] = "number" if item.get("show_value") else ""
        if "step" in item and item["step"] != 1:
            warnings.append(f"{item['code']}: the slider step is not written")
    if kind == "calculated":
        row["Choices, Calculations, OR Slider Labels"] = _logic(item, "calculation", "", names, warnings)
    for key, column in (("min", "Text Validation Min"), ("max", "Text Validation Max")):
        if key in item:
            row[column] = _format_number(item[key])
    row["Field Type"] = field_type
