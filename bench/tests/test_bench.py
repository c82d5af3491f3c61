"""The benchmark harness's pure pieces: the synthetic frames' shapes and the results file (fast, no database)."""

import datetime
import json

import numpy as np
import pytest

from bench import analyses, results
from bench.timing import best_of, ratio
from circlekeeper.evaluation import analysis
from circlekeeper.evaluation.dataset import FIDELITY_COLUMNS, SCORE_COLUMNS, TIMEPOINT_COLUMNS
from circlekeeper.evaluation.report import FRAME_COLUMNS


@pytest.fixture(scope="module")
def frames():
    return analyses.frames(responses=1000, participants=200)


def test_the_frames_have_the_columns_dataset_gives(frames):
    assert list(frames["scores"].columns) == SCORE_COLUMNS
    assert list(frames["timepoints"].columns) == TIMEPOINT_COLUMNS
    assert list(frames["fidelity"].columns) == FIDELITY_COLUMNS
    assert list(frames["outcomes"].columns) == FRAME_COLUMNS
    assert len(frames["scores"]) == len(frames["timepoints"]) == len(frames["fidelity"]) == 1000
    assert len(frames["outcomes"]) == len(frames["pairs"]) == 200


def test_each_participant_answers_each_timepoint_once(frames):
    scores = frames["scores"]
    assert scores["participant"].nunique() == 200
    assert not scores.duplicated(["participant", "timepoint"]).any()
    assert sorted(scores["timepoint"].unique()) == ["T0", "T1", "T2", "T3", "T4"]
    assert set(frames["timepoints"]["status"]) <= set(analysis.RETENTION_STATUSES)


def test_the_frames_are_the_same_for_the_same_seed(frames):
    again = analyses.frames(responses=1000, participants=200)
    assert again["scores"].equals(frames["scores"])
    assert again["outcomes"].equals(frames["outcomes"])


def test_only_people_with_events_have_a_first_event_day(frames):
    outcomes = frames["outcomes"]
    had = outcomes["events"] > 0
    assert outcomes.loc[had, "first_event_day"].notna().all()
    assert outcomes.loc[~had, "first_event_day"].isna().all()
    assert (outcomes.loc[had, "first_event_day"] < outcomes.loc[had, "person_days"]).all()


def test_each_analysis_and_its_direct_computation_agree(frames):
    done = {name: (ours(), direct()) for name, (ours, direct) in analyses.calls(frames).items()}
    ours, direct = done["descriptives"]
    assert [row["mean"] for row in ours] == pytest.approx(list(direct["mean"]))
    ours, direct = done["irr"]
    assert [c["irr"] for c in ours["comparisons"]] == pytest.approx(list(direct[1:, 0]))
    ours, direct = done["fidelity"]
    assert ours["share"] == pytest.approx(direct[0])
    ours, direct = done["retention"]
    assert [row["share"] for row in ours] == pytest.approx(list(direct["share"]))


def test_too_few_responses_is_refused():
    with pytest.raises(ValueError):
        analyses.frames(responses=10, participants=20)


def test_a_figure_says_whether_the_targets_are_met():
    fast = analyses.figure("irr", 10, ours=0.3, direct=0.25)
    assert (fast["ratio"], fast["meets_seconds"], fast["meets_ratio"]) == (1.2, True, True)
    slow = analyses.figure("irr", 10, ours=2.5, direct=1.0)
    assert (slow["meets_seconds"], slow["meets_ratio"]) == (False, False)
    assert ratio(1.0, 0.0) is None
    assert best_of(lambda: None, repeat=2) >= 0


def test_the_results_file_has_machine_versions_and_every_figure(tmp_path):
    when = datetime.datetime(2026, 3, 4, 12, tzinfo=datetime.UTC)
    measurements = {"analyses": {"analyses": [analyses.figure("fidelity", 5, 0.1, 0.1)]}}
    document = results.document(
        database="sqlite", scale=3000, measurements=measurements, database_version="3.45", when=when
    )
    path = results.write(document, tmp_path)
    assert path.name == "2026-03-04-sqlite.json"
    written = json.loads(path.read_text())
    assert set(results.REQUIRED_KEYS) <= set(written)
    assert written["machine"]["cpu_count"] >= 1
    assert {"python", "django", "database"} <= set(written["versions"])
    assert written["versions"]["database"] == "3.45"
    assert written["measurements"] == measurements
    assert results.earlier_measurements("sqlite", tmp_path, day="2026-03-04") == measurements
    assert results.earlier_measurements("postgresql", tmp_path, day="2026-03-04") == {}


def test_a_results_document_without_its_machine_is_refused(tmp_path):
    with pytest.raises(ValueError, match="machine"):
        results.write({"date": "2026-03-04", "database": "sqlite", "measurements": {}}, tmp_path)


def test_the_table_shows_missed_targets_plainly():
    text = results.table([{"a": 1.23456, "ok": False, "none": None}], ["a", "ok", "none"])
    assert text.splitlines()[-1].split() == ["1.235", "NO", "-"]
    assert np.isfinite(1.0)
