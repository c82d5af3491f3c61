"""What each evaluation dashboard page computes (EVALUATION.md "Domains"), suppressed, and how it is shown.

Two halves, so that a result can be computed once in the background and shown in any language:

- `compute(scope, domain, filters)` gives plain JSON: the reports of report.py (the very functions
  `evaluation_report` prints, so the page and the command show the same numbers) and a few counts from the
  case records (risk levels, safety holds, the staircase, commitments kept, support networks), every count of
  people or cases suppressed at the scope's threshold, with complementary suppression where a table has totals.
- `present(result)` turns it into sections of words, tables and SVG charts (charts.py) in the reader's language.

The computing itself lives in dashboard_compute.py, which needs pandas, scipy and statsmodels: `compute`
imports it when called (by the background worker, dashboard_tasks.py), so the pages, which only show stored
results and queue new ones, run in a web worker that never loads those libraries (issue 10, its memory).

These pages go to people beyond the case team (evaluators, program admins, supervisors, a network), so they are
aggregates only: no code, no row, no free text ever enters a result.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.safestring import SafeString
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _

from circlekeeper.accountability.models import (
    CheckIn,
    ProgressStatus,
    StaircaseStep,
    Step,
    SurvivorView,
)
from circlekeeper.cases.models import Case, ParticipantRole
from circlekeeper.evaluation import charts, dataset
from circlekeeper.evaluation.models import ExternalOutcome, Timepoint, TimepointStatus
from circlekeeper.evaluation.suppression import COMPLEMENT_MARK
from circlekeeper.instruments.models import Response, ResponseStatus
from circlekeeper.protocol.models import Meeting, MeetingStatus, Transition
from circlekeeper.safety.models import RiskLevel, SafetyCheck, SafetyHold
from circlekeeper.support.models import PodMeasure

S = ParticipantRole.SURVIVOR
H = ParticipantRole.PERSON_WHO_CAUSED_HARM
# The survival curve is shown at monthly steps: finer steps would show single people's days.
CURVE_STEP_DAYS = 30
# The days the table gives the estimate at (multiples of the curve's step).
SURVIVAL_MARKS = (90, 180, 360)


@dataclass(frozen=True)
class ScoreSpec:
    instrument: str
    score: str
    role: str | None  # None: everyone who answered


@dataclass(frozen=True)
class Domain:
    code: str
    title: Promise
    description: Promise
    scores: tuple[ScoreSpec, ...] = ()
    extras: tuple[str, ...] = ()


DOMAINS: tuple[Domain, ...] = (
    Domain(
        "safety",
        gettext_lazy("Safety"),
        gettext_lazy("The survivor's felt safety over time, risk levels, and days on safety hold."),
        (ScoreSpec("outcome_safety", "felt_safety", S),),
        ("risk_levels", "hold_days"),
    ),
    Domain(
        "recurrence",
        gettext_lazy("Violence recurrence"),
        gettext_lazy(
            "Recurrence reported by survivors at each timepoint, and, when outcomes were imported, rates of "
            "recurrence between groups and the time to a first recurrence."
        ),
        (ScoreSpec("outcome_recurrence", "any_recurrence", S), ScoreSpec("outcome_recurrence", "kinds", S)),
        ("irr", "survival"),
    ),
    Domain(
        "accountability",
        gettext_lazy("Accountability"),
        gettext_lazy(
            "Accountability and acknowledgment reported by the people who caused harm, the highest step of the "
            "staircase reached, and the share of commitments kept."
        ),
        (
            ScoreSpec("outcome_accountability", "accountability", H),
            ScoreSpec("outcome_accountability", "acknowledgment", H),
        ),
        ("staircase", "commitments"),
    ),
    Domain(
        "repair",
        gettext_lazy("Repair"),
        gettext_lazy("Repair actions completed, and the survivor's view of whether the harm was repaired."),
        (ScoreSpec("outcome_repair", "repair", S),),
        ("repair_commitments", "survivor_view_repair"),
    ),
    Domain(
        "healing",
        gettext_lazy("Healing"),
        gettext_lazy(
            "Only survivors who chose to answer, in their own terms; “prefer not to say” is always allowed."
        ),
        (ScoreSpec("outcome_healing", "healing", S),),
    ),
    Domain(
        "family",
        gettext_lazy("Family and child well-being"),
        gettext_lazy(
            "Family functioning, the children's well-being and parenting stress, as survivors report them."
        ),
        (
            ScoreSpec("outcome_family_wellbeing", "family_functioning", S),
            ScoreSpec("outcome_family_wellbeing", "child_wellbeing", S),
            ScoreSpec("outcome_family_wellbeing", "parenting_stress", S),
        ),
    ),
    Domain(
        "connectedness",
        gettext_lazy("Connectedness"),
        gettext_lazy(
            "How connected people feel, how many people they could turn to, and the size of the survivor's "
            "support network (its latest measure per case)."
        ),
        (
            ScoreSpec("outcome_connectedness", "connectedness", S),
            ScoreSpec("outcome_connectedness", "people_to_turn_to", S),
            ScoreSpec("outcome_connectedness", "connectedness", H),
        ),
        ("pod_measures",),
    ),
    Domain(
        "experience",
        gettext_lazy("Experience of the process"),
        gettext_lazy(
            "Voice, respect, choice and not feeling pressured, as each side experienced the process."
        ),
        (
            ScoreSpec("experience_of_process", "experience", S),
            ScoreSpec("experience_of_process", "experience", H),
        ),
    ),
    Domain(
        "fidelity",
        gettext_lazy("Fidelity"),
        gettext_lazy(
            "Whether the safety checks were done on time: the survivor's check-in and check-out at every meeting "
            "held, and a safety check before every stage advanced."
        ),
        extras=("fidelity",),
    ),
    Domain(
        "retention",
        gettext_lazy("Retention"),
        gettext_lazy("At each timepoint, how many people were due, answered, missed it, or still have time."),
        extras=("retention",),
    ),
)
DOMAINS_BY_CODE = {domain.code: domain for domain in DOMAINS}


# --- filters ------------------------------------------------------------------------------------------------


def filters_key(filters: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()


# --- computing (dashboard_compute.py) -----------------------------------------------------------------------


def compute(
    scope: dataset.Scope,
    domain_code: str,
    filters: dict[str, str],
    *,
    now: datetime.datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Every section of one domain's page, as JSON (see the module's docstring; dashboard_compute.py)."""
    # Imported here, not at the top: computing needs pandas, scipy and statsmodels, and a web worker that only
    # shows the pages and queues their computation should not load them (issue 10, the worker's memory).
    from circlekeeper.evaluation import dashboard_compute

    return dashboard_compute.compute(scope, domain_code, filters, now=now, on_progress=on_progress)


