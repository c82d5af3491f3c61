"""The computing half of the evaluation dashboards (dashboards.py): every section of one domain's page as
plain JSON, from the reports of report.py and a few counts from the case records, suppressed at the scope's
threshold.

A module of its own because it needs pandas, scipy and statsmodels (report.py, analysis.py): it is imported
only when a page is computed, by `dashboards.compute` in the background worker (dashboard_tasks.py), so a web
worker that shows the pages never loads them (issue 10, the worker's memory).
"""

from __future__ import annotations

import datetime
import functools
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accountability.models import (
    REPAIR_KINDS,
    CheckIn,
    ProgressStatus,
    StaircaseStep,
    Step,
    SurvivorView,
)
from circlekeeper.cases.models import Case
from circlekeeper.evaluation import analysis, dataset, report
from circlekeeper.evaluation.dashboards import CURVE_STEP_DAYS, DOMAINS_BY_CODE, ScoreSpec
from circlekeeper.evaluation.models import ExternalOutcome
from circlekeeper.evaluation.suppression import is_small, suppress_count, suppress_table
from circlekeeper.instruments.models import Instrument
from circlekeeper.safety.models import RiskLevel, SafetyCheck, SafetyHold
from circlekeeper.support.models import PodMeasure, PodSide

logger = logging.getLogger(__name__)

# --- filters ------------------------------------------------------------------------------------------------


def narrowed(scope: dataset.Scope, organization: str) -> dataset.Scope:
    """A network's scope narrowed to one of its pooled organizations (same evaluation, same threshold)."""
    if not organization or scope.network is None:
        return scope
    chosen = tuple(o for o in scope.organizations if o.slug == organization)
    return dataset.Scope(chosen, scope.network, scope.evaluation)


def case_filters(filters: dict[str, str]) -> dict[str, Any]:
    """The case filters of a page: its track, and the calendar year the cases were opened in (dashboard_forms)."""
    year = filters.get("period", "")
    return {
        "track": filters.get("track") or None,
        "since": datetime.date(int(year), 1, 1) if year else None,
        "until": datetime.date(int(year), 12, 31) if year else None,
    }


# --- computing ----------------------------------------------------------------------------------------------


