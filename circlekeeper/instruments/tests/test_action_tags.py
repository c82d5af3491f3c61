"""Issue 22, findings 4 and 5: REDCap action tags that mean something here are applied on import, every other
one is listed in the import report; piped [field] texts show the respondent's own earlier answers.
"""

import csv
import datetime
import io
import tempfile
from pathlib import Path

from django.core.management import call_command
from django.test import TestCase

from circlekeeper.instruments.definition import iter_items, validate_definition
from circlekeeper.instruments.forms import SectionForm
from circlekeeper.instruments.piping import pipe
from circlekeeper.instruments.redcap import action_tags, read_dictionary
from circlekeeper.instruments.scoring import calculated_values, visible_items

API_HEADER = [
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
]


def field(name, kind, label, *, choices="", validation="", required="", annotation=""):
    cells = [name, "visit", "", kind, label, choices, "", validation] + [""] * 10
    cells[12] = required
    cells[17] = annotation
    return cells


ROWS = [
    field("record_id", "text", "Record ID"),
    field("first_name", "text", "First name"),
    field("sex", "radio", "Sex", choices="1, Female | 2, Male | 3, Another"),
    field("staff_code", "text", "Staff code", required="y", annotation="@HIDDEN"),
    field("survey_only", "text", "Only on forms", annotation="@HIDDEN-SURVEY"),
    field(
        "today", "text", "Today's Date", validation="date_ymd", required="y", annotation="@TODAY @READONLY"
    ),
    field("visits", "text", "Visits", validation="integer", annotation="@DEFAULT='3'"),
    field("group", "text", "Age group", annotation="@CALCTEXT(if([visits] >= 3, 'many', 'few'))"),
    field(
        "help_from",
        "checkbox",
        "Help from",
        choices="1, Friends | 2, Family | 99, None of these",
        annotation="@NONEOFTHEABOVE='99'",
    ),
    field("notes", "notes", "Notes", annotation="@CHARLIMIT=200 @PLACEHOLDER='Write here'"),
    field("follow_up", "text", "Follow-up", validation="date_ymd", annotation="@CALCDATE([today], 7, 'd')"),
    field(
        "consent", "descriptive", "I, [first_name], ([sex]; code [sex:value]) agree. [event-name] [nothere]"
    ),
]


def dictionary():
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(API_HEADER)
    writer.writerows(ROWS)
    return out.getvalue().encode()


def imported():
    return read_dictionary(dictionary(), code="visit")


def items():
    return {item["code"]: item for _section, item in iter_items(imported().definition)}


def test_action_tags_are_read_with_their_arguments():
    assert action_tags("@HIDDEN @DEFAULT='a b' @X=\"y\" @CALCTEXT(if([a] = '(', 'x', concat('a', 'b')))") == [
        ("@HIDDEN", ""),
        ("@DEFAULT", "a b"),
        ("@X", "y"),
        ("@CALCTEXT", "if([a] = '(', 'x', concat('a', 'b'))"),
    ]
    # An e-mail address in an annotation is not a tag.
    assert action_tags("ask me@HIDDEN.org") == []


def test_the_tags_that_mean_something_here_are_applied():
    found = items()
    assert found["staff_code"]["hidden"] is True and "required" not in found["staff_code"]
    assert found["survey_only"]["hidden"] is True
    assert found["today"]["default"] == "today" and found["today"]["readonly"] is True
    assert found["visits"]["default"] == "3"
    assert found["group"]["type"] == "calculated"
    assert found["group"]["calculation"] == "if(visits >= 3, 'many', 'few')"
    assert found["help_from"]["exclusive"] == ["99"]
    assert found["follow_up"]["type"] == "calculated"
    assert found["follow_up"]["calculation"] == "calcdate(today, 7, 'd')"


def test_calcdate_gives_the_date_after_the_offset():
    definition = imported().definition
    # Oracle: 2026-03-31 plus 7 days, by the calendar.
    assert calculated_values(definition, {"today": "2026-03-31"})["follow_up"] == "2026-04-07"
    assert "follow_up" not in calculated_values(definition, {})


def test_every_other_tag_is_reported_with_its_line():
    report = imported().not_applied
    assert report == [
        "line 11 (notes): @CHARLIMIT is kept in the annotation, not applied here",
        "line 11 (notes): @PLACEHOLDER is kept in the annotation, not applied here",
    ]


