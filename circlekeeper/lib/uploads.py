"""Upload limits by what a file becomes, not only by its size on the wire (issue 19 finding 6).

A workbook (.xlsx) is a zip: 24 KB can unpack to 20 MB of XML that the spreadsheet reader then holds in memory for
minutes. Before anything reads it, `check_workbook` looks at the zip's directory (the entries' declared sizes: the
zip reader never unpacks more than an entry declares) and streams the sheets to count rows and cells, refusing a
workbook above any limit with a message naming it. `time_limit` stops parsing that runs too long.
"""

from __future__ import annotations

import contextlib
import io
import re
import signal
import threading
import zipfile
from collections.abc import Iterator
from types import FrameType

from django.conf import settings
from django.utils.translation import gettext as _

_SHEET = re.compile(r"xl/worksheets/[^/]+\.xml", re.IGNORECASE)
_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")
_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s>/]")
_CHUNK = 64 * 1024
_OVERLAP = 64


class UploadRefused(ValueError):
    """The file is above a limit; the message names it, for the person who uploaded it."""


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}"


def check_workbook(content: bytes) -> None:
    """Refuse a workbook above the sheet, row, cell or unpacked-size limits; UploadRefused names the limit."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, OSError):
        raise UploadRefused(_("This is not an .xlsx workbook.")) from None
    with archive:
        entries = archive.infolist()
        if len(entries) > settings.UPLOAD_MAX_ZIP_ENTRIES:
            raise UploadRefused(
                _("The workbook holds %(count)s files; the limit is %(limit)s.")
                % {"count": len(entries), "limit": settings.UPLOAD_MAX_ZIP_ENTRIES}
            )
        unpacked = sum(entry.file_size for entry in entries)
        if unpacked > settings.UPLOAD_MAX_UNPACKED_BYTES:
            raise UploadRefused(
                _("The workbook unpacks to %(size)s MB; the limit is %(limit)s MB.")
                % {"size": _megabytes(unpacked), "limit": _megabytes(settings.UPLOAD_MAX_UNPACKED_BYTES)}
            )
        sheets = [entry for entry in entries if _SHEET.fullmatch(entry.filename)]
        if len(sheets) > settings.UPLOAD_MAX_SHEETS:
            raise UploadRefused(
                _("The workbook has %(count)s sheets; the limit is %(limit)s.")
                % {"count": len(sheets), "limit": settings.UPLOAD_MAX_SHEETS}
            )
        rows = cells = 0
        for sheet in sheets:
            for found_rows, found_cells in _count(archive, sheet):
                rows += found_rows
                cells += found_cells
                if rows > settings.UPLOAD_MAX_ROWS:
                    raise UploadRefused(
                        _("The workbook has more than %(limit)s rows, the limit.")
                        % {"limit": settings.UPLOAD_MAX_ROWS}
                    )
                if cells > settings.UPLOAD_MAX_CELLS:
                    raise UploadRefused(
                        _("The workbook has more than %(limit)s cells, the limit.")
                        % {"limit": settings.UPLOAD_MAX_CELLS}
                    )


def _count(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> Iterator[tuple[int, int]]:
    """(rows, cells) found in each chunk of a sheet's XML, read as bytes (no XML parser)."""
    tail = b""
    with archive.open(entry) as stream:
        while chunk := stream.read(_CHUNK):
            data = tail + chunk
            # Count only tags that start before the overlap kept for the next chunk, so none is counted twice.
            cut = max(0, len(data) - _OVERLAP)
            yield (
                sum(1 for m in _ROW.finditer(data) if m.start() < cut),
                sum(1 for m in _CELL.finditer(data) if m.start() < cut),
            )
            tail = data[cut:]
    yield len(_ROW.findall(tail)), len(_CELL.findall(tail))


class ParsingTooLong(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` (ParsingTooLong), where a timer signal can be used (the main thread,
    as in gunicorn's sync workers and the management commands); elsewhere the block runs unlimited."""
    if (
        seconds <= 0
        or threading.current_thread() is not threading.main_thread()
        or not hasattr(signal, "setitimer")
    ):
        yield
        return

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise ParsingTooLong

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
