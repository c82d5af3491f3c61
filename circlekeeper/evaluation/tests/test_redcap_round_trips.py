"""Issue 22, finding 7: REDCap round trips that REDCap accepts. Records name their event `<event>_arm_<n>` (a
configurable map), with the events and instrument-event mapping files to go with them; records imported
without a timepoint keep their REDCap event; a dictionary whose first field is an integer-validated record ID
comes back the same instrument, with no record_id added.
"""

import csv
import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from circlekeeper.evaluation import dataset, exports, items, redcap_records
from circlekeeper.evaluation.redcap_events import redcap_event_name
from circlekeeper.evaluation.tests.test_exports_fixtures import PlantedData
from circlekeeper.instruments.definition import iter_items
from circlekeeper.instruments.redcap import export_dictionary, read_dictionary


def rows_of(content):
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


@override_settings(REDCAP_EVENTS="t0=baseline_arm_1, T6=month_6_arm_2", REDCAP_ARM=1)
def test_a_timepoint_is_written_as_its_mapped_event_or_as_event_arm_n():
    assert redcap_event_name("t0") == "baseline_arm_1"
    assert redcap_event_name("T6") == "month_6_arm_2"
    assert redcap_event_name("T3") == "t3_arm_1"
    with override_settings(REDCAP_ARM=2, REDCAP_EVENTS=""):
        assert redcap_event_name("t0") == "t0_arm_2"


def test_without_a_timepoint_a_record_keeps_the_event_it_was_imported_from():
    assert redcap_event_name("", purpose="REDCap visit_1_arm_1") == "visit_1_arm_1"
    assert redcap_event_name("", purpose="REDCap visit_1_arm_1 #2") == "visit_1_arm_1"
    # Another purpose, or a REDCap row that had no event (a classic project): no event.
    assert redcap_event_name("", purpose="Intake call") == ""
    assert redcap_event_name("", purpose="REDCap") == ""
    # The prefix is the one the record import writes.
    assert items.REDCAP_PURPOSE == redcap_records.PURPOSE_PREFIX + " "


@override_settings(REDCAP_EVENTS="t0=baseline arm 1")
def test_a_bad_event_map_is_refused_naming_the_entry():
    with pytest.raises(ImproperlyConfigured, match="t0=baseline arm 1"):
        redcap_event_name("t0")


class EventExportTests(PlantedData):
    def table(self):
        return items.item_table(dataset.Scope.for_organization(self.harbor), self.instrument, language="en")

    def test_records_name_events_and_the_imported_event_survives(self):
        self.harm_response.purpose = "REDCap enrollment_arm_1"
        self.harm_response.save()
        with override_settings(REDCAP_EVENTS="T0=baseline_arm_1"):
            records = rows_of(exports.redcap_records(self.table()))
            events = rows_of(exports.redcap_events_file(self.table()))
            mapping = rows_of(exports.redcap_instrument_events_file(self.table()))
        self.assertEqual([r["redcap_event_name"] for r in records], ["baseline_arm_1", "enrollment_arm_1"])
        self.assertEqual(
            events,
            [
                {
                    "event_name": "baseline",
                    "arm_num": "1",
                    "unique_event_name": "baseline_arm_1",
                    "custom_event_label": "",
                },
                {
                    "event_name": "enrollment",
                    "arm_num": "1",
                    "unique_event_name": "enrollment_arm_1",
                    "custom_event_label": "",
                },
            ],
        )
        self.assertEqual(
            mapping,
            [
                {"arm_num": "1", "unique_event_name": "baseline_arm_1", "form": "planted"},
                {"arm_num": "1", "unique_event_name": "enrollment_arm_1", "form": "planted"},
            ],
        )
        # The form of the mapping is the form of the dictionary.
        dictionary = rows_of(exports.redcap_dictionary(self.table()))
        self.assertEqual({r["Form Name"] for r in dictionary}, {"planted"})

    def test_the_event_is_not_a_column_of_the_flat_csv(self):
        self.harm_response.purpose = "REDCap enrollment_arm_1"
        self.harm_response.save()
        header = exports.to_csv(self.table()).decode().splitlines()[0]
        self.assertNotIn("redcap_event", header)


HEADER = (
    '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels","Field Note","Text Validation Type OR Show Slider Number",'
    '"Text Validation Min","Text Validation Max",Identifier?,"Branching Logic (Show field only if...)",'
    '"Required Field?","Custom Alignment","Question Number (surveys only)","Matrix Group Name","Matrix Ranking?",'
    '"Field Annotation"\n'
)


def test_a_dictionary_whose_record_id_is_an_integer_comes_back_the_same_instrument():
    content = (
        HEADER
        + "study_id,trial,,text,Study ID,,,integer,,,,,,,,,,\n"
        + 'pcl1,trial,,radio,"Repeated memories","0, Not at all | 1, A little bit",,,,,,,,,,,,\n'
    ).encode()
    first = read_dictionary(content, code="trial")
    written, warnings = export_dictionary(first.definition)
    assert "record_id" not in written
    assert not any("record_id" in w for w in warnings)
    again = read_dictionary(written.encode(), code="trial")
    assert [i["code"] for _s, i in iter_items(again.definition)] == ["study_id", "pcl1"]
    assert again.definition == first.definition


def test_a_definition_not_from_redcap_still_gets_a_record_id_before_a_number_question():
    content = (HEADER + "age,trial,,text,Age,,,integer,,,,,,,,,,\n").encode()
    definition = read_dictionary(content, code="t").definition
    definition["source"] = {"format": "xlsform"}
    written, _warnings = export_dictionary(definition)
    assert written.splitlines()[1].startswith("record_id,")