def form(answers, section_items=None, data=None, today=datetime.date(2026, 3, 31)):
    definition = imported().definition
    section = definition["sections"][0]
    visible = set(visible_items(definition, answers, today=today))
    return SectionForm(
        data,
        definition=definition,
        section=section,
        visible=visible,
        language="en",
        answers=answers,
        today=today,
    )


def test_a_hidden_field_is_never_asked_and_a_calctext_is_computed():
    definition = imported().definition
    shown = visible_items(definition, {})
    assert "staff_code" not in shown and "survey_only" not in shown
    assert calculated_values(definition, {"visits": 4})["group"] == "many"
    assert "staff_code" not in form({}).fields


def test_today_fills_a_read_only_date_that_a_posted_value_cannot_change():
    page = form({})
    assert page.fields["today"].disabled
    assert page.initial["visits"] == "3"
    posted = form({}, data={"q-today": "1999-01-01", "q-visits": "3", "q-first_name": "Ana"})
    assert posted.is_valid(), posted.errors
    assert posted.values["today"] == "2026-03-31"


def test_none_of_the_above_is_chosen_on_its_own():
    posted = form({}, data={"q-help_from": ["1", "99"], "q-visits": "3"})
    assert not posted.is_valid()
    assert "None of these" in str(posted.errors["help_from"])
    alone = form({}, data={"q-help_from": ["99"], "q-visits": "3"})
    assert alone.is_valid(), alone.errors


def test_piping_shows_this_respondents_answers_labels_and_codes():
    definition = imported().definition
    consent = items()["consent"]["label"]["en"]
    assert pipe(consent, definition, {"first_name": "Ana", "sex": "1"}, "en") == (
        "I, Ana, (Female; code 1) agree. [event-name] [nothere]"
    )
    # Another respondent's page shows their own answers; an unanswered one shows a blank line.
    assert (
        pipe(consent, definition, {"sex": "2"}, "en")
        == "I, ______, (Male; code 2) agree. [event-name] [nothere]"
    )


def test_the_page_shows_the_piped_text():
    page = form({"first_name": "Ana", "sex": "3"})
    assert page.text(items()["consent"]["label"]) == "I, Ana, (Another; code 3) agree. [event-name] [nothere]"


def test_tags_and_defaults_are_valid_definition_keys_and_bad_ones_are_refused():
    definition = imported().definition
    definition["sections"][0]["items"][1]["exclusive"] = ["1"]  # on a text item
    try:
        validate_definition(definition)
    except Exception as exc:  # noqa: BLE001 - the message is what is checked
        assert "exclusive must list choice codes of a multiple-choice item" in str(exc)
    else:
        raise AssertionError("an exclusive list on a text item was accepted")


class ReportTests(TestCase):
    def test_the_command_lists_the_tags_not_applied(self):
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        path = folder / "visit.csv"
        path.write_bytes(dictionary())
        out = io.StringIO()
        call_command("import_redcap_dictionary", str(path), stdout=out)
        self.assertIn("Action tags kept in the annotation, not applied (2)", out.getvalue())
        self.assertIn(
            "  - line 11 (notes): @PLACEHOLDER is kept in the annotation, not applied here", out.getvalue()
        )


def test_piping_an_event_field_shows_that_events_answer_of_the_same_person_only():
    from circlekeeper.instruments.expressions import EventAnswers

    definition = imported().definition
    text = "At T0: [t0_arm_1][sex] ([t0_arm_1][sex:value]); now [sex]; [t6_arm_1][sex]; [first_name][sex]"
    at_t0 = EventAnswers(answers={("t0_arm_1", "sex"): "2"})
    assert pipe(text, definition, {"sex": "1", "first_name": "Ana"}, "en", at_t0) == (
        "At T0: Male (2); now Female; ______; AnaFemale"
    )
    # Without the event's answers (none given, or none there), the T0 answer is blank, never this one's.
    assert pipe(text, definition, {"sex": "1", "first_name": "Ana"}, "en").startswith(
        "At T0: ______ (______)"
    )
    # An answer shown is not read again for brackets.
    planted = EventAnswers(answers={("t0_arm_1", "first_name"): "[sex]"})
    assert pipe("[t0_arm_1][first_name]", definition, {"sex": "1"}, "en", planted) == "[sex]"