def compute(
    scope: dataset.Scope,
    domain_code: str,
    filters: dict[str, str],
    *,
    now: datetime.datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Every section of one domain's page, as JSON (see the module's docstring)."""
    domain = DOMAINS_BY_CODE[domain_code]
    now = now or timezone.now()
    scope = narrowed(scope, filters.get("organization", ""))
    chosen = case_filters(filters)
    threshold = scope.threshold
    steps: list[Callable[[], dict[str, Any]]] = [
        functools.partial(_score_section, scope, spec, chosen, threshold) for spec in domain.scores
    ]
    steps += [functools.partial(EXTRAS[extra], scope, chosen, threshold, now) for extra in domain.extras]
    sections = []
    for done, step in enumerate(steps, start=1):
        sections.append(step())
        if on_progress is not None:
            on_progress(math.floor(100 * done / len(steps)))
    # "now" is kept: an open safety hold counts until then, and a bundle recomputes its days from it (bundle.py).
    return {
        "domain": domain.code,
        "threshold": threshold,
        "filters": filters,
        "now": now.isoformat(),
        "sections": sections,
    }


def _refusal(exc: report.ReportRefused | analysis.AnalysisError) -> str:
    return str(exc)


def _score_section(
    scope: dataset.Scope, spec: ScoreSpec, chosen: dict[str, Any], threshold: int
) -> dict[str, Any]:
    """Descriptives per timepoint, and the change from the first timepoint to each later one: report.make's
    numbers, over the same frame."""
    section: dict[str, Any] = {
        "kind": "score",
        "instrument": spec.instrument,
        "score": spec.score,
        "role": spec.role,
        "labels": _score_labels(spec),
        "descriptives": None,
        "prepost": [],
        "refused": None,
    }
    roles = [spec.role] if spec.role else None
    frame = dataset.scores_frame(
        scope, instrument=spec.instrument, score=spec.score, roles=roles, include_unscored=True, **chosen
    )
    try:
        described = report.descriptives_report(
            frame, instrument=spec.instrument, score=spec.score, threshold=threshold
        )
    except report.ReportRefused as exc:
        section["refused"] = _refusal(exc)
        return section
    section["descriptives"] = described
    points = [row["timepoint"] for row in described["rows"]]
    for later in points[1:]:
        try:
            section["prepost"].append(
                report.prepost_report(
                    frame,
                    instrument=spec.instrument,
                    score=spec.score,
                    before=points[0],
                    after=later,
                    threshold=threshold,
                )
            )
        except report.ReportRefused:
            continue
    return section


def _score_labels(spec: ScoreSpec) -> dict[str, str]:
    instrument = Instrument.objects.filter(code=spec.instrument, owner__isnull=True).first()
    version = instrument.latest_version() if instrument else None
    for entry in ((version.definition if version else {}).get("scoring") or {}).get("scores", []):
        if entry["code"] == spec.score:
            return dict(entry.get("label") or {})
    return {}


def _cases(scope: dataset.Scope, chosen: dict[str, Any]) -> Any:
    q = Q(organization_id__in=scope.organization_ids)
    if chosen["track"]:
        q &= Q(track=chosen["track"])
    if chosen["since"]:
        q &= Q(opened_on__gte=chosen["since"])
    if chosen["until"]:
        q &= Q(opened_on__lte=chosen["until"])
    return Case.objects.filter(q)


def _counts(codes: Sequence[str], rows: Sequence[Sequence[int]], threshold: int) -> dict[str, Any]:
    """A table of counts (rows by codes) as it may be shown, with its totals (suppression.suppress_table)."""
    table = suppress_table([list(row) for row in rows], threshold)
    return {
        "codes": list(codes),
        "cells": table.cells,
        "row_totals": table.row_totals,
        "column_totals": table.column_totals,
        "total": table.total,
    }


def risk_levels_by_case(
    scope: dataset.Scope, chosen: dict[str, Any]
) -> tuple[dict[int, str], dict[int, str]]:
    """Each case's risk level at the survivor's first and at their latest safety check (two maps by case)."""
    first: dict[int, str] = {}
    latest: dict[int, str] = {}
    for case_id, level in (
        SafetyCheck.objects.of_survivors()
        .filter(case__in=_cases(scope, chosen))
        .exclude(level="")
        .order_by("checked_at", "id")
        .values_list("case_id", "level")
    ):
        first.setdefault(case_id, level)
        latest[case_id] = level
    return first, latest


def _risk_levels(
    scope: dataset.Scope, chosen: dict[str, Any], threshold: int, now: datetime.datetime
) -> dict[str, Any]:
    """Each case's risk level at the survivor's first and latest safety check."""
    first, latest = risk_levels_by_case(scope, chosen)
    levels = list(RiskLevel.values)
    rows = [[Counter(found.values())[level] for level in levels] for found in (first, latest)]
    return {"kind": "risk_levels", **_counts(levels, rows, threshold)}


def hold_days_by_case(
    scope: dataset.Scope, chosen: dict[str, Any], now: datetime.datetime
) -> tuple[dict[int, float], int]:
    """Days on safety hold per case held (all its holds; an open one counts until `now`), and how many cases
    the page reads."""
    cases = list(_cases(scope, chosen).values_list("pk", flat=True))
    days: dict[int, float] = defaultdict(float)
    for case_id, opened_at, lifted_at in SafetyHold.objects.filter(case_id__in=cases).values_list(
        "case_id", "opened_at", "lifted_at"
    ):
        days[case_id] += max(((lifted_at or now) - opened_at).total_seconds() / 86400, 0.0)
    return dict(days), len(cases)


def _hold_days(
    scope: dataset.Scope, chosen: dict[str, Any], threshold: int, now: datetime.datetime
) -> dict[str, Any]:
    """Days on safety hold per case (all its holds; an open one counts until now), over the cases held."""
    days, cases = hold_days_by_case(scope, chosen, now)
    held = len(days)
    counts = _counts(["held", "not_held"], [[held, cases - held]], threshold)
    section: dict[str, Any] = {"kind": "hold_days", **counts, "days": None, "withheld": None}
    if is_small(held, threshold) or held == 0:
        section["withheld"] = report.few_people(threshold) if held else None
        return section
    section["days"] = report.describe_values(pd.Series(list(days.values()), dtype=float))
    return section


def latest_checkins(scope: dataset.Scope, chosen: dict[str, Any], *, repair_only: bool) -> dict[Any, str]:
    """Each commitment's latest reported progress (a commitment keeps its number across versions)."""
    checkins = CheckIn.objects.filter(commitment__version__agreement__case__in=_cases(scope, chosen))
    if repair_only:
        checkins = checkins.filter(commitment__kind__in=REPAIR_KINDS)
    latest: dict[Any, str] = {}
    for case_id, number, status in checkins.order_by("at", "id").values_list(
        "commitment__version__agreement__case_id", "commitment__number", "status"
    ):
        latest[(case_id, number)] = status
    return latest


