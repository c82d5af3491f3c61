"""A streaming writer of SPSS system files (`.sav`), so that an export of a million responses is sent as it is
read instead of being built in memory (issue 10 item 6).

The layout is the one the PSPP manual documents ("System File Format"), little-endian:

- the file header (record type 1): product, case size in 8-byte segments, compression, case count (-1 when
  not known before the rows are read), date, file label;
- one variable record (type 2) per variable, with its label and its discrete missing values, and one
  continuation record per further 8 bytes of a string;
- value labels (types 3 and 4) of numeric variables;
- extension records (type 7): machine integer info (3), floating point info (4), character encoding "UTF-8"
  (20), display parameters (11), long variable names (13) and, when known, the 64-bit case count (16);
- the dictionary termination (999), then the cases: 8 bytes per number (the system-missing value for none),
  strings space-padded to a multiple of 8 bytes; by default with bytecode compression (`compressed_cases`),
  as SPSS itself writes, which makes the padding of a string wide enough for any value nearly free.

It describes the columns as pyreadstat (ReadStat) did, so the files read back the same: numbers as F8.2,
strings as A<width>, display width 8, measure "unknown", labels cut at a character boundary to 256 bytes
(variable), 120 bytes (value) and 64 bytes (file). Strings are at most 255 bytes (a value longer than its
variable's width is cut at a character boundary): the very long strings of SPSS (subtype 14) are not
written, as no exported column needs one. A document record (type 6) holds the file's notes, when given
(the export's k-anonymity summary): lines of 80 bytes, each note cut at a character boundary.
"""

from __future__ import annotations

import datetime
import struct
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STRING_MAX = 255
LABEL_MAX_BYTES = 256
VALUE_LABEL_MAX_BYTES = 120
FILE_LABEL_BYTES = 64
NAME_MAX_BYTES = 64
SHORT_NAME_BYTES = 8
MISSING_MAX = 3
# Cases written before a piece is handed on: a few hundred kilobytes at most.
CHUNK_ROWS = 1000

SYSMIS = -sys.float_info.max
HIGHEST = sys.float_info.max
LOWEST = struct.unpack("<d", struct.pack("<Q", 0xFFEFFFFFFFFFFFFE))[0]  # the double just above SYSMIS

PRODUCT = b"@(#) SPSS DATA FILE - Circlekeeper"
# print/write formats: type << 16 | width << 8 | decimals
FORMAT_F8_2 = (5 << 16) | (8 << 8) | 2
FORMAT_A = 1 << 16
FORMAT_CONTINUATION = 0x011D01  # what ReadStat writes for a continuation record
MEASURE_UNKNOWN = 0
DISPLAY_WIDTH = 8
ALIGN_LEFT, ALIGN_RIGHT = 0, 1
UTF8_CODE_PAGE = 65001
# Names SPSS reserves: a short name never takes one.
RESERVED = frozenset({"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"})
# Bytecode compression: a code per 8-byte segment; 1 to 251 stand for the numbers -99 to 151 (code - BIAS).
NO_OP, END_OF_FILE, RAW, SPACES, MISSING, BIAS = 0, 252, 253, 254, 255, 100
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Column:
    """One variable of the file: its (long) name, label, width (0 for a number, else a string's bytes),
    value labels and discrete missing values (numbers only)."""

    name: str
    label: str = ""
    width: int = 0
    value_labels: Mapping[float, str] = field(default_factory=dict)
    missing: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or len(self.name.encode("utf-8")) > NAME_MAX_BYTES or " " in self.name:
            raise ValueError(f"not an SPSS variable name: {self.name!r}")
        if not 0 <= self.width <= STRING_MAX:
            raise ValueError(f"{self.name}: a string is 1 to {STRING_MAX} bytes wide, not {self.width}")
        if self.width and (self.value_labels or self.missing):
            raise ValueError(f"{self.name}: value labels and missing values are for numbers only")
        if len(self.missing) > MISSING_MAX:
            raise ValueError(f"{self.name}: at most {MISSING_MAX} missing values")

    @property
    def segments(self) -> int:
        """The 8-byte segments a case holds for this variable."""
        return (self.width + 7) // 8 if self.width else 1


def cut(text: str, limit: int) -> bytes:
    """`text` in UTF-8, at most `limit` bytes, never ending inside a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")


def short_names(names: Sequence[str]) -> list[str]:
    """Each variable's upper-case short name, unique: its first 8 bytes when free, else V1, V2..."""
    taken: set[str] = set()
    shorts = []
    number = 0
    for name in names:
        short = cut(name.upper(), SHORT_NAME_BYTES).decode("utf-8")
        while short in taken or short in RESERVED:
            number += 1
            short = f"V{number}"
        taken.add(short)
        shorts.append(short)
    return shorts


