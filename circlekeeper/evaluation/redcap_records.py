"""Flat REDCap record exports in as submitted responses (issue 8 item 6; `manage.py import_redcap_records`).

A program that collected answers in REDCap brings them in as responses to the instrument it imported from the
same project's data dictionary. The whole file is read and checked before anything is written, and every
problem is reported with its line (as the file numbers it: the header is line 1) and its column; a file with
any problem writes nothing.

- Records. REDCap's record ID is the `record_id` column, or else the first column (REDCap always exports the
  record ID field first). It names a participant of the importing organization, through a map file
  (`record_id,case,participant`: the case reference and the participant's label) or, without one, by being
  written `<case reference>/<participant label>`. A participant of another organization is never found.
- Answers. Only the instrument's asked items are read: `item___code` columns of a checkbox field make one
  multiple-choice answer; calculated items are computed again by the project's scoring, never taken from
  the file; `<form>_complete` and `<form>_timestamp` columns are ignored; other columns are named once, in a
  warning. Each form (section) is validated by the very form a person answering would have filled
  (`instruments.forms.SectionForm`), with the skip logic the earlier answers give, so an imported answer is
  exactly one a form would have accepted (required items included). A form with no answer at all on a row is
  not checked: REDCap leaves the forms that are not on an event blank. A value given to an item its branching
  logic hides is not imported (a warning says where). Responses are submitted through `instruments.filling.submit`: scored,
  skipped items recorded, and the submission handlers run (a safety instrument's response records its check).
- Events. A longitudinal export names each row's event (`redcap_event_name`). Events may be mapped to our
  timepoint codes; an open or scheduled evaluation timepoint of that participant, instrument and code then
  gets the response and is completed. A missed one stays missed (never back-filled): the response is
  imported without it, and a warning says so. A row with no answer for this instrument (its forms are not
  on that event) is skipped and counted.
- [event][field] in the instrument's logic reads the same record's row at that event in the file, else what
  its participant answered at that event before (another instrument, an earlier file). A row is checked and
  submitted with the same answers, so rows may come in any order.
- Each imported response has the purpose "REDCap <event>", so importing the same record and event again is
  refused rather than counted twice.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import Participant, ParticipantRole
from circlekeeper.evaluation.models import Timepoint, TimepointStatus
from circlekeeper.instruments import filling
from circlekeeper.instruments.definition import NOT_ASKED, PNTS, choices_for
from circlekeeper.instruments.events import event_answers, event_references
from circlekeeper.instruments.expressions import EventAnswers
from circlekeeper.instruments.forms import PNTS_SUFFIX, PREFIX, SectionForm
from circlekeeper.instruments.models import Instrument, InstrumentVersion, Response
from circlekeeper.instruments.scoring import visible_items
from circlekeeper.lib.audit import record

IMPORT_ACTION = Action.REDCAP_RECORDS_IMPORT
IMPORT_OBJECT_TYPE = "redcap_records"
RECORD_COLUMN = "record_id"
EVENT_COLUMN = "redcap_event_name"
INSTANCE_COLUMN = "redcap_repeat_instance"
# REDCap's own columns that carry no answer.
REDCAP_COLUMNS = frozenset(
    {
        EVENT_COLUMN,
        INSTANCE_COLUMN,
        "redcap_repeat_instrument",
        "redcap_data_access_group",
        "redcap_survey_identifier",
    }
)
CHECKBOX = "___"
PURPOSE_PREFIX = "REDCap"
PURPOSE_MAX = 60
MAP_COLUMNS = ("record_id", "case", "participant")
EVENTS_MAP_COLUMNS = ("redcap_event_name", "timepoint")
TIMEPOINT_CODE_MAX = 10
LINKABLE = (TimepointStatus.OPEN, TimepointStatus.SCHEDULED)
CHECKED, UNCHECKED = "1", "0"


class RecordsRejected(ValueError):
    """A file (or map) that is not imported, with every problem found, each naming its line and column."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class RecordsResult:
    instrument: str
    version: int
    rows: int
    imported: int
    linked: int
    skipped: int
    warnings: list[str]
    dry_run: bool


Raw = str | list[str] | None


