"""Fidelity: the share of gates and meetings whose safety checks were done on time, with its n."""

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from circlekeeper.evaluation.analysis import AnalysisError, fidelity


def test_the_share_on_time_comes_with_its_n_and_a_wilson_interval():
    result = fidelity(pd.DataFrame({"checked": [True, True, False, True, True]}), "checked")
    assert (result["n"], result["on_time"], result["share"]) == (5, 4, 0.8)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx(proportion_confint(4, 5, method="wilson"))


def test_ones_and_zeros_count_as_true_and_false():
    assert fidelity(pd.DataFrame({"checked": [1, 0, 0, 1]}), "checked")["on_time"] == 2


def test_a_missing_or_unclear_value_is_refused():
    with pytest.raises(AnalysisError, match="checked is empty in 1 rows"):
        fidelity(pd.DataFrame({"checked": [True, None]}), "checked")
    with pytest.raises(AnalysisError, match="checked must be true or false"):
        fidelity(pd.DataFrame({"checked": ["yes", "no"]}), "checked")
