"""Pre/post change on paired scores: paired t and Wilcoxon equal scipy's, d_z by hand, its CI by the noncentral t."""

import math
import statistics

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from circlekeeper.evaluation.analysis import AnalysisError, prepost

PAIRS = pd.DataFrame(
    {
        "t0": [2.0, 3.0, 1.5, 4.0, 2.5, 3.5, 2.0, None, 3.0, 1.0, 2.0],
        "t3": [3.5, 3.0, 3.0, 4.5, 4.0, 3.0, 3.5, 4.0, None, 2.5, 3.5],
    }
)
COMPLETE = PAIRS.dropna()


def test_incomplete_pairs_are_left_out_of_n():
    assert prepost(PAIRS, "t0", "t3")["n"] == 9


def test_the_keys_are_exactly_those_of_the_report():
    assert list(prepost(PAIRS, "t0", "t3")) == [
        "n",
        "mean_change",
        "mean_change_ci_low",
        "mean_change_ci_high",
        "t",
        "p_t",
        "p_wilcoxon",
        "d_z",
        "d_z_ci_low",
        "d_z_ci_high",
    ]


def test_the_paired_t_test_and_the_wilcoxon_test_equal_scipys():
    result = prepost(PAIRS, "t0", "t3")
    t = stats.ttest_rel(COMPLETE["t3"], COMPLETE["t0"])
    w = stats.wilcoxon(COMPLETE["t3"], COMPLETE["t0"])
    assert result["t"] == pytest.approx(t.statistic, rel=1e-12)
    assert result["p_t"] == pytest.approx(t.pvalue, rel=1e-12)
    assert result["p_wilcoxon"] == pytest.approx(w.pvalue, rel=1e-12)


def test_mean_change_and_d_z_are_worked_out_by_hand():
    differences = [after - before for before, after in zip(COMPLETE["t0"], COMPLETE["t3"], strict=True)]
    result = prepost(PAIRS, "t0", "t3")
    mean = sum(differences) / len(differences)
    assert result["mean_change"] == pytest.approx(mean)
    assert result["d_z"] == pytest.approx(mean / statistics.stdev(differences))
    # t of the paired test is d_z·√n: the same numbers seen twice.
    assert result["t"] == pytest.approx(result["d_z"] * math.sqrt(result["n"]))


def test_the_interval_of_d_z_is_where_the_noncentral_t_puts_the_observed_t_at_2_5_and_97_5_percent():
    result = prepost(PAIRS, "t0", "t3")
    n = result["n"]
    root = math.sqrt(n)
    assert stats.nct.cdf(result["t"], n - 1, result["d_z_ci_low"] * root) == pytest.approx(0.975, abs=1e-8)
    assert stats.nct.cdf(result["t"], n - 1, result["d_z_ci_high"] * root) == pytest.approx(0.025, abs=1e-8)
    assert result["d_z_ci_low"] < result["d_z"] < result["d_z_ci_high"]


def test_in_a_large_sample_the_interval_agrees_with_the_normal_approximation():
    rng = np.random.default_rng(8)
    before = rng.normal(3, 1, 2000)
    frame = pd.DataFrame({"before": before, "after": before + rng.normal(0.3, 1, 2000)})
    result = prepost(frame, "before", "after")
    d, n = result["d_z"], result["n"]
    se = math.sqrt(1 / n + d**2 / (2 * n))
    assert result["d_z_ci_low"] == pytest.approx(d - 1.959964 * se, abs=2e-3)
    assert result["d_z_ci_high"] == pytest.approx(d + 1.959964 * se, abs=2e-3)


def test_a_decrease_gives_a_negative_change_and_interval():
    frame = pd.DataFrame({"before": [5, 6, 5, 7, 6, 5], "after": [3, 4, 4, 4, 5, 2]})
    result = prepost(frame, "before", "after")
    assert result["mean_change"] < 0 and result["d_z_ci_high"] < 0


def test_fewer_than_two_complete_pairs_is_refused():
    with pytest.raises(AnalysisError, match="at least 2 people with both scores; there are 1"):
        prepost(pd.DataFrame({"a": [1, None], "b": [2, 3]}), "a", "b")


def test_the_same_change_for_everyone_is_refused_in_words():
    with pytest.raises(AnalysisError, match="exactly the same amount"):
        prepost(pd.DataFrame({"a": [1, 2, 3], "b": [2, 3, 4]}), "a", "b")


def test_text_in_a_score_is_refused():
    with pytest.raises(AnalysisError, match="b must hold numbers"):
        prepost(pd.DataFrame({"a": [1, 2, 3], "b": [2, "n/a", 4]}), "a", "b")
