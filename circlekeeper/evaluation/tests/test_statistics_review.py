"""Issue 21, finding 5 and 6: the statistics a methodologist expects, each against a reference written here.

The references are computed in this file from their textbook definitions (the log-rank statistic, Wilson's
interval, the NB2 and Breslow likelihoods, the sandwich variance) with numpy and scipy, or by statsmodels
fitted directly, never by calling the code under test.
"""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import optimize, special, stats

from circlekeeper.evaluation import analysis, dashboard_compute, report
from circlekeeper.evaluation.outcome_file import OutcomeFileRejected, read_outcomes

Z = stats.norm.ppf(0.975)


# --- survival: edge cases, the log-rank p, the median, Cox ---------------------------------------------------


def test_survival_without_any_event_gives_the_curves_and_says_why_there_is_no_log_rank_test():
    frame = pd.DataFrame({"arm": ["a", "a", "b", "b"], "day": [10, 20, 30, 40], "event": [0, 0, 0, 0]})
    result = analysis.survival(frame, "arm", "day", "event", at=[15])
    assert [g["survival_at"] for g in result["groups"]] == [{15: 1.0}, {15: 1.0}]
    assert result["logrank_p"] is None
    assert (
        result["logrank_note"] == "No one had an event, so there is nothing for the log-rank test to compare."
    )


def test_every_event_on_one_day_gives_a_clear_note_rather_than_a_singular_matrix():
    frame = pd.DataFrame({"arm": ["a", "a", "b", "b"], "day": [5, 5, 5, 5], "event": [1, 1, 1, 1]})
    result = analysis.survival(frame, "arm", "day", "event", at=[5])
    assert result["logrank_p"] is None and result["logrank_chisq"] is None
    assert "variance is singular" in str(result["logrank_note"])
    assert [g["median_days"] for g in result["groups"]] == [5.0, 5.0]


def test_the_survival_report_without_events_is_a_report_not_an_error():
    frame = pd.DataFrame(
        {
            "organization": ["harbor"] * 24,
            "group": ["bip"] * 12 + ["circles"] * 12,
            "person_days": [365.0] * 24,
            "events": [0] * 24,
            "first_event_day": [None] * 24,
        }
    )
    made = report.survival_report(frame, threshold=11)
    assert made["logrank_p"] is None
    assert made["logrank_withheld"].startswith("No one had an event")
    assert made["cox"] is None
    assert made["cox_withheld"] == "No one had an event, so no hazard ratio can be estimated."


def test_a_numerical_failure_in_one_section_leaves_the_rest_of_the_page():
    def failing():
        raise np.linalg.LinAlgError("Singular matrix")

    section = dashboard_compute._report_section("survival", failing)
    assert section["report"] is None
    assert "could not be computed from these data" in section["refused"]


def log_rank_by_hand(times, events, groups):
    """The two-group log-rank statistic: (O1 - E1)² / V1 over the distinct event times."""
    times, events, groups = map(np.asarray, (times, events, groups))
    observed = expected = variance = 0.0
    for day in np.unique(times[events == 1]):
        at_risk = times >= day
        n, n1 = at_risk.sum(), (at_risk & (groups == 0)).sum()
        d = ((times == day) & (events == 1)).sum()
        d1 = ((times == day) & (events == 1) & (groups == 0)).sum()
        observed += d1
        expected += d * n1 / n
        if n > 1:
            variance += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return (observed - expected) ** 2 / variance


def test_the_log_rank_p_is_the_upper_tail_so_a_large_chi_squared_is_not_printed_as_zero():
    # 60 people with events on days 1..60 against 60 followed to day 200 with 3 events late: χ² near 100.
    times = list(range(1, 61)) + [150, 160, 170] + [200] * 57
    events = [1] * 60 + [1, 1, 1] + [0] * 57
    arm = ["early"] * 60 + ["late"] * 60
    frame = pd.DataFrame({"arm": arm, "day": times, "event": events})
    result = analysis.survival(frame, "arm", "day", "event")
    chisq = log_rank_by_hand(times, events, [0] * 60 + [1] * 60)
    assert chisq > 80
    assert result["logrank_chisq"] == pytest.approx(chisq, rel=1e-9)
    assert result["logrank_df"] == 1
    assert result["logrank_p"] is not None and result["logrank_p"] > 0
    assert result["logrank_p"] == pytest.approx(stats.chi2.sf(chisq, 1), rel=1e-6)


