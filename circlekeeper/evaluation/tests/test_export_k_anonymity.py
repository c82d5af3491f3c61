"""Issue 21, Build 2: every row-level export carries its k-anonymity summary in the file itself (the codebook,
the SPSS file's notes, the Stata file's label, the REDCap dictionary's note on record_id), not only the page.

The figures are those of the scope's k-anonymity plan (deidentify.py, tested on its own in test_deidentify.py);
what is tested here is that each file says them."""

import csv
import io
import tempfile
from pathlib import Path

import pyreadstat
from django.test import override_settings

from circlekeeper.evaluation import dataset, deidentify
from circlekeeper.evaluation.export_forms import TIMEPOINTS
from circlekeeper.evaluation.tests.test_export_pages import EXPORTS, PageTestCase


def _read(content: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x{suffix}"
        path.write_bytes(content)
        reader = pyreadstat.read_sav if suffix == ".sav" else pyreadstat.read_dta
        return reader(str(path))


@override_settings(CIRCLEKEEPER_DEIDENTIFICATION_K=2)
class KAnonymityInEveryExportFile(PageTestCase):
    def setUp(self):
        super().setUp()
        self.login(self.eve)
        self.confirm()
        self.summary = deidentify.plan_for(dataset.Scope.for_organization(self.harbor)).summary

    def export(self, format, dataset="planted"):
        response = self.client.post(EXPORTS, {"dataset": dataset, "format": format, "language": "en"})
        self.assertEqual(response.status_code, 200)
        return response.getvalue()

    def test_the_plan_did_something_here_so_the_files_have_something_to_say(self):
        # Two planted people, each unique: at k = 2 months become quarters at least.
        self.assertEqual(self.summary["k_required"], 2)
        self.assertTrue(self.summary["quarters"])

    def test_the_codebook_gives_each_figure_by_name_and_in_words(self):
        for chosen in ("planted", TIMEPOINTS):
            with self.subTest(chosen):
                rows = list(csv.DictReader(io.StringIO(self.export("codebook", chosen).decode())))
                figures = {
                    row["variable"].removeprefix("_deidentification."): row["values"]
                    for row in rows
                    if row["variable"].startswith("_deidentification.")
                }
                self.assertEqual(figures["k_required"], "2")
                self.assertEqual(figures["k_achieved"], str(self.summary["k_achieved"] or ""))
                self.assertEqual(float(figures["share_altered"]), self.summary["share_altered"])
                self.assertEqual(figures["quarters"], "true")
                for key in ("periods_withheld", "tracks_withheld", "roles_withheld", "people_dropped"):
                    self.assertEqual(figures[key], str(self.summary[key]))
                words = " ".join(row["label"] for row in rows if row["variable"] == "_deidentification")
                self.assertIn("k required = 2", words)
                self.assertIn("Months are coarsened to quarters", words)
                self.assertIn(f"of {self.summary['records']} ({self.summary['percent_altered']} %)", words)

    def test_the_spss_file_streamed_and_in_memory_has_the_summary_as_its_notes(self):
        for chosen in ("planted", TIMEPOINTS):  # the instrument's file streams; the timepoints' is in memory
            with self.subTest(chosen):
                _frame, meta = _read(self.export("sav", chosen), ".sav")
                notes = " ".join(meta.notes)
                self.assertIn("k required = 2", notes)
                self.assertIn("Months are coarsened to quarters", notes)
                self.assertIn(f"({self.summary['percent_altered']} %)", notes)

    def test_the_stata_file_label_says_the_k_achieved_required_and_share_altered(self):
        for chosen in ("planted", TIMEPOINTS):
            with self.subTest(chosen):
                _frame, meta = _read(self.export("dta", chosen), ".dta")
                achieved = self.summary["k_achieved"] if self.summary["k_achieved"] is not None else "-"
                self.assertEqual(
                    meta.file_label,
                    f"k-anonymity: k {achieved} (k 2 required), {self.summary['percent_altered']} % of "
                    "records altered",
                )

    def test_the_redcap_dictionary_says_it_in_the_note_of_record_id(self):
        rows = list(csv.DictReader(io.StringIO(self.export("redcap_dictionary").decode())))
        record_id = next(row for row in rows if row["Variable / Field Name"] == "record_id")
        self.assertIn("k required = 2", record_id["Field Note"])
        self.assertIn("Months are coarsened to quarters", record_id["Field Note"])


@override_settings(CIRCLEKEEPER_DEIDENTIFICATION_K=5)
class EveryoneLeftOut(PageTestCase):
    def test_the_codebook_says_no_one_could_be_shown_and_who_was_left_out(self):
        self.login(self.eve)
        self.confirm()
        response = self.client.post(EXPORTS, {"dataset": "planted", "format": "codebook", "language": "en"})
        rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
        words = " ".join(row["label"] for row in rows if row["variable"] == "_deidentification")
        self.assertIn("k achieved: no one could be shown.", words)
        self.assertIn("people are left out", words)
        figures = {row["variable"]: row["values"] for row in rows}
        self.assertEqual(figures["_deidentification.k_achieved"], "")
        self.assertEqual(figures["_deidentification.k_required"], "5")
