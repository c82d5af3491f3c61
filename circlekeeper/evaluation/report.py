"""The evaluation report over imported external outcomes: the analysis functions' numbers, small cells suppressed.

A report goes to people outside the case team (funders, the network, the public), so every count of people
passes small-cell suppression (suppression.py) before it is shown, and no estimate is shown that would give
a hidden count back:

- A group of fewer than `threshold` people (default 11) is withheld: its n shows as "<11", nothing else of it
  is shown, and it is left out of every computation, so no published number depends on it (a total that
  included it would give its n away by subtraction; the report's n is the people in the groups shown).
- Rate ratios (irr): a group with 1 to threshold - 1 events shows its events as "<11" and its comparisons
  are withheld, since a rate ratio with the person-time shown gives the event count back; the same when the
  reference group is withheld. A group with no events shows 0, and its rate ratio cannot be estimated.
- Time to first event (survival): the people with a first event and those without are a table of two cells
  with the group's n as total; if either is small, the events show as "<11" (or "*" when hidden so the other
  cannot be worked out from n) and the group's estimates are withheld, since a Kaplan–Meier curve steps by
  whole people. Only the groups shown enter the log-rank test.

The reference group of the rate ratios is the one named, else the first group shown, in sorted order.
Each withheld item says why, in `withheld`. The numbers shown are exactly those of analysis.irr and
analysis.survival run over the groups shown.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from django.db.models import Q
from django.utils.translation import gettext as _
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from circlekeeper.evaluation import analysis, dataset
from circlekeeper.evaluation.analysis import AnalysisError, Model
from circlekeeper.evaluation.models import ExternalOutcome, ExternalOutcomeQuerySet
from circlekeeper.evaluation.suppression import DEFAULT_THRESHOLD, is_small, suppress_count, suppress_table
from circlekeeper.instruments.models import Instrument
from circlekeeper.lib.csv_safety import escape_row

ANALYSES = ("descriptives", "prepost", "irr", "survival", "retention", "fidelity")
# Imported outcomes carry a group and an organization; questionnaire data carry a track and an organization.
OUTCOME_ANALYSES = ("irr", "survival")
SCORE_ANALYSES = ("descriptives", "prepost")
GROUPINGS = ("group", "organization")
DATA_GROUPINGS = ("track", "organization")
# A case whose survivor has not chosen a track yet.
NO_TRACK = "none"
FRAME_COLUMNS = ["organization", "group", "person_days", "events", "first_event_day"]

IRR_CSV_COLUMNS = [
    "group",
    "reference",
    "irr",
    "ci_low",
    "ci_high",
    "p_value",
    "percent_reduction",
    "model",
    "n",
    "person_days",
    "events",
    "reference_n",
    "reference_person_days",
    "reference_events",
    "withheld",
]


# What the unadjusted rate ratios beside the adjusted ones show.
UNADJUSTED_KEYS = ("group", "reference", "irr", "ci_low", "ci_high", "p_value", "model")


class ReportRefused(ValueError):
    """A report that cannot be made from these data, said in plain words."""


def outcomes_frame(outcomes: ExternalOutcomeQuerySet) -> pd.DataFrame:
    """The outcomes as analysis rows (one query; no encrypted field is read: the codes are not needed)."""
    rows = outcomes.order_by("pk").values_list(
        "organization__slug", "group", "person_days", "events", "first_event_day"
    )
    return pd.DataFrame.from_records(list(rows), columns=FRAME_COLUMNS)


# --- rate ratios --------------------------------------------------------------------------------------------


def irr_report(
    frame: pd.DataFrame,
    *,
    group_by: str = "group",
    reference: str | None = None,
    model: Model = "auto",
    threshold: int = DEFAULT_THRESHOLD,
    adjust_for: Sequence[str] | None = None,
    robust: bool = True,
) -> dict[str, Any]:
    """Rate ratios between the groups shown (see the module's docstring), from analysis.irr.

    In a pooled analysis (rows from more than one organization) the organization is a covariate by default
    (`adjust_for`; pass () for none): the organizations may differ both in who receives circles and in their
    base rates, and a pooled ratio that ignores them is confounded. `comparisons` are then the adjusted
    ratios and `unadjusted` the same ratios without the covariates, beside them. Standard errors are robust
    (sandwich) unless `robust` is false; `model`, `model_reason`, `alpha` and `se` say what was fitted and why.
    """
    _require_outcomes(frame)
    if adjust_for is None:
        adjust_for = ("organization",) if group_by != "organization" else ()
    labels = frame[group_by].astype(str)
    levels = sorted(labels.unique())
    if len(levels) < 2:
        raise ReportRefused(
            _("A rate ratio needs at least two groups; there is only %(groups)s.")
            % {"groups": ", ".join(levels)}
        )
    if reference is not None and reference not in levels:
        raise ReportRefused(
            _("There is no group %(reference)r to compare with (groups: %(groups)s).")
            % {"reference": reference, "groups": ", ".join(levels)}
        )
    groups = []
    reasons: dict[str, str | None] = {}
    for level in levels:
        part = frame[labels == level]
        n, events, person_days = len(part), int(part["events"].sum()), float(part["person_days"].sum())
        reason = None
        if is_small(n, threshold):
            reason = few_people(threshold)
        elif is_small(events, threshold):
            reason = _(
                "fewer than %(threshold)s events: a rate ratio with the person-time shown would give the count "
                "away"
            ) % {"threshold": threshold}
        elif events == 0:
            reason = _("no events: the rate is zero and a rate ratio cannot be estimated")
        reasons[level] = reason
        people_shown = not is_small(n, threshold)
        groups.append(
            {
                "group": level,
                "n": suppress_count(n, threshold),
                "events": suppress_count(events, threshold) if people_shown else None,
                "person_days": person_days if people_shown else None,
                "withheld": reason,
            }
        )
    shown = [level for level in levels if reasons[level] is None]
    if reference is None:
        reference = shown[0] if shown else levels[0]
    fitted: dict[str, analysis.Comparison] = {}
    result: analysis.RateRatios | None = None
    unadjusted: analysis.RateRatios | None = None
    if reasons[reference] is None and len(shown) > 1:
        rows = frame[labels.isin(shown)].assign(_group=labels[labels.isin(shown)])
        try:
            result = analysis.irr(
                rows,
                "_group",
                "events",
                "person_days",
                reference=reference,
                model=model,
                covariates=list(adjust_for),
                robust=robust,
            )
            if result["covariates"]:
                unadjusted = analysis.irr(
                    rows, "_group", "events", "person_days", reference=reference, model=model, robust=robust
                )
        except AnalysisError as exc:
            raise ReportRefused(exc.message) from None
        fitted = {comparison["group"]: comparison for comparison in result["comparisons"]}
    by_level = {row["group"]: row for row in groups}
    comparisons = []
    for level in levels:
        if level == reference:
            continue
        if level in fitted:
            comparisons.append({**fitted[level], "withheld": None})
            continue
        if reasons[reference] is not None:
            reason = _("the reference group is withheld: %(reason)s") % {"reason": reasons[reference]}
        else:
            reason = reasons[level]
        comparisons.append(_withheld_comparison(by_level[level], by_level[reference], reason))
    return {
        "analysis": "irr",
        "group_by": group_by,
        "reference": reference,
        "threshold": threshold,
        "model_requested": model,
        "model": result["model"] if result else None,
        "model_reason": result["model_reason"] if result else None,
        "dispersion": result["dispersion"] if result else None,
        "alpha": result["alpha"] if result else None,
        "se": result["se"] if result else None,
        "adjusted_for": result["covariates"] if result else [],
        "n": result["n"] if result else None,
        "groups": groups,
        "comparisons": comparisons,
        "unadjusted": [
            {key: value for key, value in comparison.items() if key in UNADJUSTED_KEYS}
            for comparison in (unadjusted["comparisons"] if unadjusted else [])
        ],
    }


def _withheld_comparison(
    group: dict[str, Any], reference: dict[str, Any], reason: str | None
) -> dict[str, Any]:
    return {
        "group": group["group"],
        "reference": reference["group"],
        "irr": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "percent_reduction": None,
        "model": None,
        "n": group["n"],
        "person_days": group["person_days"],
        "events": group["events"],
        "reference_n": reference["n"],
        "reference_person_days": reference["person_days"],
        "reference_events": reference["events"],
        "withheld": reason,
    }


# --- time to first event ------------------------------------------------------------------------------------


def survival_report(
    frame: pd.DataFrame,
    *,
    group_by: str = "group",
    at: Sequence[int] = analysis.DEFAULT_SURVIVAL_DAYS,
    threshold: int = DEFAULT_THRESHOLD,
    adjust_for: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Kaplan–Meier estimates, the log-rank test and a Cox model of the groups shown (module docstring).

    The Cox model (analysis.cox) has the group and, in a pooled analysis, the organization as terms
    (`adjust_for`, as in irr_report); when it cannot be fitted, `cox_withheld` says why and the rest stands.
    """
    _require_outcomes(frame)
    if adjust_for is None:
        adjust_for = ("organization",) if group_by != "organization" else ()
    had_event = frame["events"] > 0
    undated = int((had_event & frame["first_event_day"].isna()).sum())
    if undated:
        raise ReportRefused(
            _(
                "%(count)s people with events have no first_event_day, and time to first event needs it; "
                "import their outcomes with the day of the first event."
            )
            % {"count": undated}
        )
    labels = frame[group_by].astype(str)
    days = frame["first_event_day"].where(had_event, frame["person_days"]).astype(float)
    rows = pd.DataFrame(
        {"group": labels, "days": days, "event": had_event}
        | {column: frame[column].astype(str) for column in adjust_for}
    )
    checkpoints = sorted({int(day) for day in at})
    groups: list[dict[str, Any]] = []
    for level in sorted(labels.unique()):
        part = rows[rows["group"] == level]
        n, events = len(part), int(part["event"].sum())
        reason = None
        shown_events: Any = None
        if is_small(n, threshold):
            reason = few_people(threshold)
        else:
            table = suppress_table([[events, n - events]], threshold)
            shown_events = table.cells[0][0]
            if table.hidden:
                reason = _(
                    "fewer than %(threshold)s people had a first event, or fewer than %(threshold)s had none: "
                    "the survival curve would give the count away"
                ) % {"threshold": threshold}
        groups.append(
            {
                "group": level,
                "n": suppress_count(n, threshold),
                "events": shown_events,
                "median_days": None,
                "survival_at": dict.fromkeys(checkpoints),
                "withheld": reason,
            }
        )
    shown = [row["group"] for row in groups if row["withheld"] is None]
    result: analysis.Survival | None = None
    cox: analysis.Cox | None = None
    cox_withheld = None
    if shown:
        try:
            result = analysis.survival(
                rows[rows["group"].isin(shown)], "group", "days", "event", at=checkpoints
            )
        except AnalysisError as exc:
            raise ReportRefused(exc.message) from None
        if len(shown) > 1:
            try:
                cox = analysis.cox(
                    rows[rows["group"].isin(shown)], "group", "days", "event", covariates=list(adjust_for)
                )
            except AnalysisError as exc:
                cox_withheld = exc.message
        estimates = {row["group"]: row for row in result["groups"]}
        for row in groups:
            if row["group"] in estimates:
                estimate = estimates[row["group"]]
                row.update(median_days=estimate["median_days"], survival_at=estimate["survival_at"])
    logrank_withheld = None
    if len(groups) > 1 and len(shown) < 2:
        logrank_withheld = _("fewer than two groups can be shown, so there is nothing to compare")
    return {
        "analysis": "survival",
        "group_by": group_by,
        "threshold": threshold,
        "at": checkpoints,
        "n": result["n"] if result else None,
        "events": result["events"] if result else None,
        "groups": groups,
        "logrank_chisq": result["logrank_chisq"] if result else None,
        "logrank_df": result["logrank_df"] if result else None,
        "logrank_p": result["logrank_p"] if result else None,
        "logrank_withheld": logrank_withheld or (result["logrank_note"] if result else None),
        "cox": cox,
        "cox_withheld": cox_withheld,
    }


# --- questionnaire scores: descriptives and pre/post change -------------------------------------------------

DESCRIPTIVE_KEYS = ("mean", "sd", "median", "q1", "q3", "min", "max", "ci_low", "ci_high")
PREPOST_KEYS = (
    "mean_change",
    "mean_change_ci_low",
    "mean_change_ci_high",
    "t",
    "p_t",
    "p_wilcoxon",
    "d_z",
    "d_z_ci_low",
    "d_z_ci_high",
)
ALL_GROUPS = "all"


def group_labels(frame: pd.DataFrame, group_by: str) -> pd.Series:
    """The group of each row as text: a track ("none" before the survivor chose one) or an organization."""
    if group_by not in DATA_GROUPINGS:
        raise ReportRefused(
            _("Group by %(group_by)s is not possible here; use %(allowed)s.")
            % {"group_by": group_by, "allowed": " or ".join(DATA_GROUPINGS)}
        )
    return frame[group_by].astype(str).replace("", NO_TRACK)


def timepoint_order(code: str) -> tuple[str, int, str]:
    """T0, T1, ..., T10 in that order (not T0, T1, T10, T2)."""
    head = code.rstrip("0123456789")
    tail = code[len(head) :]
    return (head, int(tail) if tail else -1, code)


def planned_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Scores answered at a planned timepoint, one per person and timepoint (their latest answer)."""
    planned = frame[frame["timepoint"] != ""]
    return planned.drop_duplicates(subset=["participant", "timepoint"], keep="last")


def is_binary(values: pd.Series) -> bool:
    """Every value present is 0 or 1: the mean is a proportion."""
    present = values.dropna()
    return bool(present.size) and bool(present.isin([0.0, 1.0]).all())


def _mean_interval(values: pd.Series) -> tuple[float | None, float | None]:
    """The 95% confidence interval of the mean: Wilson's for a 0/1 score (its mean is a proportion, and a t
    interval would give [0, 0] for 0 of 25 or go below 0), else the t-based one (scipy.stats.t)."""
    values = values.dropna()
    n = int(values.size)
    if is_binary(values):
        low, high = proportion_confint(int(values.sum()), n, alpha=0.05, method="wilson")
        return float(low), float(high)
    if n < 2:
        return None, None
    mean, spread = float(values.mean()), float(values.std(ddof=1))
    if spread == 0:
        return mean, mean
    low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=spread / math.sqrt(n))
    return float(low), float(high)


def describe_values(values: pd.Series) -> dict[str, Any]:
    [row] = analysis.descriptives(pd.DataFrame({"value": values}), "value")
    low, high = _mean_interval(values)
    return {key: row[key] for key in DESCRIPTIVE_KEYS[:7]} | {"ci_low": low, "ci_high": high}  # type: ignore[literal-required]


def _group_cells(counts: list[int], threshold: int) -> tuple[list[Any], Any, set[int]]:
    """Each group's count as shown, the total as shown, and the groups hidden (small, or hidden so that a small
    one cannot be worked out from the total): complementary suppression over one column with its total."""
    table = suppress_table([[count] for count in counts], threshold)
    hidden = {row for row, column in table.hidden if column == 0 and row < len(counts)}
    return [row[0] for row in table.cells], table.total, hidden


def _binary_reason(threshold: int) -> str:
    return _(
        "fewer than %(threshold)s people answered 1, or fewer than %(threshold)s answered 0: the share would "
        "give the count away"
    ) % {"threshold": threshold}


def _complement_reason(threshold: int) -> str:
    return _(
        "hidden so that a group of fewer than %(threshold)s people cannot be worked out from the total"
    ) % {"threshold": threshold}


def descriptives_report(
    frame: pd.DataFrame,
    *,
    instrument: str,
    score: str,
    group_by: str | None = None,
    threshold: int = DEFAULT_THRESHOLD,
) -> dict[str, Any]:
    """Per timepoint (and per group): n, mean, sd, median, quartiles, range and the 95% CI of the mean.

    `frame` is dataset.scores_frame for one instrument and score (with include_unscored, a response whose
    score could not be computed has an empty value). A timepoint or group of fewer than `threshold` people is
    withheld. With `group_by`, each timepoint's groups are a table whose total is the row "all", so a small
    group hides another (complementary suppression).

    n is the people with a score. Each timepoint's row "all" also says how many answered without a score
    (`missing`, suppressed) and how many answered in all (`answered`, only when `missing` is shown, since
    answered - n would give it back): no one who answered is silently left out.

    A 0/1 score (every value 0 or 1, e.g. "any recurrence") is a count: its mean times n gives the number of
    1s. Its 1s and 0s are published as counts (`positive`, `negative`), suppressed as one table with n as
    total, and the mean and its Wilson interval only when neither is hidden.
    """
    rows = planned_scores(frame[(frame["instrument"] == instrument) & (frame["score"] == score)])
    if rows.empty:
        raise ReportRefused(
            _("No one has answered %(instrument)s (score %(score)s) at a planned timepoint here yet.")
            % {"instrument": instrument, "score": score}
        )
    labels = group_labels(rows, group_by) if group_by else None
    shown: list[dict[str, Any]] = []
    for point in sorted(rows["timepoint"].unique(), key=timepoint_order):
        here = rows["timepoint"] == point
        parts: list[tuple[str, pd.Series]] = [(ALL_GROUPS, rows.loc[here, "value"])]
        if labels is not None:
            parts += [
                (level, rows.loc[here & (labels == level), "value"])
                for level in sorted(labels[here].unique())
            ]
        counts = [int(values.notna().sum()) for _level, values in parts]
        cells, _total, hidden = _group_cells(counts[1:], threshold) if labels is not None else ([], 0, set())
        binary = is_binary(parts[0][1])
        for index, (level, values) in enumerate(parts):
            n = counts[index]
            reason = None
            if is_small(n, threshold):
                reason = few_people(threshold)
            elif index > 0 and index - 1 in hidden:
                reason = _complement_reason(threshold)
            row: dict[str, Any] = {
                "timepoint": point,
                "group": level,
                "n": cells[index - 1] if index > 0 else suppress_count(n, threshold),
                "answered": None,
                "missing": None,
                "positive": None,
                "negative": None,
                **dict.fromkeys(DESCRIPTIVE_KEYS),
                "withheld": reason,
            }
            if index == 0:
                unscored = int(values.isna().sum())
                row["missing"] = suppress_count(unscored, threshold)
                if not is_small(unscored, threshold) and not is_small(n, threshold):
                    row["answered"] = int(values.size)
            if binary and reason is None:
                ones = int((values == 1).sum())
                split = suppress_table([[ones, n - ones]], threshold)
                row["positive"], row["negative"] = split.cells[0]
                if split.hidden:
                    reason = row["withheld"] = _binary_reason(threshold)
            if reason is None:
                row.update(describe_values(values))
            shown.append(row)
    return {
        "analysis": "descriptives",
        "instrument": instrument,
        "score": score,
        "group_by": group_by,
        "threshold": threshold,
        "n": suppress_count(int(rows["participant"].nunique()), threshold),
        "rows": shown,
    }


def prepost_report(
    frame: pd.DataFrame,
    *,
    instrument: str,
    score: str,
    before: str,
    after: str,
    group_by: str | None = None,
    threshold: int = DEFAULT_THRESHOLD,
) -> dict[str, Any]:
    """Change in a score between two timepoints, over the people who answered at both (analysis.prepost).

    With `group_by`, also per group (a person's group at the later timepoint); groups are suppressed as a
    table whose total is the overall n. n is the pairs; n_before and n_after the people with a score at each
    timepoint (so "28 had T0, 19 are pairs" is said, not hidden). A set of pairs below the threshold, or one
    the analysis cannot use (e.g. every change the same), is withheld with the reason.
    """
    if before == after:
        raise ReportRefused(_("--from and --to must be two different timepoints."))
    rows = planned_scores(frame[(frame["instrument"] == instrument) & (frame["score"] == score)])
    known = sorted(rows["timepoint"].unique(), key=timepoint_order)
    for point in (before, after):
        if point not in known:
            raise ReportRefused(
                _("No one has a %(score)s score at %(timepoint)s (timepoints with scores: %(known)s).")
                % {"score": score, "timepoint": point, "known": ", ".join(known) or _("none")}
            )
    scored = rows[rows["value"].notna()]
    first = scored[scored["timepoint"] == before].set_index("participant")
    second = scored[scored["timepoint"] == after].set_index("participant")
    pairs = (
        first[["value"]]
        .rename(columns={"value": "before"})
        .join(second[["value", "track", "organization"]].rename(columns={"value": "after"}), how="inner")
        .sort_index()
    )
    overall = _prepost_part(pairs, threshold)
    # Who had a score at each timepoint, beside the pairs: the people left out of the change are said.
    overall["n_before"] = suppress_count(len(first), threshold)
    overall["n_after"] = suppress_count(len(second), threshold)
    groups: list[dict[str, Any]] = []
    if group_by:
        labels = group_labels(pairs, group_by)
        levels = sorted(labels.unique())
        counts = [int((labels == level).sum()) for level in levels]
        cells, _total, hidden = _group_cells(counts, threshold)
        for index, level in enumerate(levels):
            part = _prepost_part(pairs[labels == level], threshold)
            if part["withheld"] is None and index in hidden:
                part = {**part, **dict.fromkeys(PREPOST_KEYS), "withheld": _complement_reason(threshold)}
            groups.append({"group": level, **part, "n": cells[index]})
    return {
        "analysis": "prepost",
        "instrument": instrument,
        "score": score,
        "from": before,
        "to": after,
        "group_by": group_by,
        "threshold": threshold,
        **overall,
        "groups": groups,
    }


def _prepost_part(pairs: pd.DataFrame, threshold: int) -> dict[str, Any]:
    n = len(pairs)
    part: dict[str, Any] = {
        "n": suppress_count(n, threshold),
        **dict.fromkeys(PREPOST_KEYS),
        "withheld": None,
    }
    if is_small(n, threshold) or n == 0:
        part["withheld"] = few_people(threshold) if n else _("no one answered at both timepoints")
        return part
    try:
        result = analysis.prepost(pairs, "before", "after")
    except AnalysisError as exc:
        part["withheld"] = exc.message
        return part
    part.update({key: result[key] for key in PREPOST_KEYS})  # type: ignore[literal-required]
    return part


# --- retention and fidelity ---------------------------------------------------------------------------------

RETENTION_KEYS = ("n_due", "n_completed", "n_missed", "n_pending", "share", "ci_low", "ci_high")
FIDELITY_KINDS = ("meeting", "stage")


def retention_report(
    frame: pd.DataFrame, *, group_by: str | None = None, threshold: int = DEFAULT_THRESHOLD
) -> dict[str, Any]:
    """Per timepoint (and per group): people due, answered, missed and still pending; the share answered.

    `frame` is dataset.timepoints_frame. Each timepoint's answered and missed counts are a table (groups by
    answered/missed, the row "all" its total) suppressed with complementary cells; a share whose counts are
    hidden is withheld too, since share times due gives the count back.
    """
    if frame.empty:
        raise ReportRefused(_("No evaluation timepoints are scheduled here yet."))
    labels = group_labels(frame, group_by) if group_by else None
    rows: list[dict[str, Any]] = []
    for point in sorted(frame["timepoint"].unique(), key=timepoint_order):
        here = frame["timepoint"] == point
        parts = [(ALL_GROUPS, frame[here])]
        if labels is not None:
            parts += [(level, frame[here & (labels == level)]) for level in sorted(labels[here].unique())]
        computed = [analysis.retention(part, "participant", "timepoint", "status")[0] for _l, part in parts]
        groups = computed[1:] if labels is not None else computed
        table = suppress_table([[r["n_completed"], r["n_missed"]] for r in groups], threshold)
        shown_counts = [
            (row[0], row[1], total) for row, total in zip(table.cells, table.row_totals, strict=True)
        ]
        if labels is not None:
            shown_counts.insert(0, (table.column_totals[0], table.column_totals[1], table.total))
        for (level, _part), result, (completed, missed, due) in zip(
            parts, computed, shown_counts, strict=True
        ):
            hidden = any(isinstance(value, str) for value in (completed, missed, due))
            reason = None
            if hidden:
                reason = (
                    few_people(threshold)
                    if is_small(result["n_due"], threshold)
                    else _(
                        "fewer than %(threshold)s people answered, or fewer than %(threshold)s missed: the "
                        "share would give the count away"
                    )
                    % {"threshold": threshold}
                )
            rows.append(
                {
                    "timepoint": point,
                    "group": level,
                    "n_due": due,
                    "n_completed": completed,
                    "n_missed": missed,
                    "n_pending": suppress_count(result["n_pending"], threshold),
                    "share": None if hidden else result["share"],
                    "ci_low": None if hidden else result["ci_low"],
                    "ci_high": None if hidden else result["ci_high"],
                    "withheld": reason,
                }
            )
    return {
        "analysis": "retention",
        "group_by": group_by,
        "threshold": threshold,
        "n": suppress_count(int(frame["participant"].nunique()), threshold),
        "rows": rows,
    }


def fidelity_report(
    frame: pd.DataFrame, *, group_by: str | None = None, threshold: int = DEFAULT_THRESHOLD
) -> dict[str, Any]:
    """The share of held meetings and stage advances with their safety checks on time: overall and by kind
    (and by group: then the rows are group by kind, and the overall is their total).

    `frame` is dataset.fidelity_frame. The rows' on-time and late counts are one table with the overall as
    its totals, suppressed with complementary cells; a share whose counts are hidden is withheld.
    """
    if frame.empty:
        raise ReportRefused(_("No meetings were held and no stage was advanced here yet."))
    labels = group_labels(frame, group_by) if group_by else None
    keys: list[tuple[str | None, str]] = []
    for kind in FIDELITY_KINDS:
        if labels is None:
            keys.append((None, kind))
        else:
            keys += [(level, kind) for level in sorted(labels[frame["kind"] == kind].unique())]
    parts = []
    for level, kind in keys:
        chosen = frame["kind"] == kind
        if labels is not None:
            chosen &= labels == level
        parts.append(frame[chosen])
    counts = [(int(part["on_time"].sum()), len(part)) for part in parts]
    table = suppress_table([[done, n - done] for done, n in counts], threshold)

    def shown(result: analysis.Fidelity | None, done: Any, late: Any, n: Any) -> dict[str, Any]:
        hidden = any(isinstance(value, str) for value in (done, late, n))
        return {
            "n": n,
            "on_time": done,
            "late": late,
            "share": None if hidden or result is None else result["share"],
            "ci_low": None if hidden or result is None else result["ci_low"],
            "ci_high": None if hidden or result is None else result["ci_high"],
            "withheld": _fidelity_reason(n, threshold) if hidden else None,
        }

    overall = shown(
        analysis.fidelity(frame, "on_time"), table.column_totals[0], table.column_totals[1], table.total
    )
    rows = []
    for (level, kind), part, cells, total in zip(keys, parts, table.cells, table.row_totals, strict=True):
        result = analysis.fidelity(part, "on_time") if len(part) else None
        rows.append({"group": level, "kind": kind, **shown(result, cells[0], cells[1], total)})
    return {
        "analysis": "fidelity",
        "group_by": group_by,
        "threshold": threshold,
        "overall": overall,
        "rows": rows,
    }


def _fidelity_reason(n: Any, threshold: int) -> str:
    if isinstance(n, str):
        return _("fewer than %(threshold)s: withheld so that no case can be singled out") % {
            "threshold": threshold
        }
    return _(
        "fewer than %(threshold)s were on time, or fewer than %(threshold)s were late: the share would give "
        "the count away"
    ) % {"threshold": threshold}


# --- one report over a scope (the command and the dashboards) ------------------------------------------------


def make(
    scope: dataset.Scope,
    *,
    kind: str,
    threshold: int,
    instrument: str | None = None,
    score: str | None = None,
    before: str | None = None,
    after: str | None = None,
    role: str | None = None,
    group_by: str | None = None,
    track: str | None = None,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    reference: str | None = None,
    model: Model = "auto",
    at: Sequence[int] = analysis.DEFAULT_SURVIVAL_DAYS,
) -> dict[str, Any]:
    """The analysis over the scope's data, suppressed: what evaluation_report prints and the dashboards show."""
    filters: dict[str, Any] = {"track": track, "since": since, "until": until}
    if kind in OUTCOME_ANALYSES:
        frame = outcomes_frame(ExternalOutcome.objects.filter(organization_id__in=scope.organization_ids))
        if kind == "irr":
            return irr_report(
                frame, group_by=group_by or "group", reference=reference, model=model, threshold=threshold
            )
        return survival_report(frame, group_by=group_by or "group", at=at, threshold=threshold)
    if kind in SCORE_ANALYSES:
        if not instrument or not score:
            raise ReportRefused(_("Say which instrument and which of its scores to analyse."))
        check_score(scope, instrument, score)
        roles = [role] if role else None
        frame = dataset.scores_frame(
            scope, instrument=instrument, score=score, roles=roles, include_unscored=True, **filters
        )
        if kind == "descriptives":
            return descriptives_report(
                frame, instrument=instrument, score=score, group_by=group_by, threshold=threshold
            )
        if not before or not after:
            raise ReportRefused(_("Say which two timepoints to compare."))
        return prepost_report(
            frame,
            instrument=instrument,
            score=score,
            before=before,
            after=after,
            group_by=group_by,
            threshold=threshold,
        )
    if kind == "retention":
        return retention_report(
            dataset.timepoints_frame(scope, **filters), group_by=group_by, threshold=threshold
        )
    if kind == "fidelity":
        return fidelity_report(
            dataset.fidelity_frame(scope, **filters), group_by=group_by, threshold=threshold
        )
    raise ReportRefused(
        _("There is no analysis %(name)r (analyses: %(known)s).")
        % {"name": kind, "known": ", ".join(ANALYSES)}
    )


