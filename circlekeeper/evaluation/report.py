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
import io
import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from django.utils.translation import gettext as _

from circlekeeper.evaluation import analysis
from circlekeeper.evaluation.analysis import AnalysisError, Model
from circlekeeper.evaluation.models import ExternalOutcomeQuerySet
from circlekeeper.evaluation.suppression import DEFAULT_THRESHOLD, is_small, suppress_count, suppress_table
from circlekeeper.lib.csv_safety import escape_row

AVAILABLE = ("irr", "survival")
NOT_BUILT_YET = ("descriptives", "prepost", "retention", "fidelity")
ANALYSES = ("descriptives", "prepost", "irr", "survival", "retention", "fidelity")
GROUPINGS = ("group", "organization")
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
) -> dict[str, Any]:
    _require_outcomes(frame)
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
            reason = _few_people(threshold)
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
    if reasons[reference] is None and len(shown) > 1:
        rows = frame[labels.isin(shown)]
        try:
            result = analysis.irr(
                rows.assign(_group=labels[labels.isin(shown)]),
                "_group",
                "events",
                "person_days",
                reference=reference,
                model=model,
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
        "dispersion": result["dispersion"] if result else None,
        "n": result["n"] if result else None,
        "groups": groups,
        "comparisons": comparisons,
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
) -> dict[str, Any]:
    _require_outcomes(frame)
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
    rows = pd.DataFrame({"group": labels, "days": days, "event": had_event})
    checkpoints = sorted({int(day) for day in at})
    groups: list[dict[str, Any]] = []
    for level in sorted(labels.unique()):
        part = rows[rows["group"] == level]
        n, events = len(part), int(part["event"].sum())
        reason = None
        shown_events: Any = None
        if is_small(n, threshold):
            reason = _few_people(threshold)
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
    if shown:
        try:
            result = analysis.survival(
                rows[rows["group"].isin(shown)], "group", "days", "event", at=checkpoints
            )
        except AnalysisError as exc:
            raise ReportRefused(exc.message) from None
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
        "logrank_p": result["logrank_p"] if result else None,
        "logrank_withheld": logrank_withheld,
    }


# --- output -------------------------------------------------------------------------------------------------


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(_finite(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def as_csv(report: dict[str, Any]) -> str:
    """One row per comparison (irr) or per group (survival), every cell formula-escaped; None as empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if report["analysis"] == "irr":
        writer.writerow(IRR_CSV_COLUMNS)
        for comparison in report["comparisons"]:
            writer.writerow(escape_row(_cell(comparison[column]) for column in IRR_CSV_COLUMNS))
    else:
        days = report["at"]
        writer.writerow(
            [
                "group",
                "n",
                "events",
                "median_days",
                *[f"survival_at_{day}" for day in days],
                "logrank_p",
                "withheld",
            ]
        )
        for group in report["groups"]:
            cells = [group["group"], group["n"], group["events"], group["median_days"]]
            cells += [group["survival_at"][day] for day in days]
            cells += [report["logrank_p"], group["withheld"]]
            writer.writerow(escape_row(_cell(value) for value in cells))
    return out.getvalue()


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


def _few_people(threshold: int) -> str:
    return _("fewer than %(threshold)s people: withheld so that no one can be singled out") % {
        "threshold": threshold
    }


def _require_outcomes(frame: pd.DataFrame) -> None:
    if frame.empty:
        raise ReportRefused(_("There are no imported outcomes here; import them first with import_outcomes."))