def data_stamp(scope: dataset.Scope) -> str:
    """A fingerprint of the data the dashboards read: when it changes, a stored result is computed anew.

    New rows raise a maximum id; changes of state (a timepoint answered or missed, a hold lifted, a meeting
    held) change a count. Changes it cannot see (a case's track re-chosen) are caught by the results' age.
    """
    ids = scope.organization_ids
    mine = Q(organization_id__in=ids)
    parts = [
        Response.objects.filter(mine, status=ResponseStatus.SUBMITTED).aggregate(m=Max("id"), c=Count("id")),
        Timepoint.objects.filter(mine).aggregate(
            m=Max("id"),
            a=Count("id", filter=Q(status=TimepointStatus.COMPLETED)),
            b=Count("id", filter=Q(status=TimepointStatus.MISSED)),
        ),
        Case.objects.filter(mine).aggregate(m=Max("id"), c=Count("id")),
        SafetyCheck.objects.filter(mine).aggregate(m=Max("id")),
        SafetyHold.objects.filter(mine).aggregate(
            m=Max("id"), c=Count("id", filter=Q(lifted_at__isnull=False))
        ),
        CheckIn.objects.filter(mine).aggregate(m=Max("id")),
        StaircaseStep.objects.filter(mine).aggregate(m=Max("id")),
        SurvivorView.objects.filter(mine).aggregate(m=Max("id")),
        PodMeasure.objects.filter(mine).aggregate(m=Max("id")),
        ExternalOutcome.objects.filter(mine).aggregate(m=Max("id"), c=Count("id")),
        Meeting.objects.filter(mine).aggregate(c=Count("id", filter=Q(status=MeetingStatus.HELD))),
        Transition.objects.filter(mine).aggregate(m=Max("id")),
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# --- presenting ---------------------------------------------------------------------------------------------


@dataclass
class Table:
    caption: str
    columns: list[str]
    rows: list[tuple[str, list[str]]]


@dataclass
class Section:
    title: str
    description: str = ""
    n_text: str = ""
    chart: SafeString | None = None
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refused: str | None = None
    # Where its reproducibility bundle is downloaded (bundle.py), for those who may download one.
    download_url: str = ""


def number(value: Any, places: int = 2) -> str:
    """A number as the reader's language writes it; a suppressed count as it was shown; nothing as a dash."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return number_format(value, force_grouping=True)
    return number_format(round(float(value), places), decimal_pos=places)


def p_value(value: Any) -> str:
    if value is None:
        return "—"
    return "< 0.001" if value < 0.001 else number(value, 3)


def percent(value: Any) -> str:
    return "—" if value is None else f"{number(100 * value, 1)} %"


def suppressed_text(value: Any, threshold: int) -> str:
    if value == COMPLEMENT_MARK:
        return _("* (hidden so that a small count cannot be worked out)")
    return (
        _("fewer than %(threshold)s") % {"threshold": threshold} if isinstance(value, str) else number(value)
    )


def role_label(role: str | None) -> str:
    if role is None:
        return _("Everyone who answered")
    return str(ParticipantRole(role).label)


def _label(labels: dict[str, str], fallback: str) -> str:
    language = (get_language() or "en").split("-")[0]
    return labels.get(language) or labels.get("en") or fallback


def present(result: dict[str, Any], *, chart_prefix: str = "chart") -> list[Section]:
    threshold = result["threshold"]
    shown = []
    for index, section in enumerate(result["sections"]):
        chart_id = f"{chart_prefix}-{index + 1}"
        shown.append(PRESENTERS[section["kind"]](section, threshold, chart_id))
    return shown


def _n_text(n: Any, threshold: int, what: str = "people") -> str:
    if isinstance(n, str):
        if what == "cases":
            return _("Based on fewer than %(threshold)s cases.") % {"threshold": threshold}
        if what == "commitments":
            return _("Based on fewer than %(threshold)s commitments.") % {"threshold": threshold}
        return _("Based on fewer than %(threshold)s people.") % {"threshold": threshold}
    if what == "cases":
        return ngettext("Based on %(n)s case.", "Based on %(n)s cases.", n) % {"n": number(n)}
    if what == "commitments":
        return ngettext("Based on %(n)s commitment.", "Based on %(n)s commitments.", n) % {"n": number(n)}
    return ngettext("Based on %(n)s person.", "Based on %(n)s people.", n) % {"n": number(n)}


def _present_score(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    name = _label(section["labels"], section["score"])
    title = f"{name} · {role_label(section['role'])}"
    shown = Section(title=title)
    if section["refused"]:
        shown.refused = section["refused"]
        return shown
    described = section["descriptives"]
    shown.n_text = _n_text(described["n"], threshold)
    bars = []
    rows = []
    for row in described["rows"]:
        n = row["n"]
        if row["withheld"]:
            text = _("suppressed (n %(n)s)") % {"n": number(n)}
            shown.notes.append(f"{row['timepoint']}: {row['withheld']}")
        else:
            text = _("mean %(mean)s, 95%% CI %(low)s–%(high)s, n %(n)s") % {
                "mean": number(row["mean"]),
                "low": number(row["ci_low"]),
                "high": number(row["ci_high"]),
                "n": number(n),
            }
        bars.append(charts.Bar(row["timepoint"], row["mean"], text, row["ci_low"], row["ci_high"]))
        if row.get("missing"):
            shown.notes.append(
                _(
                    "%(timepoint)s: %(missing)s answered without a score (too few items answered); n counts those with one."
                )
                % {"timepoint": row["timepoint"], "missing": suppressed_text(row["missing"], threshold)}
            )
        rows.append(
            (
                row["timepoint"],
                [number(n), number(row.get("answered")), number(row.get("missing"))]
                + [
                    number(row[key])
                    for key in ("mean", "sd", "ci_low", "ci_high", "median", "q1", "q3", "min", "max")
                ],
            )
        )
    highest = max(
        (v for r in described["rows"] for v in (r["max"], r["ci_high"]) if v is not None), default=1.0
    )
    shown.chart = charts.bar_chart(
        chart_id=chart_id,
        title=_("%(score)s: mean at each timepoint") % {"score": name},
        description=_(
            "Bars show the mean at each timepoint, whiskers its 95%% confidence interval. Timepoints with fewer "
            "than %(threshold)s people are not drawn. The table below has the same numbers."
        )
        % {"threshold": threshold},
        bars=bars,
        lowest=0.0,
        highest=max(highest, 1.0),
    )
    shown.tables.append(
        Table(
            caption=_("%(score)s at each timepoint") % {"score": name},
            columns=[
                _("Timepoint"),
                _("People with a score (n)"),
                _("Answered"),
                _("Answered without a score"),
                _("Mean"),
                _("SD"),
                _("95% CI, low"),
                _("95% CI, high"),
                _("Median"),
                _("Lower quartile"),
                _("Upper quartile"),
                _("Lowest"),
                _("Highest"),
            ],
            rows=rows,
        )
    )
    if section["prepost"]:
        change_rows = []
        for change in section["prepost"]:
            label = f"{change['from']} → {change['to']}"
            if change["withheld"]:
                shown.notes.append(f"{label}: {change['withheld']}")
            change_rows.append(
                (
                    label,
                    [
                        number(change.get("n_before")),
                        number(change.get("n_after")),
                        number(change["n"]),
                        number(change["mean_change"]),
                        number(change.get("mean_change_ci_low")),
                        number(change.get("mean_change_ci_high")),
                        number(change["t"]),
                        p_value(change["p_t"]),
                        p_value(change["p_wilcoxon"]),
                        number(change["d_z"]),
                        number(change["d_z_ci_low"]),
                        number(change["d_z_ci_high"]),
                    ],
                )
            )
        shown.tables.append(
            Table(
                caption=_("Change from the first timepoint, over the people who answered at both"),
                columns=[
                    _("Timepoints"),
                    _("With a score at the first"),
                    _("With a score at the later"),
                    _("Pairs (n)"),
                    _("Mean change"),
                    _("Mean change 95% CI, low"),
                    _("Mean change 95% CI, high"),
                    _("Paired t"),
                    _("p (t-test)"),
                    _("p (Wilcoxon)"),
                    _("Effect size d_z"),
                    _("d_z 95% CI, low"),
                    _("d_z 95% CI, high"),
                ],
                rows=change_rows,
            )
        )
    return shown


def _count_bars(codes: list[str], labels: list[str], cells: list[Any], threshold: int) -> list[charts.Bar]:
    return [
        charts.Bar(label, None if isinstance(cell, str) else float(cell), suppressed_text(cell, threshold))
        for label, cell in zip(labels, cells, strict=True)
    ]


def _count_table(caption: str, heading: str, labels: list[str], cells: list[Any], total: Any) -> Table:
    rows = [(label, [number(cell)]) for label, cell in zip(labels, cells, strict=True)]
    rows.append((_("Total"), [number(total)]))
    return Table(caption=caption, columns=[heading, _("Count")], rows=rows)


def _present_risk(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    labels = [str(RiskLevel(code).label) for code in section["codes"]]
    shown = Section(
        title=_("Risk level at the first and the latest safety check"),
        description=_("Cases by the risk level of the survivor's first safety check and of the latest one."),
        n_text=_n_text(section["row_totals"][0], threshold, "cases"),
    )
    shown.chart = charts.bar_chart(
        chart_id=chart_id,
        title=_("Cases by risk level at the latest safety check"),
        description=_("One bar per risk level; counts below %(threshold)s are not drawn.")
        % {"threshold": threshold},
        bars=_count_bars(section["codes"], labels, section["cells"][1], threshold),
    )
    shown.tables.append(
        Table(
            caption=_("Cases by risk level"),
            columns=[_("Safety check"), *labels, _("Cases")],
            rows=[
                (moment, [number(cell) for cell in cells] + [number(total)])
                for moment, cells, total in zip(
                    [_("First"), _("Latest")], section["cells"], section["row_totals"], strict=True
                )
            ],
        )
    )
    return shown


def _present_hold_days(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    shown = Section(
        title=_("Days on safety hold"),
        description=_(
            "Per case ever put on hold: all its days on hold (a hold still open counts until today)."
        ),
        n_text=_n_text(section["total"], threshold, "cases"),
    )
    shown.tables.append(
        _count_table(
            _("Cases put on safety hold"),
            _("Cases"),
            [_("Ever on hold"), _("Never on hold")],
            section["cells"][0],
            section["total"],
        )
    )
    if section["withheld"]:
        shown.notes.append(section["withheld"])
    days = section["days"]
    if days:
        shown.tables.append(
            Table(
                caption=_("Days on hold per case held"),
                columns=[_("Measure"), _("Days")],
                rows=[
                    (_("Mean"), [number(days["mean"], 1)]),
                    (_("95% CI"), [f"{number(days['ci_low'], 1)}–{number(days['ci_high'], 1)}"]),
                    (_("Median"), [number(days["median"], 1)]),
                    (_("Lower quartile"), [number(days["q1"], 1)]),
                    (_("Upper quartile"), [number(days["q3"], 1)]),
                ],
            )
        )
    return shown


def _present_staircase(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    labels = [str(Step(int(code)).label) for code in section["codes"]]
    shown = Section(
        title=_("Highest step of the staircase reached"),
        description=_("Cases by the highest step of accountability the keeper recorded."),
        n_text=_n_text(section["total"], threshold, "cases"),
    )
    shown.chart = charts.bar_chart(
        chart_id=chart_id,
        title=_("Cases by the highest step reached"),
        description=_("One bar per step; counts below %(threshold)s are not drawn.")
        % {"threshold": threshold},
        bars=_count_bars(
            section["codes"], [f"{code}" for code in section["codes"]], section["cells"][0], threshold
        ),
    )
    shown.tables.append(
        _count_table(
            _("Cases by the highest step reached"), _("Step"), labels, section["cells"][0], section["total"]
        )
    )
    return shown


def _present_commitments(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    labels = [str(ProgressStatus(code).label) for code in section["codes"]]
    if section["repair_only"]:
        title = _("Repair actions: their latest reported progress")
    else:
        title = _("Commitments kept: their latest reported progress")
    shown = Section(title=title, n_text=_n_text(section["total"], threshold, "commitments"))
    if section["share"] is not None:
        low, high = section["ci"]
        shown.description = _(
            "Kept: %(share)s (95%% CI %(low)s–%(high)s) of the commitments with a reported progress."
        ) % {
            "share": percent(section["share"]),
            "low": percent(low),
            "high": percent(high),
        }
    shown.chart = charts.bar_chart(
        chart_id=chart_id,
        title=title,
        description=_("One bar per kind of progress; counts below %(threshold)s are not drawn.")
        % {"threshold": threshold},
        bars=_count_bars(section["codes"], labels, section["cells"][0], threshold),
    )
    shown.tables.append(_count_table(title, _("Progress"), labels, section["cells"][0], section["total"]))
    return shown


def _present_survivor_view(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    labels = [_("0 · not at all"), _("1 · a little"), _("2 · mostly"), _("3 · fully")]
    title = _("The survivor's view: was the harm repaired?")
    shown = Section(title=title, n_text=_n_text(section["total"], threshold, "cases"))
    shown.chart = charts.bar_chart(
        chart_id=chart_id,
        title=title,
        description=_("Cases by the survivor's latest rating; counts below %(threshold)s are not drawn.")
        % {"threshold": threshold},
        bars=_count_bars(section["codes"], labels, section["cells"][0], threshold),
    )
    shown.tables.append(_count_table(title, _("Rating"), labels, section["cells"][0], section["total"]))
    return shown


def _present_pods(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    names = {
        "pod_size": _("People in the pod"),
        "consenting_active": _("Consenting active allies"),
        "density": _("Share who know each other"),
    }
    rows = section["rows"]
    shown = Section(
        title=_("The survivor's support network"),
        description=_("Its latest measure per case."),
        n_text=_n_text(rows[0]["n"], threshold, "cases"),
    )
    for row in rows:
        if row["withheld"]:
            shown.notes.append(row["withheld"])
            break
    shown.tables.append(
        Table(
            caption=_("The survivor's support network, latest measure per case"),
            columns=[
                _("Measure"),
                _("Cases (n)"),
                _("Mean"),
                _("Median"),
                _("Lower quartile"),
                _("Upper quartile"),
            ],
            rows=[
                (
                    names[row["measure"]],
                    [number(row["n"])] + [number(row.get(key)) for key in ("mean", "median", "q1", "q3")],
                )
                for row in rows
            ],
        )
    )
    return shown


def _present_retention(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    shown = Section(title=_("Answered at each timepoint"))
    if section["refused"]:
        shown.refused = section["refused"]
        return shown
    made = section["report"]
    shown.n_text = _n_text(made["n"], threshold)
    bars, rows = [], []
    for row in made["rows"]:
        if row["withheld"]:
            shown.notes.append(f"{row['timepoint']}: {row['withheld']}")
            text = _("suppressed")
        else:
            text = _("%(share)s answered of %(due)s due") % {
                "share": percent(row["share"]),
                "due": number(row["n_due"]),
            }
        bars.append(charts.Bar(row["timepoint"], row["share"], text, row["ci_low"], row["ci_high"]))
        rows.append(
            (
                row["timepoint"],
                [number(row[key]) for key in ("n_due", "n_completed", "n_missed", "n_pending")]
                + [percent(row["share"]), percent(row["ci_low"]), percent(row["ci_high"])],
            )
        )
    shown.chart = charts.bar_chart(
        chart_id=chart_id,
        title=_("Share answered at each timepoint"),
        # "%%" is a literal percent sign once the message is formatted (with nothing to put in).
        description=_(
            "Bars show the share of the people due who answered, whiskers its 95%% confidence interval; "
            "suppressed timepoints are not drawn."
        )
        % {},
        bars=bars,
        lowest=0.0,
        highest=1.0,
        axis=lambda value: f"{value:.0%}",
    )
    shown.tables.append(
        Table(
            caption=_("Retention at each timepoint"),
            columns=[
                _("Timepoint"),
                _("Due"),
                _("Answered"),
                _("Missed"),
                _("Not due yet"),
                _("Share answered"),
                _("95% CI, low"),
                _("95% CI, high"),
            ],
            rows=rows,
        )
    )
    return shown


def _present_fidelity(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    shown = Section(title=_("Safety checks done on time"))
    if section["refused"]:
        shown.refused = section["refused"]
        return shown
    made = section["report"]
    kinds = {"meeting": _("Meetings held"), "stage": _("Stages advanced")}
    entries = [(_("All"), made["overall"])] + [(kinds[row["kind"]], row) for row in made["rows"]]
    shown.n_text = ngettext("Based on %(n)s meeting or stage.", "Based on %(n)s meetings and stages.", 2) % {
        "n": number(made["overall"]["n"])
    }
    bars, rows = [], []
    for label, row in entries:
        if row["withheld"]:
            shown.notes.append(f"{label}: {row['withheld']}")
        text = _("suppressed") if row["share"] is None else percent(row["share"])
        bars.append(charts.Bar(label, row["share"], text, row["ci_low"], row["ci_high"]))
        rows.append(
            (
                label,
                [number(row[key]) for key in ("n", "on_time", "late")]
                + [percent(row["share"]), percent(row["ci_low"]), percent(row["ci_high"])],
            )
        )
    shown.chart = charts.bar_chart(
        chart_id=chart_id,
        title=_("Share with the safety checks on time"),
        description=_("Bars show the share on time, whiskers its 95%% confidence interval.") % {},
        bars=bars,
        lowest=0.0,
        highest=1.0,
        axis=lambda value: f"{value:.0%}",
    )
    shown.tables.append(
        Table(
            caption=_("Safety checks on time"),
            columns=[
                _("What"),
                _("Count"),
                _("On time"),
                _("Late or missing"),
                _("Share on time"),
                _("95% CI, low"),
                _("95% CI, high"),
            ],
            rows=rows,
        )
    )
    return shown


def _present_irr(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    shown = Section(
        title=_("Rates of recurrence between groups (imported outcomes)"),
        description=_("Incidence rate ratios with person-time offsets; % reduction = 1 - IRR."),
    )
    if section["refused"]:
        shown.refused = section["refused"]
        return shown
    made = section["report"]
    shown.n_text = _n_text(
        made["n"]
        if made["n"] is not None
        else sum(g["n"] for g in made["groups"] if isinstance(g["n"], int)),
        threshold,
    )
    shown.notes.extend(_irr_notes(made))
    rows = []
    for comparison in made["comparisons"]:
        if comparison["withheld"]:
            shown.notes.append(f"{comparison['group']}: {comparison['withheld']}")
        rows.append(
            (
                f"{comparison['group']} / {comparison['reference']}",
                [
                    number(comparison["irr"]),
                    number(comparison["ci_low"]),
                    number(comparison["ci_high"]),
                    p_value(comparison["p_value"]),
                    number(comparison["percent_reduction"], 1),
                    comparison["model"] or "—",
                    number(comparison["n"]),
                    number(comparison["events"]),
                    number(comparison["reference_n"]),
                    number(comparison["reference_events"]),
                ],
            )
        )
    shown.tables.append(
        Table(
            caption=_("Incidence rate ratios"),
            columns=[
                _("Group / reference"),
                _("IRR"),
                _("95% CI, low"),
                _("95% CI, high"),
                _("p"),
                _("% reduction"),
                _("Model"),
                _("People (n)"),
                _("Events"),
                _("Reference n"),
                _("Reference events"),
            ],
            rows=rows,
        )
    )
    if made.get("unadjusted"):
        shown.tables.append(
            Table(
                caption=_("Incidence rate ratios without adjusting for the organization"),
                columns=[
                    _("Group / reference"),
                    _("IRR"),
                    _("95% CI, low"),
                    _("95% CI, high"),
                    _("p"),
                    _("Model"),
                ],
                rows=[
                    (
                        f"{c['group']} / {c['reference']}",
                        [
                            number(c["irr"]),
                            number(c["ci_low"]),
                            number(c["ci_high"]),
                            p_value(c["p_value"]),
                            c["model"] or "—",
                        ],
                    )
                    for c in made["unadjusted"]
                ],
            )
        )
    return shown


def _irr_notes(made: dict[str, Any]) -> list[str]:
    """What was fitted and why, in words: the model, the reason for it, the standard errors, the adjustment."""
    notes: list[str] = []
    model, reason = made.get("model"), made.get("model_reason")
    dispersion = number(made.get("dispersion"))
    if model == "negbin":
        text = _("Model: negative binomial (NB2), alpha = %(alpha)s.") % {
            "alpha": number(made.get("alpha"), 3)
        }
    elif model == "poisson":
        text = _("Model: Poisson.")
    else:
        return notes
    if reason == "overdispersed":
        text += " " + _("Chosen because the counts are overdispersed (Pearson χ²/df = %(d)s, above 1.5).") % {
            "d": dispersion
        }
    elif reason == "not_overdispersed":
        text += " " + _(
            "Chosen because the counts are not overdispersed (Pearson χ²/df = %(d)s, at most 1.5)."
        ) % {"d": dispersion}
    elif reason == "chosen":
        text += " " + _("As requested.")
    notes.append(text)
    if made.get("se") == "robust":
        notes.append(
            _(
                "Standard errors are robust (sandwich, HC0): the intervals hold even when the counts vary more "
                "than the model assumes."
            )
        )
    if "organization" in (made.get("adjusted_for") or []):
        notes.append(
            _(
                "Adjusted for the organization (a covariate), since organizations may differ in who receives "
                "circles and in their base rates; the unadjusted ratios are in the second table."
            )
        )
    return notes


def _at(survival_at: dict[Any, Any], day: int) -> float | None:
    """The estimate at a day: keys are numbers when computed, text once stored as JSON."""
    value = survival_at.get(str(day), survival_at.get(day))
    return None if value is None else float(value)


def _present_survival(section: dict[str, Any], threshold: int, chart_id: str) -> Section:
    shown = Section(
        title=_("Time to a first recurrence (imported outcomes)"),
        description=_("Kaplan–Meier estimates of the share without a recurrence, with censoring."),
    )
    if section["refused"]:
        shown.refused = section["refused"]
        return shown
    made = section["report"]
    days = made["at"]
    curves, rows = [], []
    for group in made["groups"]:
        if group["withheld"]:
            shown.notes.append(f"{group['group']}: {group['withheld']}")
            continue
        points = [(float(day), _at(group["survival_at"], day)) for day in days]
        curves.append(charts.Curve(str(group["group"]), points))
    marks = [day for day in SURVIVAL_MARKS if day in days]
    for group in made["groups"]:
        rows.append(
            (
                str(group["group"]),
                [number(group["n"]), number(group["events"]), number(group["median_days"], 0)]
                + [percent(_at(group["survival_at"], day)) for day in marks],
            )
        )
    shown.n_text = _n_text(made["n"], threshold) if made["n"] is not None else ""
    if made["logrank_p"] is not None:
        if made.get("logrank_chisq") is not None:
            shown.notes.append(
                _("Log-rank test: χ² = %(chisq)s on %(df)s df, p = %(p)s")
                % {
                    "chisq": number(made["logrank_chisq"]),
                    "df": made["logrank_df"],
                    "p": p_value(made["logrank_p"]),
                }
            )
        else:
            shown.notes.append(_("Log-rank test: p = %(p)s") % {"p": p_value(made["logrank_p"])})
    elif made.get("logrank_withheld"):
        shown.notes.append(_("Log-rank test: %(reason)s") % {"reason": made["logrank_withheld"]})
    if made.get("cox_withheld"):
        shown.notes.append(_("Cox model: %(reason)s") % {"reason": made["cox_withheld"]})
    if curves:
        shown.chart = charts.step_chart(
            chart_id=chart_id,
            title=_("Share without a recurrence, by group"),
            description=_(
                "Kaplan–Meier curves at monthly steps, one line pattern per group, labelled at their end; groups "
                "withheld for small numbers are not drawn."
            ),
            curves=curves,
            days=float(days[-1]) if days else 1.0,
            day_label=lambda day: _("%(days)s days") % {"days": number(int(day))},
        )
    shown.tables.append(
        Table(
            caption=_("Time to a first recurrence"),
            columns=[_("Group"), _("People (n)"), _("With a recurrence"), _("Median days")]
            + [_("Without one at day %(day)s") % {"day": d} for d in marks],
            rows=rows,
        )
    )
    cox = made.get("cox")
    if cox:
        adjusted = "organization" in cox["covariates"]
        shown.tables.append(
            Table(
                caption=(
                    _("Hazard ratios of a first recurrence (Cox model, adjusted for the organization)")
                    if adjusted
                    else _("Hazard ratios of a first recurrence (Cox model)")
                ),
                columns=[
                    _("Group / reference"),
                    _("Hazard ratio"),
                    _("95% CI, low"),
                    _("95% CI, high"),
                    _("p"),
                ],
                rows=[
                    (
                        f"{ratio['group']} / {ratio['reference']}",
                        [
                            number(ratio["hr"]),
                            number(ratio["ci_low"]),
                            number(ratio["ci_high"]),
                            p_value(ratio["p_value"]),
                        ],
                    )
                    for ratio in cox["hazard_ratios"]
                ],
            )
        )
    return shown


PRESENTERS: dict[str, Callable[[dict[str, Any], int, str], Section]] = {
    "score": _present_score,
    "risk_levels": _present_risk,
    "hold_days": _present_hold_days,
    "staircase": _present_staircase,
    "commitments": _present_commitments,
    "survivor_view_repair": _present_survivor_view,
    "pod_measures": _present_pods,
    "retention": _present_retention,
    "fidelity": _present_fidelity,
    "irr": _present_irr,
    "survival": _present_survival,
}
