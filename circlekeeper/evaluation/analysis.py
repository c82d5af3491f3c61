"""The evaluation's analyses (EVALUATION.md, issue 8 item 5): pure functions over pandas DataFrames.

Nothing here touches the database. Each function checks its input and raises AnalysisError, in plain words,
for what it cannot use (a missing column, too few rows, text where numbers belong), rather than return a
number nobody should trust. The statistics come from scipy and statsmodels, never written by hand here;
each function's docstring names the method, and the tests check every result against the library.

Every result carries the n it is based on. Results are plain dicts (JSON-ready: floats, ints, None) so the
report command, dashboards and exports print the same numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Literal, NamedTuple, TypedDict

import numpy as np
import pandas as pd
import statsmodels.api as sm
from django.utils.translation import gettext as _
from scipy import optimize, stats
from statsmodels.discrete.discrete_model import NegativeBinomial
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.stats.proportion import proportion_confint

# "auto" moves from Poisson to the negative binomial when the Poisson fit's Pearson χ²/df is above this.
OVERDISPERSION_LIMIT = 1.5
DEFAULT_SURVIVAL_DAYS = (90, 180, 365)
# Retention: a completed timepoint counts as done, a missed one (its window closed) as not; a pending one
# (its window still open) is not due yet and counts for neither.
RETENTION_STATUSES = ("completed", "missed", "pending")

Model = Literal["poisson", "negbin", "auto"]


class AnalysisError(ValueError):
    """Input an analysis cannot use, said in plain words."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class Descriptive(TypedDict):
    group: Any
    n: int
    missing: int
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    min: float | None
    max: float | None


class PrePost(TypedDict):
    n: int
    mean_change: float
    mean_change_ci_low: float
    mean_change_ci_high: float
    t: float
    p_t: float
    p_wilcoxon: float
    d_z: float
    d_z_ci_low: float
    d_z_ci_high: float


class Comparison(TypedDict):
    group: str
    reference: str
    irr: float
    ci_low: float
    ci_high: float
    p_value: float
    percent_reduction: float
    model: str
    n: int
    person_days: float
    events: int
    reference_n: int
    reference_person_days: float
    reference_events: int


class RateRatios(TypedDict):
    n: int
    model: str
    model_reason: str
    dispersion: float | None
    alpha: float | None
    se: str
    covariates: list[str]
    comparisons: list[Comparison]


class SurvivalGroup(TypedDict):
    group: str
    n: int
    events: int
    median_days: float | None
    survival_at: dict[int, float | None]


class Survival(TypedDict):
    n: int
    events: int
    groups: list[SurvivalGroup]
    logrank_chisq: float | None
    logrank_df: int | None
    logrank_p: float | None
    logrank_note: str | None


class Retention(TypedDict):
    timepoint: str
    n: int
    n_due: int
    n_completed: int
    n_missed: int
    n_pending: int
    share: float | None
    ci_low: float | None
    ci_high: float | None


class Fidelity(TypedDict):
    n: int
    on_time: int
    share: float | None
    ci_low: float | None
    ci_high: float | None


# --- descriptives -------------------------------------------------------------------------------------------


def descriptives(df: pd.DataFrame, value: str, group: str | None = None) -> list[Descriptive]:
    """Per group (or for all rows): n, mean, sd, median, q1, q3, min and max of `value`.

    Empty values are left out and counted as `missing`. sd is the sample standard deviation (n - 1; None
    for a single value); quartiles are pandas' default, linear interpolation (Hyndman–Fan type 7, as numpy
    and R's default). Groups come out in sorted order.
    """
    _require_columns(df, [value, *([group] if group else [])])
    _require_rows(df, 1)
    values = _numeric(df, value)
    if group is None:
        parts: Iterable[tuple[Any, pd.Series]] = [(None, values)]
    else:
        labels = _labels(df, group)
        parts = ((key, values[labels.codes == number]) for number, key in enumerate(labels.levels))
    rows: list[Descriptive] = []
    for key, part in parts:
        present = part.dropna()
        n = int(present.size)
        rows.append(
            {
                "group": key,
                "n": n,
                "missing": int(part.size - n),
                "mean": _float(present.mean()) if n else None,
                "sd": _float(present.std(ddof=1)) if n > 1 else None,
                "median": _float(present.median()) if n else None,
                "q1": _float(present.quantile(0.25)) if n else None,
                "q3": _float(present.quantile(0.75)) if n else None,
                "min": _float(present.min()) if n else None,
                "max": _float(present.max()) if n else None,
            }
        )
    return rows


