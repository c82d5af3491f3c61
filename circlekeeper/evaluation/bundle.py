"""Reproducibility bundles (issue 21, Build 4): one published dashboard analysis as a small zip a reviewer can
rerun outside Circlekeeper.

A bundle holds, for one section of a dashboard page as it was last computed (its stored result):

- the input rows the analysis read, at the release's suppression: the groups and timepoints the page withheld
  are not in it, since no published number depends on them (report.py);
- `parameters.json`: the domain, the filters, what was analysed, the model and why, the covariates, the
  thresholds; `versions.json`: Python, pandas, numpy, scipy, statsmodels and Circlekeeper;
- `published.json`: the numbers the page shows; `recompute.py` (bundle_script.py): a script that recomputes
  them with pandas, scipy and statsmodels alone; `README.txt`.

The rows are de-identified by leaving out everything the analysis does not read. A questionnaire score's rows
are a timepoint and a value (`scores.csv`), and each pre/post comparison a before and an after value
(`pairs_*.csv`): no participant code, no month, no track, no role, and the rows sorted by value, so nothing
links a row to the evaluator's exports, to another file of the bundle or to another bundle. Imported outcomes
are an organization, a group and the follow-up (`outcomes.csv`), without the outside code. Retention is a
timepoint and a status per person (`retention.csv`), without the person; fidelity a kind (meeting or stage) and
whether its safety checks were on time (`fidelity.csv`), without the case, date or track. The quasi-identifiers
left are the timepoint, the organization, the group and the kind; the bundle is made only when each of their groups holds
at least k people (the k of the evaluator's row data, deidentify.required_k), and says the k achieved.

The people deidentify.py leaves out of the row exports (most of a small program: a pattern of timepoints nobody
else shares) stay in: their pattern is not in a bundle, and without them the published numbers could not be
recomputed. What would single them out is the difference between a bundle and the export (the bundle's values
less the export's are theirs), so a timepoint or a comparison is bundled only when it holds none of them or at
least k; otherwise it is left out, with the reason in parameters.json.

The rows are read anew from the database; the view makes a bundle only while the stored result is current
(dashboards.data_stamp), so that they are the rows the numbers were computed from.
"""

from __future__ import annotations

import datetime
import io
import json
import platform
import re
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from circlekeeper.evaluation import dataset, deidentify
from circlekeeper.evaluation.dashboards import DOMAINS_BY_CODE
from circlekeeper.evaluation.models import ExternalOutcome

if TYPE_CHECKING:
    import pandas as pd

# The sections that have a bundle: a questionnaire score (descriptives and pre/post change), rate ratios
# (Poisson or negative binomial), time to a first recurrence (Kaplan–Meier, log-rank and Cox).
# Retention (the share answered at each timepoint) and fidelity (the share of safety checks on time).
# The count tables read from the case records (risk levels, the staircase, commitments kept, the survivor's view
# of repair, days on safety hold) and the support networks' measures.
COUNT_KINDS = ("risk_levels", "staircase", "commitments", "survivor_view_repair", "hold_days")
BUNDLED_KINDS = ("score", "irr", "survival", "retention", "fidelity", *COUNT_KINDS, "pod_measures")
SCRIPT = Path(__file__).with_name("bundle_script.py")
LIBRARIES = ("pandas", "numpy", "scipy", "statsmodels")


