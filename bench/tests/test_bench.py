"""The benchmark harness: the synthetic frames' shapes and the results file (no database); pages.py and its
unencrypted copy (plaintext.py) on the test database."""

import datetime
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from django.db import connection, transaction
from django.test import TransactionTestCase
from django.urls import reverse

from bench import analyses, pages, plaintext, results
from bench.run import summary
from bench.timing import best_of, ratio
from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import CaseNote, Participant, TeamRole
from circlekeeper.cases.services import add_case_note
from circlekeeper.evaluation import analysis
from circlekeeper.evaluation.dataset import FIDELITY_COLUMNS, SCORE_COLUMNS, TIMEPOINT_COLUMNS
from circlekeeper.evaluation.report import FRAME_COLUMNS
from circlekeeper.lib import crypto
from circlekeeper.lib.crypto import DecryptionError
from circlekeeper.lib.fields import EncryptedField
from circlekeeper.testing import (
    PersonaTestCase,
    make_case,
    make_organization,
    make_participant,
    make_user,
    sign_in,
)

ORIGINAL_FROM_DB_VALUE = EncryptedField.from_db_value


@pytest.fixture(scope="module")
def frames():
    return analyses.frames(responses=1000, participants=200)


def test_the_frames_have_the_columns_dataset_gives(frames):
    assert list(frames["scores"].columns) == SCORE_COLUMNS
    assert list(frames["timepoints"].columns) == TIMEPOINT_COLUMNS
    assert list(frames["fidelity"].columns) == FIDELITY_COLUMNS
    assert list(frames["outcomes"].columns) == FRAME_COLUMNS
    assert len(frames["scores"]) == len(frames["timepoints"]) == len(frames["fidelity"]) == 1000
    assert len(frames["outcomes"]) == len(frames["pairs"]) == 200


def test_each_participant_answers_each_timepoint_once(frames):
    scores = frames["scores"]
    assert scores["participant"].nunique() == 200
    assert not scores.duplicated(["participant", "timepoint"]).any()
    assert sorted(scores["timepoint"].unique()) == ["T0", "T1", "T2", "T3", "T4"]
    assert set(frames["timepoints"]["status"]) <= set(analysis.RETENTION_STATUSES)


def test_the_frames_are_the_same_for_the_same_seed(frames):
    again = analyses.frames(responses=1000, participants=200)
    assert again["scores"].equals(frames["scores"])
    assert again["outcomes"].equals(frames["outcomes"])


def test_only_people_with_events_have_a_first_event_day(frames):
    outcomes = frames["outcomes"]
    had = outcomes["events"] > 0
    assert outcomes.loc[had, "first_event_day"].notna().all()
    assert outcomes.loc[~had, "first_event_day"].isna().all()
    assert (outcomes.loc[had, "first_event_day"] < outcomes.loc[had, "person_days"]).all()


def test_each_analysis_and_its_direct_computation_agree(frames):
    done = {name: (ours(), direct()) for name, (ours, direct) in analyses.calls(frames).items()}
    ours, direct = done["descriptives"]
    assert [row["mean"] for row in ours] == pytest.approx(list(direct["mean"]))
    ours, direct = done["irr"]
    assert [c["irr"] for c in ours["comparisons"]] == pytest.approx(list(direct[1:, 0]))
    ours, direct = done["fidelity"]
    assert ours["share"] == pytest.approx(direct[0])
    ours, direct = done["retention"]
    assert [row["share"] for row in ours] == pytest.approx(list(direct["share"]))


def test_too_few_responses_is_refused():
    with pytest.raises(ValueError):
        analyses.frames(responses=10, participants=20)


def test_a_figure_says_whether_the_targets_are_met():
    fast = analyses.figure("irr", 10, ours=0.3, direct=0.25)
    assert (fast["ratio"], fast["meets_seconds"], fast["meets_ratio"]) == (1.2, True, True)
    slow = analyses.figure("irr", 10, ours=2.5, direct=1.0)
    assert (slow["meets_seconds"], slow["meets_ratio"]) == (False, False)
    assert ratio(1.0, 0.0) is None
    assert best_of(lambda: None, repeat=2) >= 0


def test_the_results_file_has_machine_versions_and_every_figure(tmp_path):
    when = datetime.datetime(2026, 3, 4, 12, tzinfo=datetime.UTC)
    measurements = {"analyses": {"analyses": [analyses.figure("fidelity", 5, 0.1, 0.1)]}}
    document = results.document(
        database="sqlite", scale=3000, measurements=measurements, database_version="3.45", when=when
    )
    path = results.write(document, tmp_path)
    assert path.name == "2026-03-04-sqlite.json"
    written = json.loads(path.read_text())
    assert set(results.REQUIRED_KEYS) <= set(written)
    assert written["machine"]["cpu_count"] >= 1
    assert {"python", "django", "database"} <= set(written["versions"])
    assert written["versions"]["database"] == "3.45"
    assert written["measurements"] == measurements
    assert results.earlier_measurements("sqlite", tmp_path, day="2026-03-04") == measurements
    assert results.earlier_measurements("postgresql", tmp_path, day="2026-03-04") == {}


