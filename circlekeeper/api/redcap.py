"""One organization's de-identified evaluation data as a read-only REDCap project (issue 24).

The project is built from the same files the export page gives (evaluation/exports.py): each instrument with
data is a form whose fields are its REDCap data dictionary, and the records are its REDCap records, so codes,
checkbox columns (`field___code`), "prefer not to say" (blank) and participant codes are the export's own.
What a REDCap project needs on top: one field name space (a field two forms share keeps its name where it is
the same context column — organization, track, role — and is otherwise renamed `<form>_<name>`, as REDCap would
refuse a duplicate), and events named `<timepoint>_arm_1` in one arm.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from circlekeeper.evaluation import exports, items, redcap_events
from circlekeeper.evaluation.dataset import Scope
from circlekeeper.instruments.redcap import API_COLUMNS
from circlekeeper.instruments.redcap import COLUMNS as REDCAP_COLUMNS

RECORD_ID = "record_id"
EVENT = "redcap_event_name"
SHARED = ("organization", "track", "role")  # the same for every response of a participant
NO_TIMEPOINT = "no_timepoint"
CHOICE_TYPES = ("radio", "dropdown", "checkbox")
COMPLETE = "_complete"


def event_name(exported: str) -> str:
    """REDCap's unique event name of a record: the export's own (evaluation/redcap_events.py gives every timepoint
    `<event>_arm_<n>`); a response with neither a timepoint nor a REDCap event of its own goes under one event,
    `no_timepoint_arm_<n>`, since a longitudinal project has no record without an event."""
    return exported or f"{NO_TIMEPOINT}_arm_{settings.REDCAP_ARM}"


def arm_of(event: str) -> int:
    return redcap_events.arm_of(event)


def _read_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


@dataclass
class Form:
    name: str
    label: str
    fields: list[dict[str, str]] = field(default_factory=list)  # metadata rows, API column names


@dataclass
class Project:
    """A scope's evaluation as REDCap sees it: forms, fields, events and flat records."""

    title: str
    project_id: int
    forms: list[Form]
    events: list[str]  # unique event names, in order
    # (record_id, unique event name) -> {field or checkbox column: raw value}
    records: dict[tuple[str, str], dict[str, str]]
    # (form, unique event name) pairs holding data
    form_events: set[tuple[str, str]]

    @property
    def metadata(self) -> list[dict[str, str]]:
        return [row for form in self.forms for row in form.fields]

    def field_form(self) -> dict[str, str]:
        return {row["field_name"]: row["form_name"] for row in self.metadata}

    def export_columns(self, row: dict[str, str]) -> list[tuple[str, str]]:
        """(export column, choice code) of one field: checkboxes give one column per choice."""
        if row["field_type"] == "checkbox":
            # The export's own column names (items.choice_name: "faith-group" is `___faith_group`).
            return [
                (f"{row['field_name']}___{items.choice_name(code)}", code) for code, _label in choices(row)
            ]
        return [(row["field_name"], "")]


def choices(row: dict[str, str]) -> list[tuple[str, str]]:
    if row["field_type"] == "yesno":
        return [("1", _("Yes")), ("0", _("No"))]
    if row["field_type"] not in CHOICE_TYPES:
        return []
    pairs = []
    for part in row["select_choices_or_calculations"].split("|"):
        code, _sep, label = part.strip().partition(",")
        if code.strip():
            pairs.append((code.strip(), label.strip()))
    return pairs


def build(scope: Scope, *, language: str = "en") -> Project:
    instruments = items.instruments_by_code(scope)
    forms: list[Form] = []
    taken: set[str] = {RECORD_ID}
    records: dict[tuple[str, str], dict[str, str]] = {}
    form_events: set[tuple[str, str]] = set()
    events: list[str] = []
    for instrument in instruments.values():
        table = items.item_table(scope, instrument, language=language)
        dictionary = _read_csv(exports.redcap_dictionary(table))
        form = Form(items.safe_name(table.code), instrument.name)
        renamed: dict[str, str] = {}
        for source in dictionary:
            row = dict(zip(API_COLUMNS, (source[column] for column in REDCAP_COLUMNS), strict=True))
            row["form_name"] = form.name
            original = row["field_name"]
            if original == RECORD_ID:
                if forms:
                    continue  # one record id for the project, on the first form
            elif original in SHARED and original in taken:
                continue  # the same context column, already on an earlier form
            elif original in taken:
                row["field_name"] = items.unique_name(f"{form.name}_{original}", taken)
            taken.add(row["field_name"])
            renamed[original] = row["field_name"]
            form.fields.append(row)
        forms.append(form)
        for source in _read_csv(exports.redcap_records(table)):
            key = (source[RECORD_ID], event_name(source.pop(EVENT)))
            if key[1] not in events:
                events.append(key[1])
            form_events.add((form.name, key[1]))
            target = records.setdefault(key, {})
            for column, value in source.items():
                if column == RECORD_ID:
                    continue
                stem, sep, code = column.partition("___")
                name = renamed.get(stem, stem) + (sep + code if sep else "")
                target.setdefault(name, value)
    return Project(
        title=scope.evaluation.name,
        project_id=scope.evaluation.pk,
        forms=forms,
        events=events,
        records=records,
        form_events=form_events,
    )