@dataclass
class _Row:
    line: int
    record: str
    event: str
    instance: str
    values: dict[str, Raw]
    participant: Participant | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    timepoint: Timepoint | None = None

    @property
    def purpose(self) -> str:
        where = " ".join(part for part in (self.event, f"#{self.instance}" if self.instance else "") if part)
        return f"{PURPOSE_PREFIX} {where}".strip()[:PURPOSE_MAX]


def _at(line: int, column: str) -> str:
    return _("line %(line)s, column %(column)s") % {"line": line, "column": column}


def _decode(content: bytes, what: str) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordsRejected(
            [_("%(what)s is not UTF-8 text (byte %(position)s)") % {"what": what, "position": exc.start}]
        ) from None


def _read_csv(content: bytes, what: str) -> list[tuple[int, list[str]]]:
    """(line where the row starts, cells) for every row, the header first; blank rows left out."""
    reader = csv.reader(io.StringIO(_decode(content, what), newline=""))
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise RecordsRejected(
            [
                _("%(what)s, line %(line)s: cannot be read as CSV (%(error)s)")
                % {"what": what, "line": line, "error": exc}
            ]
        ) from None
    if not rows:
        raise RecordsRejected([_("%(what)s is empty") % {"what": what}])
    return rows


def _check_header(cells: list[str], expected: tuple[str, ...], what: str) -> None:
    names = [cell.strip().lower() for cell in cells]
    if names != list(expected):
        raise RecordsRejected(
            [
                _("%(what)s, line 1: the columns must be %(columns)s")
                % {"what": what, "columns": ",".join(expected)}
            ]
        )


def read_record_map(content: bytes) -> dict[str, tuple[str, str]]:
    """A map file `record_id,case,participant` as {record: (case reference, participant label)}."""
    what = _("the map file")
    rows = _read_csv(content, what)
    _check_header(rows[0][1], MAP_COLUMNS, what)
    found: dict[str, tuple[str, str]] = {}
    first_line: dict[str, int] = {}
    problems = []
    for line, cells in rows[1:]:
        cells = [cell.strip() for cell in cells]
        if len(cells) != len(MAP_COLUMNS) or not all(cells):
            problems.append(
                _("%(what)s, line %(line)s: give a record_id, a case reference and a participant label")
                % {"what": what, "line": line}
            )
            continue
        record_id, case, participant = cells
        if record_id in found:
            problems.append(
                _("%(what)s, line %(line)s: record %(record)r is already mapped on line %(other)s")
                % {"what": what, "line": line, "record": record_id, "other": first_line[record_id]}
            )
            continue
        found[record_id] = (case, participant)
        first_line[record_id] = line
    if problems:
        raise RecordsRejected(problems)
    return found


def read_events_map(content: bytes) -> dict[str, str]:
    """An events map file `redcap_event_name,timepoint` as {event: timepoint code}."""
    what = _("the events map")
    rows = _read_csv(content, what)
    _check_header(rows[0][1], EVENTS_MAP_COLUMNS, what)
    return _events(
        [(line, [cell.strip() for cell in cells]) for line, cells in rows[1:]],
        lambda line: _("%(what)s, line %(line)s") % {"what": what, "line": line},
    )


def parse_event_options(values: list[str]) -> dict[str, str]:
    """`--event EVENT=TIMEPOINT` options as {event: timepoint code}."""
    pairs: list[tuple[int, list[str]]] = []
    problems = []
    for number, value in enumerate(values, start=1):
        event, equals, code = value.partition("=")
        if not equals:
            problems.append(
                _("--event %(value)r: write it EVENT=TIMEPOINT, e.g. enrollment_arm_1=T0") % {"value": value}
            )
            continue
        pairs.append((number, [event.strip(), code.strip()]))
    if problems:
        raise RecordsRejected(problems)
    return _events(pairs, lambda number: f"--event {values[number - 1]}")