def test_a_results_document_without_its_machine_is_refused(tmp_path):
    with pytest.raises(ValueError, match="machine"):
        results.write({"date": "2026-03-04", "database": "sqlite", "measurements": {}}, tmp_path)


def test_the_table_shows_missed_targets_plainly():
    text = results.table([{"a": 1.23456, "ok": False, "none": None}], ["a", "ok", "none"])
    assert text.splitlines()[-1].split() == ["1.235", "NO", "-"]
    assert np.isfinite(1.0)


# --- pages.py: the SQL floor and the unencrypted copy of item 5, on the test database -----------------


class PagesOnTheTestDatabase(PersonaTestCase):
    """bench/pages.py and bench/plaintext.py on a small case with encrypted values on its page."""

    NOTE = "Met at the library on Tuesday"
    NAME = "Dana Whitfield"

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        make_participant(cls.case, name=cls.NAME, date_of_birth=datetime.date(1990, 5, 17), phone="555 0100")
        cls.note = add_case_note(case=cls.case, author=cls.alice, text=cls.NOTE)
        cls.other_note = add_case_note(case=cls.other_team_case, author=cls.bob, text="Another team's note")

    def setUp(self):
        self.login(self.alice)
        self.url = reverse("cases:detail", args=[self.case.pk])

    def get(self):
        return pages.ok(self.client.get(self.url), "case detail")

    def rewrite_in_place(self):
        """The page's encrypted values stored unencrypted in this (rolled back) test database."""
        with plaintext.rows_read() as rows:
            page = plaintext.html(self.get)
        written = plaintext.write_plaintext(plaintext.plaintext_updates(rows))
        return page, rows, written

    def test_the_rows_a_page_reads_are_noted_and_stored_unencrypted(self):
        _page, rows, written = self.rewrite_in_place()
        assert self.note.pk in rows[CaseNote]
        assert len(rows[Participant]) == 1
        assert self.other_note.pk not in rows[CaseNote]
        assert written >= 1 + 7  # the note's text and the participant's seven encrypted fields (some empty)
        stored = CaseNote.objects.filter(pk=self.note.pk).values_list("text", flat=True).get()
        assert bytes(stored) == crypto.encode_value(self.NOTE)  # in clear: the text itself
        untouched = CaseNote.objects.filter(pk=self.other_note.pk).values_list("text", flat=True).get()
        assert b"Another team" not in bytes(untouched)

    def test_the_page_on_plaintext_values_is_the_same_page_with_no_decryption(self):
        self.get()  # warm: what a first request reads once (and caches) is left out of both
        encrypted_queries = pages.captured_queries(self.get)
        page, _rows, _written = self.rewrite_in_place()
        with plaintext.plaintext_fields(), pages.timed_decryption() as decrypted:
            plain = plaintext.html(self.get)
            plain_queries = pages.captured_queries(self.get)
        assert decrypted == []
        assert self.NOTE in plain  # read from the plaintext, not decrypted
        assert plaintext.same_page(page, plain)
        assert not plaintext.same_page(page, plain.replace(self.NOTE, "Met at the station"))
        # The same queries but for the read of the organization's keys, which the plaintext page never makes.
        assert pages.key_queries(encrypted_queries) and not pages.key_queries(plain_queries)
        assert len(plain_queries) == len(encrypted_queries) - len(pages.key_queries(encrypted_queries))

    def test_outside_the_patch_every_read_is_decrypted_again(self):
        self.rewrite_in_place()
        with plaintext.plaintext_fields():
            assert CaseNote.objects.get(pk=self.note.pk).text == self.NOTE
        with pytest.raises(RuntimeError), plaintext.plaintext_fields():
            raise RuntimeError("the patch is undone on an error too")
        assert EncryptedField.from_db_value is ORIGINAL_FROM_DB_VALUE
        # A value stored in clear is no token: read without the patch, it fails to decrypt instead of passing.
        with pytest.raises(DecryptionError):
            CaseNote.objects.get(pk=self.note.pk).text  # noqa: B018
        with pages.timed_decryption() as decrypted:
            assert CaseNote.objects.get(pk=self.other_note.pk).text == "Another team's note"
        assert len(decrypted) == 1
        # Writes were never patched: a new note is stored encrypted.
        note = add_case_note(case=self.case, author=self.alice, text="Written after the benchmark")
        stored = CaseNote.objects.filter(pk=note.pk).values_list("text", flat=True).get()
        assert b"Written after" not in bytes(stored)

    def test_each_page_gets_its_figures(self):
        figures = pages.page_figures("case detail", self.url, self.get, runs=2)
        assert figures["queries"] > 5 and figures["page_ms"] > 0 and figures["sql_ms"] > 0
        assert figures["floor_ratio"] > 1  # the page does more than its reads
        assert figures["decrypt_ms"] > 0  # the note's text
        assert figures["meets_floor"] == (figures["floor_ratio"] <= pages.TARGET_FLOOR_RATIO)


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="CREATE DATABASE ... TEMPLATE needs the test database unused"
)
class UnencryptedCopyOfTheTestDatabase(TransactionTestCase):
    """The whole of item 5's measurement, its copy of the database included (outside a transaction: SQLite's
    backup cannot copy a database whose connection is inside one, so not in a TestCase)."""

    NOTE = "Met at the library on Tuesday"

    def setUp(self):
        organization = make_organization()
        keeper = make_user(organization=organization, roles=(Role.KEEPER,))
        self.case = make_case(organization, team=((keeper, TeamRole.KEEPER),))
        make_participant(self.case, name="Dana Whitfield", date_of_birth=datetime.date(1990, 5, 17))
        self.note = add_case_note(case=self.case, author=keeper, text=self.NOTE)
        sign_in(self.client, keeper)

    def test_the_page_on_the_copy_is_measured_and_the_real_database_is_untouched(self):
        url = reverse("cases:detail", args=[self.case.pk])
        with tempfile.TemporaryDirectory() as directory:
            result = pages.encryption_figures(
                "case detail",
                lambda: pages.ok(self.client.get(url), "case detail"),
                runs=2,
                directory=Path(directory),
            )
            assert not (Path(directory) / plaintext.COPY_FILE).exists()  # removed at the end
        assert result["same_html"] and result["key_queries"] == 1
        assert result["values_rewritten"] >= 8 and result["rows_rewritten"] >= 2
        assert result["encrypted_ms"] > 0 and result["plaintext_ms"] > 0 and result["ratio"] is not None
        # The values were stored unencrypted only in the copy: here the note is a token, and decrypts.
        stored = CaseNote.objects.filter(pk=self.note.pk).values_list("text", flat=True).get()
        assert self.NOTE.encode() not in bytes(stored)
        assert CaseNote.objects.get(pk=self.note.pk).text == self.NOTE

    def test_a_copy_is_refused_inside_a_transaction(self):
        with (
            tempfile.TemporaryDirectory() as directory,
            transaction.atomic(),
            pytest.raises(RuntimeError, match="outside a transaction"),
            plaintext.database_copy(Path(directory)),
        ):
            pass  # pragma: no cover