# --- pre/post change ----------------------------------------------------------------------------------------


def prepost(df: pd.DataFrame, before: str, after: str) -> PrePost:
    """Change from `before` to `after` on paired rows; rows missing either score are left out of n.

    mean_change is the mean of (after - before). t and p_t: paired t-test (scipy.stats.ttest_rel, two-sided).
    p_wilcoxon: Wilcoxon signed-rank test (scipy.stats.wilcoxon with its defaults: zero differences dropped,
    exact distribution for small samples without ties). d_z = mean difference / standard deviation of the
    differences (n - 1). mean_change_ci_low/high: the 95% t interval of the mean change (mean ± t(0.975, n - 1)
    · sd / √n), the paired t-test's own interval.

    The 95% CI of d_z is the noncentral-t interval (Steiger & Fouladi 1997; Cumming & Finch 2001): with
    t = d_z·√n on n - 1 degrees of freedom, the limits are the noncentrality parameters λ for which
    scipy.stats.nct.cdf(t, n - 1, λ) equals 0.975 (low) and 0.025 (high), divided by √n. It is exact for
    normally distributed differences, where the normal approximation se = √(1/n + d_z²/(2n)) is too narrow
    in the small samples a program has.
    """
    _require_columns(df, [before, after])
    pairs = pd.DataFrame({"before": _numeric(df, before), "after": _numeric(df, after)}).dropna()
    n = len(pairs)
    if n < 2:
        raise AnalysisError(
            _("A change needs at least 2 people with both scores; there are %(n)s.") % {"n": n}
        )
    difference = pairs["after"] - pairs["before"]
    spread = float(difference.std(ddof=1))
    if spread == 0:
        raise AnalysisError(
            _(
                "Every one of the %(n)s people changed by exactly the same amount, so the change has no "
                "spread and no test or effect size can be computed."
            )
            % {"n": n}
        )
    t_result = stats.ttest_rel(pairs["after"], pairs["before"])
    try:
        w_result = stats.wilcoxon(pairs["after"], pairs["before"])
    except ValueError as exc:
        raise AnalysisError(_("The Wilcoxon test cannot be computed: %(error)s") % {"error": exc}) from None
    mean_change = float(difference.mean())
    change_low, change_high = stats.t.interval(0.95, n - 1, loc=mean_change, scale=spread / math.sqrt(n))
    d_z = mean_change / spread
    low, high = _d_z_interval(d_z, n)
    return {
        "n": n,
        "mean_change": mean_change,
        "mean_change_ci_low": float(change_low),
        "mean_change_ci_high": float(change_high),
        "t": float(t_result.statistic),
        "p_t": float(t_result.pvalue),
        "p_wilcoxon": float(w_result.pvalue),
        "d_z": d_z,
        "d_z_ci_low": low,
        "d_z_ci_high": high,
    }


def _d_z_interval(d_z: float, n: int, level: float = 0.95) -> tuple[float, float]:
    t = d_z * math.sqrt(n)
    df = n - 1
    tail = (1 - level) / 2
    low = _noncentrality(t, df, 1 - tail) / math.sqrt(n)
    high = _noncentrality(t, df, tail) / math.sqrt(n)
    return low, high


def _noncentrality(t: float, df: int, probability: float) -> float:
    """The λ with nct.cdf(t, df, λ) = probability; the cdf falls as λ grows, so a bracket is found by widening."""

    def gap(ncp: float) -> float:
        return float(stats.nct.cdf(t, df, ncp)) - probability

    low, high, step = t - 1.0, t + 1.0, 1.0
    for _attempt in range(60):
        if gap(low) > 0 and gap(high) < 0:
            return float(optimize.brentq(gap, low, high, xtol=1e-10))
        step *= 2
        if gap(low) <= 0:
            low -= step
        if gap(high) >= 0:
            high += step
    raise AnalysisError(_("The confidence interval of the effect size could not be computed."))