def score_codes(definition: dict[str, Any] | None) -> list[str]:
    scoring = (definition or {}).get("scoring") or {}
    return [entry["code"] for entry in scoring.get("scores", [])]


def check_score(scope: dataset.Scope, instrument: str, score: str) -> None:
    """The instrument and its score exist for this scope; else the names that do, so the next try succeeds."""
    instruments = Instrument.objects.filter(Q(owner__isnull=True) | Q(owner_id__in=scope.organization_ids))
    found = instruments.filter(code=instrument).order_by("owner_id").first()
    if found is None:
        known = sorted(set(instruments.values_list("code", flat=True)))
        raise ReportRefused(
            _("There is no instrument %(name)r here. Known instruments: %(known)s.")
            % {"name": instrument, "known": ", ".join(known) or _("none")}
        )
    version = found.latest_version()
    scores = score_codes(version.definition if version else None)
    if score not in scores:
        raise ReportRefused(
            _("%(instrument)s has no score %(name)r. Its scores: %(known)s.")
            % {"instrument": instrument, "name": score, "known": ", ".join(scores) or _("none")}
        )


# --- output -------------------------------------------------------------------------------------------------


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(_finite(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def as_csv(report: dict[str, Any]) -> str:
    """One row per comparison (irr), group (survival, prepost), timepoint (descriptives, retention) or kind
    (fidelity), every cell formula-escaped; None as empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header, rows = _csv_rows(report)
    writer.writerow(header)
    for row in rows:
        writer.writerow(escape_row(_cell(value) for value in row))
    return out.getvalue()


def _csv_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    kind = report["analysis"]
    if kind == "irr":
        return IRR_CSV_COLUMNS, [[c[column] for column in IRR_CSV_COLUMNS] for c in report["comparisons"]]
    if kind == "survival":
        days = report["at"]
        header = ["group", "n", "events", "median_days", *[f"survival_at_{day}" for day in days]]
        rows = [
            [
                g["group"],
                g["n"],
                g["events"],
                g["median_days"],
                *[g["survival_at"][day] for day in days],
                report["logrank_p"],
                g["withheld"],
            ]
            for g in report["groups"]
        ]
        return [*header, "logrank_p", "withheld"], rows
    if kind == "descriptives":
        columns = ["timepoint", "group", "n", *DESCRIPTIVE_KEYS, "withheld"]
        return columns, [[row[column] for column in columns] for row in report["rows"]]
    if kind == "prepost":
        columns = ["n", *PREPOST_KEYS, "withheld"]
        rows = [[ALL_GROUPS, *[report[column] for column in columns]]]
        rows += [[g["group"], *[g[column] for column in columns]] for g in report["groups"]]
        return ["group", *columns], rows
    if kind == "retention":
        columns = ["timepoint", "group", *RETENTION_KEYS, "withheld"]
        return columns, [[row[column] for column in columns] for row in report["rows"]]
    columns = ["n", "on_time", "late", "share", "ci_low", "ci_high", "withheld"]
    rows = [[ALL_GROUPS, ALL_GROUPS, *[report["overall"][column] for column in columns]]]
    rows += [
        [row["group"] or ALL_GROUPS, row["kind"], *[row[column] for column in columns]]
        for row in report["rows"]
    ]
    return ["group", "kind", *columns], rows


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON: shown as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def few_people(threshold: int) -> str:
    return _("fewer than %(threshold)s people: withheld so that no one can be singled out") % {
        "threshold": threshold
    }


def _require_outcomes(frame: pd.DataFrame) -> None:
    if frame.empty:
        raise ReportRefused(_("There are no imported outcomes here; import them first with import_outcomes."))
