"""The streamed SPSS file (evaluation/sav.py, exports.sav_stream; issue 10 item 6): it reads back with
pyreadstat with the values, labels and missing values that pyreadstat's own writer gave the same table, and it
is written while the rows are read, a chunk at a time, on the export page too."""

import datetime
import math
import shutil
import struct
import subprocess  # nosec B404: PSPP, when installed, reads the files back
import tempfile
import time
import unittest
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from django.test import SimpleTestCase
from django.urls import reverse

from circlekeeper.accounts.reauth import REAUTHENTICATED_AT_KEY
from circlekeeper.evaluation import dataset, exports, items, sav
from circlekeeper.evaluation.tests.test_exports_fixtures import LONG_A, LONG_B, PlantedData
from circlekeeper.instruments.definition import PNTS

EXPORTS = reverse("evaluation:exports")
CREATED = datetime.datetime(2026, 3, 17, 15, 30, 5)


def read(content, *, user_missing=True, **options):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file.sav"
        path.write_bytes(content)
        return pyreadstat.read_sav(str(path), user_missing=user_missing, **options)


def pyreadstat_sav(table):
    """What exports.to_sav wrote before it streamed: pyreadstat over the whole table as a DataFrame."""
    data = exports.statistical_frame(table, label_max=exports.SPSS_LABEL_MAX)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "old.sav"
        pyreadstat.write_sav(
            data.frame,
            str(path),
            file_label=table.title[:64],
            column_labels=data.column_labels,
            variable_value_labels=data.value_labels,
            missing_ranges=data.missing_numbers,
            # The k-anonymity summary (issue 21) as document lines of 80 bytes, which ReadStat holds each note to.
            note=[
                line.decode("utf-8")
                for note in exports.deidentification_notes(table)
                for line in sav.document_lines(note)
            ]
            or None,
        )
        return path.read_bytes()


def metadata(meta):
    """Everything pyreadstat reads about a file but the moment it was written."""
    return {k: v for k, v in vars(meta).items() if k not in ("creation_time", "modification_time")}


def assert_same_file(test, new, old):
    """Both files read back the same, values and metadata, with and without the user-missing values."""
    for user_missing in (True, False):
        new_frame, new_meta = read(new, user_missing=user_missing)
        old_frame, old_meta = read(old, user_missing=user_missing)
        test.assertEqual(metadata(new_meta), metadata(old_meta))
        pd.testing.assert_frame_equal(new_frame, old_frame)


def category(name, label, labels, *, pnts=False):
    codes = {code: int(code) for code in labels}
    value_labels = dict(labels)
    if pnts:
        codes[PNTS] = -9
        value_labels[PNTS] = "Prefer not to say"
    return items.Variable(
        name, label, "category", item=name, item_type="single_choice", codes=codes, value_labels=value_labels
    )


def spanish_table(rows=None):
    """Context columns, a long-named category with "prefer not to say", a flag, numbers; labels with ñ."""
    variables = [
        *items.context_variables(),
        category(
            "seguridad_en_el_hogar_durante_el_último_año_completo",
            "¿Qué tan a salvo se siente en su hogar? (año)",
            {"1": "Nada", "2": "Algo", "3": "Muy a salvo, señora"},
            pnts=True,
        ),
        items.Variable(
            "apoyos___familia",
            "¿Quién le apoya?: Familia",
            "flag",
            item="apoyos",
            item_type="multiple_choice",
            codes={"1": 1, "0": 0},
            value_labels={"1": "Elegido", "0": "No elegido"},
        ),
        items.Variable("horas", "Horas de sueño", "number", item="horas", item_type="decimal"),
        items.Variable("bienestar", "Puntuación: bienestar", "number", item="bienestar", item_type="score"),
    ]
    if rows is None:
        rows = [
            {
                "participant": "EAAAAAAAA",
                "organization": "puerto-año",
                "track": "direct_dialogue",
                "role": "survivor",
                "timepoint": "T0",
                "month": "2026-03",
                variables[6].name: 2,
                "apoyos___familia": 1,
                "horas": 6.5,
                "bienestar": 3,
            },
            {
                "participant": "EBBBBBBBB",
                "organization": "valle",
                "track": "",
                "role": "person_who_caused_harm",
                "timepoint": None,
                "month": "2026-04",
                variables[6].name: PNTS,
                "apoyos___familia": None,
                "horas": PNTS,  # "prefer not to say" on a number: empty
                "bienestar": None,
            },
            {
                "participant": "ECCCCCCCC",
                "organization": "valle",
                "track": "community_accountability",
                "role": "survivor",
                "timepoint": "T1",
                "month": "2026-05",
                variables[6].name: None,
                "apoyos___familia": 0,
                "horas": 0.25,
                "bienestar": 0,
            },
        ]
    return items.Table("seguridad", "Cuestionario de seguridad — año 2026", variables, rows, "es")


