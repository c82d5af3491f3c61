"""XLSForms (survey / choices / settings sheets), read through pyxform into a definition.

pyxform reads the workbook (`get_xlsform`) and turns it into its survey JSON (`workbook_to_json`), which
checks the form the way ODK tools do; nothing here parses sheets by hand. The sheet rows are used only to
name the row of each question in messages ("survey sheet, row 12").

- Groups (begin/end group) become sections; a nested group becomes its own section, and questions around
  it in the outer group go to sections of their own. A group's relevance becomes the section's show_if
  (joined with its parent group's). A repeat is read as a group: its questions are asked once (reported).
- select_one / select_multiple use the choices sheet (one shared choice list per list_name); "or_other" adds
  its choice and question as pyxform does. rank is asked as multiple choice (reported: order is not kept).
  A select with appearance "label" (a matrix header row) becomes descriptive text; "list-nolabel" rows of
  one group sharing one list form a matrix group.
- integer, decimal, range (a slider), text/string (multiline → long text), date, time and dateTime (text
  with a time / datetime validation), note (descriptive), calculate (calculated), acknowledge (one choice).
- Metadata (start, end, today, deviceid, username, audit...) is not collected: Circlekeeper records no
  device data about the person answering. hidden fields hold nothing to ask and are left out. Media,
  geopoints, barcodes and uploads are kept as descriptive text. Everything left out is reported.
- label::English (en) / label::Spanish (es) columns become languages (the code in parentheses, else a known
  language name, else the name itself); texts without a language belong to the settings' default_language,
  or else to the first language named.
- relevant → show_if, calculation → calculation, constraint → min/max when it is just `. >= a and . <= b`,
  else a constraint expression; all through expressions.translate_xlsform. An expression that cannot be
  translated is kept as source_logic and reported, never dropped.

A form pyxform refuses, or whose questions cannot make a valid definition, is rejected whole.
"""

from __future__ import annotations

import copy
import io
import re
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from pyxform.errors import PyXFormError
from pyxform.xls2json import workbook_to_json
from pyxform.xls2json_backends import get_xlsform

from circlekeeper.instruments import expressions
from circlekeeper.instruments.definition import (
    DefinitionError,
    Imported,
    ImportRejected,
    locate_problems,
    validate_definition,
)
from circlekeeper.instruments.missing import guess_reason as guess_missing_reason

METADATA = {
    "start",
    "end",
    "today",
    "deviceid",
    "username",
    "simserial",
    "subscriberid",
    "phonenumber",
    "email",
    "audit",
    "uri:deviceid",
    "start-geopoint",
    "background-audio",
    "background-geopoint",
}
UNSUPPORTED = {
    "geopoint",
    "geotrace",
    "geoshape",
    "barcode",
    "photo",
    "image",
    "audio",
    "video",
    "file",
    "signature",
    "xml-external",
    "csv-external",
    "select one external",
    "select one from map",
}
LANGUAGE_NAMES = {
    "english": "en",
    "spanish": "es",
    "español": "es",
    "espanol": "es",
    "french": "fr",
    "français": "fr",
    "german": "de",
    "deutsch": "de",
    "portuguese": "pt",
    "português": "pt",
    "chinese": "zh",
    "arabic": "ar",
    "russian": "ru",
    "italian": "it",
    "vietnamese": "vi",
    "korean": "ko",
    "japanese": "ja",
    "hindi": "hi",
    "swahili": "sw",
    "tagalog": "tl",
}
_BOUND = r"\.\s*(>=|<=)\s*(-?\d+(?:\.\d+)?)"
_BOUNDS = re.compile(rf"^\s*{_BOUND}(?:\s+and\s+{_BOUND})?\s*$")
_TRUE = {"yes", "true", "true()", "1"}
_FALSE = {"no", "false", "false()", "0", ""}
_UNKEPT_KEYS = {
    "default": gettext_noop("the default value is not kept"),
    "media": gettext_noop("the media are not kept"),
    "guidance_hint": gettext_noop("the guidance hint is not kept"),
    "choice_filter": gettext_noop("the choice filter is not kept"),
}


def language_code(name: str) -> str:
    """English (en) → en, Spanish → es, de → de; another name → itself, lower-cased."""
    match = re.search(r"\(([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)\)\s*$", name)
    if match:
        return match.group(1).lower().replace("_", "-")
    lowered = name.strip().lower()
    return LANGUAGE_NAMES.get(lowered, re.sub(r"[^a-z0-9_-]+", "_", lowered).strip("_") or "und")