# --- incidence rate ratios ----------------------------------------------------------------------------------


def irr(
    df: pd.DataFrame,
    group: str,
    events: str,
    person_days: str,
    reference: str | None = None,
    model: Model = "poisson",
    *,
    covariates: Sequence[str] = (),
    robust: bool = True,
) -> RateRatios:
    """Incidence rate ratios of each group against the reference group, with 95% CIs.

    One row per person (or per stratum): `events` counted over `person_days` of follow-up. The model is a
    regression of the counts on the group (treatment coding, the reference group as baseline) and on each of
    `covariates` (categorical, e.g. the organization in a pooled analysis: treatment coding, the first level in
    sorted order as baseline; a covariate with a single level is left out), with log(person_days) as offset:

    - "poisson": statsmodels GLM, Poisson family, log link.
    - "negbin": statsmodels' NegativeBinomial (NB2: variance μ + alpha·μ², alpha estimated by maximum
      likelihood), fitted to convergence: BFGS from statsmodels' start, then Newton–Raphson until the score is
      zero (BFGS alone stops with a gradient up to 1e-3). `alpha` is the estimate.
    - "auto": the Poisson fit first; when it is overdispersed — Pearson χ² / residual df above 1.5
      (OVERDISPERSION_LIMIT) — the negative binomial instead, else Poisson. `model` says which and
      `model_reason` why: "chosen" (asked for), "overdispersed" or "not_overdispersed".

    Standard errors are robust (the sandwich, HC0: `se` = "robust") unless `robust` is false ("model"): the
    intervals then hold when the counts vary more than the model says, which the automatic switch alone does
    not ensure. irr = exp(coefficient); ci_low/ci_high = exp of the Wald 95% limits; p_value the Wald z-test;
    percent_reduction = 100·(1 - irr). `dispersion` is the Poisson fit's Pearson χ²/df (None when there are
    no residual degrees of freedom). The reference defaults to the first group in sorted order.
    A group with no events, or with no person-time, is an error: its rate ratio would be 0 or infinite.
    """
    if model not in ("poisson", "negbin", "auto"):
        raise AnalysisError(_("The model must be poisson, negbin or auto, not %(model)r.") % {"model": model})
    _require_columns(df, [group, events, person_days, *covariates])
    _require_rows(df, 2)
    labels = _labels(df, group)
    counts = _whole_numbers(df, events)
    time = _numeric(df, person_days)
    if time.isna().any():
        raise AnalysisError(
            _("%(column)s is empty in %(count)s rows; every row needs its follow-up time.")
            % {"column": person_days, "count": int(time.isna().sum())}
        )
    if (time <= 0).any():
        raise AnalysisError(
            _(
                "%(column)s is 0 or less in %(count)s rows; every row needs some follow-up time "
                "(the rate is events per day followed)."
            )
            % {"column": person_days, "count": int((time <= 0).sum())}
        )
    levels = labels.levels
    if len(levels) < 2:
        raise AnalysisError(
            _("A rate ratio needs at least two groups; there is only %(n)s.") % {"n": len(levels)}
        )
    reference = levels[0] if reference is None else reference
    if reference not in levels:
        raise AnalysisError(
            _("The reference group %(reference)r is not in the data (groups: %(groups)s).")
            % {"reference": reference, "groups": ", ".join(map(str, levels))}
        )
    # Grouped by the labels' codes, which sort as the labels do; the totals are then indexed by label.
    summary = pd.DataFrame({"group": labels.codes, "events": counts, "time": time}).groupby("group")
    totals = summary.agg(n=("events", "size"), events=("events", "sum"), time=("time", "sum"))
    totals.index = pd.Index(levels)
    for level in levels:
        if totals.loc[level, "events"] == 0:
            raise AnalysisError(
                _(
                    "Group %(group)r has no events, so its rate is zero and a rate ratio with it cannot be "
                    "estimated."
                )
                % {"group": level}
            )
    others = [level for level in levels if level != reference]
    exog = pd.DataFrame({"const": 1.0}, index=df.index)
    for number, level in enumerate(others):
        exog[f"group_{number}"] = (labels.codes == levels.index(level)).astype(float)
    used_covariates = _add_covariates(df, exog, covariates)
    offset = np.log(time.to_numpy(dtype=float))
    endog = counts.to_numpy(dtype=float)
    fit = _fit_rates(endog, exog, offset, model, robust)
    comparisons: list[Comparison] = []
    for number, level in enumerate(others):
        name = f"group_{number}"
        ratio = math.exp(fit.params[name])
        comparisons.append(
            {
                "group": level,
                "reference": reference,
                "irr": ratio,
                "ci_low": math.exp(fit.limits.loc[name, 0]),
                "ci_high": math.exp(fit.limits.loc[name, 1]),
                "p_value": float(fit.pvalues[name]),
                "percent_reduction": 100 * (1 - ratio),
                "model": fit.model,
                "n": int(totals.loc[level, "n"]),
                "person_days": float(totals.loc[level, "time"]),
                "events": int(totals.loc[level, "events"]),
                "reference_n": int(totals.loc[reference, "n"]),
                "reference_person_days": float(totals.loc[reference, "time"]),
                "reference_events": int(totals.loc[reference, "events"]),
            }
        )
    return {
        "n": len(df),
        "model": fit.model,
        "model_reason": fit.reason,
        "dispersion": fit.dispersion,
        "alpha": fit.alpha,
        "se": "robust" if robust else "model",
        "covariates": used_covariates,
        "comparisons": comparisons,
    }