class WriterTests(SimpleTestCase):
    def test_values_read_back_with_empty_numbers_as_missing_and_empty_text_as_empty(self):
        columns = [sav.Column("name", "Name", 6), sav.Column("n", "N"), sav.Column("x", "X")]
        rows = [["Eñaé", 1, 1.5], [None, None, math.nan], ["", -9.0, 1e300]]
        frame, meta = read(b"".join(sav.write(columns, rows, n_cases=3, created=CREATED)))
        self.assertEqual(list(frame["name"]), ["Eñaé", "", ""])
        self.assertEqual(frame["n"].iloc[0], 1.0)
        self.assertTrue(math.isnan(frame["n"].iloc[1]) and math.isnan(frame["x"].iloc[1]))
        self.assertEqual(list(frame["x"])[2], 1e300)
        self.assertEqual((meta.number_rows, meta.file_encoding), (3, "UTF-8"))
        self.assertEqual(meta.original_variable_types, {"name": "A6", "n": "F8.2", "x": "F8.2"})
        self.assertEqual(meta.creation_time, CREATED)

    def test_labels_value_labels_and_prefer_not_to_say_declared_missing(self):
        columns = [
            sav.Column(
                "feel",
                "¿Cómo se siente?",
                0,
                {1.0: "Bien", 2.0: "Regular", -9.0: "Prefiero no decirlo"},
                (-9.0,),
            ),
            sav.Column("plain", ""),
        ]
        content = b"".join(sav.write(columns, [[-9, 1], [2, 2]], file_label="Año ñandú"))
        frame, meta = read(content)
        self.assertEqual(meta.column_names_to_labels, {"feel": "¿Cómo se siente?", "plain": None})
        self.assertEqual(
            meta.variable_value_labels, {"feel": {1.0: "Bien", 2.0: "Regular", -9.0: "Prefiero no decirlo"}}
        )
        self.assertEqual(meta.missing_ranges, {"feel": [{"lo": -9.0, "hi": -9.0}]})
        self.assertEqual(meta.file_label, "Año ñandú")
        self.assertEqual(list(frame["feel"]), [-9.0, 2.0])
        # Read as SPSS does, the declared missing value is missing.
        frame, _meta = read(content, user_missing=False)
        self.assertTrue(math.isnan(frame["feel"].iloc[0]))

    def test_labels_are_cut_at_a_character_as_spss_allows(self):
        columns = [sav.Column("a", "x" + "ñ" * 200, 0, {1.0: "y" + "ñ" * 100})]
        _frame, meta = read(b"".join(sav.write(columns, [[1]], file_label="ñ" * 40)))
        self.assertEqual(meta.column_labels, ["x" + "ñ" * 127])  # 255 of at most 256 bytes
        self.assertEqual(meta.variable_value_labels["a"][1.0], "y" + "ñ" * 59)  # 119 of 120 bytes
        self.assertEqual(meta.file_label, "ñ" * 32)  # 64 bytes

    def test_long_names_keep_their_name_and_get_unique_short_ones(self):
        names = ["participant", "participant_code", "feel_a_very_long_item_name", "all", "v1", "x"]
        shorts = sav.short_names(names)
        self.assertEqual(shorts, ["PARTICIP", "V1", "FEEL_A_V", "V2", "V3", "X"])
        self.assertTrue(all(len(short) <= 8 for short in shorts))
        columns = [sav.Column(name) for name in names]
        frame, meta = read(b"".join(sav.write(columns, [[1, 2, 3, 4, 5, 6]])))
        self.assertEqual(meta.column_names, names)
        self.assertEqual(list(frame.iloc[0]), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])

    def test_a_string_is_at_most_255_bytes_and_a_longer_value_is_cut_at_a_character(self):
        with self.assertRaises(ValueError):
            sav.Column("long", width=256)
        columns = [sav.Column("text", width=255), sav.Column("short", width=3), sav.Column("n")]
        frame, meta = read(b"".join(sav.write(columns, [["é" * 200, "añb", 1], ["x" * 255, "ññ", 2]])))
        self.assertEqual(meta.original_variable_types["text"], "A255")
        self.assertEqual(list(frame["text"]), ["é" * 127, "x" * 255])
        self.assertEqual(list(frame["short"]), ["añ", "ñ"])
        self.assertEqual(list(frame["n"]), [1.0, 2.0])  # the cases after a long string stay in place

    def test_an_empty_table_is_a_file_with_its_variables_and_no_cases(self):
        columns = [sav.Column("text", "Text", 1), sav.Column("n", "N", 0, {1.0: "One"})]
        for n_cases in (0, None):
            frame, meta = read(b"".join(sav.write(columns, [], n_cases=n_cases)))
            self.assertEqual((len(frame), list(frame.columns)), (0, ["text", "n"]))
            self.assertEqual(meta.variable_value_labels, {"n": {1.0: "One"}})

    def test_without_a_count_the_header_says_unknown_and_every_case_reads_back(self):
        columns = [sav.Column("n"), sav.Column("s", width=9)]
        content = b"".join(sav.write(columns, ([i, f"row {i}"] for i in range(2500)), chunk_rows=100))
        self.assertEqual(struct.unpack_from("<i", content, 80), (-1,))  # the header's case count
        frame, meta = read(content)
        self.assertEqual((len(frame), meta.number_rows), (2500, 2500))
        self.assertEqual(list(frame["n"]), [float(i) for i in range(2500)])
        self.assertEqual(frame["s"].iloc[-1], "row 2499")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "chunks.sav"
            path.write_bytes(content)
            chunks = list(pyreadstat.read_file_in_chunks(pyreadstat.read_sav, str(path), chunksize=1000))
        self.assertEqual([len(chunk) for chunk, _meta in chunks], [1000, 1000, 500])

    def test_compressed_and_plain_files_hold_the_same_cases(self):
        columns = [
            sav.Column("s", "S", 13),
            sav.Column("n", "N", 0, {1.0: "One"}, (-9.0,)),
            sav.Column("e", width=1),
            sav.Column("w", width=255),
        ]
        # Whole numbers on both sides of the -99..151 that compress to one code, spaces, cut values.
        numbers = [None, math.nan, -9, 0, -99, -100, 151, 152, 1.5, -1e300, 7]
        texts = [None, "", "ñandú", "x" * 13, "abcdefgh", "        a", "ñ" * 7, "é" * 200]
        rows = [
            [texts[i % 7], numbers[i % 11], "z" if i % 3 else None, texts[i % 8] if i % 5 else "q" * 9]
            for i in range(1001)
        ]
        compressed = b"".join(sav.write(columns, rows, chunk_rows=7))
        plain = b"".join(sav.write(columns, rows, compress=False))
        self.assertEqual(struct.unpack_from("<i", compressed, 72), (1,))  # the header's compression
        self.assertEqual(struct.unpack_from("<i", plain, 72), (0,))
        self.assertLess(len(compressed), len(plain) / 2)
        frame, meta = read(compressed)
        pd.testing.assert_frame_equal(frame, read(plain)[0])
        self.assertEqual(meta.number_rows, 1001)
        self.assertEqual(list(frame["n"].iloc[2:8]), [-9.0, 0.0, -99.0, -100.0, 151.0, 152.0])
        self.assertTrue(math.isnan(frame["n"].iloc[0]) and math.isnan(frame["n"].iloc[1]))
        self.assertEqual(
            list(frame["s"].iloc[:7]), ["", "", "ñandú", "x" * 13, "abcdefgh", "        a", "ñ" * 6]
        )
        self.assertEqual(frame["w"].iloc[7], "é" * 127)

    @unittest.skipUnless(shutil.which("pspp-convert"), "PSPP is not installed")
    def test_pspp_reads_the_same_cases_from_either_file(self):
        columns = [sav.Column("s", "Año", 9), sav.Column("n", "N", 0, {1.0: "Sí"}, (-9.0,))]
        rows = [[f"ñ{i}", i % 300 - 100] for i in range(2000)] + [[None, None]]
        found = []
        with tempfile.TemporaryDirectory() as folder:
            for compress in (True, False):
                path = Path(folder) / f"{compress}.sav"
                path.write_bytes(b"".join(sav.write(columns, rows, compress=compress)))
                subprocess.run(["pspp-convert", str(path), f"{path}.csv"], check=True)  # noqa: S603, S607
                found.append(Path(f"{path}.csv").read_text(encoding="utf-8").splitlines())
        self.assertEqual(found[0], found[1])
        self.assertEqual(found[0][:3], ["s,n", "ñ0,-100", "ñ1,-99"])
        self.assertEqual(len(found[0]), 2002)

    def test_a_count_that_does_not_match_the_rows_is_refused(self):
        with self.assertRaises(ValueError):
            b"".join(sav.write([sav.Column("n")], [[1], [2]], n_cases=3))

    def test_the_rows_are_read_as_the_file_is_written(self):
        read_rows = []

        def rows():
            for number in range(sav.CHUNK_ROWS * 2 + 1):
                read_rows.append(number)
                yield {"participant": f"E{number:08d}", "month": "2026-01"}

        variables = [items.Variable("participant", "P", "text"), items.Variable("month", "M", "text")]
        pieces = exports.sav_stream(variables, rows(), title="T", widths={"participant": 9, "month": 7})
        header = next(pieces)  # the dictionary: written before any row is read
        self.assertEqual(read_rows, [])
        first = next(pieces)
        self.assertEqual(len(read_rows), sav.CHUNK_ROWS)  # one chunk of cases, before the rest are read
        frame, _meta = read(header + first + b"".join(pieces))
        self.assertEqual(len(frame), sav.CHUNK_ROWS * 2 + 1)
        self.assertEqual(frame["participant"].iloc[-1], f"E{sav.CHUNK_ROWS * 2:08d}")


