"""Reading a CSV of external outcomes: participant_code,group,person_days,events[,first_event_day].

The whole file is read before anything is written, and every problem found is reported, each naming its
row as a spreadsheet numbers it (the header is row 1), so that a file is fixed once rather than once per
error. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from circlekeeper.lib import crypto

REQUIRED_COLUMNS = ("participant_code", "group", "person_days", "events")
OPTIONAL_COLUMNS = ("first_event_day",)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
CODE_MAX = 100
GROUP_MAX = 60
# One person's follow-up and events have plausible bounds: a century of days, and at most 100,000 events (far
# below the database's whole-number limit of 2³¹ - 1). A value above them is a typing or export error, said by
# row, never a traceback from the database or the statistics.
PERSON_DAYS_MAX = 36_525
EVENTS_MAX = 100_000
# Enough to fix a file by; the count of the rest is still said.
PROBLEMS_SHOWN = 50


class OutcomeFileRejected(ValueError):
    """A file that is not imported, with its problems (each naming its row)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class OutcomeRow:
    row: int
    participant_code: str
    group: str
    person_days: float
    events: int
    first_event_day: float | None


def header_text() -> str:
    return ",".join(REQUIRED_COLUMNS) + "[," + ",".join(OPTIONAL_COLUMNS) + "]"


def read_outcomes(content: bytes) -> list[OutcomeRow]:
    """Every row of the file, or OutcomeFileRejected with every problem found."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise OutcomeFileRejected([_("The file is not UTF-8 text; save it as CSV UTF-8.")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise OutcomeFileRejected(
                [_("row 1: the file is empty; its first row must be the header %(header)s.") % _header()]
            )
        columns = [cell.strip().lower() for cell in header]
        _check_header(columns)
        problems: list[str] = []
        rows: list[OutcomeRow] = []
        first_row_of: dict[str, int] = {}
        for cells in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # spreadsheets leave blank rows (",,,") at the end
            if len(cells) != len(columns):
                problems.append(
                    _("row %(row)s: %(found)s values where the header has %(expected)s columns.")
                    % {"row": number, "found": len(cells), "expected": len(columns)}
                )
                continue
            values = dict(zip(columns, (cell.strip() for cell in cells), strict=True))
            found, row = _read_row(number, values)
            problems += found
            if row is None:
                continue
            key = crypto.normalize_for_index("text", row.participant_code)
            if key in first_row_of:
                problems.append(
                    _("row %(row)s: participant_code %(code)r is already on row %(other)s; each person once.")
                    % {"row": number, "code": row.participant_code, "other": first_row_of[key]}
                )
                continue
            first_row_of[key] = number
            rows.append(row)
    except csv.Error as exc:
        raise OutcomeFileRejected(
            [
                _("row %(row)s: the file cannot be read as CSV (%(error)s).")
                % {"row": reader.line_num, "error": exc}
            ]
        ) from None
    if problems:
        raise OutcomeFileRejected(shown_problems(problems))
    if not rows:
        raise OutcomeFileRejected([_("The file has a header but no rows of outcomes.")])
    return rows


def shown_problems(problems: list[str]) -> list[str]:
    if len(problems) <= PROBLEMS_SHOWN:
        return problems
    rest = len(problems) - PROBLEMS_SHOWN
    return [*problems[:PROBLEMS_SHOWN], _("… and %(count)s more problems.") % {"count": rest}]


def _header() -> dict[str, str]:
    return {"header": header_text()}


def _check_header(columns: list[str]) -> None:
    problems = []
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        problems.append(
            _("row 1: the header has no column %(missing)s; it must be %(header)s.")
            % {"missing": ", ".join(missing), **_header()}
        )
    # An extra column (a name, an address) would look stored when it is not; better to say so.
    unknown = [column for column in columns if column not in COLUMNS]
    if unknown:
        problems.append(
            _("row 1: unknown column %(unknown)s; only %(header)s are read. Remove it from the file.")
            % {"unknown": ", ".join(repr(c) for c in unknown), **_header()}
        )
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        problems.append(_("row 1: column %(columns)s appears twice.") % {"columns": ", ".join(repeated)})
    if problems:
        raise OutcomeFileRejected(problems)


def _read_row(number: int, values: dict[str, str]) -> tuple[list[str], OutcomeRow | None]:
    problems: list[str] = []

    def problem(message: str, **params: object) -> None:
        problems.append(_("row %(row)s: ") % {"row": number} + message % params)

    code = values["participant_code"]
    if not code:
        problem(_("participant_code is empty."))
    elif len(code) > CODE_MAX:
        problem(_("participant_code is longer than %(max)s characters."), max=CODE_MAX)
    group = values["group"]
    if not group:
        problem(_("group is empty."))
    elif len(group) > GROUP_MAX:
        problem(_("group is longer than %(max)s characters."), max=GROUP_MAX)
    person_days = _number(values["person_days"])
    if person_days is None or person_days <= 0:
        problem(_("person_days must be a number greater than 0, not %(value)r."), value=values["person_days"])
    elif person_days > PERSON_DAYS_MAX:
        problem(
            _("person_days is %(value)s, more than %(max)s days (a century); check the value."),
            value=values["person_days"],
            max=PERSON_DAYS_MAX,
        )
        person_days = None
    events = _whole(values["events"])
    if events is None:
        problem(_("events must be a whole number of 0 or more, not %(value)r."), value=values["events"])
    elif events > EVENTS_MAX:
        problem(
            _("events is %(value)s, more than %(max)s for one person; check the value."),
            value=values["events"],
            max=EVENTS_MAX,
        )
        events = None
    first_text = values.get("first_event_day", "")
    first_event_day = _number(first_text) if first_text else None
    if first_text:
        if first_event_day is None or first_event_day < 0:
            problem(_("first_event_day must be a number of 0 or more, not %(value)r."), value=first_text)
        elif events == 0:
            problem(_("first_event_day is given but events is 0; leave it empty when there was no event."))
        elif person_days is not None and first_event_day > person_days:
            problem(
                _(
                    "first_event_day %(day)s is beyond person_days %(days)s: the event must fall in the follow-up."
                ),
                day=first_text,
                days=values["person_days"],
            )
    if problems or person_days is None or events is None:
        return problems, None
    return [], OutcomeRow(
        row=number,
        participant_code=code,
        group=group,
        person_days=person_days,
        events=events,
        first_event_day=first_event_day,
    )


def _number(text: str) -> float | None:
    try:
        value = float(Decimal(text))
    except (InvalidOperation, ValueError):
        return None
    return value if math.isfinite(value) else None


def _whole(text: str) -> int | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value != value.to_integral_value():
        return None
    return int(value)