def _add_covariates(df: pd.DataFrame, exog: pd.DataFrame, covariates: Sequence[str]) -> list[str]:
    """Treatment-coded columns of each categorical covariate with more than one level; the names used."""
    used = []
    for position, covariate in enumerate(covariates):
        found = _labels(df, covariate)
        if len(found.levels) < 2:
            continue
        used.append(covariate)
        for number in range(1, len(found.levels)):
            exog[f"covariate_{position}_{number}"] = (found.codes == number).astype(float)
    return used


class _RateFit(NamedTuple):
    params: pd.Series
    limits: pd.DataFrame
    pvalues: pd.Series
    model: str
    reason: str
    dispersion: float | None
    alpha: float | None


# The negative binomial is taken as converged when no element of the log-likelihood's gradient is larger.
SCORE_TOLERANCE = 1e-8


def _fit_rates(
    endog: np.ndarray, exog: pd.DataFrame, offset: np.ndarray, model: Model, robust: bool
) -> _RateFit:
    covariance: dict[str, Any] = {"cov_type": "HC0"} if robust else {}
    with warnings.catch_warnings():
        # Convergence is checked below and said in words; the library's warnings would only go to stderr.
        warnings.simplefilter("ignore")
        poisson = sm.GLM(endog, exog, family=sm.families.Poisson(), offset=offset).fit(**covariance)
        dispersion = float(poisson.pearson_chi2 / poisson.df_resid) if poisson.df_resid > 0 else None
        if model == "auto" and dispersion is None:
            raise AnalysisError(
                _(
                    "There are too few rows to tell whether the counts are overdispersed; choose the model "
                    "(poisson or negbin)."
                )
            )
        overdispersed = dispersion is not None and dispersion > OVERDISPERSION_LIMIT
        reason = ("overdispersed" if overdispersed else "not_overdispersed") if model == "auto" else "chosen"
        if model == "poisson" or (model == "auto" and not overdispersed):
            if not poisson.converged or not np.isfinite(poisson.conf_int().to_numpy()).all():
                raise AnalysisError(_("The Poisson model cannot be fitted to these data."))
            return _RateFit(
                poisson.params, poisson.conf_int(), poisson.pvalues, "poisson", reason, dispersion, None
            )
        negbin = NegativeBinomial(endog, exog, loglike_method="nb2", offset=offset)
        start = negbin.fit(disp=0, maxiter=200)
        fitted = negbin.fit(start_params=start.params, method="newton", maxiter=100, disp=0, **covariance)
        gradient = negbin.score(fitted.params.to_numpy())
    limits = fitted.conf_int()
    converged = bool(fitted.mle_retvals.get("converged", False)) and bool(
        np.all(np.abs(gradient) <= SCORE_TOLERANCE * max(1.0, float(endog.sum())))
    )
    if not converged or not np.isfinite(limits.to_numpy()).all() or fitted.params["alpha"] <= 0:
        # Typically the counts vary less than a Poisson model allows (alpha near 0): the negative binomial
        # cannot be fitted and brings nothing, and its intervals would be NaN rather than wrong.
        raise AnalysisError(
            _(
                "The negative binomial model cannot be fitted to these data (the counts may not be "
                "overdispersed); use the Poisson model."
            )
        )
    return _RateFit(
        fitted.params,
        limits,
        fitted.pvalues,
        "negbin",
        reason,
        dispersion,
        float(fitted.params["alpha"]),
    )


