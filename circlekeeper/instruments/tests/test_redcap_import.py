"""REDCap data dictionaries: every real fixture imports; a bad file is rejected whole, naming its lines."""

import csv
import io
import tempfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import TestCase

from circlekeeper.instruments.definition import ImportRejected, iter_items
from circlekeeper.instruments.models import Instrument, InstrumentVersion
from circlekeeper.instruments.redcap import COLUMNS, parse_choices, read_dictionary
from circlekeeper.instruments.tests.helpers import fixture_files, require_fixtures
from circlekeeper.testing import audit_log

DICTIONARIES = fixture_files("redcap", "*dictionary*.csv")
ROW = ["", "form_1", "", "text", "Label", "", "", "", "", "", "", "", "", "", "", "", "", ""]


def dictionary(*rows, header=COLUMNS):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        full = list(ROW)
        for index, value in row.items():
            full[COLUMNS.index(index) if isinstance(index, str) else index] = value
        writer.writerow(full)
    return out.getvalue().encode("utf-8")


def field(name, **columns):
    """A row: the variable name, and other columns by their header."""
    return {0: name, **columns}


def rows_of(path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_fixture_folder_is_there():
    require_fixtures()
    assert [p.name for p in DICTIONARIES] == [
        "redcapr_longitudinal_dictionary.csv",
        "redcapr_validation-types-1_dictionary.csv",
    ]


@pytest.mark.parametrize("path", DICTIONARIES, ids=lambda p: p.name)
def test_every_fixture_dictionary_imports_with_its_fields_forms_and_choices(path):
    imported = read_dictionary(path.read_bytes(), code="fixture")
    rows = rows_of(path)
    definition = imported.definition
    items = [item for _section, item in iter_items(definition)]
    assert [item["code"] for item in items] == [row["Variable / Field Name"] for row in rows]
    forms = list(dict.fromkeys(row["Form Name"] for row in rows))
    assert [section["code"] for section in definition["sections"]] == forms
    lists = definition.get("choice_lists", {})
    for item, row in zip(items, rows, strict=True):
        if row["Field Type"] in ("radio", "dropdown", "checkbox"):
            choices = item.get("choices") or lists[item["choice_list"]]
            parsed = parse_choices(row["Choices, Calculations, OR Slider Labels"])
            assert parsed is not None
            assert [c["code"] for c in choices] == [code for code, _label in parsed]
        assert item.get("identifying", False) == (row["Identifier?"] == "y")


def test_the_longitudinal_dictionary_keeps_what_it_says():
    path = next(p for p in DICTIONARIES if "longitudinal" in p.name) if DICTIONARIES else None
    if path is None:
        require_fixtures()
        pytest.skip("no longitudinal dictionary")
    imported = read_dictionary(path.read_bytes(), code="longitudinal")
    definition = imported.definition
    items = {item["code"]: item for _section, item in iter_items(definition)}
    assert len(definition["sections"]) == 9
    assert items["gym"]["type"] == "multiple_choice"
    assert items["gym"]["matrix_group"] == "weekly_schedule"
    assert [c["label"]["en"] for c in definition["choice_lists"]["weekly_schedule"]][:2] == [
        "Monday",
        "Tuesday",
    ]
    assert items["given_birth"]["type"] == "yes_no"
    assert items["num_children"] == {
        **items["num_children"],
        "type": "integer",
        "min": 0,
    }
    assert items["num_children"]["show_if"] == "sex = '0' and given_birth = '1'"
    assert items["bmi"]["calculation"] == "round(weight * 10000 / height ^ 2, 1)"
    assert items["height"]["type"] == "decimal" and (items["height"]["min"], items["height"]["max"]) == (
        130,
        215,
    )
    assert items["specify_mood"]["type"] == "slider"
    assert [a["en"] for a in items["specify_mood"]["anchors"]] == ["Very sad", "Indifferent", "Very happy"]
    assert items["bmi"]["type"] == "calculated"
    assert items["first_name"]["identifying"] is True
    assert items["dob"]["type"] == "date"
    assert items["comments"]["type"] == "long_text"
    assert items["comments"]["heading"] == {"en": "General Comments"}
    # A file upload is not asked here; it stays as text and says so.
    assert items["patient_document"]["type"] == "descriptive"
    assert any("patient_document" in w and "file fields are not supported" in w for w in imported.warnings)


def test_every_field_type_and_validation_of_the_catalogue_is_placed():
    path = next((p for p in DICTIONARIES if "validation-types" in p.name), None)
    if path is None:
        require_fixtures()
        pytest.skip("no validation-types dictionary")
    items = {
        item["code"]: item
        for _s, item in iter_items(read_dictionary(path.read_bytes(), code="types").definition)
    }
    assert items["f_true_false"]["choices"][0]["label"] == {"en": "True"}
    assert items["f_slider"]["min"] == -1 and items["f_slider"]["max"] == 101
    assert items["f_sql"]["type"] == "descriptive"
    assert items["v_integer"]["type"] == "integer"
    assert items["v_number_2dp_comma_decimal"] == {
        **items["v_number_2dp_comma_decimal"],
        "type": "decimal",
        "validation": "number_2dp_comma_decimal",
    }
    assert items["v_date_dmy"] == {**items["v_date_dmy"], "type": "date", "validation": "date_dmy"}
    assert items["v_email"]["validation"] == "email"
    assert items["v_datetime_seconds_mdy"] == {
        **items["v_datetime_seconds_mdy"],
        "type": "short_text",
        "validation": "datetime_seconds_mdy",
    }


def test_html_and_line_breaks_in_labels_become_plain_text_with_its_line_breaks():
    content = "\ufeff".encode() + dictionary(
        field("record_id", **{"Field Label": "Record ID"}),
        field(
            "feel",
            **{
                "Field Type": "radio",
                "Field Label": (
                    '<div class="rich-text"><b>How safe</b> do you feel?<br>Today &amp; now</div>\n'
                    "Think of this week."
                ),
                "Choices, Calculations, OR Slider Labels": "a, <i>Safe</i> | b, Not safe",
            },
        ),
    )
    items = {i["code"]: i for _s, i in iter_items(read_dictionary(content, code="x").definition)}
    assert items["feel"]["label"]["en"] == "How safe do you feel?\nToday & now\nThink of this week."
    assert items["feel"]["choices"] == [
        {"code": "a", "label": {"en": "Safe"}},
        {"code": "b", "label": {"en": "Not safe"}},
    ]


def rejection(content):
    with pytest.raises(ImportRejected) as caught:
        read_dictionary(content, code="bad")
    return caught.value.problems


def test_a_wrong_header_is_rejected_on_line_1():
    header = ["Variable", "Form", *COLUMNS[2:]]
    assert rejection(dictionary(field("record_id"), header=header))[0].startswith(
        "line 1: this is not a REDCap data dictionary"
    )


def test_every_bad_row_is_named_by_its_line():
    content = dictionary(
        field("record_id"),
        field("mood", **{"Field Type": "emoji"}),
        field("record_id"),
        field("choice", **{"Field Type": "radio", "Choices, Calculations, OR Slider Labels": "Yes | No"}),
        field(
            "age", **{"Text Validation Type OR Show Slider Number": "integer", "Text Validation Min": "ten"}
        ),
        field(
            "height",
            **{
                "Text Validation Type OR Show Slider Number": "number",
                "Text Validation Min": "200",
                "Text Validation Max": "100",
            },
        ),
        field("Bad Name"),
    )
    problems = rejection(content)
    assert problems[0].startswith("line 3 (mood): unknown field type 'emoji'")
    assert problems[1] == "line 4: variable 'record_id' is already defined on line 2"
    assert problems[2] == "line 5 (choice): choices 'Yes | No' must read like “1, Yes | 0, No”"
    assert problems[3] == "line 6 (age): min 'ten' is not a number"
    assert problems[4] == "line 7 (height): the minimum 200 is above the maximum 100"
    assert problems[5].startswith("line 8: variable name 'Bad Name' must be lower-case letters")
    assert len(problems) == 6


def test_line_numbers_count_the_lines_inside_quoted_labels():
    content = dictionary(
        field("record_id", **{"Field Label": "Record\nID\nhere"}),
        field(
            "second", **{"Field Type": "dropdown", "Choices, Calculations, OR Slider Labels": "1, a | 1, b"}
        ),
    )
    assert rejection(content) == [
        "line 5 (second): choice code '1' is used twice in '1, a | 1, b'; each code must be unique"
    ]


def test_a_matrix_group_must_share_its_choices():
    content = dictionary(
        field("record_id"),
        field(
            "m1",
            **{
                "Field Type": "radio",
                "Choices, Calculations, OR Slider Labels": "1, a | 2, b",
                "Matrix Group Name": "grid",
            },
        ),
        field(
            "m2",
            **{
                "Field Type": "radio",
                "Choices, Calculations, OR Slider Labels": "1, a | 3, c",
                "Matrix Group Name": "grid",
            },
        ),
    )
    assert rejection(content) == [
        "line 4 (m2): matrix group 'grid' must share the field type and choices of its first field (line 3 (m1))"
    ]


def test_a_file_that_is_not_utf8_or_empty_is_rejected():
    assert rejection("Variable / Field Name,Formulario\n".encode("utf-16"))[0].startswith(
        "the file is not UTF-8 text"
    )
    assert rejection(b"") == ["line 1: the file is empty"]
    assert rejection(dictionary()) == ["the dictionary has no fields"]


def test_logic_that_cannot_be_translated_is_kept_and_reported_never_dropped():
    content = dictionary(
        field("record_id"),
        field(
            "later",
            **{"Branching Logic (Show field only if...)": "[event_1_arm_1][record_id] <> '' and datediff(("},
        ),
    )
    imported = read_dictionary(content, code="x")
    later = imported.definition["sections"][0]["items"][1]
    assert "show_if" not in later
    assert later["source_logic"]["show_if"] == {
        "syntax": "redcap",
        "text": "[event_1_arm_1][record_id] <> '' and datediff((",
    }
    assert imported.kept_as_text[0].startswith("line 3 (later): the branching logic")


class ImportCommandTests(TestCase):
    def run_command(self, *args):
        out = io.StringIO()
        call_command("import_redcap_dictionary", *args, stdout=out)
        return out.getvalue()

    def test_the_command_imports_each_fixture_as_a_new_version(self):
        require_fixtures()
        for path in DICTIONARIES:
            output = self.run_command(str(path))
            self.assertIn("v1 (new version)", output)
        self.assertEqual(InstrumentVersion.objects.count(), len(DICTIONARIES))
        self.assertEqual(
            sorted(Instrument.objects.values_list("code", flat=True)),
            ["redcapr_longitudinal_dictionary", "redcapr_validation-types-1_dictionary"],
        )
        self.assertEqual(audit_log().filter(action="instrument.version.add").count(), len(DICTIONARIES))

    def test_a_rejected_file_writes_nothing(self):
        path = self.bad_file()
        with self.assertRaisesMessage(CommandError, "line 3 (mood): unknown field type 'emoji'"):
            self.run_command(str(path), "--code", "bad")
        self.assertFalse(Instrument.objects.exists())
        self.assertFalse(audit_log().filter(action="instrument.version.add").exists())

    def bad_file(self):
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        path = folder / "bad.csv"
        path.write_bytes(dictionary(field("record_id"), field("mood", **{"Field Type": "emoji"})))
        return path
