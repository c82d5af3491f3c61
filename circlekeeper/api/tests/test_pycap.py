"""A real REDCap client, PyCap, reads a Circlekeeper evaluation through a live server (issue 24 item 3).

The script below is what an evaluator writes for a REDCap project; only the address and the token differ.
Its answers are compared with the web export of the same data.
"""

from __future__ import annotations

import csv
import io

import pytest
import redcap.request
from redcap import Project, RedcapError

from circlekeeper.api import services
from circlekeeper.evaluation import exports, items
from circlekeeper.evaluation.dataset import Scope
from circlekeeper.evaluation.tests.test_exports_fixtures import PlantedData


@pytest.fixture
def planted(transactional_db):
    class LivePlanted(PlantedData):
        __test__ = False

    LivePlanted.setUpTestData()
    return LivePlanted


@pytest.fixture
def project(planted, live_server, settings):
    settings.CIRCLEKEEPER_API_PLAIN_HTTP = True  # the live test server speaks plain HTTP
    settings.CIRCLEKEEPER_DEIDENTIFICATION_K = 1  # a handful of planted people: the file mechanics, not k
    _token, raw = services.create_token(planted.eve, organization=planted.harbor, name="PyCap")
    yield Project(f"{live_server.url}/redcap/api/", raw)
    # PyCap keeps one module-wide keep-alive session: close it before the live server stops.
    redcap.request._session.close()


def web_records(planted) -> list[dict[str, str]]:
    scope = Scope.for_organization(planted.harbor)
    table = items.item_table(scope, planted.instrument, language="en")
    return list(csv.DictReader(io.StringIO(exports.redcap_records(table).decode("utf-8"))))


def test_pycap_reads_the_dictionary_records_and_mappings(planted, project):
    metadata = project.export_metadata()
    scope = Scope.for_organization(planted.harbor)
    table = items.item_table(scope, planted.instrument, language="en")
    dictionary = list(csv.DictReader(io.StringIO(exports.redcap_dictionary(table).decode("utf-8"))))
    assert [row["field_name"] for row in metadata] == [row["Variable / Field Name"] for row in dictionary]
    assert project.def_field == "record_id"
    assert project.is_longitudinal

    expected = web_records(planted)
    records = project.export_records()
    assert len(records) == len(expected)
    assert {(r["record_id"], r["redcap_event_name"]) for r in records} == {
        (r["record_id"], r["redcap_event_name"] or "no_timepoint_arm_1") for r in expected
    }
    as_csv = project.export_records(format_type="csv")
    assert list(csv.DictReader(io.StringIO(as_csv))) == records
    frame = project.export_records(format_type="df")
    assert list(frame.index.names) == ["record_id", "redcap_event_name"]
    assert len(frame) == len(expected)

    someone = next(r["record_id"] for r in records if r["redcap_event_name"] == "t0_arm_1")
    chosen = project.export_records(records=[someone], fields=["feel"], events=["t0_arm_1"])
    assert len(chosen) == 1
    assert (chosen[0]["record_id"], chosen[0]["redcap_event_name"]) == (someone, "t0_arm_1")
    assert set(chosen[0]) == {"record_id", "redcap_event_name", "feel"}
    by_form = project.export_records(forms=["planted"], raw_or_label="label")
    assert len(by_form) == len(expected)

    mapping = project.export_instrument_event_mappings()
    assert {"arm_num": 1, "unique_event_name": "t0_arm_1", "form": "planted"} in mapping
    assert project.export_field_names(field="supports")[0]["export_field_name"] == "supports___friends"
    assert str(project.export_version()) == "14.0.0"


def test_pycap_gets_redcaps_error_for_a_wrong_token_and_a_write(planted, project, live_server):
    wrong = Project(f"{live_server.url}/redcap/api/", "0" * 32)
    with pytest.raises(RedcapError, match="permissions"):
        wrong.export_records()
    with pytest.raises(RedcapError, match="read-only"):
        project.import_records([{"record_id": "x", "redcap_event_name": "t0_arm_1"}])
