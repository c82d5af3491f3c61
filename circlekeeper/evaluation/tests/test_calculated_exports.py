"""Issue 22, finding 6: calculated fields (a trial's PCL-5 total) reach every export, with their formula in the
codebook and as REDCap's calc field; a calculation that reads an identifying answer never leaves.
"""

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat

from circlekeeper.evaluation import exports, items
from circlekeeper.instruments.definition import validate_definition
from circlekeeper.instruments.models import InstrumentVersion


def definition():
    return validate_definition(
        {
            "code": "pcl",
            "title": {"en": "PCL"},
            "languages": ["en"],
            "default_language": "en",
            "sections": [
                {
                    "code": "main",
                    "title": {"en": "Main"},
                    "items": [
                        {"code": "q1", "type": "integer", "label": {"en": "Q1"}, "min": 0, "max": 4},
                        {"code": "q2", "type": "integer", "label": {"en": "Q2"}, "min": 0, "max": 4},
                        {
                            "code": "who",
                            "type": "multiple_choice",
                            "label": {"en": "Who"},
                            "choices": [
                                {"code": "1", "label": {"en": "A"}},
                                {"code": "2", "label": {"en": "B"}},
                            ],
                        },
                        {
                            "code": "case_number",
                            "type": "integer",
                            "identifying": True,
                            "label": {"en": "Case"},
                        },
                        {
                            "code": "total",
                            "type": "calculated",
                            "label": {"en": "PCL total"},
                            "calculation": "q1 + q2",
                        },
                        {
                            "code": "chose_a",
                            "type": "calculated",
                            "label": {"en": "Chose A"},
                            "calculation": "if(selected(who, '1'), 1, 0)",
                        },
                        {
                            "code": "leak",
                            "type": "calculated",
                            "label": {"en": "Leak"},
                            "calculation": "case_number + 0",
                        },
                    ],
                }
            ],
        }
    )


ANSWERS: list[dict[str, Any]] = [
    {"q1": 1, "q2": 3, "who": ["1"], "case_number": 4242424, "total": 4, "chose_a": 1, "leak": 4242424},
    {"q1": 2, "q2": 2, "who": ["2"], "case_number": 4242425, "total": 4, "chose_a": 0, "leak": 4242425},
    {"q1": 0, "q2": 1, "case_number": 4242426, "total": 1, "chose_a": 0, "leak": 4242426},
]


def table():
    variables = items.context_variables() + items.item_variables(
        [InstrumentVersion(definition=definition())], "en"
    )
    answered = [v for v in variables if v.name not in items.CONTEXT]
    rows = []
    for number, answers in enumerate(ANSWERS):
        row = dict.fromkeys(items.CONTEXT, "")
        row.update(participant=f"P{number}", timepoint="t0")
        row.update(items.answer_cells(answered, answers, {}))
        rows.append(row)
    return items.Table("pcl", "PCL", variables, rows)


def read_back(content, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"file{suffix}"
        path.write_bytes(content)
        reader = pyreadstat.read_sav if suffix == ".sav" else pyreadstat.read_dta
        return reader(str(path))


def test_a_calculated_total_is_in_csv_sav_and_dta_with_its_label():
    data = table()
    frame = pd.read_csv(io.BytesIO(exports.to_csv(data)))
    assert list(frame["total"]) == [4, 4, 1]
    for suffix, writer in ((".sav", exports.to_sav), (".dta", exports.to_dta)):
        read, meta = read_back(writer(data), suffix)
        assert list(read["total"]) == [4.0, 4.0, 1.0]
        assert dict(zip(meta.column_names, meta.column_labels, strict=True))["total"] == "PCL total"


def test_a_calculation_that_reads_an_identifying_answer_is_never_exported():
    data = table()
    assert "leak" not in data.names
    for content in (exports.to_csv(data), exports.redcap_records(data), exports.to_codebook(data)):
        assert b"4242424" not in content and b"leak" not in content


def test_the_codebook_gives_the_formula():
    rows = list(csv.DictReader(io.StringIO(exports.to_codebook(table()).decode())))
    total = next(r for r in rows if r["variable"] == "total")
    assert total["formula"] == "q1 + q2"
    assert total["kind"] == "calculated"
    assert total["label"] == "PCL total"


def test_redcap_gets_a_calc_field_with_its_formula_or_a_read_only_number_with_it_in_the_note():
    rows = list(csv.DictReader(io.StringIO(exports.redcap_dictionary(table()).decode())))
    by_name = {r["Variable / Field Name"]: r for r in rows}
    assert by_name["total"]["Field Type"] == "calc"
    assert by_name["total"]["Choices, Calculations, OR Slider Labels"] == "[q1] + [q2]"
    # A formula over a checkbox cannot be written over the exported columns: kept readable, not computed.
    assert by_name["chose_a"]["Field Type"] == "text"
    assert by_name["chose_a"]["Field Annotation"] == "@READONLY"
    assert "selected(who, '1')" in by_name["chose_a"]["Field Note"]
    records = list(csv.DictReader(io.StringIO(exports.redcap_records(table()).decode())))
    assert [r["total"] for r in records] == ["4", "4", "1"]
