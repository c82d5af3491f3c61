"""Incidence rate ratios: equal to a direct statsmodels fit; a known ratio comes back inside its CI."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from circlekeeper.evaluation.analysis import AnalysisError, irr

# Re-arrests over follow-up, three groups; fixed data.
RATES = pd.DataFrame(
    {
        "arm": ["bip"] * 6 + ["circles"] * 6 + ["pilot"] * 5,
        "arrests": [2, 0, 1, 3, 1, 2, 0, 1, 0, 1, 0, 0, 1, 0, 2, 0, 1],
        "days": [365, 300, 400, 365, 200, 365, 365, 365, 250, 400, 300, 365, 180, 365, 365, 120, 300],
    }
)

# Overdispersed counts (a gamma-distributed rate per person), three groups; fixed by the seed.
_rng = np.random.default_rng(222)
_arm = np.repeat(["bip", "circles", "pilot"], 60)
_days = _rng.integers(200, 731, 180)
OVERDISPERSED = pd.DataFrame(
    {
        "arm": _arm,
        "arrests": _rng.poisson(
            _days
            / 365
            * np.select([_arm == "bip", _arm == "circles"], [1.0, 0.5], 0.8)
            * _rng.gamma(0.7, 1 / 0.7, 180)
        ),
        "days": _days,
    }
)
DATA = {"poisson": RATES, "negbin": OVERDISPERSED}


def direct_fit(frame, family, reference="bip", robust=True):
    """The model fitted directly; robust: the sandwich (HC0) standard errors, the irr default. The negative
    binomial is taken to convergence (Newton from statsmodels' BFGS start)."""
    covariance = {"cov_type": "HC0"} if robust else {}
    formula = f"arrests ~ C(arm, Treatment('{reference}'))"
    if family == "poisson":
        return smf.glm(formula, frame, family=sm.families.Poisson(), offset=np.log(frame["days"])).fit(
            **covariance
        )
    model = smf.negativebinomial(formula, frame, loglike_method="nb2", offset=np.log(frame["days"]))
    start = model.fit(disp=0)
    return model.fit(start_params=start.params, method="newton", maxiter=100, disp=0, **covariance)


def term(arm, reference="bip"):
    return f"C(arm, Treatment('{reference}'))[T.{arm}]"


@pytest.mark.parametrize("robust", [True, False])
@pytest.mark.parametrize("model", ["poisson", "negbin"])
def test_each_ratio_and_its_interval_equal_a_direct_statsmodels_fit(model, robust):
    result = irr(DATA[model], "arm", "arrests", "days", reference="bip", model=model, robust=robust)
    assert result["se"] == ("robust" if robust else "model")
    fit = direct_fit(DATA[model], model, robust=robust)
    limits = fit.conf_int()
    assert [c["group"] for c in result["comparisons"]] == ["circles", "pilot"]
    for comparison in result["comparisons"]:
        name = term(comparison["group"])
        assert comparison["reference"] == "bip"
        assert comparison["model"] == model
        assert comparison["irr"] == pytest.approx(math.exp(fit.params[name]), rel=1e-6)
        assert comparison["ci_low"] == pytest.approx(math.exp(limits.loc[name, 0]), rel=1e-6)
        assert comparison["ci_high"] == pytest.approx(math.exp(limits.loc[name, 1]), rel=1e-6)
        assert comparison["p_value"] == pytest.approx(fit.pvalues[name], rel=1e-5)
        assert comparison["percent_reduction"] == pytest.approx(100 * (1 - comparison["irr"]))


def test_a_poisson_ratio_between_two_groups_is_the_ratio_of_their_rates():
    two = RATES[RATES["arm"] != "pilot"]
    [comparison] = irr(two, "arm", "arrests", "days", model="poisson")["comparisons"]
    bip, circles = two[two["arm"] == "bip"], two[two["arm"] == "circles"]
    by_hand = (circles["arrests"].sum() / circles["days"].sum()) / (bip["arrests"].sum() / bip["days"].sum())
    assert comparison["irr"] == pytest.approx(by_hand)


def test_each_comparison_carries_the_n_events_and_person_time_of_both_groups():
    [circles, _pilot] = irr(RATES, "arm", "arrests", "days")["comparisons"]
    assert (circles["n"], circles["events"], circles["person_days"]) == (6, 2, 2045.0)
    assert (circles["reference_n"], circles["reference_events"], circles["reference_person_days"]) == (
        6,
        9,
        1995.0,
    )


def test_the_reference_is_the_first_group_unless_named():
    assert irr(RATES, "arm", "arrests", "days")["comparisons"][0]["reference"] == "bip"
    named = irr(RATES, "arm", "arrests", "days", reference="circles")
    assert [(c["group"], c["reference"]) for c in named["comparisons"]] == [
        ("bip", "circles"),
        ("pilot", "circles"),
    ]
    fit = direct_fit(RATES, "poisson", reference="circles")
    assert named["comparisons"][0]["irr"] == pytest.approx(math.exp(fit.params[term("bip", "circles")]))


def test_auto_keeps_poisson_when_the_counts_are_not_overdispersed():
    result = irr(RATES, "arm", "arrests", "days", model="auto")
    fit = direct_fit(RATES, "poisson")
    assert result["dispersion"] == pytest.approx(fit.pearson_chi2 / fit.df_resid)
    assert result["dispersion"] is not None and result["dispersion"] <= 1.5
    assert result["model"] == "poisson"


def test_auto_moves_to_the_negative_binomial_when_the_counts_are_overdispersed():
    rng = np.random.default_rng(4)
    days = rng.integers(200, 700, 200)
    rate = np.where(np.arange(200) < 100, 1.0, 0.5) * days / 365 * rng.gamma(0.5, 2.0, 200)
    frame = pd.DataFrame(
        {"arm": np.where(np.arange(200) < 100, "bip", "circles"), "arrests": rng.poisson(rate), "days": days}
    )
    result = irr(frame, "arm", "arrests", "days", model="auto")
    assert result["dispersion"] is not None and result["dispersion"] > 1.5
    assert result["model"] == "negbin" == result["comparisons"][0]["model"]
    assert result["comparisons"][0]["irr"] == pytest.approx(
        irr(frame, "arm", "arrests", "days", model="negbin")["comparisons"][0]["irr"]
    )


def simulated_trial(seed, ratio=0.47, per_group=111, negative_binomial=False):
    """A trial like the Utah Circles of Peace one (n = 222): new arrests over 1-2 years of follow-up."""
    rng = np.random.default_rng(seed)
    arm = np.repeat(["bip", "circles"], per_group)
    days = rng.integers(365, 731, 2 * per_group)
    mean = 0.9 * days / 365 * np.where(arm == "circles", ratio, 1.0)
    if negative_binomial:
        mean = mean * rng.gamma(2.0, 0.5, 2 * per_group)
    return pd.DataFrame({"arm": arm, "arrests": rng.poisson(mean), "days": days})


@pytest.mark.parametrize("model", ["poisson", "negbin", "auto"])
def test_a_simulated_trial_with_the_utah_rate_ratio_gives_it_back_inside_the_95_percent_interval(model):
    frame = simulated_trial(seed=2019, negative_binomial=model != "poisson")
    [comparison] = irr(frame, "arm", "arrests", "days", model=model)["comparisons"]
    assert comparison["ci_low"] < 0.47 < comparison["ci_high"]
    assert comparison["n"] + comparison["reference_n"] == 222


def test_over_many_simulated_trials_the_interval_covers_the_true_ratio_about_95_times_in_100():
    covered = 0
    for seed in range(200):
        [comparison] = irr(simulated_trial(seed), "arm", "arrests", "days")["comparisons"]
        covered += comparison["ci_low"] < 0.47 < comparison["ci_high"]
    # Binomial(200, 0.95): 181..199 holds with probability above 0.999.
    assert 181 <= covered <= 199


def test_a_group_with_no_events_is_refused_by_name():
    frame = RATES.assign(arrests=np.where(RATES["arm"] == "pilot", 0, RATES["arrests"]))
    with pytest.raises(AnalysisError, match="Group 'pilot' has no events"):
        irr(frame, "arm", "arrests", "days")


def test_rows_without_follow_up_time_are_refused():
    with pytest.raises(AnalysisError, match="days is 0 or less in 1 rows"):
        irr(RATES.assign(days=[0, *RATES["days"][1:]]), "arm", "arrests", "days")


def test_counts_that_are_not_whole_numbers_are_refused():
    with pytest.raises(AnalysisError, match="arrests must be a whole number of 0 or more"):
        irr(RATES.assign(arrests=[1.5, *RATES["arrests"][1:]]), "arm", "arrests", "days")
    with pytest.raises(AnalysisError, match="arrests must be a whole number of 0 or more"):
        irr(RATES.assign(arrests=[-1, *RATES["arrests"][1:]]), "arm", "arrests", "days")


def test_a_single_group_an_unknown_reference_or_model_is_refused():
    with pytest.raises(AnalysisError, match="at least two groups"):
        irr(RATES[RATES["arm"] == "bip"], "arm", "arrests", "days")
    with pytest.raises(AnalysisError, match="reference group 'court' is not in the data"):
        irr(RATES, "arm", "arrests", "days", reference="court")
    with pytest.raises(AnalysisError, match="poisson, negbin or auto"):
        irr(RATES, "arm", "arrests", "days", model="logistic")  # type: ignore[arg-type]


def test_a_negative_binomial_that_cannot_be_fitted_is_refused_rather_than_given_without_intervals():
    # These counts vary less than a Poisson model allows: the dispersion parameter runs to zero.
    with pytest.raises(
        AnalysisError, match="negative binomial model cannot be fitted.*use the Poisson model"
    ):
        irr(RATES, "arm", "arrests", "days", model="negbin")