class BundleRefused(ValueError):
    """A bundle that cannot be made, said in plain words."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Bundle:
    filename: str
    content: bytes


def has_bundle(section: dict[str, Any]) -> bool:
    """Whether a stored section can be downloaded as a bundle: a kind that has one, with numbers shown."""
    if section["kind"] not in BUNDLED_KINDS or section.get("refused"):
        return False
    if section["kind"] == "score":
        return section.get("descriptives") is not None
    if section["kind"] in COUNT_KINDS:
        # A table whose every cell is hidden (or zero) has nothing to recompute.
        return any(isinstance(cell, int) and cell > 0 for row in section["cells"] for cell in row)
    if section["kind"] == "pod_measures":
        return any(row["withheld"] is None and row.get("mean") is not None for row in section["rows"])
    return section.get("report") is not None


def build(
    scope: dataset.Scope, result: dict[str, Any], index: int, *, computed_at: datetime.datetime
) -> Bundle:
    """The bundle of the section `index` of a stored dashboard result (see the module's docstring)."""
    sections = result["sections"]
    if not 0 <= index < len(sections) or not has_bundle(sections[index]):
        raise BundleRefused(_("This part of the page has no numbers that can be downloaded as a bundle."))
    section = sections[index]
    filters = dict(result["filters"])
    files, parameters = _inputs(scope, section, filters, result)
    k_required = deidentify.required_k()
    k_achieved = parameters.pop("_k_achieved")
    quasi_identifiers = parameters.pop("_quasi_identifiers")
    if k_achieved is not None and k_achieved < k_required:
        raise BundleRefused(
            _(
                "The rows behind this part of the page fall into groups of fewer than %(k)s people, so they "
                "cannot be given out."
            )
            % {"k": k_required}
        )
    domain = DOMAINS_BY_CODE[result["domain"]]
    parameters = {
        "kind": section["kind"],
        "domain": domain.code,
        "section": index,
        "scope": _scope(scope),
        "filters": filters,
        "cases": _cases_text(filters),
        "threshold": result["threshold"],
        "computed_at": computed_at.isoformat(),
        **parameters,
        "deidentification": {
            "k_required": k_required,
            "k_achieved": k_achieved,
            "quasi_identifiers": quasi_identifiers,
            "left_out": _(
                "participant codes, cases, dates, months, tracks, roles and outside codes; the groups, "
                "timepoints and kinds the page withheld"
            ),
        },
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", _readme(parameters, files))
        archive.writestr("parameters.json", _json(parameters))
        archive.writestr("versions.json", _json(versions()))
        archive.writestr("published.json", _json(section))
        archive.writestr("recompute.py", SCRIPT.read_text(encoding="utf-8"))
        for name, content in files.items():
            archive.writestr(name, content)
    slug = scope.network.slug if scope.network is not None else scope.organizations[0].slug
    name = f"{slug}-{domain.code}-{index + 1}-{section['kind']}-{computed_at.date().isoformat()}-bundle.zip"
    return Bundle(re.sub(r"[^A-Za-z0-9_.-]", "_", name), out.getvalue())


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for library in (*LIBRARIES, "circlekeeper"):
        try:
            found[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            found[library] = "unknown"
    return found


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str) + "\n"


def _scope(scope: dataset.Scope) -> dict[str, Any]:
    if scope.network is not None:
        return {"network": scope.network.slug, "organizations": [o.slug for o in scope.organizations]}
    return {"organization": scope.organizations[0].slug}


def _cases_text(filters: dict[str, str]) -> dict[str, Any]:
    """The cases the page read, in words a reviewer can check (dashboard_compute.case_filters)."""
    year = filters.get("period") or ""
    return {
        "track": filters.get("track") or "all",
        "opened_from": f"{year}-01-01" if year else None,
        "opened_to": f"{year}-12-31" if year else None,
        "organization": filters.get("organization") or "all",
    }


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.17g")


def _inputs(
    scope: dataset.Scope, section: dict[str, Any], filters: dict[str, str], result: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    # Imported here: the page's own inputs (dashboard_compute, report) need pandas and the statistics libraries,
    # which a web worker loads only when a bundle is made (issue 10, its memory).
    from circlekeeper.evaluation import dashboard_compute

    chosen_scope = dashboard_compute.narrowed(scope, filters.get("organization", ""))
    chosen = dashboard_compute.case_filters(filters)
    if section["kind"] == "score":
        return _score_inputs(chosen_scope, section, chosen)
    if section["kind"] == "retention":
        return _retention_inputs(chosen_scope, section, chosen)
    if section["kind"] == "fidelity":
        return _fidelity_inputs(chosen_scope, section, chosen)
    if section["kind"] in COUNT_KINDS:
        return _count_inputs(chosen_scope, section, chosen, result)
    if section["kind"] == "pod_measures":
        return _pod_inputs(chosen_scope, section, chosen)
    return _outcome_inputs(chosen_scope, section)


def _score_inputs(
    scope: dataset.Scope, section: dict[str, Any], chosen: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    import pandas as pd

    from circlekeeper.evaluation import report

    instrument, score, role = section["instrument"], section["score"], section["role"]
    frame = dataset.scores_frame(
        scope,
        instrument=instrument,
        score=score,
        roles=[role] if role else None,
        include_unscored=True,
        **chosen,
    )
    rows = report.planned_scores(frame[(frame["instrument"] == instrument) & (frame["score"] == score)])
    order = {
        point: position
        for position, point in enumerate(sorted(rows["timepoint"].unique(), key=report.timepoint_order))
    }
    # The bundle's rows carry no code, but the evaluator's export has the codes and values of the people its
    # k-anonymity plan keeps: a bundle's rows minus the export's are the people the plan left out. So a part of
    # the bundle holds either none of them or at least k, never a few that could be worked out.
    plan = deidentify.plan_for(scope)
    k = deidentify.required_k()
    exported = {code for code, person in plan.people.items() if not person.dropped}

    def few_left_out(codes: Any) -> bool:
        outside = sum(1 for code in codes if code not in exported)
        return 0 < outside < k

    shown: list[str] = []
    withheld: list[dict[str, str]] = []
    page_withheld: set[str] = set()
    parts = []
    for row in section["descriptives"]["rows"]:
        if row["group"] != report.ALL_GROUPS:
            continue
        point = row["timepoint"]
        here = rows[rows["timepoint"] == point]
        # Answers without a score are given when the page shows how many there were (else they would tell it).
        if not isinstance(row["missing"], int):
            here = here[here["value"].notna()]
        if row["withheld"]:
            page_withheld.add(point)
            withheld.append({"timepoint": point, "reason": str(row["withheld"])})
            continue
        if few_left_out(here["participant"]):
            withheld.append({"timepoint": point, "reason": _few_left_out(k)})
            continue
        shown.append(point)
        parts.append(pd.DataFrame({"timepoint": point, "value": here["value"].astype(float)}))
    values = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["timepoint", "value"])
    values = values.assign(_order=values["timepoint"].map(order))
    values = values.sort_values(["_order", "value"], na_position="last")
    files = {"scores.csv": _csv(values[["timepoint", "value"]])}
    sizes = [int((values["timepoint"] == point).sum()) for point in shown]
    comparisons: list[dict[str, Any]] = []
    left_out: list[dict[str, str]] = []
    scored = rows[rows["value"].notna()]
    for change in section["prepost"]:
        before, after = change["from"], change["to"]
        if change.get("withheld"):
            continue
        first = scored[scored["timepoint"] == before].set_index("participant")["value"]
        second = scored[scored["timepoint"] == after].set_index("participant")["value"]
        pairs = pd.DataFrame({"before": first, "after": second}).dropna()
        if before in page_withheld or after in page_withheld:
            # A timepoint the page withholds (say, a 0/1 score's split): its values would come back in the pairs.
            reason = _("a timepoint of it is withheld, and its pairs would give its values away")
            left_out.append({"from": before, "to": after, "reason": reason})
            continue
        if few_left_out(pairs.index):
            left_out.append({"from": before, "to": after, "reason": _few_left_out(k)})
            continue
        pairs = pairs.sort_values(["before", "after"]).reset_index(drop=True)
        name = "pairs_" + re.sub(r"[^A-Za-z0-9_-]", "_", f"{before}_{after}") + ".csv"
        files[name] = _csv(pairs.astype(float))
        sizes.append(len(pairs))
        comparisons.append({"from": before, "to": after, "file": name, "pairs": len(pairs)})
    parameters = {
        "score": {
            "instrument": instrument,
            "score": score,
            "role": role or _("everyone who answered"),
            "answers": _("each person's latest answer at each planned timepoint (report.planned_scores)"),
            "timepoints": shown,
            "timepoints_withheld": withheld,
            "comparisons": comparisons,
            "comparisons_not_included": left_out,
            "ci_of_the_mean": _("Wilson for a 0/1 score, else t (n - 1)"),
            "prepost": _(
                "paired t-test, Wilcoxon signed-rank (scipy defaults), d_z with its noncentral-t 95%% CI"
            )
            % {},
        },
        "_quasi_identifiers": ["timepoint"],
        "_k_achieved": min(sizes) if sizes else None,
    }
    return files, parameters


def _retention_inputs(
    scope: dataset.Scope, section: dict[str, Any], chosen: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    """`retention.csv`: one row per person and timepoint, its timepoint and status (completed, missed, pending),
    without the person: the page's counts and shares, and nothing else."""
    import pandas as pd

    from circlekeeper.evaluation import report

    frame = dataset.timepoints_frame(scope, **chosen)
    # The evaluator's timepoints export has each kept person's statuses: the same guard as for scores.
    plan = deidentify.plan_for(scope)
    k = deidentify.required_k()
    exported = {code for code, person in plan.people.items() if not person.dropped}
    shown: list[str] = []
    withheld: list[dict[str, str]] = []
    pending_left_out: list[str] = []
    parts = []
    for row in section["report"]["rows"]:
        if row["group"] != report.ALL_GROUPS:
            continue
        point = row["timepoint"]
        here = frame[frame["timepoint"] == point]
        if row["withheld"]:
            withheld.append({"timepoint": point, "reason": str(row["withheld"])})
            continue
        if not isinstance(row["n_pending"], int):
            # The page hides a small number still pending: those rows would tell it.
            here = here[here["status"] != "pending"]
            pending_left_out.append(point)
        outside = sum(1 for code in here["participant"] if code not in exported)
        if 0 < outside < k:
            withheld.append({"timepoint": point, "reason": _few_left_out(k)})
            continue
        shown.append(point)
        parts.append(pd.DataFrame({"timepoint": point, "status": here["status"].astype(str)}))
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["timepoint", "status"])
    order = {point: position for position, point in enumerate(shown)}
    rows = rows.assign(_order=rows["timepoint"].map(order)).sort_values(["_order", "status"])
    # A timepoint with no row left (nobody due, and the few pending hidden) is no group of people.
    sizes = [size for size in (int((rows["timepoint"] == point).sum()) for point in shown) if size]
    parameters = {
        "retention": {
            "timepoints": shown,
            "timepoints_withheld": withheld,
            "pending_left_out": pending_left_out,
            "statuses": _(
                "completed: any questionnaire answered; missed: none answered and every window closed; "
                "pending: a window still open or not yet open (cancelled timepoints are left out)"
            ),
            "due": _("completed + missed; pending ones are counted apart"),
            "share": _("completed / due, with the Wilson 95%% confidence interval") % {},
        },
        "_quasi_identifiers": ["timepoint"],
        "_k_achieved": min(sizes) if sizes else None,
    }
    return {"retention.csv": _csv(rows[["timepoint", "status"]])}, parameters


def _fidelity_inputs(
    scope: dataset.Scope, section: dict[str, Any], chosen: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    """`fidelity.csv`: one row per held meeting and per stage advance, its kind and whether its safety checks
    were on time (1 or 0), without the case, the date, the track or the organization."""
    from circlekeeper.evaluation import report

    frame = dataset.fidelity_frame(scope, **chosen)
    made = section["report"]
    shown = [row["kind"] for row in made["rows"] if row["group"] is None and row["withheld"] is None]
    withheld = [
        {"kind": row["kind"], "reason": str(row["withheld"])}
        for row in made["rows"]
        if row["group"] is None and row["withheld"] is not None
    ]
    overall = made["overall"]["withheld"] is None and (not withheld or not shown)
    # When only the overall is published: all its rows, without their kind (the page hides each kind's count).
    rows = frame.assign(kind="all") if overall and not shown else frame[frame["kind"].isin(shown)]
    rows = rows.assign(on_time=rows["on_time"].astype(int))
    order = {kind: position for position, kind in enumerate((*report.FIDELITY_KINDS, "all"))}
    rows = rows.assign(_order=rows["kind"].map(order)).sort_values(["_order", "on_time"])
    sizes = [size for size in rows.groupby("kind").size().tolist() if size]
    parameters = {
        "fidelity": {
            "kinds": shown,
            "kinds_withheld": withheld,
            # The overall is recomputed when the page shows it and it is all the rows: no kind is left out, or
            # every kind is (then the rows' kind is "all").
            "overall": overall,
            "meeting": _(
                "on time: the survivor's check-in recorded no later than the meeting was recorded held, and "
                "the check-out after the check-in"
            ),
            "stage": _("on time: a survivor's safety check in the 7 days before the stage was advanced"),
            "share": _("on time / count, with the Wilson 95%% confidence interval") % {},
        },
        "_quasi_identifiers": ["kind"],
        "_k_achieved": min(sizes) if sizes else None,
    }
    return {"fidelity.csv": _csv(rows[["kind", "on_time"]])}, parameters


def _count_units(
    scope: dataset.Scope, section: dict[str, Any], chosen: dict[str, Any], result: dict[str, Any]
) -> tuple[list[str], dict[str, list[Any]], dict[str, Any]]:
    """The table's row names, and for each row the code of every unit counted in it (a case, or a commitment),
    read anew as dashboard_compute counted them; with what a reviewer needs to know of how."""
    from circlekeeper.evaluation import dashboard_compute

    kind = section["kind"]
    if kind == "risk_levels":
        first, latest = dashboard_compute.risk_levels_by_case(scope, chosen)
        how = _("each case's risk level at the survivor's first and at their latest safety check")
        return (
            ["first", "latest"],
            {"first": list(first.values()), "latest": list(latest.values())},
            {"how": how},
        )
    if kind == "staircase":
        steps = [str(step) for step in dashboard_compute.top_steps(scope, chosen).values()]
        return ["all"], {"all": steps}, {"how": _("the highest step of the staircase recorded for each case")}
    if kind == "commitments":
        latest = dashboard_compute.latest_checkins(scope, chosen, repair_only=section["repair_only"])
        how = _("each commitment's latest reported progress")
        return ["all"], {"all": list(latest.values())}, {"how": how, "repair_only": section["repair_only"]}
    if kind == "survivor_view_repair":
        views = [str(rating) for rating in dashboard_compute.repair_views(scope, chosen).values()]
        how = _("the survivor's latest rating of whether the harm was repaired (0 not at all to 3 fully)")
        return ["all"], {"all": views}, {"how": how}
    # hold_days: counted until the moment the page was computed, which its stored result keeps.
    if not result.get("now"):
        raise BundleRefused(
            _("Open the dashboard page again so that its numbers are computed anew, then download.")
        )
    now = datetime.datetime.fromisoformat(result["now"])
    days, cases = dashboard_compute.hold_days_by_case(scope, chosen, now)
    held = ["held"] * len(days) + ["not_held"] * (cases - len(days))
    how = _("days on safety hold per case held (every hold; an open one counts until the page was computed)")
    return ["all"], {"all": held}, {"how": how, "until": result["now"], "_days": sorted(days.values())}


def _count_inputs(
    scope: dataset.Scope, section: dict[str, Any], chosen: dict[str, Any], result: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    """`counts.csv`: one row per unit counted (a case, or a commitment), its table row and its code, without the
    case: the rows of a cell the page hides are not in it, nor those of a cell of fewer than k (their count is
    the only thing a row says, and the page does not give it); `hold_days.csv` the days of each case held,
    sorted, when the page shows them."""
    import pandas as pd

    names, units, how = _count_units(scope, section, chosen, result)
    days = how.pop("_days", None)
    k = deidentify.required_k()
    codes = [str(code) for code in section["codes"]]
    parts = []
    included: list[list[bool]] = []
    left_out: list[dict[str, str]] = []
    for row_index, name in enumerate(names):
        counted = pd.Series([str(code) for code in units[name]], dtype=str)
        flags = []
        for column, code in enumerate(codes):
            cell = section["cells"][row_index][column]
            here = int((counted == code).sum())
            if not isinstance(cell, int):
                flags.append(False)
                left_out.append({"row": name, "code": code, "reason": _("the page hides this count")})
            elif 0 < here < k:
                flags.append(False)
                left_out.append({"row": name, "code": code, "reason": _("fewer than k units")})
            else:
                flags.append(True)
                parts.append(pd.DataFrame({"row": [name] * here, "code": [code] * here}))
        included.append(flags)
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["row", "code"])
    sizes = [size for size in rows.groupby(["row", "code"]).size().tolist() if size]
    files = {"counts.csv": _csv(rows.sort_values(["row", "code"]))}
    settings: dict[str, Any] = {
        "rows": names,
        "codes": codes,
        "included": included,
        "left_out": left_out,
        **how,
    }
    if days is not None and section.get("days") is not None:
        files["hold_days.csv"] = _csv(pd.DataFrame({"days": days}))
        settings["days"] = _("described over the cases held: hold_days.csv, one value per case, sorted")
        sizes.append(len(days))
    parameters = {
        "counts": settings,
        "_quasi_identifiers": ["row", "code"],
        "_k_achieved": min(sizes) if sizes else None,
    }
    return files, parameters


def _pod_inputs(
    scope: dataset.Scope, section: dict[str, Any], chosen: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    """`pod_measures.csv`: the survivors' support networks as last measured, each measure's column sorted on its
    own, so that a row is no one network (the page describes each measure apart)."""
    import pandas as pd

    from circlekeeper.evaluation import dashboard_compute

    latest = list(dashboard_compute.latest_pod_measures(scope, chosen).values())
    shown = [
        row["measure"] for row in section["rows"] if row["withheld"] is None and row.get("mean") is not None
    ]
    position = {measure: index for index, measure in enumerate(dashboard_compute.POD_MEASURES)}
    columns = {measure: sorted(float(values[position[measure]]) for values in latest) for measure in shown}
    parameters: dict[str, Any] = {
        "pod_measures": {
            "measures": shown,
            "how": _("each survivor's support network as last measured; every column sorted on its own"),
        },
        "_quasi_identifiers": [],
        "_k_achieved": len(latest) if shown else None,
    }
    return {"pod_measures.csv": _csv(pd.DataFrame(columns))}, parameters


def _few_left_out(k: int) -> str:
    return _(
        "between 1 and %(k)s of these people are left out of the row exports (k-anonymity), and comparing "
        "with them would give their answers away"
    ) % {"k": k - 1}


def _outcome_inputs(scope: dataset.Scope, section: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    from circlekeeper.evaluation import analysis, report

    made = section["report"]
    frame = report.outcomes_frame(ExternalOutcome.objects.filter(organization_id__in=scope.organization_ids))
    shown = [group["group"] for group in made["groups"] if group["withheld"] is None]
    withheld = [group["group"] for group in made["groups"] if group["withheld"] is not None]
    rows = frame[frame["group"].astype(str).isin(shown)]
    rows = rows.assign(organization=rows["organization"].astype(str), group=rows["group"].astype(str))
    rows = rows.sort_values(["organization", "group", "person_days", "events", "first_event_day"])
    columns = ["organization", "group", "person_days", "events", "first_event_day"]
    sizes = rows.groupby(["organization", "group"]).size()
    common: dict[str, Any] = {
        "groups": shown,
        "groups_withheld": withheld,
        "covariates_requested": ["organization"] if made["group_by"] != "organization" else [],
    }
    if section["kind"] == "irr":
        parameters: dict[str, Any] = {
            "irr": {
                **common,
                "group_by": made["group_by"],
                "reference": made["reference"],
                "model_requested": made["model_requested"],
                "model": made["model"],
                "model_reason": made["model_reason"],
                "overdispersion_limit": analysis.OVERDISPERSION_LIMIT,
                "robust": made["se"] == "robust",
                "se": "robust (sandwich, HC0)" if made["se"] == "robust" else "model-based",
                "covariates_used": made["adjusted_for"],
                "offset": "log(person_days)",
                "negative_binomial": "NB2, BFGS then Newton until the score is below "
                f"{analysis.SCORE_TOLERANCE} x max(1, events)",
            }
        }
    else:
        cox = made.get("cox") or {}
        parameters = {
            "survival": {
                **common,
                "at": made["at"],
                "time": _("first_event_day when events > 0, else person_days (censored)"),
                "median": _("the first time the Kaplan–Meier estimate is at or below 0.5"),
                "logrank": "statsmodels survdiff; p = chi2.sf(chisq, groups - 1)",
                "ties": "breslow",
                "cox_covariates_requested": common["covariates_requested"],
                "cox_covariates_used": cox.get("covariates", []),
            }
        }
    parameters["_quasi_identifiers"] = ["organization", "group"]
    parameters["_k_achieved"] = int(sizes.min()) if len(sizes) else None
    return {"outcomes.csv": _csv(rows[columns])}, parameters


def _readme(parameters: dict[str, Any], files: dict[str, str]) -> str:
    """The bundle's README, in the language of the request."""
    what = {
        "score": _(
            "descriptives of a questionnaire score at each timepoint, and its change from one to another"
        ),
        "irr": _(
            "incidence rate ratios between groups (Poisson or negative binomial, with person-time offsets)"
        ),
        "survival": _(
            "time to a first recurrence: Kaplan–Meier estimates, the log-rank test and a Cox model"
        ),
        "retention": _("how many people were due at each timepoint, answered, missed it or still have time"),
        "fidelity": _("the share of meetings held and stages advanced with their safety checks on time"),
        "risk_levels": _("cases by risk level at the first and the latest safety check"),
        "staircase": _("cases by the highest step of the accountability staircase reached"),
        "commitments": _("commitments by their latest reported progress"),
        "survivor_view_repair": _("cases by the survivor's latest view of whether the harm was repaired"),
        "hold_days": _("cases held on safety hold, and their days on hold"),
        "pod_measures": _("the survivors' support networks: size, active allies and density"),
    }[parameters["kind"]]
    k = parameters["deidentification"]
    lines = [
        _("Circlekeeper: a published analysis, to rerun"),
        "",
        _("Analysis: %(what)s.") % {"what": what},
        _("Dashboard: %(domain)s, part %(part)s, computed %(when)s.")
        % {
            "domain": parameters["domain"],
            "part": parameters["section"] + 1,
            "when": parameters["computed_at"],
        },
        _("Small-cell threshold: %(threshold)s. The filters and every setting are in parameters.json.")
        % {"threshold": parameters["threshold"]},
        "",
        _("Files:"),
        "  parameters.json: "
        + _("what was analysed and how: filters, model and why, covariates, thresholds"),
        "  versions.json: " + _("the versions of Python, pandas, numpy, scipy, statsmodels and Circlekeeper"),
        "  published.json: " + _("the numbers the dashboard shows"),
        "  recompute.py: " + _("recomputes them with pandas, numpy, scipy and statsmodels alone"),
        *(f"  {name}: " + _("the input rows") for name in files),
        "",
        _("To rerun: python recompute.py > recomputed.json, then compare with published.json."),
        "",
        _(
            "De-identification: the rows hold only what the analysis reads (no participant code, month, track "
            "or role), sorted by value so that nothing links them to other files; the groups and timepoints "
            "the page withheld are not included."
        ),
        _("Quasi-identifiers: %(names)s. k achieved: %(achieved)s; k required: %(required)s.")
        % {
            "names": ", ".join(k["quasi_identifiers"]),
            "achieved": "-" if k["k_achieved"] is None else k["k_achieved"],
            "required": k["k_required"],
        },
        "",
    ]
    return "\n".join(lines)
