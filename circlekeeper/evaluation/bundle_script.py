"""Recompute the published numbers of one Circlekeeper dashboard analysis from this bundle's files.

Standalone: pandas, numpy, scipy and statsmodels only (no Circlekeeper). Run it in the unzipped folder:

    python recompute.py            # prints the numbers as JSON
    python recompute.py FOLDER     # the bundle unzipped elsewhere

parameters.json says what was analysed and how (the filters, the model and why, the covariates, the
thresholds); published.json holds the numbers the dashboard showed, to compare with. Each method follows the
one Circlekeeper uses (evaluation/analysis.py and report.py), written out here so that it can be read and rerun.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats
from statsmodels.discrete.discrete_model import NegativeBinomial
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.stats.proportion import proportion_confint

# --- descriptives and pre/post change -----------------------------------------------------------------------


def describe(values: pd.Series) -> dict[str, Any]:
    """n, mean, sd (n - 1), median, quartiles (linear interpolation), range, and the 95% CI of the mean:
    Wilson's for a 0/1 score (its mean is a proportion), else the t interval."""
    present = values.dropna().astype(float)
    n = int(present.size)
    out: dict[str, Any] = {
        "n": n,
        "mean": float(present.mean()) if n else None,
        "sd": float(present.std(ddof=1)) if n > 1 else None,
        "median": float(present.median()) if n else None,
        "q1": float(present.quantile(0.25)) if n else None,
        "q3": float(present.quantile(0.75)) if n else None,
        "min": float(present.min()) if n else None,
        "max": float(present.max()) if n else None,
        "ci_low": None,
        "ci_high": None,
    }
    binary = bool(n) and bool(present.isin([0.0, 1.0]).all())
    if binary:
        low, high = proportion_confint(int(present.sum()), n, alpha=0.05, method="wilson")
        out.update(ci_low=float(low), ci_high=float(high))
    elif n >= 2:
        mean, spread = float(present.mean()), float(present.std(ddof=1))
        if spread == 0:
            out.update(ci_low=mean, ci_high=mean)
        else:
            low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=spread / math.sqrt(n))
            out.update(ci_low=float(low), ci_high=float(high))
    if binary:
        out["positive"] = int((present == 1).sum())
        out["negative"] = n - out["positive"]
    return out


def _noncentrality(t: float, df: int, probability: float) -> float:
    """The noncentrality λ with nct.cdf(t, df, λ) = probability (the cdf falls as λ grows)."""

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
    raise ArithmeticError("the confidence interval of d_z could not be bracketed")


def prepost(pairs: pd.DataFrame) -> dict[str, Any]:
    """Paired change: mean change and its t interval, paired t-test, Wilcoxon signed-rank (scipy's defaults),
    Cohen's d_z with its noncentral-t 95% interval (Steiger & Fouladi 1997)."""
    pairs = pairs[["before", "after"]].astype(float).dropna()
    n = len(pairs)
    difference = pairs["after"] - pairs["before"]
    spread = float(difference.std(ddof=1))
    t_result = stats.ttest_rel(pairs["after"], pairs["before"])
    w_result = stats.wilcoxon(pairs["after"], pairs["before"])
    mean_change = float(difference.mean())
    change_low, change_high = stats.t.interval(0.95, n - 1, loc=mean_change, scale=spread / math.sqrt(n))
    d_z = mean_change / spread
    t = d_z * math.sqrt(n)
    return {
        "n": n,
        "mean_change": mean_change,
        "mean_change_ci_low": float(change_low),
        "mean_change_ci_high": float(change_high),
        "t": float(t_result.statistic),
        "p_t": float(t_result.pvalue),
        "p_wilcoxon": float(w_result.pvalue),
        "d_z": d_z,
        "d_z_ci_low": _noncentrality(t, n - 1, 0.975) / math.sqrt(n),
        "d_z_ci_high": _noncentrality(t, n - 1, 0.025) / math.sqrt(n),
    }