def _commitments_section(
    scope: dataset.Scope, chosen: dict[str, Any], threshold: int, *, repair_only: bool
) -> dict[str, Any]:
    latest = latest_checkins(scope, chosen, repair_only=repair_only)
    statuses = list(ProgressStatus.values)
    counts = Counter(latest.values())
    table = _counts(statuses, [[counts[status] for status in statuses]], threshold)
    kept, total = counts[ProgressStatus.KEPT], len(latest)
    section = {"kind": "commitments", "repair_only": repair_only, **table, "share": None, "ci": None}
    hidden = any(isinstance(cell, str) for cell in table["cells"][0]) or isinstance(table["total"], str)
    if total and not hidden:
        result = analysis.fidelity(pd.DataFrame({"kept": [True] * kept + [False] * (total - kept)}), "kept")
        section.update(share=result["share"], ci=[result["ci_low"], result["ci_high"]])
    return section


def top_steps(scope: dataset.Scope, chosen: dict[str, Any]) -> dict[int, int]:
    """The highest step of the staircase recorded for each case that has one."""
    return dict(
        StaircaseStep.objects.filter(case__in=_cases(scope, chosen))
        .values("case_id")
        .annotate(top=Max("step"))
        .values_list("case_id", "top")
    )


def _staircase(
    scope: dataset.Scope, chosen: dict[str, Any], threshold: int, now: datetime.datetime
) -> dict[str, Any]:
    """The highest step of the staircase recorded for each case."""
    counts = Counter(top_steps(scope, chosen).values())
    steps = [str(step) for step in Step.values]
    return {"kind": "staircase", **_counts(steps, [[counts[int(step)] for step in steps]], threshold)}


def repair_views(scope: dataset.Scope, chosen: dict[str, Any]) -> dict[int, int]:
    """The survivor's latest rating of whether the harm was repaired (0 not at all to 3 fully), per case."""
    latest: dict[int, int] = {}
    for case_id, rating in (
        SurvivorView.objects.filter(case__in=_cases(scope, chosen), repair__isnull=False)
        .order_by("recorded_at", "id")
        .values_list("case_id", "repair")
    ):
        latest[case_id] = rating
    return latest


def _survivor_view_repair(
    scope: dataset.Scope, chosen: dict[str, Any], threshold: int, now: datetime.datetime
) -> dict[str, Any]:
    """The survivor's latest rating of whether the harm was repaired (0 not at all to 3 fully), per case."""
    counts = Counter(repair_views(scope, chosen).values())
    values = ["0", "1", "2", "3"]
    return {"kind": "survivor_view_repair", **_counts(values, [[counts[int(v)] for v in values]], threshold)}


POD_MEASURES = ("pod_size", "consenting_active", "density")


