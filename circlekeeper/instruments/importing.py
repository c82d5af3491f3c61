"""Import commands and the upload page share this: read a file, then save it as a version, or reject it whole."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import Organization, User
from circlekeeper.instruments.definition import (
    DefinitionError,
    Imported,
    ImportRejected,
    ReportGroup,
    import_report,
)
from circlekeeper.instruments.events import event_report
from circlekeeper.instruments.models import InstrumentVersion, Source
from circlekeeper.instruments.redcap import read_dictionary
from circlekeeper.instruments.services import save_version
from circlekeeper.lib.uploads import ParsingTooLong, UploadRefused, check_workbook, time_limit


@dataclass(frozen=True)
class ImportResult:
    version: InstrumentVersion
    created: bool
    warnings: list[str]
    report: list[ReportGroup]


def code_from_file_name(name: str) -> str:
    # Here, not at the top: pyxform loads openpyxl, which loads numpy; a web worker's memory (issue 10).
    from circlekeeper.instruments.xlsform import code_for

    return code_for(Path(name).stem)


def import_instrument_file(
    *,
    content: bytes,
    file_name: str,
    source: str,
    owner: Organization | None,
    imported_by: User | None = None,
    code: str = "",
    title: str = "",
    language: str = "en",
) -> ImportResult:
    """Read a REDCap dictionary or an XLSForm and save it as a version; ImportRejected (nothing written) if not."""
    imported = read_instrument_file(
        content=content, file_name=file_name, source=source, code=code, title=title, language=language
    )
    return save_imported(imported, source=source, owner=owner, imported_by=imported_by)


def read_instrument_file(
    *, content: bytes, file_name: str, source: str, code: str = "", title: str = "", language: str = "en"
) -> Imported:
    """Parse the file, writing nothing: the CPU-heavy half, run outside any transaction (issue 20: on SQLite a
    transaction holds the database's one write lock, and a large spreadsheet takes seconds to read)."""
    imported: Imported
    try:
        with time_limit(settings.UPLOAD_PARSE_SECONDS):
            if source == Source.REDCAP:
                code = code or code_from_file_name(file_name)
                imported = read_dictionary(
                    content, code=code, title=title or Path(file_name).stem, language=language
                )
            elif source == Source.XLSFORM:
                from circlekeeper.instruments.xlsform import read_xlsform  # see code_from_file_name

                # What an .xlsx workbook (a zip) unpacks to is checked before anything reads it. An .xls or a
                # CSV XLSForm is not compressed: the upload's own size limit already bounds what it becomes.
                if content[:4] == b"PK\x03\x04":
                    check_workbook(content)
                imported = read_xlsform(content, code=code, file_name=Path(file_name).stem)
                if title:
                    imported.definition["title"] = {imported.definition["default_language"]: title}
            else:
                raise ValueError(f"cannot import files of source {source!r}")
    except UploadRefused as exc:
        raise ImportRejected([str(exc)]) from None
    except ParsingTooLong:
        raise ImportRejected(
            [
                _("Reading the file took longer than %(seconds)s seconds, the limit.")
                % {"seconds": settings.UPLOAD_PARSE_SECONDS}
            ]
        ) from None
    # The format only, not the file name: the same content under another name is the same version.
    imported.definition["source"] = {"format": source}
    return imported


@transaction.atomic
def save_imported(
    imported: Imported, *, source: str, owner: Organization | None, imported_by: User | None = None
) -> ImportResult:
    """Save what read_instrument_file read as a version (the short, writing half)."""
    try:
        version, created = save_version(
            definition=imported.definition, source=source, owner=owner, imported_by=imported_by
        )
    except DefinitionError as exc:
        raise ImportRejected(exc.problems) from None
    event_warnings, event_lines = event_report(imported, owner)
    imported.warnings += event_warnings
    imported.translated += event_lines
    return ImportResult(version, created, imported.warnings, import_report(imported=imported))