def scores(folder: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    table = pd.read_csv(folder / "scores.csv", dtype={"timepoint": str}, keep_default_na=True)
    descriptives = []
    for point in parameters["score"]["timepoints"]:
        values = table.loc[table["timepoint"] == point, "value"]
        described = describe(values)
        described["timepoint"] = point
        described["missing"] = int(values.isna().sum())
        descriptives.append(described)
    changes = []
    for comparison in parameters["score"]["comparisons"]:
        pairs = pd.read_csv(folder / comparison["file"])
        changes.append({"from": comparison["from"], "to": comparison["to"], **prepost(pairs)})
    return {"kind": "score", "descriptives": descriptives, "prepost": changes}


# --- incidence rate ratios ----------------------------------------------------------------------------------


def _design(frame: pd.DataFrame, group: str, reference: str, covariates: list[str], const: bool) -> tuple:
    """Treatment coding: one column per group but the reference (groups in sorted order), then per covariate
    with more than one level one column per level but the first in sorted order."""
    levels = sorted(frame[group].astype(str).unique())
    others = [level for level in levels if level != reference]
    exog = pd.DataFrame({"const": 1.0}, index=frame.index) if const else pd.DataFrame(index=frame.index)
    for number, level in enumerate(others):
        exog[f"group_{number}"] = (frame[group].astype(str) == level).astype(float)
    used = []
    for position, covariate in enumerate(covariates):
        found = sorted(frame[covariate].astype(str).unique())
        if len(found) < 2:
            continue
        used.append(covariate)
        for number in range(1, len(found)):
            exog[f"covariate_{position}_{number}"] = (frame[covariate].astype(str) == found[number]).astype(
                float
            )
    return exog, others, used


def rate_ratios(frame: pd.DataFrame, settings: dict[str, Any], covariates: list[str]) -> dict[str, Any]:
    """Poisson GLM with log(person_days) as offset, or the NB2 negative binomial when asked, or ("auto") when
    the Poisson fit's Pearson χ²/df is above the limit; robust (HC0) standard errors when asked."""
    reference = settings["reference"]
    exog, others, used = _design(frame, "group", reference, covariates, const=True)
    endog = frame["events"].to_numpy(dtype=float)
    offset = np.log(frame["person_days"].to_numpy(dtype=float))
    covariance = {"cov_type": "HC0"} if settings["robust"] else {}
    requested = settings["model_requested"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        poisson = sm.GLM(endog, exog, family=sm.families.Poisson(), offset=offset).fit(**covariance)
        dispersion = float(poisson.pearson_chi2 / poisson.df_resid) if poisson.df_resid > 0 else None
        overdispersed = dispersion is not None and dispersion > settings["overdispersion_limit"]
        automatic = "overdispersed" if overdispersed else "not_overdispersed"
        reason = automatic if requested == "auto" else "chosen"
        alpha = None
        if requested == "poisson" or (requested == "auto" and not overdispersed):
            model, fitted, limits = "poisson", poisson, poisson.conf_int()
        else:
            negbin = NegativeBinomial(endog, exog, loglike_method="nb2", offset=offset)
            start = negbin.fit(disp=0, maxiter=200)
            fitted = negbin.fit(start_params=start.params, method="newton", maxiter=100, disp=0, **covariance)
            model, limits, alpha = "negbin", fitted.conf_int(), float(fitted.params["alpha"])
    comparisons = []
    for number, level in enumerate(others):
        name = f"group_{number}"
        ratio = math.exp(fitted.params[name])
        mine = frame[frame["group"].astype(str) == level]
        theirs = frame[frame["group"].astype(str) == reference]
        comparisons.append(
            {
                "group": level,
                "reference": reference,
                "irr": ratio,
                "ci_low": math.exp(limits.loc[name, 0]),
                "ci_high": math.exp(limits.loc[name, 1]),
                "p_value": float(fitted.pvalues[name]),
                "percent_reduction": 100 * (1 - ratio),
                "model": model,
                "n": len(mine),
                "person_days": float(mine["person_days"].sum()),
                "events": int(mine["events"].sum()),
                "reference_n": len(theirs),
                "reference_person_days": float(theirs["person_days"].sum()),
                "reference_events": int(theirs["events"].sum()),
            }
        )
    return {
        "n": len(frame),
        "model": model,
        "model_reason": reason,
        "dispersion": dispersion,
        "alpha": alpha,
        "covariates": used,
        "comparisons": comparisons,
    }


def irr(folder: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    frame = pd.read_csv(folder / "outcomes.csv", dtype={"organization": str, "group": str})
    settings = parameters["irr"]
    adjusted = rate_ratios(frame, settings, settings["covariates_requested"])
    unadjusted = rate_ratios(frame, settings, []) if adjusted["covariates"] else None
    return {
        "kind": "irr",
        **adjusted,
        "unadjusted": unadjusted["comparisons"] if unadjusted else [],
    }


# --- time to a first event ----------------------------------------------------------------------------------


def _median(estimate: SurvfuncRight) -> float | None:
    """The first time the estimate is at or below 0.5 (within 1e-12 of floating point), None if never."""
    reached = np.flatnonzero(np.asarray(estimate.surv_prob) <= 0.5 + 1e-12)
    return float(estimate.surv_times[reached[0]]) if reached.size else None


def _survival_at(estimate: SurvfuncRight, times: np.ndarray, day: int) -> float | None:
    if day > times.max():
        return None
    passed = np.flatnonzero(estimate.surv_times <= day)
    return 1.0 if passed.size == 0 else float(estimate.surv_prob[passed[-1]])


def survival(folder: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Kaplan–Meier per group (statsmodels SurvfuncRight), the log-rank test (survdiff, p from chi2.sf), and a
    Cox model (PHReg, Breslow ties) of the group and the covariates."""
    frame = pd.read_csv(folder / "outcomes.csv", dtype={"organization": str, "group": str})
    settings = parameters["survival"]
    had_event = frame["events"] > 0
    frame = frame.assign(
        days=frame["first_event_day"].where(had_event, frame["person_days"]).astype(float), event=had_event
    )
    levels = sorted(frame["group"].unique())
    codes = np.array([levels.index(level) for level in frame["group"]])
    times = frame["days"].to_numpy(dtype=float)
    flags = frame["event"].to_numpy(dtype=int)
    groups = []
    for number, level in enumerate(levels):
        chosen = codes == number
        estimate = SurvfuncRight(times[chosen], flags[chosen])
        groups.append(
            {
                "group": level,
                "n": int(chosen.sum()),
                "events": int(flags[chosen].sum()),
                "median_days": _median(estimate),
                "survival_at": {
                    str(day): _survival_at(estimate, times[chosen], day) for day in settings["at"]
                },
            }
        )
    out: dict[str, Any] = {
        "kind": "survival",
        "n": len(frame),
        "events": int(flags.sum()),
        "groups": groups,
        "logrank_chisq": None,
        "logrank_df": None,
        "logrank_p": None,
        "cox": None,
        "cox_error": None,
    }
    if len(levels) > 1 and flags.any():
        try:
            chisq, _p = survdiff(times, flags, codes)
            if math.isfinite(float(chisq)):
                df = len(levels) - 1
                out.update(
                    logrank_chisq=float(chisq), logrank_df=df, logrank_p=float(stats.chi2.sf(chisq, df))
                )
        except np.linalg.LinAlgError as exc:
            out["logrank_error"] = str(exc)
    if len(levels) > 1 and flags.any():
        reference = levels[0]
        exog, others, used = _design(
            frame, "group", reference, settings["cox_covariates_requested"], const=False
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fitted = PHReg(times, exog, status=flags.astype(float), ties=settings["ties"]).fit(disp=0)
                params = pd.Series(fitted.params, index=exog.columns)
                limits = pd.DataFrame(np.asarray(fitted.conf_int()), index=exog.columns)
                pvalues = pd.Series(fitted.pvalues, index=exog.columns)
                if not np.isfinite(fitted.bse).all() or np.abs(params).max() > 20:
                    raise ValueError("the Cox model cannot be fitted (a group with no events?)")
                out["cox"] = {
                    "n": len(frame),
                    "events": int(flags.sum()),
                    "ties": settings["ties"],
                    "covariates": used,
                    "hazard_ratios": [
                        {
                            "group": level,
                            "reference": reference,
                            "hr": math.exp(params[f"group_{number}"]),
                            "ci_low": math.exp(limits.loc[f"group_{number}", 0]),
                            "ci_high": math.exp(limits.loc[f"group_{number}", 1]),
                            "p_value": float(pvalues[f"group_{number}"]),
                        }
                        for number, level in enumerate(others)
                    ],
                }
            except (np.linalg.LinAlgError, ValueError) as exc:
                out["cox_error"] = str(exc)
    return out


# --- retention and fidelity ---------------------------------------------------------------------------------


def _share(successes: int, n: int) -> dict[str, Any]:
    """successes / n with its Wilson 95% interval (statsmodels proportion_confint); None when n is 0."""
    if n == 0:
        return {"share": None, "ci_low": None, "ci_high": None}
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return {"share": successes / n, "ci_low": float(low), "ci_high": float(high)}


def retention(folder: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Per timepoint: due = completed + missed, pending apart, and the share answered of those due."""
    table = pd.read_csv(folder / "retention.csv", dtype={"timepoint": str, "status": str})
    settings = parameters["retention"]
    rows = []
    for point in settings["timepoints"]:
        statuses = table.loc[table["timepoint"] == point, "status"]
        completed = int((statuses == "completed").sum())
        missed = int((statuses == "missed").sum())
        pending = None if point in settings["pending_left_out"] else int((statuses == "pending").sum())
        rows.append(
            {
                "timepoint": point,
                "n_due": completed + missed,
                "n_completed": completed,
                "n_missed": missed,
                "n_pending": pending,
                **_share(completed, completed + missed),
            }
        )
    return {"kind": "retention", "rows": rows}


def fidelity(folder: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Per kind (meeting, stage) and overall: how many, how many on time and late, the share on time."""
    table = pd.read_csv(folder / "fidelity.csv", dtype={"kind": str})
    settings = parameters["fidelity"]

    def counted(flags: pd.Series) -> dict[str, Any]:
        n, done = int(flags.size), int(flags.astype(int).sum())
        return {"n": n, "on_time": done, "late": n - done, **_share(done, n)}

    rows = [
        {"kind": kind, **counted(table.loc[table["kind"] == kind, "on_time"])} for kind in settings["kinds"]
    ]
    overall = counted(table["on_time"]) if settings["overall"] else None
    return {"kind": "fidelity", "overall": overall, "rows": rows}


# --- count tables and support networks ----------------------------------------------------------------------


def counts(folder: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Each cell of the table the bundle holds the rows of (the others are None), and each total whose every
    cell is held; with hold_days.csv, the days on hold described as the page describes them."""
    table = pd.read_csv(folder / "counts.csv", dtype=str, keep_default_na=False)
    settings = parameters["counts"]
    names, codes, included = settings["rows"], settings["codes"], settings["included"]
    cells: list[list[int | None]] = []
    for row_index, name in enumerate(names):
        here = table.loc[table["row"] == name, "code"]
        cells.append(
            [
                int((here == code).sum()) if included[row_index][column] else None
                for column, code in enumerate(codes)
            ]
        )

    def total(values: list[int | None]) -> int | None:
        return None if any(value is None for value in values) else sum(v for v in values if v is not None)

    out: dict[str, Any] = {
        "kind": parameters["kind"],
        "cells": cells,
        "row_totals": [total(row) for row in cells],
        "column_totals": [total([row[column] for row in cells]) for column in range(len(codes))],
        "total": total([value for row in cells for value in row]),
    }
    if (folder / "hold_days.csv").exists():
        out["days"] = describe(pd.read_csv(folder / "hold_days.csv")["days"])
    return out


def pod_measures(folder: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Each measure of the support networks the page describes, described the same way."""
    table = pd.read_csv(folder / "pod_measures.csv")
    rows = [{"measure": name, **describe(table[name])} for name in parameters["pod_measures"]["measures"]]
    return {"kind": "pod_measures", "rows": rows}


ANALYSES = {
    "score": scores,
    "irr": irr,
    "survival": survival,
    "retention": retention,
    "fidelity": fidelity,
    "risk_levels": counts,
    "staircase": counts,
    "commitments": counts,
    "survivor_view_repair": counts,
    "hold_days": counts,
    "pod_measures": pod_measures,
}


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    parameters = json.loads((folder / "parameters.json").read_text(encoding="utf-8"))
    result = ANALYSES[parameters["kind"]](folder, parameters)
    sys.stdout.write(json.dumps(result, indent=2, allow_nan=False, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