class SameAsPyreadstatTests(PlantedData):
    def item_table(self, language="en"):
        return items.item_table(
            dataset.Scope.for_organization(self.harbor), self.instrument, language=language
        )

    def test_the_planted_instrument_reads_back_as_pyreadstat_wrote_it(self):
        for language in ("en", "es"):
            with self.subTest(language):
                table = self.item_table(language)
                assert_same_file(self, exports.to_sav(table), pyreadstat_sav(table))

    def test_spanish_labels_long_names_and_prefer_not_to_say_read_back_as_pyreadstat_wrote_them(self):
        table = spanish_table()
        new = exports.to_sav(table)
        assert_same_file(self, new, pyreadstat_sav(table))
        frame, meta = read(new)
        long_name = exports.statistical_names(table)[table.variables[6].name]
        self.assertEqual(long_name, "seguridad_en_el_hogar_durante_e")  # 31 characters: pyreadstat's rule
        self.assertEqual(
            meta.column_names_to_labels[long_name], "¿Qué tan a salvo se siente en su hogar? (año)"
        )
        self.assertEqual(meta.variable_value_labels[long_name][3.0], "Muy a salvo, señora")
        self.assertEqual(meta.missing_ranges, {long_name: [{"lo": -9.0, "hi": -9.0}]})
        self.assertEqual(list(frame["organization"]), ["puerto-año", "valle", "valle"])
        self.assertEqual(list(frame["timepoint"]), ["T0", "", "T1"])
        self.assertEqual(frame[long_name].iloc[1], -9.0)
        self.assertTrue(math.isnan(frame["horas"].iloc[1]))  # "prefer not to say" on a number: empty
        self.assertEqual(meta.file_label, "Cuestionario de seguridad — año 2026")

    def test_names_past_32_characters_are_shortened_as_before(self):
        table = self.item_table()
        _frame, meta = read(exports.to_sav(table))
        names = exports.statistical_names(table)
        self.assertEqual((names[LONG_A], names[LONG_B]), (LONG_A[:31], LONG_B[:29] + "_2"))
        self.assertIn(LONG_B[:29] + "_2", meta.column_names)
        self.assertTrue(all(len(name) <= 32 for name in meta.column_names))

    def test_an_empty_table_and_the_timepoint_table_read_back_as_pyreadstat_wrote_them(self):
        empty = spanish_table(rows=[])
        assert_same_file(self, exports.to_sav(empty), pyreadstat_sav(empty))
        timepoints = items.timepoint_table(dataset.Scope.for_organization(self.harbor))
        assert_same_file(self, exports.to_sav(timepoints), pyreadstat_sav(timepoints))

    def test_the_streamed_file_holds_the_same_data_with_room_for_any_value(self):
        scope = dataset.Scope.for_organization(self.harbor)
        table = self.item_table()
        widths = exports.context_widths(scope)
        self.assertEqual(widths["participant"], len(table.rows[0]["participant"]))
        streamed = exports.sav_stream(
            table.variables,
            items.item_rows_stream(scope, self.instrument, table.variables),
            title=table.title,
            widths=widths,
            notes=exports.deidentification_notes(table),
        )
        new_frame, new_meta = read(b"".join(streamed))
        old_frame, old_meta = read(exports.to_sav(table))
        pd.testing.assert_frame_equal(new_frame, old_frame)
        # Only the strings' widths differ: as wide as any value may be, not as the longest one.
        differ = ("original_variable_types", "variable_storage_width")
        self.assertEqual(
            {k: v for k, v in metadata(new_meta).items() if k not in differ},
            {k: v for k, v in metadata(old_meta).items() if k not in differ},
        )
        self.assertEqual(new_meta.original_variable_types["track"], "A30")
        self.assertEqual(old_meta.original_variable_types["track"], "A15")  # direct_dialogue