# --- time to first event ------------------------------------------------------------------------------------


def survival(
    df: pd.DataFrame, group: str, days: str, event: str, at: Sequence[int] = DEFAULT_SURVIVAL_DAYS
) -> Survival:
    """Kaplan–Meier estimates of time to first event per group, with right censoring; log-rank test.

    Each row is a person: `days` until the first event, or until the end of follow-up when `event` is
    false/0 (censored). Per group (sorted): n, events, median_days and survival_at {day: S(day)}.

    The estimate is statsmodels.duration.survfunc.SurvfuncRight. median_days is the first time the estimate
    falls to 0.5 or below (lifelines' and Stata's convention: a curve that sits exactly at 0.5 from day 120 has
    median 120), None when it is never reached. survival_at[day] is the estimate at that day (the step
    function at the last event time ≤ day), None when nobody in the group was followed that long.

    The log-rank test is statsmodels' survdiff: logrank_chisq on logrank_df = groups - 1 degrees of freedom,
    logrank_p its upper tail (scipy.stats.chi2.sf, exact far into the tail where 1 - cdf prints 0). All None
    with a single group, and, with `logrank_note` saying why, when no one had an event or the test's variance
    is singular (e.g. every event on one day): the estimates are still given.
    """
    _require_columns(df, [group, days, event])
    _require_rows(df, 2)
    labels = _labels(df, group)
    time = _numeric(df, days)
    if time.isna().any() or (time < 0).any():
        raise AnalysisError(
            _("%(column)s must be a number of days of 0 or more in every row.") % {"column": days}
        )
    status = _flags(df, event)
    checkpoints = sorted({int(day) for day in at})
    if any(day < 0 for day in checkpoints):
        raise AnalysisError(_("The days to report survival at must be 0 or more."))
    all_times = time.to_numpy(dtype=float)
    all_flags = status.to_numpy(dtype=int)
    groups: list[SurvivalGroup] = []
    for number, level in enumerate(labels.levels):
        chosen = labels.codes == number
        times = all_times[chosen]
        flags = all_flags[chosen]
        estimate = SurvfuncRight(times, flags)
        groups.append(
            {
                "group": level,
                "n": int(chosen.sum()),
                "events": int(flags.sum()),
                "median_days": _median(estimate),
                "survival_at": {day: _survival_at(estimate, times, day) for day in checkpoints},
            }
        )
    chisq, df_logrank, logrank_p, note = _logrank(all_times, all_flags, labels.codes, len(groups))
    return {
        "n": len(df),
        "events": int(status.sum()),
        "groups": groups,
        "logrank_chisq": chisq,
        "logrank_df": df_logrank,
        "logrank_p": logrank_p,
        "logrank_note": note,
    }


def _median(estimate: SurvfuncRight) -> float | None:
    """The first event time at which the estimate is 0.5 or below; None when it never gets there. The product
    of the steps is floating point (0.75 · 2/3 is 0.5000000000000001), so 0.5 is met within 1e-12."""
    reached = np.flatnonzero(np.asarray(estimate.surv_prob) <= 0.5 + 1e-12)
    return float(estimate.surv_times[reached[0]]) if reached.size else None