def _events(pairs: list[tuple[int, list[str]]], where: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    problems = []
    for number, cells in pairs:
        if len(cells) != 2 or not all(cells):
            problems.append(_("%(where)s: give an event and a timepoint code") % {"where": where(number)})
            continue
        event, code = cells
        if len(code) > TIMEPOINT_CODE_MAX:
            problems.append(
                _("%(where)s: timepoint code %(code)r is longer than %(max)s characters")
                % {"where": where(number), "code": code, "max": TIMEPOINT_CODE_MAX}
            )
        elif found.get(event, code) != code:
            problems.append(
                _("%(where)s: event %(event)r is already mapped to %(code)s")
                % {"where": where(number), "event": event, "code": found[event]}
            )
        else:
            found[event] = code
    if problems:
        raise RecordsRejected(problems)
    return found


def latest_version(organization: Organization, code: str) -> InstrumentVersion:
    """The newest version of the instrument with this code that the organization may use (its own first)."""
    instruments = Instrument.objects.available_to(organization).filter(code=code)
    instrument = instruments.filter(owner=organization).first() or instruments.first()
    version = instrument.latest_version() if instrument is not None else None
    if version is None:
        raise RecordsRejected(
            [
                _("No instrument with the code %(code)r is available to %(organization)s.")
                % {"code": code, "organization": organization.slug}
            ]
        )
    return version


class _Columns:
    """Which column holds what: the record, the event, and each asked item (a checkbox choice per column)."""

    def __init__(self, header: list[str], definition: dict[str, Any]) -> None:
        names = [cell.strip() for cell in header]
        self.names = names
        self.problems: list[str] = []
        self.warnings: list[str] = []
        seen: dict[str, int] = {}
        for position, name in enumerate(names, start=1):
            if not name:
                self.problems.append(_at(1, str(position)) + ": " + _("the column has no name"))
            elif name in seen:
                self.problems.append(
                    _at(1, name)
                    + ": "
                    + _("the column appears twice (also column %(other)s)") % {"other": seen[name]}
                )
            else:
                seen[name] = position
        self.record = names.index(RECORD_COLUMN) if RECORD_COLUMN in names else 0
        self.event = names.index(EVENT_COLUMN) if EVENT_COLUMN in names else None
        self.instance = names.index(INSTANCE_COLUMN) if INSTANCE_COLUMN in names else None
        items = {item["code"]: item for section in definition["sections"] for item in section["items"]}
        self.items: dict[str, dict[str, Any]] = {}
        # column position → (item code, choice code or None)
        self.cells: dict[int, tuple[str, str | None]] = {}
        self.item_columns: dict[str, list[str]] = defaultdict(list)
        self.unknown_choices: dict[int, str] = {}
        unknown: list[str] = []
        for position, name in enumerate(names):
            if position == self.record or name in REDCAP_COLUMNS or not name:
                continue
            item = items.get(name)
            if item is not None:
                if item["type"] not in NOT_ASKED and item["type"] != "multiple_choice":
                    self.cells[position] = (name, None)
                    self.items[name] = item
                    self.item_columns[name].append(name)
                # Calculated items are computed again, descriptive ones ask nothing: neither is read.
                continue
            base, separator, choice = name.partition(CHECKBOX)
            item = items.get(base)
            if separator and item is not None and item["type"] == "multiple_choice":
                code = self._choice(definition, item, choice)
                if code is None:
                    # Not read; a row that checks it is refused rather than losing the answer.
                    self.unknown_choices[position] = name
                    unknown.append(name)
                self.cells[position] = (base, code if code is not None else choice)
                self.items[base] = item
                self.item_columns[base].append(name)
                continue
            stem, _underscore, suffix = name.rpartition("_")
            if suffix in ("complete", "timestamp") and stem:
                continue  # a form's status or survey time: not an answer
            unknown.append(name)
        if unknown:
            self.warnings.append(
                _("%(count)s columns are not items of this instrument and were not read: %(names)s")
                % {"count": len(unknown), "names": ", ".join(unknown)}
            )
        if not self.cells:
            self.problems.append(_("line 1: no column of the file is an item of this instrument"))

    @staticmethod
    def _choice(definition: dict[str, Any], item: dict[str, Any], suffix: str) -> str | None:
        """The choice a checkbox column stands for (REDCap writes codes lower-case, - and . as _)."""
        wanted = suffix.lower()
        for choice in choices_for(definition, item, with_pnts=False):
            code = str(choice["code"])
            if code.lower() == wanted or re.sub(r"[^a-z0-9]", "_", code.lower()) == wanted:
                return code
        return None

    @property
    def record_name(self) -> str:
        return self.names[self.record]

    def columns_of(self, code: str) -> str:
        names = self.item_columns.get(code) or [code]
        return names[0] if len(names) == 1 else f"{names[0]}…{names[-1]}"


def _read_rows(content: bytes, definition: dict[str, Any]) -> tuple[_Columns, list[_Row], list[str]]:
    rows = _read_csv(content, _("the file"))
    columns = _Columns(rows[0][1], definition)
    problems = list(columns.problems)
    if problems:
        raise RecordsRejected(problems)
    width = len(columns.names)
    parsed: list[_Row] = []
    for line, cells in rows[1:]:
        if len(cells) != width:
            problems.append(
                _("line %(line)s: %(found)s columns where the header has %(expected)s")
                % {"line": line, "found": len(cells), "expected": width}
            )
            continue
        values: dict[str, Raw] = {}
        for position, (code, choice) in columns.cells.items():
            cell = cells[position].strip()
            if choice is None:
                values[code] = cell or None
                continue
            checked = values.get(code) or []
            assert isinstance(checked, list)
            if cell == CHECKED:
                if position in columns.unknown_choices:
                    problems.append(
                        _at(line, columns.names[position])
                        + ": "
                        + _("%(choice)r is not among the choices of %(item)s")
                        % {"choice": choice, "item": code}
                    )
                else:
                    checked.append(choice)
            elif cell not in ("", UNCHECKED):
                problems.append(
                    _at(line, columns.names[position])
                    + ": "
                    + _("a checkbox column holds 1 (checked) or 0, not %(value)r") % {"value": cell}
                )
            values[code] = checked or None
        parsed.append(
            _Row(
                line=line,
                record=cells[columns.record].strip(),
                event=cells[columns.event].strip() if columns.event is not None else "",
                instance=cells[columns.instance].strip() if columns.instance is not None else "",
                values=values,
            )
        )
    return columns, parsed, problems


def _blank(value: Raw) -> bool:
    return value is None or value == "" or value == []


def _at_events(
    organization: Organization, version: InstrumentVersion, rows: list[_Row]
) -> dict[int, EventAnswers]:
    """For each row (by line), what its logic's [event][field] reads: the same record's answers on its other
    rows, by their event (REDCap's own meaning), and its own row for its own event; at an event the file has
    no row for, what the record's participant answered there before (instruments/events.py: a response of
    another instrument, or one imported from an earlier file). The same answers are read when the row is
    checked and when it is submitted, whatever order the file's rows come in."""
    definition = version.definition
    stored: dict[int, EventAnswers] = {}
    if event_references(definition):
        for row in rows:
            participant = row.participant
            if participant is not None and participant.pk not in stored:
                # Not saved: only whose answers to read, and where (never another participant's).
                unsaved = Response(
                    organization=organization,
                    version=version,
                    participant=participant,
                    case_id=participant.case_id,
                )
                stored[participant.pk] = event_answers(unsaved, definition)
    by_record: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_record[row.record].append(row)
    found: dict[int, EventAnswers] = {}
    for row in rows:
        before = stored.get(row.participant.pk) if row.participant is not None else None
        answers: dict[tuple[str, str], object] = dict(before.answers) if before is not None else {}
        for other in by_record[row.record]:
            if other is row or not other.event:
                continue
            # The file's row at that event is this instrument's answer there: it wins, a blank included.
            for code, value in other.values.items():
                if _blank(value) or value == PNTS:
                    answers.pop((other.event, code), None)
                else:
                    answers[(other.event, code)] = value
        found[row.line] = EventAnswers(answers=answers, own_events=frozenset({row.event} - {""}))
    return found


def _validate(
    definition: dict[str, Any],
    row: _Row,
    columns: _Columns,
    today: datetime.date,
    events: EventAnswers | None = None,
) -> tuple[list[str], list[str]]:
    """Fill row.answers section by section, as the answering forms would; (problems, hidden item codes)."""
    problems: list[str] = []
    hidden: list[str] = []
    answers: dict[str, Any] = {}
    for section in definition["sections"]:
        asked = [code for code in filling.asked_codes(section) if code in columns.items]
        if not asked:
            continue
        raw = {code: row.values.get(code) for code in asked}
        if all(_blank(value) for value in raw.values()):
            # A form with no answer on this row was not on the event (REDCap leaves it blank): nothing to check.
            continue
        codes = {item["code"] for item in section["items"]}
        overlay = {**answers, **{code: value for code, value in raw.items() if not _blank(value)}}
        visible = set(visible_items(definition, overlay, today=today, events=events)) & codes
        hidden += [code for code, value in raw.items() if not _blank(value) and code not in visible]
        data: MultiValueDict[str, str] = MultiValueDict()
        for code, value in raw.items():
            if _blank(value) or code not in visible:
                continue
            name = f"{PREFIX}-{code}"
            if isinstance(value, list):
                data.setlist(name, value)
                continue
            assert value is not None
            data[name] = value
            if value == PNTS:
                # "Prefer not to say" is a choice of choice items and a checkbox beside the others: a form
                # without that checkbox ignores it, and one with it lets it win, as for a person answering.
                data[name + PNTS_SUFFIX] = "on"
        form = SectionForm(
            data,
            definition=definition,
            section=section,
            visible=visible,
            language=definition["default_language"],
            answers=answers,
            today=today,
            events=events,
        )
        if not form.is_valid():
            for name, errors in form.errors.items():
                code = name.removesuffix(PNTS_SUFFIX)
                column = columns.columns_of(code) if code in columns.items else code
                problems.append(_at(row.line, column) + ": " + " ".join(str(error) for error in errors))
            continue
        answers.update({code: value for code, value in form.answers().items() if value is not None})
    row.answers = answers
    return problems, hidden


def _resolve_participants(
    organization: Organization,
    rows: list[_Row],
    columns: _Columns,
    record_map: dict[str, tuple[str, str]] | None,
) -> list[str]:
    """Set each row's participant; problems for records that name no participant of the organization."""
    wanted: dict[str, tuple[str, str] | None] = {}
    for row in rows:
        if record_map is not None:
            wanted[row.record] = record_map.get(row.record)
        else:
            reference, slash, label = row.record.partition("/")
            wanted[row.record] = (reference.strip(), label.strip()) if slash and reference and label else None
    references = {key[0] for key in wanted.values() if key is not None}
    found = {
        (participant.case.reference, participant.label): participant
        for participant in Participant.objects.for_organization(organization)
        .filter(case__reference__in=references, case__organization=organization)
        .select_related("case")
    }
    problems = []
    for row in rows:
        where = _at(row.line, columns.record_name)
        key = wanted[row.record]
        participant = found.get(key) if key is not None else None
        if key is None and record_map is not None:
            problems.append(
                where
                + ": "
                + _("unknown record %(record)r: it is not in the map file") % {"record": row.record}
            )
        elif key is None:
            problems.append(
                where
                + ": "
                + _(
                    "unknown record %(record)r: give a map file (--map), or write record ids as "
                    "“case reference/participant label”"
                )
                % {"record": row.record}
            )
        elif participant is None:
            problems.append(
                where
                + ": "
                + _(
                    "unknown record %(record)r: %(organization)s has no participant %(label)r in case %(case)r"
                )
                % {"record": row.record, "organization": organization.slug, "label": key[1], "case": key[0]}
            )
        elif participant.role == ParticipantRole.CHILD:
            problems.append(
                where
                + ": "
                + _("record %(record)r is a child; children are never asked to take part")
                % {"record": row.record}
            )
        else:
            row.participant = participant
    return problems


def _duplicates(rows: list[_Row], columns: _Columns) -> list[str]:
    column = columns.names[columns.event] if columns.event is not None else columns.record_name
    by_record: dict[tuple[str, str, str], _Row] = {}
    by_participant: dict[tuple[int, str], _Row] = {}
    problems = []
    for row in rows:
        first = by_record.setdefault((row.record, row.event, row.instance), row)
        if first is not row:
            problems.append(
                _at(row.line, column)
                + ": "
                + _("record %(record)r at event %(event)r is already on line %(other)s")
                % {"record": row.record, "event": row.event, "other": first.line}
            )
            continue
        if row.participant is None:
            continue
        earlier = by_participant.setdefault((row.participant.pk, row.purpose), row)
        if earlier is not row:
            problems.append(
                _at(row.line, columns.record_name)
                + ": "
                + _(
                    "record %(record)r is the same participant as record %(other)r on line %(line)s, at the same event"
                )
                % {"record": row.record, "other": earlier.record, "line": earlier.line}
            )
    return problems


def _already_imported(
    organization: Organization, version: InstrumentVersion, rows: list[_Row], columns: _Columns
) -> list[str]:
    rows = [row for row in rows if row.participant is not None]
    existing = set(
        Response.objects.for_organization(organization)
        .filter(
            version__instrument_id=version.instrument_id,
            participant_id__in={row.participant.pk for row in rows if row.participant},
            purpose__in={row.purpose for row in rows},
        )
        .values_list("participant_id", "purpose")
    )
    return [
        _at(row.line, columns.record_name)
        + ": "
        + _(
            "record %(record)r at event %(event)r was imported before (a response with the purpose %(purpose)r)"
        )
        % {"record": row.record, "event": row.event, "purpose": row.purpose}
        for row in rows
        if row.participant is not None and (row.participant.pk, row.purpose) in existing
    ]


def _match_timepoints(
    organization: Organization,
    version: InstrumentVersion,
    rows: list[_Row],
    events: dict[str, str],
    columns: _Columns,
) -> tuple[list[str], list[str]]:
    """Set each row's timepoint where its event maps to an open or scheduled one; (problems, warnings)."""
    mapped = [row for row in rows if row.participant is not None and row.event in events]
    if not mapped:
        return [], []
    # Locked: the scheduler may be marking one of them missed at this very moment.
    timepoints = (
        Timepoint.objects.for_organization(organization)
        .select_for_update()
        .filter(
            instrument_id=version.instrument_id,
            participant_id__in={row.participant.pk for row in mapped if row.participant},
            code__in={events[row.event] for row in mapped},
        )
        .order_by("due_at", "id")
    )
    closed_before = timezone.now()  # the imported responses are submitted now
    found: dict[tuple[int, str], list[Timepoint]] = defaultdict(list)
    for timepoint in timepoints:
        found[(timepoint.participant_id, timepoint.code)].append(timepoint)
    problems: list[str] = []
    warnings: list[str] = []
    taken: dict[int, _Row] = {}
    column = columns.names[columns.event] if columns.event is not None else columns.record_name
    for row in mapped:
        assert row.participant is not None
        code = events[row.event]
        candidates = found.get((row.participant.pk, code), [])
        where = _at(row.line, column)
        # A window that has closed takes no answer, even before the scheduler marks it missed (never back-filled).
        linkable = [t for t in candidates if t.status in LINKABLE and t.closes_at > closed_before]
        if linkable:
            timepoint = linkable[0]
            if timepoint.pk in taken:
                problems.append(
                    where
                    + ": "
                    + _("timepoint %(code)s of record %(record)r is already answered by line %(other)s")
                    % {"code": code, "record": row.record, "other": taken[timepoint.pk].line}
                )
            else:
                taken[timepoint.pk] = row
                row.timepoint = timepoint
            continue
        statuses = {timepoint.status for timepoint in candidates}
        if TimepointStatus.MISSED in statuses or any(t.closes_at <= closed_before for t in candidates):
            reason = _("its window was missed and stays missed")
        elif TimepointStatus.COMPLETED in statuses:
            reason = _("it is already answered")
        elif TimepointStatus.CANCELLED in statuses:
            reason = _("it was cancelled")
        else:
            reason = _("this participant has no such timepoint for this instrument")
        warnings.append(
            where
            + ": "
            + _(
                "record %(record)r: not filed under timepoint %(code)s (%(reason)s); the response is imported without it"
            )
            % {"record": row.record, "code": code, "reason": reason}
        )
    return problems, warnings


def import_redcap_records(
    *,
    organization: Organization,
    instrument: str,
    content: bytes,
    record_map: dict[str, tuple[str, str]] | None = None,
    events: dict[str, str] | None = None,
    dry_run: bool = False,
    today: datetime.date | None = None,
) -> RecordsResult:
    """Import a flat REDCap record export as submitted responses: every row, or nothing.

    Raises RecordsRejected with every problem, each naming its line and column. With `dry_run`, everything
    is checked and counted and nothing is written.
    """
    events = events or {}
    today = today or timezone.localdate()
    version = latest_version(organization, instrument)
    definition = version.definition
    with transaction.atomic():
        # One import of an instrument at a time: the check for records imported before must see the last one.
        Instrument.objects.select_for_update().filter(pk=version.instrument_id).first()
        columns, rows, problems = _read_rows(content, definition)
        warnings = list(columns.warnings)
        answered = [row for row in rows if not all(_blank(value) for value in row.values.values())]
        skipped = len(rows) - len(answered)
        hidden: dict[str, list[int]] = defaultdict(list)
        # Whose answers another event's are is known once each record names its participant.
        problems += _resolve_participants(organization, answered, columns, record_map)
        at_events = _at_events(organization, version, answered)
        for row in answered:
            row_problems, row_hidden = _validate(definition, row, columns, today, at_events[row.line])
            problems += row_problems
            for code in row_hidden:
                hidden[code].append(row.line)
        problems += _duplicates(answered, columns)
        problems += _already_imported(organization, version, answered, columns)
        timepoint_problems, timepoint_warnings = _match_timepoints(
            organization, version, answered, events, columns
        )
        problems += timepoint_problems
        warnings += timepoint_warnings
        for code, lines in hidden.items():
            warnings.append(
                _(
                    "column %(column)s: answers on lines %(lines)s are hidden by the item's branching logic "
                    "there, and were not imported"
                )
                % {"column": columns.columns_of(code), "lines": ", ".join(str(line) for line in lines)}
            )
        file_events = {row.event for row in rows}
        for event in sorted(set(events) - file_events):
            warnings.append(
                _("event %(event)r is mapped to a timepoint but is not in the file") % {"event": event}
            )
        if problems:
            raise RecordsRejected(sorted(problems, key=_line_of))
        linked = sum(1 for row in answered if row.timepoint is not None)
        if not dry_run:
            # Submitted with what the row was checked with: the file's rows at the other events, whichever
            # of them is written first, so each stored result is the one the check accepted.
            for row in answered:
                _write(organization, version, row, today, at_events[row.line])
            record(
                None,
                action=IMPORT_ACTION,
                object_type=IMPORT_OBJECT_TYPE,
                object_id=f"responses={len(answered)} timepoints={linked} skipped={skipped}",
                organization_id=organization.pk,
            )
    return RecordsResult(
        instrument=version.instrument.code,
        version=version.number,
        rows=len(rows),
        imported=len(answered),
        linked=linked,
        skipped=skipped,
        warnings=warnings,
        dry_run=dry_run,
    )


def _line_of(problem: str) -> tuple[int, str]:
    found = re.search(r"\d+", problem)
    return (int(found.group()) if found else 0, problem)


def _write(
    organization: Organization,
    version: InstrumentVersion,
    row: _Row,
    today: datetime.date,
    events: EventAnswers,
) -> None:
    participant = row.participant
    assert participant is not None
    response = Response(
        organization=organization,
        version=version,
        participant=participant,
        case_id=participant.case_id,
        purpose=row.purpose,
        answers=row.answers,
    )
    response.full_clean()
    response.save()
    timepoint = row.timepoint
    if timepoint is not None:
        # Filed under the timepoint before it is submitted, so the submission handlers see where it belongs.
        timepoint.response = response
        timepoint.save(update_fields=["response"])
    # Answers already given elsewhere, transcribed: not a contact with anyone (the contact policy is for asking).
    filling.submit(response=response, today=today, contact=False, events=events)
    if timepoint is None:
        return
    timepoint.refresh_from_db()
    if timepoint.status != TimepointStatus.COMPLETED:
        timepoint.status = TimepointStatus.COMPLETED
        timepoint.completed_at = response.submitted_at
        timepoint.save(update_fields=["status", "completed_at"])
    if timepoint.link is not None:
        # Answered: the participant's link for this timepoint must not take a second answer.
        timepoint.link.revoke(when=response.submitted_at)
