"""Issue 10 item 4: each analysis of `evaluation_report` on a million synthetic de-identified rows.

The frames have the columns and types circlekeeper/evaluation/dataset.py (and report.outcomes_frame) produce,
generated with numpy from a fixed seed, so every run times the same data. Each analysis in analysis.py is timed
against the same computation done directly with pandas, scipy and statsmodels on the same arrays; the ratio
shows what the checks and the plain-dict results cost. Run alone: `python -m bench.run --only analyses`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.stats.proportion import proportion_confint

from bench.timing import best_of, ratio

SEED = 20260
DEFAULT_RESPONSES = 1_000_000
DEFAULT_PARTICIPANTS = 200_000
ORGANIZATIONS = ("harbor", "valley", "bridge")
TRACKS = ("", "support_only", "community_accountability", "indirect_dialogue", "direct_dialogue")
ROLES = ("survivor", "person_who_caused_harm", "survivor_supporter", "harm_supporter")
OUTCOME_GROUPS = ("comparison", "program", "waitlist")
INSTRUMENT = "outcome_wellbeing"
SCORE = "total"
# The targets for each analysis on a million responses.
TARGET_SECONDS = 2.0
TARGET_RATIO = 1.5
ANALYSES = ("descriptives", "prepost", "irr", "survival", "retention", "fidelity")


def participant_codes(n: int) -> np.ndarray:
    """Pseudonymous codes as Evaluation.code_for gives them: a letter and digits, one per participant."""
    return np.array([f"E{i:07d}" for i in range(n)], dtype=object)


def _months(rng: np.random.Generator, n: int) -> np.ndarray:
    labels = np.array(
        [f"{year}-{month:02d}" for year in (2023, 2024, 2025) for month in range(1, 13)], dtype=object
    )
    return labels[rng.integers(0, labels.size, n)]


def _timepoint_labels(per_person: int) -> np.ndarray:
    return np.array([f"T{i}" for i in range(per_person)], dtype=object)


def frames(
    responses: int = DEFAULT_RESPONSES, participants: int = DEFAULT_PARTICIPANTS, seed: int = SEED
) -> dict[str, pd.DataFrame]:
    """The synthetic frames: scores (`responses` rows), timepoints (the same), fidelity (the same) and
    outcomes (one row per participant), as dataset.scores_frame, timepoints_frame, fidelity_frame and
    report.outcomes_frame shape them; `pairs` is the prepost input (T0 and T2 of each participant)."""
    if participants < 1 or responses < participants:
        raise ValueError("need at least one participant and at least one response per participant")
    rng = np.random.default_rng(seed)
    per_person = responses // participants
    rows = per_person * participants
    codes = participant_codes(participants)
    person = np.repeat(np.arange(participants), per_person)
    organization = np.array(ORGANIZATIONS, dtype=object)[rng.integers(0, len(ORGANIZATIONS), participants)]
    track = np.array(TRACKS, dtype=object)[rng.integers(0, len(TRACKS), participants)]
    role = np.array(ROLES, dtype=object)[rng.integers(0, len(ROLES), participants)]
    timepoint = np.tile(_timepoint_labels(per_person), participants)
    # A score that drifts a little over the timepoints, on a 0-40 scale, rounded as instruments score.
    baseline = rng.normal(20, 6, participants)
    drift = np.tile(np.arange(per_person, dtype=float), participants) * rng.normal(0.6, 0.4, rows)
    value = np.clip(np.round(baseline[person] + drift + rng.normal(0, 3, rows)), 0, 40)
    scores = pd.DataFrame(
        {
            "participant": codes[person],
            "organization": organization[person],
            "track": track[person],
            "role": role[person],
            "instrument": np.full(rows, INSTRUMENT, dtype=object),
            "timepoint": timepoint,
            "month": _months(rng, rows),
            "score": np.full(rows, SCORE, dtype=object),
            "value": value,
        }
    )
    status = np.array(("completed", "missed", "pending"), dtype=object)[
        rng.choice(3, rows, p=(0.7, 0.2, 0.1))
    ]
    timepoints = pd.DataFrame(
        {
            "participant": codes[person],
            "organization": organization[person],
            "track": track[person],
            "role": role[person],
            "timepoint": timepoint,
            "status": status,
            "month": _months(rng, rows),
        }
    )
    fidelity = pd.DataFrame(
        {
            "kind": np.array(("meeting", "stage"), dtype=object)[rng.integers(0, 2, rows)],
            "organization": organization[rng.integers(0, participants, rows)],
            "track": track[rng.integers(0, participants, rows)],
            "month": _months(rng, rows),
            "on_time": rng.random(rows) < 0.85,
        }
    )
    group_index = rng.integers(0, len(OUTCOME_GROUPS), participants)
    person_days = rng.integers(30, 731, participants)
    rates = np.array((0.004, 0.0025, 0.0035))[group_index]
    events = rng.poisson(rates * person_days)
    first = np.where(events > 0, np.floor(rng.random(participants) * person_days), np.nan)
    outcomes = pd.DataFrame(
        {
            "organization": organization,
            "group": np.array(OUTCOME_GROUPS, dtype=object)[group_index],
            "person_days": person_days,
            "events": events,
            "first_event_day": first,
        }
    )
    before = value[0::per_person]
    after = value[min(2, per_person - 1) :: per_person]
    pairs = pd.DataFrame({"before": before, "after": after}, index=pd.Index(codes, name="participant"))
    return {
        "scores": scores,
        "timepoints": timepoints,
        "fidelity": fidelity,
        "outcomes": outcomes,
        "pairs": pairs,
    }


# --- the direct computations --------------------------------------------------------------------------------


def direct_descriptives(values: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"group": groups, "value": values})
    grouped = frame.groupby("group")["value"]
    table = grouped.agg(["count", "mean", "std", "median", "min", "max"])
    quartiles = grouped.quantile([0.25, 0.75]).unstack()
    return table.join(quartiles)


def direct_prepost(before: np.ndarray, after: np.ndarray) -> tuple[float, ...]:
    difference = after - before
    n = difference.size
    d_z = float(difference.mean() / difference.std(ddof=1))
    t_result = stats.ttest_rel(after, before)
    w_result = stats.wilcoxon(after, before)
    t = d_z * math.sqrt(n)

    def limit(probability: float) -> float:
        return float(
            optimize.brentq(
                lambda ncp: stats.nct.cdf(t, n - 1, ncp) - probability, t - 10, t + 10, xtol=1e-10
            )
        )

    return (
        float(t_result.pvalue),
        float(w_result.pvalue),
        d_z,
        limit(0.975) / math.sqrt(n),
        limit(0.025) / math.sqrt(n),
    )


def direct_irr(groups: np.ndarray, events: np.ndarray, person_days: np.ndarray) -> np.ndarray:
    codes, _levels = pd.factorize(groups, sort=True)
    exog = np.column_stack(
        [np.ones(codes.size)] + [(codes == k).astype(float) for k in range(1, codes.max() + 1)]
    )
    fit = sm.GLM(
        events.astype(float), exog, family=sm.families.Poisson(), offset=np.log(person_days.astype(float))
    ).fit()
    _dispersion = fit.pearson_chi2 / fit.df_resid
    return np.exp(np.column_stack([fit.params, fit.conf_int()]))


def direct_survival(groups: np.ndarray, days: np.ndarray, events: np.ndarray) -> float:
    # The groups factorized once (as analysis.py does): np.unique and == on an array of Python strings would
    # make the direct computation slower than it needs to be.
    codes, _levels = pd.factorize(groups, sort=True)
    for number in range(codes.max() + 1):
        chosen = codes == number
        estimate = SurvfuncRight(days[chosen], events[chosen])
        estimate.quantile(0.5)
    _chisq, p_value = survdiff(days, events, codes)
    return float(p_value)


def direct_retention(timepoints: np.ndarray, statuses: np.ndarray) -> pd.DataFrame:
    # groupby().size() rather than pd.crosstab: the same table, and the quicker of the two.
    table = (
        pd.DataFrame({"timepoint": timepoints, "status": statuses}).groupby(["timepoint", "status"]).size()
    )
    table = table.unstack(fill_value=0)
    due = table["completed"] + table["missed"]
    low, high = proportion_confint(table["completed"], due, alpha=0.05, method="wilson")
    return table.assign(share=table["completed"] / due, ci_low=low, ci_high=high)


def direct_fidelity(flags: np.ndarray) -> tuple[float, float, float]:
    done, n = int(flags.sum()), int(flags.size)
    low, high = proportion_confint(done, n, alpha=0.05, method="wilson")
    return done / n, float(low), float(high)


# --- the measurement ----------------------------------------------------------------------------------------


def calls(data: dict[str, pd.DataFrame]) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """Each analysis: (analysis.py's function, the direct computation), both on the same rows."""
    from circlekeeper.evaluation import analysis

    scores, timepoints, fidelity, outcomes, pairs = (
        data["scores"],
        data["timepoints"],
        data["fidelity"],
        data["outcomes"],
        data["pairs"],
    )
    had_event = outcomes["events"].to_numpy() > 0
    days = np.where(had_event, outcomes["first_event_day"].to_numpy(), outcomes["person_days"].to_numpy())
    survival_rows = pd.DataFrame({"group": outcomes["group"], "days": days, "event": had_event})
    arrays = {
        "value": scores["value"].to_numpy(),
        "score_timepoint": scores["timepoint"].to_numpy(),
        "before": pairs["before"].to_numpy(),
        "after": pairs["after"].to_numpy(),
        "group": outcomes["group"].to_numpy(),
        "events": outcomes["events"].to_numpy(),
        "person_days": outcomes["person_days"].to_numpy(),
        "days": days.astype(float),
        "event": had_event.astype(int),
        "timepoint": timepoints["timepoint"].to_numpy(),
        "status": timepoints["status"].to_numpy(),
        "on_time": fidelity["on_time"].to_numpy(),
    }
    return {
        "descriptives": (
            lambda: analysis.descriptives(scores, "value", group="timepoint"),
            lambda: direct_descriptives(arrays["value"], arrays["score_timepoint"]),
        ),
        "prepost": (
            lambda: analysis.prepost(pairs, "before", "after"),
            lambda: direct_prepost(arrays["before"], arrays["after"]),
        ),
        "irr": (
            lambda: analysis.irr(outcomes, "group", "events", "person_days", model="auto"),
            lambda: direct_irr(arrays["group"], arrays["events"], arrays["person_days"]),
        ),
        "survival": (
            lambda: analysis.survival(survival_rows, "group", "days", "event"),
            lambda: direct_survival(arrays["group"], arrays["days"], arrays["event"]),
        ),
        "retention": (
            lambda: analysis.retention(timepoints, "participant", "timepoint", "status"),
            lambda: direct_retention(arrays["timepoint"], arrays["status"]),
        ),
        "fidelity": (
            lambda: analysis.fidelity(fidelity, "on_time"),
            lambda: direct_fidelity(arrays["on_time"]),
        ),
    }


def figure(name: str, rows: int, ours: float, direct: float) -> dict[str, Any]:
    """One analysis's figures, checked against the issue's targets."""
    share = ratio(ours, direct)
    return {
        "analysis": name,
        "rows": rows,
        "seconds": round(ours, 4),
        "direct_seconds": round(direct, 4),
        "ratio": None if share is None else round(share, 3),
        "target_seconds": TARGET_SECONDS,
        "target_ratio": TARGET_RATIO,
        "meets_seconds": ours <= TARGET_SECONDS,
        "meets_ratio": share is not None and share <= TARGET_RATIO,
    }


def measure(
    responses: int | None = None,
    participants: int | None = None,
    repeat: int = 3,
    only: tuple[str, ...] = ANALYSES,
) -> dict[str, Any]:
    """Time every analysis; `responses` from BENCH_RESPONSES (default 1,000,000)."""
    responses = responses or int(os.environ.get("BENCH_RESPONSES", DEFAULT_RESPONSES))
    participants = participants or max(1, responses // 5)
    data = frames(responses, participants)
    sizes = {
        "descriptives": len(data["scores"]),
        "prepost": len(data["pairs"]),
        "irr": len(data["outcomes"]),
        "survival": len(data["outcomes"]),
        "retention": len(data["timepoints"]),
        "fidelity": len(data["fidelity"]),
    }
    results = []
    for name, (ours, direct) in calls(data).items():
        if name not in only:
            continue
        results.append(figure(name, sizes[name], best_of(ours, repeat), best_of(direct, repeat)))
    return {"responses": len(data["scores"]), "participants": participants, "analyses": results}