def latest_pod_measures(scope: dataset.Scope, chosen: dict[str, Any]) -> dict[int, tuple[float, ...]]:
    """The survivor's support network as last measured, per case: POD_MEASURES' values."""
    latest: dict[int, tuple[float, ...]] = {}
    for case_id, *values in (
        PodMeasure.objects.filter(case__in=_cases(scope, chosen), side=PodSide.SURVIVOR)
        .order_by("computed_at", "id")
        .values_list("case_id", *POD_MEASURES)
    ):
        latest[case_id] = tuple(values)
    return latest


def _pod_measures(
    scope: dataset.Scope, chosen: dict[str, Any], threshold: int, now: datetime.datetime
) -> dict[str, Any]:
    """The survivor's support network as last measured, per case: its size, active allies, and density."""
    latest = latest_pod_measures(scope, chosen)
    n = len(latest)
    rows = []
    for index, measure in enumerate(POD_MEASURES):
        row: dict[str, Any] = {"measure": measure, "n": suppress_count(n, threshold), "withheld": None}
        if n == 0 or is_small(n, threshold):
            row["withheld"] = report.few_people(threshold) if n else None
        else:
            row.update(
                report.describe_values(pd.Series([values[index] for values in latest.values()], dtype=float))
            )
        rows.append(row)
    return {"kind": "pod_measures", "rows": rows}


def _report_section(kind: str, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One section's report; a refusal, or a numerical failure of the libraries (a singular matrix, an
    overflow), is said for this section alone, so the rest of the page is still computed and shown."""
    try:
        return {"kind": kind, "report": make(), "refused": None}
    except (report.ReportRefused, analysis.AnalysisError) as exc:
        return {"kind": kind, "report": None, "refused": _refusal(exc)}
    except (ValueError, ArithmeticError):
        # numpy's LinAlgError is a ValueError. The data behind it are not shown, only logged by kind.
        logger.exception("The dashboard section %s could not be computed", kind)
        return {
            "kind": kind,
            "report": None,
            "refused": _(
                "This part could not be computed from these data (the statistics library failed on them); "
                "the rest of the page is not affected."
            ),
        }


def _outcomes(scope: dataset.Scope) -> pd.DataFrame:
    return report.outcomes_frame(ExternalOutcome.objects.filter(organization_id__in=scope.organization_ids))


def _irr(
    scope: dataset.Scope, chosen: dict[str, Any], threshold: int, now: datetime.datetime
) -> dict[str, Any]:
    return _report_section("irr", lambda: report.irr_report(_outcomes(scope), threshold=threshold))


def _survival(
    scope: dataset.Scope, chosen: dict[str, Any], threshold: int, now: datetime.datetime
) -> dict[str, Any]:
    frame = _outcomes(scope)
    longest = int(frame["person_days"].max()) if len(frame) else 0
    at = list(range(0, longest + 1, CURVE_STEP_DAYS)) or [0]
    return _report_section("survival", lambda: report.survival_report(frame, at=at, threshold=threshold))


def _retention(
    scope: dataset.Scope, chosen: dict[str, Any], threshold: int, now: datetime.datetime
) -> dict[str, Any]:
    return _report_section(
        "retention",
        lambda: report.retention_report(dataset.timepoints_frame(scope, **chosen), threshold=threshold),
    )


def _fidelity(
    scope: dataset.Scope, chosen: dict[str, Any], threshold: int, now: datetime.datetime
) -> dict[str, Any]:
    return _report_section(
        "fidelity",
        lambda: report.fidelity_report(dataset.fidelity_frame(scope, **chosen), threshold=threshold),
    )


EXTRAS: dict[str, Callable[[dataset.Scope, dict[str, Any], int, datetime.datetime], dict[str, Any]]] = {
    "risk_levels": _risk_levels,
    "hold_days": _hold_days,
    "staircase": _staircase,
    "commitments": lambda scope, chosen, threshold, now: _commitments_section(
        scope, chosen, threshold, repair_only=False
    ),
    "repair_commitments": lambda scope, chosen, threshold, now: _commitments_section(
        scope, chosen, threshold, repair_only=True
    ),
    "survivor_view_repair": _survivor_view_repair,
    "pod_measures": _pod_measures,
    "irr": _irr,
    "survival": _survival,
    "retention": _retention,
    "fidelity": _fidelity,
}
