"""The export files: they reopen with their labels, names fit Stata, CSV cells cannot run, REDCap re-imports."""

import csv
import io
import math
import tempfile
from pathlib import Path

import pyreadstat

from circlekeeper.evaluation import dataset, exports, items
from circlekeeper.evaluation.tests.test_exports_fixtures import LONG_A, LONG_B, MARKERS, PlantedData
from circlekeeper.instruments import redcap
from circlekeeper.testing import PersonaTestCase


def read_back(content, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"file{suffix}"
        path.write_bytes(content)
        reader = pyreadstat.read_sav if suffix == ".sav" else pyreadstat.read_dta
        return reader(str(path), user_missing=suffix == ".sav")


def csv_rows(content):
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


class ExportFileTests(PlantedData):
    def table(self, language="en"):
        return items.item_table(
            dataset.Scope.for_organization(self.harbor), self.instrument, language=language
        )

    def test_spss_reopens_with_variable_and_value_labels(self):
        frame, meta = read_back(exports.to_sav(self.table()), ".sav")
        labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
        self.assertEqual(labels["feel"], "How safe do you feel?")
        self.assertEqual(labels["supports___faith_group"], "Who supports you?: Faith")
        self.assertEqual(labels["participant"], "Participant code (pseudonymous, this evaluation only)")
        self.assertEqual(
            meta.variable_value_labels["feel"],
            {1.0: "Not safe", 2.0: "Somewhat", 3.0: "Safe", 4.0: "No home", -9.0: "Prefer not to say"},
        )
        self.assertEqual(meta.variable_value_labels["helped"], {1.0: "Yes", 0.0: "No"})
        self.assertEqual(meta.variable_value_labels["supports___family"], {1.0: "Chosen", 0.0: "Not chosen"})
        # Text columns carry no value labels; numbers come back as numbers.
        self.assertNotIn("participant", meta.variable_value_labels)
        survivor, harm = frame.to_dict("records")
        self.assertEqual((survivor["feel"], survivor["visits"], survivor["hours"]), (2.0, 7.0, 6.5))
        self.assertEqual(harm["feel"], 4.0)  # "na", the code after the highest number
        self.assertEqual(harm["month"], "2026-04")
        self.assertTrue(math.isnan(harm["visits"]))  # "prefer not to say" on a number: empty
        self.assertEqual(survivor["participant"], self.table().rows[0]["participant"])

    def test_spss_declares_prefer_not_to_say_missing(self):
        _frame, meta = read_back(exports.to_sav(self.table()), ".sav")
        self.assertEqual(meta.missing_ranges["feel"], [{"lo": -9.0, "hi": -9.0}])

    def test_stata_reopens_with_labels_and_names_of_at_most_32_characters(self):
        frame, meta = read_back(exports.to_dta(self.table()), ".dta")
        self.assertTrue(all(len(name) <= 32 for name in meta.column_names))
        self.assertEqual(len(set(meta.column_names)), len(meta.column_names))
        names = exports.statistical_names(self.table())
        long_a, long_b = names[LONG_A], names[LONG_B]
        # 31 characters: pyreadstat names the value-label set after the variable plus a digit.
        self.assertEqual(long_a, LONG_A[:31])
        self.assertEqual(long_b, LONG_B[:29] + "_2")
        labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
        self.assertEqual(labels[long_a], "Long A")
        self.assertEqual(labels[long_b], "Long B")
        self.assertEqual(meta.variable_value_labels[long_b], {1: "One", 2: "Two"})
        # Issue 22: "prefer not to say" is Stata's extended missing .a, no longer the real value -9.
        self.assertEqual(meta.variable_value_labels["feel"]["a"], "Prefer not to say")
        self.assertNotIn(-9, meta.variable_value_labels["feel"])
        self.assertEqual(frame[long_b].iloc[0], 2.0)

    def test_labels_are_written_in_the_language_chosen(self):
        _frame, meta = read_back(exports.to_dta(self.table("es")), ".dta")
        labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
        self.assertEqual(labels["feel"], "¿Qué tan a salvo se siente?")

    def test_csv_is_the_table_as_it_is(self):
        rows = csv_rows(exports.to_csv(self.table()))
        self.assertEqual(rows[0], self.table().names)
        survivor = dict(zip(rows[0], rows[1], strict=True))
        harm = dict(zip(rows[0], rows[2], strict=True))
        self.assertEqual((survivor["feel"], survivor["hours"], survivor["visits"]), ("2", "6.5", "7"))
        self.assertEqual((harm["feel"], harm["visits"], harm["hours"]), ("na", "_pnts", ""))

    def test_the_streamed_csv_is_the_same_file_in_pieces_and_reads_rows_as_it_goes(self):
        table = self.table()
        self.assertEqual(b"".join(exports.csv_stream(table.names, table.rows)), exports.to_csv(table))
        read = []

        def rows():
            for number in range(exports.CSV_CHUNK_ROWS * 2 + 1):
                read.append(number)
                yield {"participant": f"=cmd{number}", "month": "2026-01"}

        pieces = exports.csv_stream(["participant", "month"], rows())
        first = next(pieces)
        # The first piece is handed on after one chunk of rows, before the rest are read.
        self.assertEqual(len(read), exports.CSV_CHUNK_ROWS)
        rest = b"".join(pieces)
        lines = csv_rows(first + rest)
        self.assertEqual(len(lines), exports.CSV_CHUNK_ROWS * 2 + 2)
        self.assertEqual(lines[1], ["'=cmd0", "2026-01"])  # formula-escaped in every piece
        self.assertEqual(lines[-1], [f"'=cmd{exports.CSV_CHUNK_ROWS * 2}", "2026-01"])

    def test_redcap_dictionary_reimports_through_our_own_importer(self):
        content = exports.redcap_dictionary(self.table())
        imported = redcap.read_dictionary(content, code="planted_copy", title="Copy")
        definition = imported.definition
        found = {item["code"]: item for _section, item in redcap.iter_items(definition)}
        self.assertEqual(list(found)[:5], ["record_id", "organization", "track", "role", "month"])
        self.assertEqual(found["feel"]["type"], "single_choice")
        self.assertEqual([c["code"] for c in found["feel"]["choices"]], ["1", "2", "3", "na"])
        self.assertTrue(found["feel"]["prefer_not_to_say"])
        self.assertEqual(found["helped"]["type"], "yes_no")
        self.assertEqual(found["supports"]["type"], "multiple_choice")
        self.assertEqual(
            [c["code"] for c in found["supports"]["choices"]], ["friends", "family", "faith-group"]
        )
        self.assertEqual(
            (found["visits"]["type"], found["visits"]["min"], found["visits"]["max"]), ("integer", 0, 50)
        )
        self.assertEqual(found["hours"]["type"], "decimal")
        self.assertEqual(
            (found["mood"]["type"], found["mood"]["min"], found["mood"]["max"]), ("slider", 0, 10)
        )
        self.assertEqual(found["wellbeing"]["type"], "decimal")
        for name in ("full_name", "story", "note", "born", "case_number"):
            self.assertNotIn(name, found)

    def test_redcap_dictionary_has_the_18_columns_and_record_id_first(self):
        rows = csv_rows(exports.redcap_dictionary(self.table()))
        self.assertEqual(rows[0], redcap.COLUMNS)
        self.assertEqual(rows[1][:4], ["record_id", "planted", "", "text"])
        feel = next(row for row in rows if row[0] == "feel")
        self.assertEqual(feel[5], "1, Not safe | 2, Somewhat | 3, Safe | na, No home")
        self.assertEqual(feel[17], redcap.PNTS_TAG)

    def test_redcap_records_match_the_dictionary(self):
        rows = csv_rows(exports.redcap_records(self.table()))
        header = rows[0]
        self.assertEqual(header[:2], ["record_id", "redcap_event_name"])
        dictionary = {row[0] for row in csv_rows(exports.redcap_dictionary(self.table()))[1:]}
        for name in header[2:]:
            self.assertIn(name.split("___")[0], dictionary)
        self.assertNotIn("supports___pnts", header)
        survivor = dict(zip(header, rows[1], strict=True))
        harm = dict(zip(header, rows[2], strict=True))
        self.assertEqual(survivor["record_id"], self.table().rows[0]["participant"])
        self.assertEqual(survivor["redcap_event_name"], "t0_arm_1")  # issue 22: REDCap unique event names
        self.assertEqual(survivor["supports___faith_group"], "1")
        # Issue 22: "prefer not to say" is REDCap's missing-data code DECL (a checkbox's other choices: empty).
        self.assertEqual(
            (harm["visits"], harm["supports___friends"], harm["redcap_event_name"]), ("DECL", "", "")
        )

    def test_no_export_holds_anything_identifying(self):
        table = self.table()
        files = {
            format: exports.export(table, format, basename="x").content for format in exports.Format.values
        }
        for format, content in files.items():
            for marker in (*MARKERS, str(self.survivor.uid), str(self.harm.uid)):
                self.assertNotIn(marker.encode("utf-8"), content, (format, marker))
                self.assertNotIn(marker.encode("latin-1", "ignore"), content, (format, marker))

    def test_files_are_named_and_typed(self):
        file = exports.export(self.table(), exports.Format.STATA, basename="harbor-planted/../x 2026")
        self.assertEqual(file.filename, "harbor-planted_.._x_2026.dta")
        self.assertEqual(file.content_type, "application/x-stata-dta")

    def test_the_timepoint_table_exports_too(self):
        frame, meta = read_back(
            exports.to_sav(items.timepoint_table(dataset.Scope.for_organization(self.harbor))), ".sav"
        )
        self.assertEqual(list(frame["status"]), ["completed"])
        self.assertIn("Status (completed, missed, pending)", meta.column_labels)


class FormulaEscapingTests(PersonaTestCase):
    PAYLOADS = ['=HYPERLINK("http://evil")', "+SUM(1)", "-2+3", "@cmd", "\tx", "\rx", " =1"]

    def test_csv_cells_that_a_spreadsheet_would_run_start_with_an_apostrophe(self):
        variables = [items.Variable("a", "A", "text"), items.Variable("n", "N", "number")]
        table = items.Table("t", "T", variables, [{"a": payload, "n": -3.5} for payload in self.PAYLOADS])
        rows = csv_rows(exports.to_csv(table))
        self.assertEqual([row[0] for row in rows[1:]], ["'" + payload for payload in self.PAYLOADS])
        # Numbers are data, not formulas.
        self.assertEqual({row[1] for row in rows[1:]}, {"-3.5"})

    def test_labels_in_a_redcap_dictionary_are_escaped(self):
        variable = items.Variable(
            "q",
            "=1+1",
            "category",
            item="q",
            item_type="single_choice",
            item_label="=1+1",
            codes={"1": 1},
            value_labels={"1": "@SUM(A1)"},
        )
        table = items.Table("t", "T", items.context_variables() + [variable], [])
        rows = csv_rows(exports.redcap_dictionary(table))
        row = next(row for row in rows if row[0] == "q")
        self.assertEqual(row[4], "'=1+1")
        self.assertEqual(row[5], "1, @SUM(A1)")  # not at the start of the cell: cannot run


class ShortNameTests(PersonaTestCase):
    def test_short_names_are_unique_at_most_32_and_deterministic(self):
        names = ["x" * 40, "x" * 41, "x" * 32, "x" * 30 + "_2", "short"]
        first = exports.short_names(names)
        self.assertEqual(first, exports.short_names(list(names)))
        self.assertEqual(len(set(first.values())), len(names))
        self.assertTrue(all(len(name) <= 32 for name in first.values()))
        self.assertEqual(first["x" * 32], "x" * 32)  # a name that fits keeps it
        self.assertEqual(first["short"], "short")
        self.assertEqual(first["x" * 40], "x" * 30 + "_3")
        self.assertEqual(first["x" * 41], "x" * 30 + "_4")