def test_the_summary_shows_the_pages_and_the_encryption_ratio():
    page = {
        "page": "case detail",
        "queries": 21,
        "page_ms": 20.0,
        "sql_ms": 5.0,
        "floor_ratio": 4.0,
        "meets_floor": False,
        "decrypt_ms": 0.5,
        "decrypt_share": 0.025,
    }
    encryption = {
        "page": "case detail",
        "encrypted_ms": 20.0,
        "plaintext_ms": 19.0,
        "ratio": 1.053,
        "target_ratio": 1.2,
        "decrypt_ms": 0.5,
        "decrypt_share": 0.025,
        "values_rewritten": 38,
        "rows_rewritten": 8,
    }
    text = summary({"pages": {"pages": [page], "encryption": encryption}})
    assert "case detail" in text and "NO" in text
    assert "ratio 1.053 (target ≤ 1.2)" in text
    failed = summary(
        {"pages": {"pages": [page], "encryption": {"page": "case detail", "error": "other HTML"}}}
    )
    assert "encryption: NOT MEASURED, a check failed: other HTML" in failed


def test_the_streamed_spss_export_measured_reads_back_whole(tmp_path):
    import pyreadstat

    from bench import exports as export_bench

    path = tmp_path / "bench.sav"
    path.write_bytes(b"".join(export_bench.sav_pieces(2500)))
    frame, meta = pyreadstat.read_sav(str(path))
    rows = list(export_bench.synthetic_rows(2500))
    assert meta.number_rows == len(frame) == 2500
    # The declared widths hold every synthetic value: nothing is cut.
    for name in ("participant", "organization", "track", "role", "timepoint", "month"):
        assert list(frame[name]) == [row[name] for row in rows]
    assert list(frame["hours"]) == [row["hours"] for row in rows]
    assert meta.variable_value_labels["feel"] == {
        1.0: "Not at all",
        2.0: "A little",
        3.0: "Mostly",
        4.0: "Fully",
    }