class StreamedPageTests(PlantedData):
    def test_the_spss_export_streams_and_reads_back_as_the_table(self):
        self.login(self.eve)
        session = self.client.session
        session[REAUTHENTICATED_AT_KEY] = time.time()
        session.save()
        response = self.client.post(EXPORTS, {"dataset": "planted", "format": "sav", "language": "es"})
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.streaming)
        self.assertRegex(response["Content-Disposition"], r'filename="harbor-planted-\d{4}-\d\d-\d\d\.sav"$')
        frame, meta = read(response.getvalue())
        table = items.item_table(dataset.Scope.for_organization(self.harbor), self.instrument, language="es")
        expected, expected_meta = read(exports.to_sav(table))
        pd.testing.assert_frame_equal(frame, expected)
        self.assertEqual(meta.column_names_to_labels, expected_meta.column_names_to_labels)
        self.assertEqual(meta.variable_value_labels, expected_meta.variable_value_labels)
        self.assertEqual(meta.missing_ranges, {"feel": [{"lo": -9.0, "hi": -9.0}]})


@pytest.mark.parametrize("width", [0, 1, 8, 9, 255])
def test_a_case_takes_whole_8_byte_segments(width):
    column = sav.Column("v", width=width)
    (piece,) = sav.cases([column], [["a" if width else 1.0]])
    assert len(piece) == column.segments * 8 == max(8, -(-width // 8) * 8)
