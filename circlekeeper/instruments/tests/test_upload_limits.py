"""Issue 19 finding 6: a workbook is limited by what it becomes (files, unpacked size, sheets, rows, cells),
checked from the zip's directory and a streamed count before the spreadsheet reader sees it; reading has a time
limit; the message names the limit."""

from __future__ import annotations

import io
import time
import zipfile
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from circlekeeper.instruments.definition import ImportRejected
from circlekeeper.instruments.importing import import_instrument_file
from circlekeeper.instruments.models import InstrumentVersion, Source
from circlekeeper.instruments.tests.helpers import fixture_files
from circlekeeper.testing import PersonaTestCase

MB = 1024 * 1024


def workbook(*, sheets: int = 1, rows: int = 10, cells_per_row: int = 2, padding: int = 0) -> bytes:
    """A small xlsx-shaped zip; `padding` bytes of repeated text inflate the first sheet cheaply."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        for n in range(1, sheets + 1):
            row = "<row>" + '<c t="s"><v>0</v></c>' * cells_per_row + "</row>"
            body = "<worksheet><sheetData>" + row * rows + "</sheetData>"
            if n == 1 and padding:
                body += "<!--" + "x" * padding + "-->"
            archive.writestr(f"xl/worksheets/sheet{n}.xml", body + "</worksheet>")
    return out.getvalue()


def refused(content: bytes) -> str:
    with (
        mock.patch(
            "circlekeeper.instruments.xlsform.read_xlsform", side_effect=AssertionError("read")
        ) as reader,
        pytest.raises(ImportRejected) as info,
    ):
        import_instrument_file(content=content, file_name="form.xlsx", source=Source.XLSFORM, owner=None)
    assert not reader.called, "the spreadsheet reader must not see a workbook above a limit"
    return " ".join(info.value.problems)


@pytest.mark.django_db
def test_a_small_file_that_unpacks_to_20_mb_is_refused_before_reading():
    content = workbook(padding=20 * MB)
    assert len(content) < 100 * 1024
    assert "unpacks to 20.0 MB; the limit is 10.0 MB" in refused(content)


@pytest.mark.django_db
@override_settings(UPLOAD_MAX_SHEETS=3)
def test_too_many_sheets_are_refused_naming_the_limit():
    assert "4 sheets; the limit is 3" in refused(workbook(sheets=4))


@pytest.mark.django_db
@override_settings(UPLOAD_MAX_ROWS=100)
def test_too_many_rows_are_refused_naming_the_limit():
    assert "more than 100 rows" in refused(workbook(sheets=2, rows=60))


@pytest.mark.django_db
@override_settings(UPLOAD_MAX_CELLS=1000, UPLOAD_MAX_ROWS=10000)
def test_too_many_cells_are_refused_naming_the_limit():
    assert "more than 1000 cells" in refused(workbook(rows=200, cells_per_row=6))


@pytest.mark.django_db
@override_settings(UPLOAD_MAX_ZIP_ENTRIES=5)
def test_too_many_files_in_the_zip_are_refused():
    assert "the limit is 5" in refused(workbook(sheets=4))


@pytest.mark.django_db
@override_settings(UPLOAD_PARSE_SECONDS=1)
def test_reading_stops_after_the_time_limit():
    def slow(*args, **kwargs):
        time.sleep(5)

    started = time.monotonic()
    patched = mock.patch("circlekeeper.instruments.xlsform.read_xlsform", side_effect=slow)
    with patched, pytest.raises(ImportRejected) as info:
        import_instrument_file(content=workbook(), file_name="f.xlsx", source=Source.XLSFORM, owner=None)
    assert time.monotonic() - started < 4
    assert "longer than 1 seconds" in " ".join(info.value.problems)


@pytest.mark.django_db
def test_real_xlsforms_are_within_the_limits():
    for path in fixture_files("xlsform", "*.xlsx")[:5]:
        import_instrument_file(
            content=path.read_bytes(), file_name=path.name, source=Source.XLSFORM, owner=None
        )


class UploadPageTests(PersonaTestCase):
    def test_the_upload_page_names_the_limit(self):
        self.login(self.pat)
        upload = SimpleUploadedFile(
            "bomb.xlsx", workbook(padding=20 * MB), content_type="application/octet-stream"
        )
        page = self.client.post(
            reverse("instruments:instrument_import"),
            {"source": "xlsform", "language": "en", "code": "", "title": "", "file": upload},
        )
        self.assertContains(page, "the limit is 10.0 MB", status_code=page.status_code)
        self.assertFalse(InstrumentVersion.objects.exists())
