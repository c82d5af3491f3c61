"""XLSForms, read through pyxform: every real fixture imports; a bad form is rejected whole, naming sheet and row."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import TestCase
from openpyxl import Workbook
from pyxform.xls2json_backends import get_xlsform

from circlekeeper.instruments.definition import ImportRejected, iter_items
from circlekeeper.instruments.models import Instrument
from circlekeeper.instruments.tests.helpers import fixture_files, require_fixtures
from circlekeeper.instruments.xlsform import METADATA, language_code, read_xlsform

FORMS = fixture_files("xlsform", "*.xlsx")
SURVEY = ["type", "name", "label::English (en)", "label::Spanish (es)", "relevant", "constraint", "required"]


def workbook(survey, choices=(), settings=None):
    book = Workbook()
    sheet = book.active
    sheet.title = "survey"
    for row in survey:
        sheet.append(row)
    if choices:
        choices_sheet = book.create_sheet("choices")
        for row in choices:
            choices_sheet.append(row)
    if settings:
        settings_sheet = book.create_sheet("settings")
        for row in settings:
            settings_sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_fixture_folder_is_there():
    require_fixtures()
    assert [p.name for p in FORMS] == ["correlaid_all_types_survey.xlsx", "pyxform_xlsform_spec_test.xlsx"]


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name)
def test_every_fixture_form_imports_and_accounts_for_every_question(path):
    imported = read_xlsform(path.read_bytes(), file_name=path.stem)
    rows = [row for row in get_xlsform(str(path)).survey if row.get("name")]
    questions = [
        row["name"] for row in rows if not row["type"].replace("_", " ").startswith(("begin ", "end "))
    ]
    kept = {item["code"] for _section, item in iter_items(imported.definition)}
    # Each question is kept, or a warning names it: nothing disappears silently.
    for name in questions:
        assert name in kept or any(f"({name})" in warning for warning in imported.warnings), name
    lists = imported.definition.get("choice_lists", {})
    choice_rows = get_xlsform(str(path)).choices
    for list_name, choices in lists.items():
        in_sheet = [row["name"] for row in choice_rows if row.get("list_name") == list_name]
        assert [c["code"] for c in choices][: len(in_sheet)] == in_sheet


def test_the_type_catalogue_keeps_its_types_groups_and_constraint():
    path = next((p for p in FORMS if p.name.startswith("correlaid")), None)
    if path is None:
        require_fixtures()
        pytest.skip("no type catalogue")
    imported = read_xlsform(path.read_bytes(), file_name=path.stem)
    definition = imported.definition
    assert definition["code"] == "all_types"
    assert definition["languages"] == ["de"]
    assert definition["title"] == {"de": "Workshop-Feedback-Umfrage"}
    sections = {s["code"]: [i["code"] for i in s["items"]] for s in definition["sections"]}
    assert sections["basic_types"][:3] == ["q_text", "q_string", "q_integer"]
    assert sections["matrix_inner"] == ["matrix_header", "skill_python", "skill_js", "skill_sql"]
    items = {i["code"]: i for _s, i in iter_items(definition)}
    types = {code: item["type"] for code, item in items.items()}
    assert types["q_decimal"] == "decimal"
    assert types["q_date"] == "date"
    assert (types["q_time"], items["q_time"]["validation"]) == ("short_text", "time")
    assert items["q_datetime"]["validation"] == "datetime_ymd"
    assert types["q_select_one"] == "single_choice" and items["q_select_one"]["choice_list"] == "yesno"
    assert types["q_select_multi"] == "multiple_choice"
    assert types["q_rank"] == "multiple_choice"
    assert types["q_note"] == "descriptive"
    assert types["q_multiline_text"] == "long_text"
    assert types["calc1"] == "calculated"
    assert items["skill_js"]["matrix_group"] == "matrix_inner"
    assert items["q_mandatory"]["required"] is True
    assert items["q_hint"]["help"] == {"de": "Format: +49 123 456789"}
    # `. >= 18 and . <= 120` is a range, not an expression.
    assert (items["q_constraint"]["min"], items["q_constraint"]["max"]) == (18, 120)
    assert "constraint" not in items["q_constraint"]
    # pyxform adds the "other" choice and its follow-up question; the follow-up's ../ path is read too.
    assert items["q_sel1_other_other"]["show_if"] == "selected(q_sel1_other, 'other')"
    assert [c["code"] for c in definition["choice_lists"]["topics"]][-1] == "other"
    for name in ("start", "end", "today", "deviceid", "username"):
        assert name not in items
        assert any(f"({name}): {name} metadata is not collected" in w for w in imported.warnings)
    assert any(
        w.startswith("survey sheet, row 22 (q_rank): rank is asked as multiple choice")
        for w in imported.warnings
    )


def test_the_spec_test_keeps_its_translations_and_reports_what_it_leaves_out():
    path = next((p for p in FORMS if p.name.startswith("pyxform")), None)
    if path is None:
        require_fixtures()
        pytest.skip("no spec test")
    imported = read_xlsform(path.read_bytes(), file_name=path.stem)
    definition = imported.definition
    assert definition["languages"] == ["en", "zh"]
    assert definition["default_language"] == "en"
    items = {i["code"]: i for _s, i in iter_items(definition)}
    assert items["address"]["label"] == {"en": "Enter an address", "zh": "您好"}
    # Choice labels without a language are the default language's.
    assert definition["choice_lists"]["yes_no"][0]["label"] == {"en": "Yes", "zh": "是"}
    assert items["required_text"]["required"] is True
    assert items["list-nolabel-test"]["required"] is True
    assert items["geopoint_test"]["type"] == "descriptive"
    everything = next(s for s in definition["sections"] if s["code"] == "everything")
    assert everything["show_if"] == "not selected(skip_to_end, 'yes')"
    assert items["a_decimal"]["constraint"] == ". <= a_integer"
    # regex() is not translated: it is kept as it was, and said so.
    assert items["email_note"]["source_logic"]["show_if"]["syntax"] == "xlsform"
    assert any(w.startswith("survey sheet, row 7 (email_note): the show_if") for w in imported.kept_as_text)
    assert any("repeats are not supported" in w for w in imported.warnings)


def test_language_names_become_codes():
    assert language_code("English (en)") == "en"
    assert language_code("Spanish (es)") == "es"
    assert language_code("Español") == "es"
    assert language_code("chinese") == "zh"
    assert language_code("de") == "de"
    assert language_code("Klingon") == "klingon"


def test_a_small_bilingual_form_with_groups_relevance_and_constraints():
    content = workbook(
        [
            SURVEY,
            ["integer", "age", "Age", "Edad", "", ". >= 18 and . <= 120", "yes"],
            [],
            ["begin_group", "more", "More", "Más", "${age} >= 21", "", ""],
            ["select_one yn", "safe", "Safe?", "¿Segura?", "", "", "true()"],
            ["decimal", "score", "Score", "Puntuación", "", ". > 0", ""],
            ["end_group", "", "", "", "", "", ""],
            [],
            [],
        ],
        [
            ["list_name", "name", "label::English (en)", "label::Spanish (es)"],
            ["yn", "1", "Yes", "Sí"],
            ["yn", "0", "No", "No"],
        ],
        [["form_title", "form_id", "default_language"], ["Small", "small", "English (en)"]],
    )
    definition = read_xlsform(content, file_name="small").definition
    assert definition["code"] == "small"
    assert definition["languages"] == ["en", "es"]
    assert [s["code"] for s in definition["sections"]] == ["small_part", "more"]
    items = {i["code"]: i for _s, i in iter_items(definition)}
    assert items["age"]["label"] == {"en": "Age", "es": "Edad"}
    assert (items["age"]["min"], items["age"]["max"], items["age"]["required"]) == (18, 120, True)
    assert items["safe"]["required"] is True
    assert definition["choice_lists"]["yn"][0] == {"code": "1", "label": {"en": "Yes", "es": "Sí"}}
    # "> 0" is not a closed range: it stays a constraint.
    assert items["score"]["constraint"] == ". > 0"
    assert definition["sections"][1]["show_if"] == "age >= 21"


def test_labels_without_a_language_beside_spanish_are_english():
    content = workbook(
        [
            ["type", "name", "label", "label::Spanish (es)"],
            ["integer", "age", "How old are you?", "¿Qué edad tiene?"],
        ]
    )
    imported = read_xlsform(content, file_name="ages")
    definition = imported.definition
    assert (definition["languages"], definition["default_language"]) == (["en", "es"], "en")
    assert definition["sections"][0]["items"][0]["label"] == {
        "en": "How old are you?",
        "es": "¿Qué edad tiene?",
    }
    assert any("texts without a language are read as English (en)" in w for w in imported.warnings)


def rejection(content):
    with pytest.raises(ImportRejected) as caught:
        read_xlsform(content, file_name="bad")
    return caught.value.problems


def test_a_bad_form_is_rejected_naming_the_sheet_and_row():
    assert rejection(workbook([SURVEY, ["text", "a", "A"], ["integer", "a", "B"]]))[0].startswith(
        "survey sheet, row 3: "
    )
    assert rejection(
        workbook([SURVEY, ["select_one nope", "a", "A"]], [["list_name", "name", "label"], ["yn", "y", "Y"]])
    ) == ["survey sheet, row 2: List name not in choices sheet: nope"]
    assert rejection(workbook([SURVEY, ["begin_group", "g", "G"], ["text", "a", "A"]]))[0].startswith(
        "survey sheet, row 2: Unmatched"
    )
    choices = [["list_name", "name", "label"], ["yn", "y", "Y"], ["yn", "y", "Again"]]
    assert rejection(workbook([SURVEY, ["select_one yn", "a", "A"]], choices))[0].startswith(
        "choices sheet, row 3: "
    )


def test_a_reserved_choice_code_is_rejected_with_its_row():
    choices = [["list_name", "name", "label"], ["yn", "y", "Y"], ["yn", "_pnts", "No"]]
    assert rejection(workbook([SURVEY, ["select_one yn", "a", "A"]], choices)) == [
        "choices sheet, row 2: choice list 'yn': choice code '_pnts' is reserved for “prefer not to say”"
    ]


def test_a_file_that_is_not_a_workbook_is_rejected():
    assert rejection(b"\x00\x01 not a workbook")[0].startswith("the XLSForm cannot be read")


def test_metadata_is_never_collected():
    assert {"deviceid", "phonenumber", "username", "email"} <= METADATA


class ImportXLSFormCommandTests(TestCase):
    def test_the_command_imports_each_fixture(self):
        require_fixtures()
        for path in FORMS:
            out = io.StringIO()
            call_command("import_xlsform", str(path), stdout=out)
            self.assertIn("v1 (new version)", out.getvalue())
        self.assertEqual(
            sorted(Instrument.objects.values_list("code", flat=True)), ["all_types", "spec_test"]
        )

    def test_a_rejected_form_writes_nothing(self):
        import tempfile
        from pathlib import Path

        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        path = folder / "bad.xlsx"
        path.write_bytes(workbook([SURVEY, ["text", "a", "A"], ["integer", "a", "B"]]))
        with self.assertRaisesMessage(CommandError, "survey sheet, row 3"):
            call_command("import_xlsform", str(path), stdout=io.StringIO())
        self.assertFalse(Instrument.objects.exists())


# --- issue 22, found re-running the fixtures: every line of the report names its row, one finding a line ------


def test_a_question_pyxform_made_is_named_at_the_row_it_was_made_from():
    # "or_other" makes a question <name>_other that is on no row of the sheet; it was named "survey sheet" alone.
    choices = [["list_name", "name", "label"], ["yn", "y", "Y"], ["yn", "n", "N"]]
    survey = [
        ["type", "name", "label"],
        ["text", "intro", "Intro"],
        ["select_one yn or_other", "pick", "Pick"],
    ]
    imported = read_xlsform(workbook(survey, choices), file_name="other")
    made = [line for line in imported.translated if "(pick_other)" in line]
    assert made, imported.translated
    assert all(line.startswith("survey sheet, row 3 (pick_other)") for line in made)


def test_each_finding_of_a_pyxform_warning_is_a_line_of_its_own():
    # pyxform says several missing-translation findings in one warning, one per text line; the report showed
    # them as one bullet with the others run in under it.
    survey = [
        ["type", "name", "label::English (en)", "label::Spanish (es)", "hint::English (en)"],
        ["text", "a", "A", "A es", "a hint"],
    ]
    choices = [
        ["list_name", "name", "label::English (en)", "label::Spanish (es)", "image::English (en)"],
        ["yn", "y", "Y", "S", "y.png"],
    ]
    imported = read_xlsform(workbook([*survey, ["select_one yn", "b", "B", "B es"]], choices), file_name="t")
    missing = [line for line in imported.warnings if "is missing the" in line]
    assert len(missing) >= 2, imported.warnings
    assert all("\n" not in line and line.startswith("pyxform: Language ") for line in missing)
