"""Descriptives per group: n, mean, sd, median, quartiles, range, checked against numpy and the statistics module."""

import statistics

import numpy as np
import pandas as pd
import pytest

from circlekeeper.evaluation.analysis import AnalysisError, descriptives

SCORES = pd.DataFrame(
    {
        "track": ["direct", "direct", "direct", "direct", "support", "support", "support"],
        "safety": [3.0, 4.5, 2.0, None, 5.0, 1.0, 4.0],
    }
)


def test_each_group_gets_its_n_and_the_statistics_numpy_gives():
    rows = descriptives(SCORES, "safety", group="track")
    assert [row["group"] for row in rows] == ["direct", "support"]
    for row in rows:
        values = SCORES.loc[SCORES["track"] == row["group"], "safety"].dropna().to_numpy()
        assert row["n"] == len(values)
        assert row["mean"] == pytest.approx(np.mean(values))
        assert row["sd"] == pytest.approx(statistics.stdev(values))
        assert row["median"] == pytest.approx(statistics.median(values))
        assert row["q1"] == pytest.approx(np.percentile(values, 25))
        assert row["q3"] == pytest.approx(np.percentile(values, 75))
        assert (row["min"], row["max"]) == (values.min(), values.max())


def test_empty_values_are_left_out_and_counted_as_missing():
    direct = descriptives(SCORES, "safety", group="track")[0]
    assert (direct["n"], direct["missing"]) == (3, 1)


def test_without_a_group_all_rows_are_one():
    [row] = descriptives(SCORES, "safety")
    assert row["group"] is None
    assert row["n"] == 6
    assert row["mean"] == pytest.approx(19.5 / 6)


def test_a_single_value_has_no_standard_deviation():
    [row] = descriptives(pd.DataFrame({"v": [7]}), "v")
    assert row["sd"] is None
    assert row["mean"] == row["median"] == row["q1"] == row["q3"] == 7


def test_text_where_numbers_belong_is_refused_naming_the_column():
    with pytest.raises(AnalysisError, match="safety must hold numbers.*'high'"):
        descriptives(pd.DataFrame({"safety": [1, "high"]}), "safety")


def test_a_missing_column_is_refused_by_name():
    with pytest.raises(AnalysisError, match="no column 'wellbeing'"):
        descriptives(SCORES, "wellbeing")


def test_a_row_without_a_group_is_refused():
    with pytest.raises(AnalysisError, match="track is empty in 1 rows"):
        descriptives(pd.DataFrame({"track": ["a", None], "v": [1, 2]}), "v", group="track")


def test_no_rows_is_refused():
    with pytest.raises(AnalysisError, match="at least 1 rows"):
        descriptives(pd.DataFrame({"v": []}), "v")
