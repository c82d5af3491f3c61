"""Issue 22, finding 3: missing values are one concept. "Prefer not to say", "not applicable" and "don't
know" are declared missing in every export (SPSS user-missing, Stata extended missing, REDCap missing-data
codes, markers in the flat CSV), are never the top of the scale, count in no score, and an item's mean is the
same number read from CSV, SAV and DTA.
"""

import csv
import io
import math
import tempfile
from pathlib import Path

import pandas as pd
import pyreadstat

from circlekeeper.evaluation import exports, items
from circlekeeper.instruments.definition import validate_definition
from circlekeeper.instruments.missing import missing_codes
from circlekeeper.instruments.models import InstrumentVersion
from circlekeeper.instruments.redcap import read_dictionary
from circlekeeper.instruments.scoring import score_response


def scale_definition():
    return validate_definition(
        {
            "code": "family",
            "title": {"en": "Family"},
            "languages": ["en"],
            "default_language": "en",
            "sections": [
                {
                    "code": "main",
                    "title": {"en": "Main"},
                    "items": [
                        {
                            "code": "agree",
                            "type": "single_choice",
                            "label": {"en": "We agree on the children's care"},
                            "prefer_not_to_say": True,
                            "choices": [
                                *({"code": str(n), "label": {"en": f"level {n}"}} for n in range(1, 6)),
                                {
                                    "code": "6",
                                    "label": {"en": "Not applicable: no children in my family"},
                                    "missing": "not_applicable",
                                },
                                {"code": "9", "label": {"en": "Don't know"}, "missing": "dont_know"},
                            ],
                        },
                        {
                            "code": "hours",
                            "type": "decimal",
                            "label": {"en": "Hours"},
                            "prefer_not_to_say": True,
                        },
                    ],
                }
            ],
            "scoring": {
                "scores": [{"code": "total", "method": "sum", "items": ["agree"], "min_answered": 1}],
                "bands": [],
            },
        }
    )


ANSWERS = ["1", "5", "6", "3", "_pnts", "9", "4", "6", None, "2"]
HOURS = [1.5, "_pnts", 2, 3, None, 4, 5, 6, 7, 8]
# The oracle: the mean of the answers on the 1–5 scale only, written out by hand.
EXPECTED_MEAN = (1 + 5 + 3 + 4 + 2) / 5


def table():
    definition = scale_definition()
    variables = items.context_variables() + items.item_variables(
        [InstrumentVersion(definition=definition)], "en"
    )
    answered = [v for v in variables if v.name not in items.CONTEXT]
    rows = []
    for number, (agree, hours) in enumerate(zip(ANSWERS, HOURS, strict=True)):
        row = {
            "participant": f"P{number}",
            "organization": "harbor",
            "track": "adult",
            "role": "survivor",
            "timepoint": "t0",
            "month": "2026-03",
        }
        answers = {k: v for k, v in (("agree", agree), ("hours", hours)) if v is not None}
        row.update(items.answer_cells(answered, answers, {}))
        rows.append(row)
    return items.Table("family", "Family", variables, rows)


def read_back(content, suffix, **options):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"file{suffix}"
        path.write_bytes(content)
        reader = pyreadstat.read_sav if suffix == ".sav" else pyreadstat.read_dta
        return reader(str(path), **options)


def test_the_mean_of_an_item_is_the_same_from_csv_sav_and_dta():
    data = table()
    frame = pd.read_csv(io.BytesIO(exports.to_csv(data)))
    from_csv = pd.to_numeric(frame["agree"], errors="coerce").mean()
    sav, _meta = read_back(exports.to_sav(data), ".sav")
    dta, _meta = read_back(exports.to_dta(data), ".dta")
    assert math.isclose(from_csv, EXPECTED_MEAN)
    assert math.isclose(sav["agree"].mean(), EXPECTED_MEAN)
    assert math.isclose(dta["agree"].mean(), EXPECTED_MEAN)
    hours = (1.5 + 2 + 3 + 4 + 5 + 6 + 7 + 8) / 8
    assert math.isclose(pd.to_numeric(frame["hours"], errors="coerce").mean(), hours)
    assert math.isclose(sav["hours"].mean(), hours)
    assert math.isclose(dta["hours"].mean(), hours)


def test_not_applicable_is_never_the_top_of_the_scale():
    data = table()
    column = [row["agree"] for row in data.rows]
    assert 6 not in column and 9 not in column
    assert column.count("_na") == 2 and column.count("_dk") == 1 and column.count("_pnts") == 1
    sav, _meta = read_back(exports.to_sav(data), ".sav")
    assert sav["agree"].max() == 5