def _logrank(
    times: np.ndarray, flags: np.ndarray, codes: np.ndarray, groups: int
) -> tuple[float | None, int | None, float | None, str | None]:
    if groups < 2:
        return None, None, None, None
    if not flags.any():
        return (
            None,
            None,
            None,
            _("No one had an event, so there is nothing for the log-rank test to compare."),
        )
    try:
        # The codes sort as the labels do, so the test sees the same groups in the same order.
        chisq, _p = survdiff(times, flags, codes)
    except np.linalg.LinAlgError:
        return (
            None,
            None,
            None,
            _(
                "The log-rank test cannot be computed here: its variance is singular (for instance, every "
                "event fell on the same day)."
            ),
        )
    if not math.isfinite(float(chisq)):
        return None, None, None, _("The log-rank test cannot be computed from these data.")
    df = groups - 1
    return float(chisq), df, float(stats.chi2.sf(float(chisq), df)), None


def _survival_at(estimate: SurvfuncRight, times: np.ndarray, day: int) -> float | None:
    if day > times.max():
        return None
    passed = np.flatnonzero(estimate.surv_times <= day)
    return 1.0 if passed.size == 0 else float(estimate.surv_prob[passed[-1]])


class HazardRatio(TypedDict):
    group: str
    reference: str
    hr: float
    ci_low: float
    ci_high: float
    p_value: float


class Cox(TypedDict):
    n: int
    events: int
    ties: str
    covariates: list[str]
    hazard_ratios: list[HazardRatio]


def cox(
    df: pd.DataFrame,
    group: str,
    days: str,
    event: str,
    *,
    reference: str | None = None,
    covariates: Sequence[str] = (),
) -> Cox:
    """Hazard ratios of a first event for each group against the reference, from a Cox proportional-hazards
    model (statsmodels PHReg, Breslow's method for tied times, as Stata's stcox by default) with the group and
    each of `covariates` (categorical, treatment coding, e.g. the organization) as terms.

    hr = exp(coefficient); ci_low/ci_high = exp of the Wald 95% limits; p_value the Wald z-test. The reference
    defaults to the first group in sorted order. No events, or a model that cannot be fitted (a group with no
    events has an infinite hazard ratio), is an AnalysisError in plain words.
    """
    _require_columns(df, [group, days, event, *covariates])
    _require_rows(df, 2)
    labels = _labels(df, group)
    time = _numeric(df, days)
    if time.isna().any() or (time < 0).any():
        raise AnalysisError(
            _("%(column)s must be a number of days of 0 or more in every row.") % {"column": days}
        )
    status = _flags(df, event)
    if not status.any():
        raise AnalysisError(_("No one had an event, so no hazard ratio can be estimated."))
    levels = labels.levels
    if len(levels) < 2:
        raise AnalysisError(
            _("A hazard ratio needs at least two groups; there is only %(n)s.") % {"n": len(levels)}
        )
    reference = levels[0] if reference is None else reference
    if reference not in levels:
        raise AnalysisError(
            _("The reference group %(reference)r is not in the data (groups: %(groups)s).")
            % {"reference": reference, "groups": ", ".join(map(str, levels))}
        )
    others = [level for level in levels if level != reference]
    exog = pd.DataFrame(index=df.index)
    for number, level in enumerate(others):
        exog[f"group_{number}"] = (labels.codes == levels.index(level)).astype(float)
    used = _add_covariates(df, exog, covariates)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fitted = PHReg(
                time.to_numpy(dtype=float), exog, status=status.to_numpy(dtype=float), ties="breslow"
            ).fit(disp=0)
        except (np.linalg.LinAlgError, ValueError):
            fitted = None
    params = None if fitted is None else pd.Series(fitted.params, index=exog.columns)
    if fitted is None or params is None or not np.isfinite(fitted.bse).all() or np.abs(params).max() > 20:
        raise AnalysisError(
            _(
                "The Cox model cannot be fitted to these data (for instance, a group or an organization with "
                "no events)."
            )
        )
    limits = pd.DataFrame(np.asarray(fitted.conf_int()), index=exog.columns)
    pvalues = pd.Series(fitted.pvalues, index=exog.columns)
    ratios: list[HazardRatio] = [
        {
            "group": level,
            "reference": reference,
            "hr": math.exp(params[f"group_{number}"]),
            "ci_low": math.exp(limits.loc[f"group_{number}", 0]),
            "ci_high": math.exp(limits.loc[f"group_{number}", 1]),
            "p_value": float(pvalues[f"group_{number}"]),
        }
        for number, level in enumerate(others)
    ]
    return {
        "n": len(df),
        "events": int(status.sum()),
        "ties": "breslow",
        "covariates": used,
        "hazard_ratios": ratios,
    }


