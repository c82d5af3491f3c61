"""Retention per timepoint: the share completed of those due, with counts checked against a pandas crosstab."""

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from circlekeeper.evaluation.analysis import AnalysisError, retention

TIMEPOINTS = pd.DataFrame(
    {
        "code": ["p1", "p2", "p3", "p4", "p1", "p2", "p3", "p4", "p1", "p2"],
        "timepoint": ["T0", "T0", "T0", "T0", "T3", "T3", "T3", "T3", "T4", "T4"],
        "status": [
            "completed",
            "completed",
            "completed",
            "missed",
            "completed",
            "missed",
            "pending",
            "missed",
            "pending",
            "pending",
        ],
    }
)


def test_each_timepoint_counts_due_completed_missed_and_pending_as_a_crosstab_does():
    table = pd.crosstab(TIMEPOINTS["timepoint"], TIMEPOINTS["status"])
    rows = retention(TIMEPOINTS, "code", "timepoint", "status")
    assert [row["timepoint"] for row in rows] == ["T0", "T3", "T4"]
    for row in rows:
        counts = table.loc[row["timepoint"]]
        assert row["n_completed"] == counts.get("completed", 0)
        assert row["n_missed"] == counts.get("missed", 0)
        assert row["n_pending"] == counts.get("pending", 0)
        assert row["n"] == row["n_due"] == row["n_completed"] + row["n_missed"]


def test_the_share_is_of_those_due_with_a_wilson_interval():
    t3 = retention(TIMEPOINTS, "code", "timepoint", "status")[1]
    assert t3["share"] == pytest.approx(1 / 3)
    low, high = proportion_confint(1, 3, method="wilson")
    assert (t3["ci_low"], t3["ci_high"]) == pytest.approx((low, high))


def test_a_timepoint_with_nothing_due_yet_has_no_share():
    t4 = retention(TIMEPOINTS, "code", "timepoint", "status")[2]
    assert (t4["n"], t4["n_pending"], t4["share"], t4["ci_low"]) == (0, 2, None, None)


def test_an_unknown_status_is_refused_naming_it():
    frame = TIMEPOINTS.assign(status=["done", *TIMEPOINTS["status"][1:]])
    with pytest.raises(AnalysisError, match="not completed, missed, pending: done"):
        retention(frame, "code", "timepoint", "status")


def test_a_person_twice_at_one_timepoint_is_refused():
    frame = pd.concat([TIMEPOINTS, TIMEPOINTS.iloc[[0]]])
    with pytest.raises(AnalysisError, match="'p1' appears more than once at timepoint 'T0'"):
        retention(frame, "code", "timepoint", "status")