def test_spss_declares_each_missing_code_user_missing_with_its_label():
    _frame, meta = read_back(exports.to_sav(table()), ".sav", user_missing=True)
    assert sorted(r["lo"] for r in meta.missing_ranges["agree"]) == [-9.0, -8.0, -7.0]
    labels = meta.variable_value_labels["agree"]
    assert labels[-7.0] == "Not applicable: no children in my family"
    assert labels[-8.0] == "Don't know"
    assert labels[-9.0] == "Prefer not to say"
    assert 6.0 not in labels


def test_stata_writes_extended_missing_values_with_their_labels():
    frame, meta = read_back(exports.to_dta(table()), ".dta", user_missing=True)
    assert list(frame["agree"])[2:6] == ["b", 3.0, "a", "c"]
    assert sorted(meta.missing_user_values["agree"]) == ["a", "b", "c"]
    assert meta.variable_value_labels["agree"]["b"] == "Not applicable: no children in my family"
    assert meta.variable_value_labels["agree"]["a"] == "Prefer not to say"
    assert list(frame["hours"])[1] == "a"


def test_redcap_records_write_redcap_missing_data_codes():
    rows = list(csv.DictReader(io.StringIO(exports.redcap_records(table()).decode())))
    assert [r["agree"] for r in rows] == ["1", "5", "NA", "3", "DECL", "UNK", "4", "NA", "", "2"]
    assert rows[1]["hours"] == "DECL"
    dictionary = list(csv.DictReader(io.StringIO(exports.redcap_dictionary(table()).decode())))
    agree = next(r for r in dictionary if r["Variable / Field Name"] == "agree")
    # The missing codes are not choices of the scale (REDCap declares them project-wide).
    assert agree["Choices, Calculations, OR Slider Labels"] == (
        "1, level 1 | 2, level 2 | 3, level 3 | 4, level 4 | 5, level 5"
    )


def test_the_codes_are_decided_in_one_place():
    codes = missing_codes()
    assert {r: (c.marker, c.stata, c.redcap) for r, c in codes.items()} == {
        "prefer_not_to_say": ("_pnts", "a", "DECL"),
        "not_applicable": ("_na", "b", "NA"),
        "dont_know": ("_dk", "c", "UNK"),
    }


def test_a_missing_code_counts_in_no_score():
    definition = scale_definition()
    assert score_response(definition, {"agree": "6"})["total"] is None
    assert score_response(definition, {"agree": "9"})["total"] is None
    assert score_response(definition, {"agree": "4"})["total"] == 4


def test_an_imported_dictionary_reads_not_applicable_and_dont_know_as_missing_codes():
    header = (
        "field_name,form_name,section_header,field_type,field_label,select_choices_or_calculations,field_note,"
        "text_validation_type_or_show_slider_number,text_validation_min,text_validation_max,identifier,"
        "branching_logic,required_field,custom_alignment,question_number,matrix_group_name,matrix_ranking,"
        "field_annotation\n"
    )
    body = (
        "record_id,f,,text,ID,,,,,,,,,,,,,\n"
        'agree,f,,radio,Agree,"1, Never | 2, Sometimes | 3, Always | 6, N/A (no agreement yet) | '
        "9, Don't know\",,,,,,,,,,,,\n"
    )
    imported = read_dictionary((header + body).encode(), code="f")
    choices = imported.definition["sections"][0]["items"][1]["choices"]
    assert [(c["code"], c.get("missing")) for c in choices] == [
        ("1", None),
        ("2", None),
        ("3", None),
        ("6", "not_applicable"),
        ("9", "dont_know"),
    ]
    assert any("line 3 (agree)" in w and "missing codes" in w for w in imported.warnings)


def test_the_built_in_repair_outcome_declares_dont_know_and_no_agreement_yet_missing():
    import yaml

    from circlekeeper.instruments.builtins import BUILTIN_DIR

    definition = validate_definition(yaml.safe_load((BUILTIN_DIR / "outcome_repair.yaml").read_text()))
    variables = items.item_variables([InstrumentVersion(definition=definition)], "en")
    done = next(v for v in variables if v.name == "actions_done")
    answers = ["5", "dk", "none_yet", "3", "_pnts"]
    rows = [items.answer_cells([done], {"actions_done": a}, {}) for a in answers]
    data = items.Table("repair", "Repair", [done], rows)
    sav, _meta = read_back(exports.to_sav(data), ".sav")
    dta, _meta = read_back(exports.to_dta(data), ".dta")
    # Before issue 22, "I don't know" and "no agreement yet" were 6 and 7 on this 1–5 scale.
    assert sav["actions_done"].max() == 5 and math.isclose(sav["actions_done"].mean(), 4.0)
    assert math.isclose(dta["actions_done"].mean(), 4.0)