class BadParameter(Exception):
    """A parameter naming something the project does not have (REDCap's own wording)."""


def _unknown(parameter: str, values: Iterable[str]) -> BadParameter:
    return BadParameter(
        _('The following values in the parameter "%(parameter)s" are not valid: %(values)s')
        % {"parameter": parameter, "values": ", ".join(values)}
    )


def select_records(
    project: Project,
    *,
    fields: list[str],
    forms: list[str],
    events: list[str],
    records: list[str],
    labels: bool = False,
    checkbox_labels: bool = False,
) -> tuple[list[str], list[dict[str, str]]]:
    """The flat export REDCap gives for these filters: the header and one row per record and event."""
    metadata = project.metadata
    by_name = {row["field_name"]: row for row in metadata}
    form_names = {form.name for form in project.forms}
    # REDCap's `<form>_complete` fields (PyCap asks for them): 2, "Complete", where the form has a submitted
    # response for the record and event (every exported response is submitted), else blank.
    completes = [name for name in fields if name.endswith(COMPLETE) and name[: -len(COMPLETE)] in form_names]
    fields = [name for name in fields if name not in completes]
    if bad := [name for name in fields if name not in by_name]:
        raise _unknown("fields", bad)
    if bad := [name for name in forms if name not in form_names]:
        raise _unknown("forms", bad)
    if bad := [name for name in events if name not in project.events]:
        raise _unknown("events", bad)
    wanted = [
        row
        for row in metadata
        if (not fields and not forms) or row["field_name"] in fields or row["form_name"] in forms
    ]
    if wanted and wanted[0]["field_name"] != RECORD_ID and metadata:
        wanted.insert(0, metadata[0])  # REDCap always gives the record id first
    columns = [(row, column, code) for row in wanted for column, code in project.export_columns(row)]
    header = [
        RECORD_ID,
        EVENT,
        *(column for _row, column, _code in columns if column != RECORD_ID),
        *completes,
    ]
    chosen_forms = {row["form_name"] for row in wanted if row["field_name"] != RECORD_ID}
    chosen_forms |= {name[: -len(COMPLETE)] for name in completes}
    out = []
    for (record, event), values in sorted(project.records.items(), key=lambda kv: _order(project, kv[0])):
        if records and record not in records:
            continue
        if events and event not in events:
            continue
        if not any((form, event) in project.form_events for form in chosen_forms) and chosen_forms:
            continue
        row = {RECORD_ID: record, EVENT: event}
        for meta, column, code in columns:
            if column == RECORD_ID:
                continue
            value = values.get(column, "")
            if labels and value != "":
                value = _label(meta, code, value, checkbox_labels)
            row[column] = value
        for name in completes:
            done = (name[: -len(COMPLETE)], event) in project.form_events
            row[name] = ("2" if not labels else str(_("Complete"))) if done else ""
        out.append(row)
    return header, out


def _order(project: Project, key: tuple[str, str]) -> tuple[str, int]:
    return key[0], project.events.index(key[1])


def _label(meta: dict[str, str], code: str, value: str, checkbox_labels: bool) -> str:
    pairs = dict(choices(meta))
    if meta["field_type"] == "checkbox":
        if checkbox_labels:
            return pairs.get(code, "") if value == "1" else ""
        return str(_("Checked")) if value == "1" else str(_("Unchecked"))
    return pairs.get(value, value)


def export_field_names(project: Project, field_name: str = "") -> list[dict[str, str]]:
    rows = []
    for meta in project.metadata:
        if field_name and meta["field_name"] != field_name:
            continue
        if meta["field_type"] == "descriptive":
            continue
        for column, code in project.export_columns(meta):
            rows.append(
                {"original_field_name": meta["field_name"], "choice_value": code, "export_field_name": column}
            )
    return rows


def as_csv(header: list[str], rows: list[dict[str, Any]]) -> bytes:
    """Rows as CSV through the export guard (every cell formula-escaped, evaluation/exports.py)."""
    return exports._csv(header, [[row.get(name, "") for name in header] for row in rows])