def _int32(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


def _round_up(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def _extension(subtype: int, size: int, body: bytes) -> bytes:
    return _int32(7, subtype, size, len(body) // size) + body


def dictionary(
    columns: Sequence[Column],
    *,
    n_cases: int | None,
    file_label: str,
    created: datetime.datetime,
    compressed: bool = False,
    notes: Sequence[str] = (),
) -> bytes:
    """Everything before the cases: header, variables, value labels, extension records, termination."""
    segments = sum(column.segments for column in columns)
    header = struct.pack(
        "<4s60s5id9s8s64s3x",
        b"$FL2",
        PRODUCT.ljust(60),
        2,  # layout code
        segments,
        1 if compressed else 0,  # bytecode compression, or none
        0,  # no weight variable
        -1 if n_cases is None else n_cases,
        float(BIAS),
        f"{created.day:02d} {MONTHS[created.month - 1]} {created.year % 100:02d}".encode("ascii"),
        created.strftime("%H:%M:%S").encode("ascii"),
        cut(file_label, FILE_LABEL_BYTES).ljust(FILE_LABEL_BYTES),
    )
    shorts = short_names([column.name for column in columns])
    parts = [header]
    for column, short in zip(columns, shorts, strict=True):
        label = cut(column.label or "", LABEL_MAX_BYTES)
        form = (FORMAT_A | column.width << 8) if column.width else FORMAT_F8_2
        parts.append(_int32(2, column.width, int(bool(label)), len(column.missing), form, form))
        parts.append(short.encode("ascii").ljust(8))
        if label:
            parts.append(_int32(len(label)) + label.ljust(_round_up(len(label), 4)))
        parts.append(struct.pack(f"<{len(column.missing)}d", *column.missing))
        for _more in range(column.segments - 1):
            parts.append(_int32(2, -1, 0, 0, FORMAT_CONTINUATION, FORMAT_CONTINUATION) + b" " * 8)
    index = 1  # a variable's dictionary index counts its continuation records
    for column in columns:
        if column.value_labels:
            parts.append(_int32(3, len(column.value_labels)))
            for value, text in column.value_labels.items():
                data = cut(text, VALUE_LABEL_MAX_BYTES)
                # The length byte and the label together fill whole 8-byte units.
                padded = data.ljust(_round_up(len(data) + 1, 8) - 1)
                parts.append(struct.pack("<dB", value, len(data)) + padded)
            parts.append(_int32(4, 1, index))
        index += column.segments
    if notes:
        lines = [line for note in notes for line in document_lines(note)]
        parts.append(_int32(6, len(lines)) + b"".join(line.ljust(DOCUMENT_LINE_BYTES) for line in lines))
    parts.append(_extension(3, 4, _int32(20, 0, 0, -1, 1, 1, 2, UTF8_CODE_PAGE)))
    parts.append(_extension(4, 8, struct.pack("<3d", SYSMIS, HIGHEST, LOWEST)))
    parts.append(_extension(20, 1, b"UTF-8"))
    display = [
        (MEASURE_UNKNOWN, DISPLAY_WIDTH, ALIGN_LEFT if column.width else ALIGN_RIGHT) for column in columns
    ]
    parts.append(_extension(11, 4, _int32(*(number for triple in display for number in triple))))
    long_names = "\t".join(
        f"{short}={cut(column.name, NAME_MAX_BYTES).decode('utf-8')}"
        for column, short in zip(columns, shorts, strict=True)
    )
    parts.append(_extension(13, 1, long_names.encode("utf-8")))
    if n_cases is not None:
        parts.append(_extension(16, 8, struct.pack("<2q", 1, n_cases)))
    parts.append(_int32(999, 0))
    return b"".join(parts)


DOCUMENT_LINE_BYTES = 80


def document_lines(note: str) -> list[bytes]:
    """A note as document lines of at most 80 bytes, broken between words where it can be."""
    lines: list[bytes] = []
    current = ""
    for word in note.split():
        candidate = f"{current} {word}" if current else word
        if len(candidate.encode("utf-8")) <= DOCUMENT_LINE_BYTES:
            current = candidate
            continue
        if current:
            lines.append(current.encode("utf-8"))
        current = word
        while len(current.encode("utf-8")) > DOCUMENT_LINE_BYTES:
            head = cut(current, DOCUMENT_LINE_BYTES)
            lines.append(head)
            current = current[len(head.decode("utf-8")) :]
    if current:
        lines.append(current.encode("utf-8"))
    return lines


def _cell_writer(column: Column) -> Callable[[Any], Any]:
    """What goes into the case for a value: a number (SYSMIS for None or NaN), or padded bytes."""
    if not column.width:

        def number(value: Any) -> float:
            if value is None or value != value:  # NaN is the only value not equal to itself
                return SYSMIS
            return float(value)

        return number
    width = column.width
    size = column.segments * 8

    def text(value: Any) -> bytes:
        if value is None:
            return b" " * size
        data = str(value).encode("utf-8")
        if len(data) > width:
            data = cut(str(value), width)
        return data.ljust(size)

    return text


def cases(
    columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, chunk_rows: int = CHUNK_ROWS
) -> Iterator[bytes]:
    """The uncompressed cases of `rows` (one value per column, in order), `chunk_rows` at a time."""
    layout = struct.Struct(
        "<" + "".join(f"{column.segments * 8}s" if column.width else "d" for column in columns)
    )
    writers = [_cell_writer(column) for column in columns]
    pack = layout.pack
    pieces: list[bytes] = []
    for row in rows:
        pieces.append(pack(*[write(value) for write, value in zip(writers, row, strict=True)]))
        if len(pieces) >= chunk_rows:
            yield b"".join(pieces)
            pieces.clear()
    if pieces:
        yield b"".join(pieces)


def compressed_cases(
    columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, chunk_rows: int = CHUNK_ROWS
) -> Iterator[bytes]:
    """The cases of `rows` with SPSS's bytecode compression, `chunk_rows` at a time.

    Each 8-byte segment of a case becomes one code: 1 to 251 for a whole number from -99 to 151 (the number
    plus the bias, 100), 254 for 8 spaces, 255 for the system-missing value, 253 for 8 bytes written as
    they are. Codes go in blocks of 8, each block followed by the raw bytes of its 253 codes; a block runs
    on from one case to the next. The end is marked (252, as PSPP writes it: the header may not say how
    many cases there are) and the last block filled up with 0 (no-op) codes.
    """
    coders = [_segment_coder(column) for column in columns]
    codes = bytearray()
    raws: list[bytes] = []  # the bytes of each 253 code, in order
    rows_held = 0
    for row in rows:
        for code, value in zip(coders, row, strict=True):
            code(value, codes, raws)
        rows_held += 1
        if rows_held >= chunk_rows:
            yield _blocks(codes, raws)
            rows_held = 0
    codes.append(END_OF_FILE)
    codes.extend(bytes([NO_OP]) * (-len(codes) % 8))
    yield _blocks(codes, raws)


def _segment_coder(column: Column) -> Callable[[Any, bytearray, list[bytes]], None]:
    """What adds a value's codes (and raw bytes) to a case: one per 8-byte segment."""
    if not column.width:
        pack_double = struct.Struct("<d").pack

        def number(value: Any, codes: bytearray, raws: list[bytes]) -> None:
            if value is None or value != value:  # NaN is the only value not equal to itself
                codes.append(MISSING)
                return
            value = float(value)
            if -BIAS < value <= 251 - BIAS and value.is_integer():
                codes.append(int(value) + BIAS)
            else:
                codes.append(RAW)
                raws.append(pack_double(value))

        return number
    width, segments = column.width, column.segments
    raw_codes = [bytes([RAW]) * used for used in range(segments + 1)]
    space_codes = [bytes([SPACES]) * unused for unused in range(segments + 1)]

    def text(value: Any, codes: bytearray, raws: list[bytes]) -> None:
        data = b"" if value is None else str(value).encode("utf-8")
        if len(data) > width:
            data = cut(str(value), width)
        used = (len(data) + 7) // 8  # the segments holding text; the others are all spaces
        if used == 1:
            raws.append(data.ljust(8))
        elif used:
            data = data.ljust(used * 8)
            raws.extend(data[start : start + 8] for start in range(0, used * 8, 8))
        codes += raw_codes[used]
        codes += space_codes[segments - used]

    return text


def _blocks(codes: bytearray, raws: list[bytes]) -> bytes:
    """The whole blocks of 8 codes, each followed by its raw bytes, taken out of `codes` and `raws`."""
    whole = len(codes) - len(codes) % 8
    pieces = []
    taken = 0
    for start in range(0, whole, 8):
        block = bytes(codes[start : start + 8])
        pieces.append(block)
        count = block.count(RAW)
        if count:
            pieces.extend(raws[taken : taken + count])
            taken += count
    del codes[:whole]
    del raws[:taken]
    return b"".join(pieces)


def write(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    n_cases: int | None = None,
    file_label: str = "",
    created: datetime.datetime | None = None,
    compress: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    notes: Sequence[str] = (),
) -> Iterator[bytes]:
    """The system file in pieces: the dictionary, then the cases `chunk_rows` at a time, reading `rows` as it
    goes; with bytecode compression unless `compress` is false. Without `n_cases` the header says -1
    (unknown), which SPSS, PSPP and ReadStat read to the end.
    """
    if not columns:
        raise ValueError("an SPSS file has at least one variable")
    yield dictionary(
        columns,
        n_cases=n_cases,
        file_label=file_label,
        created=created or datetime.datetime.now(),
        compressed=compress,
        notes=notes,
    )
    counted = _Counted(rows)
    yield from (compressed_cases if compress else cases)(columns, counted, chunk_rows=chunk_rows)
    if n_cases is not None and counted.count != n_cases:
        raise ValueError(f"{counted.count} cases written, the header says {n_cases}")


class _Counted:
    """The rows, counted as they are read."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self.rows:
            self.count += 1
            yield row