def test_the_median_of_a_curve_that_sits_exactly_at_one_half_is_the_day_it_gets_there():
    # S steps to 0.75, 0.5, 0.25, 0: the first day with S <= 0.5 is 120 (lifelines gives 120).
    frame = pd.DataFrame({"arm": ["a"] * 4, "day": [60, 120, 180, 240], "event": [1, 1, 1, 1]})
    [group] = analysis.survival(frame, "arm", "day", "event")["groups"]
    assert group["median_days"] == 120.0


def breslow_fit(times, events, design):
    """The Cox model by maximizing Breslow's partial likelihood with scipy."""
    times, events, design = np.asarray(times, float), np.asarray(events, bool), np.asarray(design, float)

    def negative_log_likelihood(beta):
        eta = design @ beta
        total = 0.0
        for day in np.unique(times[events]):
            dying = (times == day) & events
            risk = times >= day
            total += eta[dying].sum() - dying.sum() * special.logsumexp(eta[risk])
        return -total

    found = optimize.minimize(
        negative_log_likelihood, np.zeros(design.shape[1]), method="BFGS", options={"gtol": 1e-10}
    )
    return found.x


def test_the_cox_hazard_ratios_equal_breslow_s_partial_likelihood_maximized_here():
    rng = np.random.default_rng(21)
    n = 80
    arm = np.repeat(["bip", "circles"], n // 2)
    organization = np.tile(["harbor", "valley"], n // 2)
    hazard = 0.01 * np.where(arm == "circles", 0.5, 1.0) * np.where(organization == "valley", 1.6, 1.0)
    event_day = np.ceil(rng.exponential(1 / hazard))
    follow = rng.integers(100, 300, n)
    event = event_day <= follow
    day = np.where(event, event_day, follow)
    frame = pd.DataFrame({"arm": arm, "organization": organization, "day": day, "event": event})
    result = analysis.cox(frame, "arm", "day", "event", covariates=["organization"])
    design = np.column_stack([(arm == "circles").astype(float), (organization == "valley").astype(float)])
    beta = breslow_fit(day, event, design)
    [ratio] = result["hazard_ratios"]
    assert (ratio["group"], ratio["reference"]) == ("circles", "bip")
    assert result["covariates"] == ["organization"]
    assert ratio["hr"] == pytest.approx(math.exp(beta[0]), rel=1e-6)
    assert ratio["ci_low"] < ratio["hr"] < ratio["ci_high"]
    assert (result["n"], result["events"]) == (n, int(event.sum()))


def test_the_survival_report_gives_the_cox_model_adjusted_for_the_organization_in_a_pool():
    rng = np.random.default_rng(5)
    n = 60
    frame = pd.DataFrame(
        {
            "organization": np.tile(["harbor", "valley"], n // 2),
            "group": np.repeat(["bip", "circles"], n // 2),
            "person_days": 365.0,
            "events": rng.integers(0, 2, n),
        }
    )
    frame["first_event_day"] = np.where(frame["events"] > 0, rng.integers(1, 365, n), np.nan)
    made = report.survival_report(frame, threshold=11)
    assert made["cox"]["covariates"] == ["organization"]
    days = frame["first_event_day"].where(frame["events"] > 0, frame["person_days"])
    design = np.column_stack(
        [(frame["group"] == "circles").astype(float), (frame["organization"] == "valley").astype(float)]
    )
    beta = breslow_fit(days, frame["events"] > 0, design)
    assert made["cox"]["hazard_ratios"][0]["hr"] == pytest.approx(math.exp(beta[0]), rel=1e-6)


# --- proportions: Wilson intervals, and a 0/1 score published as counts ---------------------------------------


def wilson_by_hand(successes, n):
    p = successes / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


@pytest.mark.parametrize("successes", [0, 2, 12, 25])
def test_the_interval_of_a_0_1_score_is_wilson_s_never_below_0_nor_a_point(successes):
    values = pd.Series([1.0] * successes + [0.0] * (25 - successes))
    described = report.describe_values(values)
    low, high = wilson_by_hand(successes, 25)
    assert described["ci_low"] == pytest.approx(low, abs=1e-9)
    assert described["ci_high"] == pytest.approx(high, abs=1e-9)
    assert 0 <= described["ci_low"] < described["ci_high"] <= 1


def score_frame(values_by_timepoint):
    rows = []
    for timepoint, values in values_by_timepoint.items():
        for number, value in enumerate(values):
            rows.append(
                {
                    "participant": f"p{number}",
                    "organization": "harbor",
                    "track": "direct",
                    "role": "survivor",
                    "instrument": "outcome_recurrence",
                    "timepoint": timepoint,
                    "month": "2026-01",
                    "score": "any_recurrence",
                    "value": value,
                }
            )
    return pd.DataFrame(rows)


def test_a_0_1_score_with_few_ones_publishes_suppressed_counts_not_a_mean_that_gives_them_back():
    # Network T5 of the finding: n = 39 with 2 who said yes; mean 0.0513 times 39 would give 2.
    frame = score_frame({"T0": [1.0] * 2 + [0.0] * 37})
    [row] = report.descriptives_report(
        frame, instrument="outcome_recurrence", score="any_recurrence", threshold=11
    )["rows"]
    assert row["n"] == 39
    assert (row["positive"], row["negative"]) == ("<11", "*")
    assert row["mean"] is None and row["ci_low"] is None and row["max"] is None
    assert "answered 1" in row["withheld"]


def test_a_0_1_score_with_enough_of_each_shows_its_counts_and_wilson_interval():
    frame = score_frame({"T0": [1.0] * 12 + [0.0] * 18})
    [row] = report.descriptives_report(
        frame, instrument="outcome_recurrence", score="any_recurrence", threshold=11
    )["rows"]
    assert (row["positive"], row["negative"], row["withheld"]) == (12, 18, None)
    assert row["mean"] == pytest.approx(0.4)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson_by_hand(12, 30))


# --- missingness: answered, scored, pairs ---------------------------------------------------------------------


def test_people_who_answered_without_a_score_are_counted_not_dropped():
    # 40 answered at T0, 12 of them without a score (too few items): n 28, missing 12, answered 40.
    frame = score_frame({"T0": [2.0, 3.0] * 14 + [math.nan] * 12})
    frame["score"] = "felt_safety"
    [row] = report.descriptives_report(frame, instrument="outcome_recurrence", score="felt_safety")["rows"]
    assert (row["n"], row["missing"], row["answered"]) == (28, 12, 40)
    assert row["mean"] == pytest.approx(2.5)


def test_a_small_number_without_a_score_is_suppressed_and_the_total_answered_not_given():
    frame = score_frame({"T0": [2.0, 3.0] * 13 + [math.nan] * 2})
    frame["score"] = "felt_safety"
    [row] = report.descriptives_report(frame, instrument="outcome_recurrence", score="felt_safety")["rows"]
    assert (row["n"], row["missing"], row["answered"]) == (26, "<11", None)


def test_pre_post_says_how_many_had_each_timepoint_beside_the_pairs_and_the_ci_of_the_mean_change():
    before = [float(v) for v in range(28)]
    after = [v + 1.0 + (i % 3) for i, v in enumerate(before[:19])]
    frame = score_frame({"T0": before, "T3": after})
    frame["score"] = "felt_safety"
    made = report.prepost_report(
        frame, instrument="outcome_recurrence", score="felt_safety", before="T0", after="T3"
    )
    assert (made["n_before"], made["n_after"], made["n"]) == (28, 19, 19)
    change = np.array(after) - np.array(before[:19])
    half = stats.t.ppf(0.975, 18) * change.std(ddof=1) / math.sqrt(19)
    assert made["mean_change_ci_low"] == pytest.approx(change.mean() - half, rel=1e-9)
    assert made["mean_change_ci_high"] == pytest.approx(change.mean() + half, rel=1e-9)


# --- rate ratios: NB2 to convergence, robust errors, the organization as covariate -----------------------------


def overdispersed(seed=222, per_group=60):
    rng = np.random.default_rng(seed)
    arm = np.repeat(["bip", "circles", "pilot"], per_group)
    days = rng.integers(200, 731, 3 * per_group)
    rate = days / 365 * np.select([arm == "bip", arm == "circles"], [1.0, 0.5], 0.8)
    counts = rng.poisson(rate * rng.gamma(0.7, 1 / 0.7, 3 * per_group))
    return pd.DataFrame({"arm": arm, "arrests": counts, "days": days})


def nb2_by_hand(frame):
    """The NB2 maximum likelihood: log L = Σ lnΓ(y + 1/α) - lnΓ(1/α) - lnΓ(y + 1) + y ln(αμ) - (y + 1/α) ln(1 + αμ),
    maximized over (β, ln α) by scipy's BFGS to a gradient of 1e-10."""
    y = frame["arrests"].to_numpy(float)
    design = np.column_stack(
        [np.ones(len(frame)), frame["arm"] == "circles", frame["arm"] == "pilot"]
    ).astype(float)
    offset = np.log(frame["days"].to_numpy(float))

    def negative(theta):
        beta, alpha = theta[:-1], math.exp(theta[-1])
        mu = np.exp(design @ beta + offset)
        size = 1 / alpha
        return -np.sum(
            special.gammaln(y + size)
            - special.gammaln(size)
            - special.gammaln(y + 1)
            + y * np.log(alpha * mu)
            - (y + size) * np.log1p(alpha * mu)
        )

    start = np.array([math.log(y.sum() / np.exp(offset).sum()), 0.0, 0.0, 0.0])
    found = optimize.minimize(negative, start, method="BFGS", options={"gtol": 1e-10, "maxiter": 10000})
    return found.x[:-1], math.exp(found.x[-1])


def test_the_negative_binomial_is_the_converged_nb2_maximum_likelihood_with_its_alpha():
    frame = overdispersed()
    result = analysis.irr(frame, "arm", "arrests", "days", model="negbin")
    beta, alpha = nb2_by_hand(frame)
    assert result["alpha"] == pytest.approx(alpha, rel=1e-6)
    assert [c["irr"] for c in result["comparisons"]] == pytest.approx(np.exp(beta[1:]), rel=1e-6)
    direct = sm.NegativeBinomial(
        frame["arrests"],
        sm.add_constant(pd.get_dummies(frame["arm"], drop_first=True).astype(float)),
        loglike_method="nb2",
        offset=np.log(frame["days"]),
    ).fit(method="newton", maxiter=200, disp=0, tol=1e-14)
    assert result["alpha"] == pytest.approx(direct.params["alpha"], rel=1e-6)
    assert result["model_reason"] == "chosen"


def test_the_poisson_interval_uses_the_sandwich_variance_by_default():
    frame = overdispersed(seed=7)
    result = analysis.irr(frame, "arm", "arrests", "days", model="poisson")
    design = np.column_stack(
        [np.ones(len(frame)), frame["arm"] == "circles", frame["arm"] == "pilot"]
    ).astype(float)
    y = frame["arrests"].to_numpy(float)
    offset = np.log(frame["days"].to_numpy(float))
    fit = sm.GLM(y, design, family=sm.families.Poisson(), offset=offset).fit()
    mu = fit.mu
    bread = np.linalg.inv(design.T @ (design * mu[:, None]))
    meat = design.T @ (design * ((y - mu) ** 2)[:, None])
    se = np.sqrt(np.diag(bread @ meat @ bread))
    assert result["se"] == "robust"
    for index, comparison in enumerate(result["comparisons"], start=1):
        assert comparison["ci_low"] == pytest.approx(math.exp(fit.params[index] - Z * se[index]), rel=1e-6)
        assert comparison["ci_high"] == pytest.approx(math.exp(fit.params[index] + Z * se[index]), rel=1e-6)


def test_auto_says_which_model_and_why():
    frame = overdispersed()
    result = analysis.irr(frame, "arm", "arrests", "days", model="auto")
    assert (result["model"], result["model_reason"]) == ("negbin", "overdispersed")
    assert result["dispersion"] is not None and result["dispersion"] > analysis.OVERDISPERSION_LIMIT


def confounded_pool(seed=6):
    """Two organizations: Valley gives circles to most and has a low base rate; Harbor the reverse."""
    rng = np.random.default_rng(seed)
    rows = []
    for organization, share, base in (("harbor", 0.2, 2.0), ("valley", 0.8, 0.5)):
        for _person in range(150):
            circles = rng.random() < share
            days = int(rng.integers(300, 731))
            mean = base * days / 365 * (0.46 if circles else 1.0)
            rows.append(
                {
                    "organization": organization,
                    "group": "circles" if circles else "bip",
                    "person_days": float(days),
                    "events": int(rng.poisson(mean)),
                    "first_event_day": None,
                }
            )
    return pd.DataFrame(rows)


def test_a_pooled_rate_ratio_is_adjusted_for_the_organization_with_the_unadjusted_beside_it():
    frame = confounded_pool()
    made = report.irr_report(frame, model="poisson", threshold=11)
    assert made["adjusted_for"] == ["organization"]
    offset = np.log(frame["person_days"])
    adjusted = smf.glm(
        "events ~ C(group) + C(organization)", frame, family=sm.families.Poisson(), offset=offset
    ).fit(cov_type="HC0")
    crude = smf.glm("events ~ C(group)", frame, family=sm.families.Poisson(), offset=offset).fit(
        cov_type="HC0"
    )
    [comparison] = made["comparisons"]
    [unadjusted] = made["unadjusted"]
    name = "C(group)[T.circles]"
    assert comparison["irr"] == pytest.approx(math.exp(adjusted.params[name]), rel=1e-6)
    assert comparison["ci_low"] == pytest.approx(math.exp(adjusted.conf_int().loc[name, 0]), rel=1e-6)
    assert unadjusted["irr"] == pytest.approx(math.exp(crude.params[name]), rel=1e-6)
    # The confounding is real: the crude ratio is far below the true 0.46, the adjusted one covers it.
    assert unadjusted["irr"] < 0.35
    assert comparison["ci_low"] < 0.46 < comparison["ci_high"]


def test_a_single_organization_is_not_a_covariate():
    frame = confounded_pool()
    made = report.irr_report(frame[frame["organization"] == "harbor"], model="poisson", threshold=11)
    assert made["adjusted_for"] == [] and made["unadjusted"] == []


# --- importing outcomes: huge values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("C-1,circles,365,1e20", "row 2: events is 1e20, more than 100000 for one person; check the value."),
        ("C-1,circles,365,2147483648", "row 2: events is 2147483648, more than 100000"),
        ("C-1,circles,1e12,1", "row 2: person_days is 1e12, more than 36525 days"),
    ],
)
def test_huge_values_in_an_outcome_file_are_named_by_row_not_a_traceback(row, problem):
    content = f"participant_code,group,person_days,events\n{row}\n".encode()
    with pytest.raises(OutcomeFileRejected) as rejected:
        read_outcomes(content)
    assert any(problem in text for text in rejected.value.problems), rejected.value.problems