def code_for(text: str) -> str:
    code = re.sub(r"[^A-Za-z0-9_.-]+", "_", text.strip()).strip("_").lower()
    return code if code and re.match(r"^[a-z_]", code) else f"form_{code}"


class _Reader:
    def __init__(self, workbook: Any, *, code: str) -> None:
        self.code = code
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.kept_as_text: list[str] = []
        self.translated: list[str] = []
        self.rows: dict[str, str] = {}
        for number, row in enumerate(workbook.survey or [], start=2):
            name = row.get("name")
            if name and name not in self.rows:
                self.rows[name] = _("survey sheet, row %(row)s") % {"row": number}
        self.choice_rows: dict[tuple[str, str], str] = {}
        for number, row in enumerate(workbook.choices or [], start=2):
            if row.get("list_name"):
                where = _("choices sheet, row %(row)s") % {"row": number}
                self.rows.setdefault(row["list_name"], where)
                self.choice_rows.setdefault((str(row["list_name"]), str(row.get("name", ""))), where)
        self.settings = (workbook.settings or [{}])[0]
        self.sections: list[dict[str, Any]] = []
        self.choice_lists: dict[str, list[dict[str, Any]]] = {}
        self.languages: list[str] = []
        self.default = ""
        self.logic: list[tuple[dict[str, Any], str, str, str]] = []
        self.codes: set[str] = set()

    def choice_where(self, list_name: str, code: str) -> str:
        return self.choice_rows.get((list_name, code)) or self.rows.get(list_name) or _("choices sheet")

    def where(self, name: str) -> str:
        row = self.rows.get(name)
        if row is None:
            # A question pyxform made itself ("or_other" adds <name>_other, repeat_count a <repeat>_count) is
            # named at the row of the question it was made from.
            made_from = re.sub(r"_(other|count)$", "", name)
            row = self.rows.get(made_from) if made_from != name else None
        return f"{row or _('survey sheet')} ({name})"

    def warn(self, name: str, message: str, **params: object) -> None:
        self.warnings.append(f"{self.where(name)}: {message % params if params else message}")

    # -- languages: every text is {language: text}

    def collect_languages(self, node: Any) -> None:
        if isinstance(node, dict):
            for key in ("label", "hint", "jr:constraintMsg", "jr:requiredMsg"):
                if isinstance(node.get(key), dict):
                    for name in node[key]:
                        self.add_language(name)
            for value in node.values():
                if isinstance(value, dict | list):
                    self.collect_languages(value)
        elif isinstance(node, list):
            for value in node:
                self.collect_languages(value)

    def add_language(self, name: str) -> None:
        if name == "default":
            return
        code = language_code(name)
        if code not in self.languages:
            self.languages.append(code)

    def text(self, value: Any) -> dict[str, str]:
        if value is None or value == "":
            return {}
        if not isinstance(value, dict):
            return {self.default: str(value).strip()}
        texts: dict[str, str] = {}
        for name, text in value.items():
            if name != "default" and str(text).strip():
                texts[language_code(name)] = str(text).strip()
        if str(value.get("default", "")).strip() and self.default not in texts:
            texts[self.default] = str(value["default"]).strip()
        return texts

    # -- reading

    def read(self, survey: dict[str, Any]) -> Imported:
        default_name = str(
            self.settings.get("default_language") or survey.get("default_language") or "default"
        )
        self.collect_languages(survey)
        if default_name != "default":
            self.add_language(default_name)
            self.default = language_code(default_name)
            self.languages.remove(self.default)
            self.languages.insert(0, self.default)
        elif self.languages and "en" not in self.languages and _unnamed_labels(survey.get("children", [])):
            # `label` beside `label::Spanish (es)`: the column without a language is a language of its own.
            self.default = "en"
            self.languages.insert(0, "en")
            self.warnings.append(
                _(
                    "survey sheet: texts without a language are read as English (en); name their language with "
                    "default_language on the settings sheet"
                )
            )
        elif self.languages:
            # Texts without a language only fill gaps (e.g. choice labels beside label::english questions).
            self.default = self.languages[0]
        else:
            self.default = "en"
            self.languages = ["en"]
        for list_name, choices in (survey.get("choices") or {}).items():
            self.choice_lists[list_name] = self.choices(list_name, choices)
        self.walk(survey.get("children", []), parent=None, relevance=[])
        self.matrix_groups()
        self.check_logic()
        if self.problems:
            raise ImportRejected(self.problems)
        title = str(survey.get("title") or self.code)
        definition: dict[str, Any] = {
            "code": self.code,
            "title": {self.default: title},
            "languages": self.languages,
            "default_language": self.default,
            "source": {"format": "xlsform"},
            "sections": [s for s in self.sections if s["items"]],
        }
        used = {i.get("choice_list") for s in definition["sections"] for i in s["items"]}
        lists = {name: choices for name, choices in self.choice_lists.items() if name in used}
        if lists:
            definition["choice_lists"] = lists
        try:
            definition = validate_definition(definition)
        except DefinitionError as exc:
            raise ImportRejected(locate_problems(exc, self.rows)) from None
        return Imported(definition, self.warnings, translated=self.translated, kept_as_text=self.kept_as_text)

    def choices(self, list_name: str, choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = []
        for choice in choices:
            code = str(choice.get("name", ""))
            label = self.text(choice.get("label"))
            if not label:
                label = {self.default: code}
                self.warnings.append(
                    _("%(where)s (list %(list)s): choice %(code)r has no label; its code is shown")
                    % {"where": self.choice_where(list_name, code), "list": list_name, "code": code}
                )
            if "media" in choice:
                self.warnings.append(
                    _("%(where)s (list %(list)s): the media of choice %(code)r are not kept")
                    % {"where": self.choice_where(list_name, code), "list": list_name, "code": code}
                )
            entry: dict[str, Any] = {"code": code, "label": label}
            reason = next((r for text in label.values() if (r := guess_missing_reason(text))), None)
            if reason:
                entry["missing"] = reason
                self.warnings.append(
                    _(
                        "%(where)s: choice %(code)r is read as a missing code (%(reason)s): declared missing "
                        "in every export and counted in no score"
                    )
                    % {"where": self.choice_where(list_name, code), "code": code, "reason": reason}
                )
            result.append(entry)
        return result

    def section(self, name: str, label: Any, relevance: list[str]) -> dict[str, Any]:
        code = name
        number = 2
        while any(s["code"] == code for s in self.sections):
            code = f"{name}_{number}"
            number += 1
        section: dict[str, Any] = {"code": code, "items": []}
        if self.text(label):
            section["title"] = self.text(label)
        if relevance:
            joined = " and ".join(f"({r})" for r in relevance) if len(relevance) > 1 else relevance[0]
            self.logic.append((section, "show_if", joined, self.where(name)))
        self.sections.append(section)
        return section

    def walk(
        self, children: list[dict[str, Any]], parent: dict[str, Any] | None, relevance: list[str]
    ) -> None:
        """Questions into sections, in order; a nested group closes the current section and opens its own."""
        current = parent
        for child in children:
            kind = child.get("type", "")
            name = child.get("name", "")
            if kind in ("group", "repeat"):
                if child.get("control", {}).get("bodyless"):
                    # The meta group pyxform builds: metadata from the sheet (audit...) and its own instanceID.
                    for meta in child.get("children", []):
                        if meta.get("name") in self.rows:
                            self.warn(
                                meta["name"], _("%(type)s metadata is not collected"), type=meta.get("type")
                            )
                    continue
                if kind == "repeat":
                    self.warn(name, _("repeats are not supported: its questions are asked once"))
                inner = [*relevance]
                if child.get("bind", {}).get("relevant"):
                    inner.append(child["bind"]["relevant"])
                section = self.section(name, child.get("label"), inner)
                self.walk(child.get("children", []), section, inner)
                current = None  # what follows the group goes to a new section
                continue
            if current is None:
                base = parent["code"] if parent else f"{self.code}_part"
                current = self.section(base, None, relevance)
            item = self.question(child)
            if item is not None:
                current["items"].append(item)
                self.codes.add(item["code"])

    def matrix_groups(self) -> None:
        """Rows shown without their own choice labels ("list-nolabel"), sharing one list, form a matrix group."""
        for section in self.sections:
            rows = [item for item in section["items"] if item.pop("_matrix", False)]
            shapes = {(item["type"], item.get("choice_list")) for item in rows}
            if len(rows) > 1 and len(shapes) == 1:
                for item in rows:
                    item["matrix_group"] = section["code"]

    def question(self, node: dict[str, Any]) -> dict[str, Any] | None:
        kind, name = node.get("type", ""), node.get("name", "")
        bind = node.get("bind", {})
        control = node.get("control", {})
        appearance = str(control.get("appearance", ""))
        if kind in METADATA:
            self.warn(name, _("%(type)s metadata is not collected"), type=kind)
            return None
        if kind == "hidden":
            self.warn(name, _("hidden fields hold nothing to ask and are left out"))
            return None
        item: dict[str, Any] = {"code": name}
        label = self.text(node.get("label"))
        if label:
            item["label"] = label
        if self.text(node.get("hint")):
            item["help"] = self.text(node.get("hint"))
        for key, message in _UNKEPT_KEYS.items():
            if key in node:
                self.warn(name, _(message))
        for key in ("jr:requiredMsg", "readonly"):
            if key in bind:
                self.warn(name, _("%(column)s is not kept"), column=key.removeprefix("jr:"))

        if kind in ("select one", "select all that apply", "rank"):
            list_name = node.get("list_name") or node.get("itemset")
            if list_name not in self.choice_lists:
                self.problems.append(
                    _("%(where)s: the choice list %(list)r is not on the choices sheet")
                    % {"where": self.where(name), "list": list_name}
                )
                return None
            if appearance == "label":
                item["type"] = "descriptive"
                self.warn(
                    name, _("a select shown as a header row (appearance label) is kept as descriptive text")
                )
            else:
                item["type"] = "single_choice" if kind == "select one" else "multiple_choice"
                item["choice_list"] = list_name
                if appearance == "list-nolabel":
                    item["_matrix"] = True
            if kind == "rank":
                self.warn(name, _("rank is asked as multiple choice: the order is not kept"))
        elif kind in ("text", "string"):
            item["type"] = "long_text" if "multiline" in appearance else "short_text"
        elif kind in ("integer", "int", "decimal"):
            item["type"] = "decimal" if kind == "decimal" else "integer"
        elif kind == "range":
            item["type"] = "slider"
            params = node.get("parameters", {})
            for key, param in (("min", "start"), ("max", "end"), ("step", "step")):
                if param in params:
                    item[key] = _as_number(params[param])
        elif kind == "date":
            item["type"] = "date"
        elif kind == "time":
            item.update(type="short_text", validation="time")
        elif kind in ("datetime", "dateTime"):
            item.update(type="short_text", validation="datetime_ymd")
        elif kind == "note":
            item["type"] = "descriptive"
        elif kind in ("calculate",):
            item["type"] = "calculated"
            if bind.get("calculate"):
                self.logic.append((item, "calculation", bind["calculate"], self.where(name)))
            else:
                self.warn(name, _("a calculate without a calculation holds nothing and is left out"))
                return None
        elif kind in ("acknowledge", "trigger"):
            item.update(type="single_choice", choices=[{"code": "OK", "label": {self.default: "OK"}}])
        elif kind in UNSUPPORTED:
            item["type"] = "descriptive"
            self.warn(
                name,
                _("%(type)s questions are not supported: kept as descriptive text, nothing is asked"),
                type=kind,
            )
        else:
            self.warn(name, _("%(type)s questions are not supported and are left out"), type=kind)
            return None

        if item["type"] == "descriptive" and "label" not in item:
            self.warn(name, _("it has nothing to show without its media and is left out"))
            return None
        if "label" not in item and item["type"] != "calculated":
            item["label"] = {self.default: name}
            self.warn(name, _("it has no label; its name is shown"))
        required = str(bind.get("required", "")).strip().lower()
        if required in _TRUE and item["type"] not in ("descriptive", "calculated"):
            item["required"] = True
        elif required not in _TRUE | _FALSE:
            self.warn(
                name, _("required only under a condition (%(rule)s) is not kept"), rule=bind["required"]
            )
        if bind.get("relevant"):
            self.logic.append((item, "show_if", bind["relevant"], self.where(name)))
        if bind.get("constraint"):
            self.constraint(item, bind["constraint"])
        if bind.get("jr:constraintMsg") and "constraint" in bind:
            item["constraint_message"] = self.text(bind["jr:constraintMsg"])
        return item

    def constraint(self, item: dict[str, Any], text: str) -> None:
        """`. >= 18 and . <= 120` on a number becomes min and max; any other constraint stays an expression."""
        match = _BOUNDS.match(text)
        bounds: dict[str, int | float] = {}
        if match and item["type"] in ("integer", "decimal"):
            for operator, value in (match.group(1, 2), match.group(3, 4)):
                key = {">=": "min", "<=": "max"}.get(operator or "")
                if key is not None:
                    bounds[key] = _as_number(value)
            whole = all(isinstance(v, int) for v in bounds.values()) or item["type"] == "decimal"
            if len(bounds) == len([g for g in match.group(1, 3) if g]) and whole:
                item.update(bounds)
                return
        self.logic.append((item, "constraint", text, self.where(item["code"])))

    def flatten_paths(self, text: str) -> str:
        """`../name` (pyxform writes it for "or_other" questions) is the question `${name}` once groups are flat."""
        return re.sub(
            r"\.\./([A-Za-z_][A-Za-z0-9_.-]*)",
            lambda m: f"${{{m.group(1)}}}" if m.group(1) in self.codes else m.group(0),
            text,
        )

    def check_logic(self) -> None:
        """Translate every expression; one that cannot be translated, or names unknown items, stays as text."""
        for owner, key, text, where in self.logic:
            try:
                translated = expressions.translate_xlsform(self.flatten_paths(text))
                unknown = sorted(set(expressions.parse(translated).variables) - self.codes)
            except expressions.ExpressionError as exc:
                reason = str(exc)
            else:
                if not unknown:
                    owner[key] = translated
                    self.translated.append(
                        _("%(where)s: %(key)s %(text)r → %(translated)r")
                        % {"where": where, "key": key, "text": text, "translated": translated}
                    )
                    continue
                reason = _("it names questions that are not kept: %(names)s") % {"names": ", ".join(unknown)}
            if "items" in owner:  # a section: nowhere to keep the text, so its items keep it
                for item in owner["items"]:
                    item.setdefault("source_logic", {}).setdefault(key, {"syntax": "xlsform", "text": text})
            else:
                owner.setdefault("source_logic", {})[key] = {"syntax": "xlsform", "text": text}
            self.kept_as_text.append(
                _(
                    "%(where)s: the %(key)s %(text)r cannot be translated (%(reason)s); kept as text, not applied"
                )
                % {"where": where, "key": key, "text": text, "reason": reason}
            )


def _unnamed_labels(children: list[dict[str, Any]]) -> bool:
    """Whether some question's label has a text without a language beside translated ones."""
    for child in children:
        label = child.get("label")
        if isinstance(label, dict) and "default" in label and len(label) > 1:
            return True
        if _unnamed_labels(child.get("children", [])):
            return True
    return False


def _pyxform_problem(message: str) -> str:
    """pyxform's "[row : 3] On the 'choices' sheet, ..." as "choices sheet, row 3: ..." (survey if unnamed)."""
    match = re.match(r"^\[row : (\d+)\]\s*(.*)$", message, re.DOTALL)
    if not match:
        return _("the XLSForm cannot be read: %(error)s") % {"error": message}
    text = match.group(2)
    sheet = re.search(r"On the '(\w+)' sheet", text)
    where = _("%(sheet)s sheet, row %(row)s") % {
        "sheet": sheet.group(1) if sheet else "survey",
        "row": match.group(1),
    }
    # The sheet is named once, in front: "On the 'survey' sheet, the 'name' value…" → "The 'name' value…".
    text = re.sub(r"^On the '\w+' sheet,?\s*", "", text).strip()
    return f"{where}: {text[:1].upper()}{text[1:]}"


def _as_number(value: object) -> int | float:
    number = float(str(value))
    return int(number) if number.is_integer() and "." not in str(value) else number


def read_xlsform(content: bytes, *, code: str = "", file_name: str = "form") -> Imported:
    """An XLSForm (.xlsx or .xls bytes) as a definition (not saved); ImportRejected names what is wrong."""
    try:
        workbook = get_xlsform(io.BytesIO(content))
        pyxform_warnings: list[str] = []
        survey = workbook_to_json(
            copy.deepcopy(workbook), form_name="data", fallback_form_name=file_name, warnings=pyxform_warnings
        )
    except PyXFormError as exc:
        raise ImportRejected([_pyxform_problem(str(exc))]) from None
    except Exception as exc:  # a damaged workbook can fail deep inside the spreadsheet reader
        raise ImportRejected(
            [_("the file cannot be read as an XLSForm workbook (%(error)s)") % {"error": type(exc).__name__}]
        ) from None
    settings = (workbook.settings or [{}])[0]
    code = code or code_for(str(settings.get("form_id") or file_name))
    reader = _Reader(workbook, code=code)
    imported = reader.read(survey)
    # pyxform puts several findings in one warning, a line each: each is a line of the report.
    findings = [line.strip() for warning in pyxform_warnings for line in warning.splitlines() if line.strip()]
    imported.warnings[:0] = [
        _pyxform_problem(w) if w.startswith("[row :") else f"pyxform: {w}" for w in findings
    ]
    return imported