# --- retention and fidelity ---------------------------------------------------------------------------------


def retention(df: pd.DataFrame, participant: str, timepoint: str, status: str) -> list[Retention]:
    """Per timepoint (sorted): how many were due, completed and missed, and the share completed of those due.

    `status` is one of completed, missed, pending (RETENTION_STATUSES). Due = completed + missed: a pending
    timepoint's window is still open, so it is counted apart (n_pending) and in neither. n is n_due.
    ci_low/ci_high: Wilson 95% interval of the share (statsmodels proportion_confint). A participant may
    appear once per timepoint.
    """
    _require_columns(df, [participant, timepoint, status])
    _require_rows(df, 1)
    people = _labels(df, participant, ordered=False)
    points = _labels(df, timepoint)
    codes = _labels(df, status)
    unknown = sorted(set(codes.levels) - set(RETENTION_STATUSES))
    if unknown:
        raise AnalysisError(
            _("%(column)s has values that are not %(allowed)s: %(found)s.")
            % {"column": status, "allowed": ", ".join(RETENTION_STATUSES), "found": ", ".join(unknown)}
        )
    repeated = _first_repeat(people.codes, len(people.levels), points.codes, len(points.levels))
    if repeated is not None:
        raise AnalysisError(
            _("%(participant)r appears more than once at timepoint %(timepoint)r.")
            % {"participant": people.text.iloc[repeated], "timepoint": points.text.iloc[repeated]}
        )
    # How many rows of each (timepoint, status): one bincount over both codes.
    width = len(codes.levels)
    tally = np.bincount(points.codes * width + codes.codes, minlength=len(points.levels) * width).reshape(
        len(points.levels), width
    )

    def count(row: np.ndarray, name: str) -> int:
        return int(row[codes.levels.index(name)]) if name in codes.levels else 0

    rows: list[Retention] = []
    for point, row in zip(points.levels, tally, strict=True):
        completed = count(row, "completed")
        missed = count(row, "missed")
        due = completed + missed
        low, high = _wilson(completed, due)
        rows.append(
            {
                "timepoint": point,
                "n": due,
                "n_due": due,
                "n_completed": completed,
                "n_missed": missed,
                "n_pending": count(row, "pending"),
                "share": completed / due if due else None,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows


def _first_repeat(first: np.ndarray, first_size: int, second: np.ndarray, second_size: int) -> int | None:
    """The position of the first row whose (first, second) code pair came earlier, None when none does."""
    keys = first.astype(np.int64) * second_size + second
    # With few enough possible pairs, counting them all is far cheaper than hashing every row.
    pairs = first_size * second_size
    if pairs <= 8 * keys.size + 1024 and np.bincount(keys, minlength=pairs).max(initial=0) < 2:
        return None
    repeats = pd.Series(keys).duplicated().to_numpy()
    return int(repeats.argmax()) if repeats.any() else None


def fidelity(df: pd.DataFrame, on_time: str) -> Fidelity:
    """The share of gates or meetings whose safety checks were done on time: one row each, `on_time` true/false.

    ci_low/ci_high: Wilson 95% interval (statsmodels proportion_confint).
    """
    _require_columns(df, [on_time])
    _require_rows(df, 1)
    flags = _flags(df, on_time).to_numpy()
    n = int(flags.size)
    done = int(flags.sum())
    low, high = _wilson(done, n)
    return {"n": n, "on_time": done, "share": done / n, "ci_low": low, "ci_high": high}


def _wilson(successes: int, n: int) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return float(low), float(high)


# --- checking the input -------------------------------------------------------------------------------------


def _require_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise AnalysisError(
            _("The data have no column %(missing)s (columns: %(columns)s).")
            % {
                "missing": ", ".join(repr(c) for c in missing),
                "columns": ", ".join(map(str, df.columns)) or _("none"),
            }
        )


def _require_rows(df: pd.DataFrame, least: int) -> None:
    if len(df) < least:
        raise AnalysisError(
            _("This analysis needs at least %(least)s rows; there are %(n)s.")
            % {"least": least, "n": len(df)}
        )


def _numeric(df: pd.DataFrame, column: str) -> pd.Series:
    """The column as floats, empty values as NaN; text or infinities are an error naming the first one."""
    raw = df[column]
    if pd.api.types.is_bool_dtype(raw):
        raise AnalysisError(_("%(column)s holds true/false values, not numbers.") % {"column": column})
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = (values.isna() & raw.notna()) | np.isinf(values)
    if bad.any():
        raise AnalysisError(
            _("%(column)s must hold numbers; %(count)s rows do not (the first: %(value)r).")
            % {"column": column, "count": int(bad.sum()), "value": raw[bad].iloc[0]}
        )
    return values


def _whole_numbers(df: pd.DataFrame, column: str) -> pd.Series:
    values = _numeric(df, column)
    bad = values.isna() | (values < 0) | (values != values.round())
    if bad.any():
        raise AnalysisError(
            _("%(column)s must be a whole number of 0 or more in every row; %(count)s rows are not.")
            % {"column": column, "count": int(bad.sum())}
        )
    return values.astype(int)


def _flags(df: pd.DataFrame, column: str) -> pd.Series:
    """True/false, or 1/0, in every row."""
    raw = df[column]
    if raw.dtype == np.bool_:
        # numpy's bool holds no missing values: nothing to check.
        return raw
    if raw.isna().any():
        raise AnalysisError(
            _("%(column)s is empty in %(count)s rows; every row needs true or false (1 or 0).")
            % {"column": column, "count": int(raw.isna().sum())}
        )
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(bool)
    values = pd.to_numeric(raw, errors="coerce")
    if not values.isin([0, 1]).all():
        raise AnalysisError(_("%(column)s must be true or false (1 or 0) in every row.") % {"column": column})
    return values.astype(bool)


class _Labels(NamedTuple):
    """A label column as text, with each row's position in its distinct labels (`levels`, sorted unless asked
    not to be)."""

    text: pd.Series
    codes: np.ndarray
    levels: list[str]


def _labels(df: pd.DataFrame, column: str, ordered: bool = True) -> _Labels:
    """Group or code labels as text; an empty label is an error (the row would belong nowhere).

    The column is turned into text once (a no-op when it already is) and factorized, so the emptiness check
    strips each distinct label once rather than every row, and callers group by the integer codes.
    """
    raw = df[column]
    text = raw.astype(str)
    # Factorized as the array of Python strings: quicker than through the string dtype, the same codes.
    found, uniques = pd.factorize(text.to_numpy())
    # astype(str) keeps every missing value missing (its code is -1); a text column is its own text.
    missing = found == -1
    if not isinstance(raw.dtype, pd.StringDtype):
        missing |= raw.isna().to_numpy()
    distinct: list[str] = uniques.tolist()
    # Blank: empty or only whitespace (what strip() would leave empty), checked once per distinct label.
    blank = [number for number, label in enumerate(distinct) if not label or label.isspace()]
    empty = missing | np.isin(found, blank) if blank else missing
    if empty.any():
        raise AnalysisError(
            _("%(column)s is empty in %(count)s rows; every row needs one.")
            % {"column": column, "count": int(empty.sum())}
        )
    if not ordered:
        return _Labels(text, found, distinct)
    order = sorted(range(len(distinct)), key=distinct.__getitem__)
    rank = np.empty(len(distinct), dtype=np.intp)
    rank[order] = np.arange(len(distinct), dtype=np.intp)
    return _Labels(text, rank[found], [distinct[number] for number in order])


def _float(value: Any) -> float:
    return float(value)
