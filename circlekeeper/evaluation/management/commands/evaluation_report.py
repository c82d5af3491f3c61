from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Network, Organization
from circlekeeper.cases.models import ParticipantRole, Track
from circlekeeper.evaluation import dataset, report
from circlekeeper.evaluation.analysis import DEFAULT_SURVIVAL_DAYS
from circlekeeper.evaluation.dashboard_forms import period_choices
from circlekeeper.lib.audit import record

REPORT_ACTION = Action.EVALUATION_REPORT
REPORT_OBJECT_TYPE = "evaluation_report"
SCORE_OPTIONS = ("instrument", "score")
PAIR_OPTIONS = ("from_timepoint", "to_timepoint")
OUTCOME_OPTIONS = ("reference",)


class Command(BaseCommand):
    help = (
        "Print an analysis as JSON or CSV, with small cells suppressed at the scope's threshold: descriptives "
        "and prepost of a questionnaire score per timepoint, retention per timepoint, fidelity of the safety "
        "checks, and over imported external outcomes irr (incidence rate ratios) and survival (time to first "
        "event). The dashboards show the same numbers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--analysis", required=True, choices=report.ANALYSES)
        parser.add_argument("--organization", metavar="SLUG", help="one organization's data")
        parser.add_argument(
            "--network", metavar="SLUG", help="the pooled data of the organizations in a network's pool"
        )
        parser.add_argument(
            "--group-by",
            help="track or organization (descriptives, prepost, retention, fidelity); group (the outcome "
            "file's group; the default for irr and survival) or organization (irr, survival)",
        )
        parser.add_argument(
            "--reference", metavar="GROUP", help="irr: the group the others are compared with"
        )
        parser.add_argument(
            "--model", default="auto", choices=("poisson", "negbin", "auto"), help="irr: the model"
        )
        parser.add_argument(
            "--at",
            default=",".join(map(str, DEFAULT_SURVIVAL_DAYS)),
            metavar="DAYS",
            help="survival: the days to give the survival estimate at, e.g. 90,180,365",
        )
        parser.add_argument(
            "--threshold",
            type=int,
            help="counts of people below this are suppressed (default and least: the network's threshold)",
        )
        parser.add_argument("--instrument", metavar="NAME", help="descriptives, prepost: the instrument code")
        parser.add_argument("--score", metavar="NAME", help="descriptives, prepost: the score's code")
        parser.add_argument("--from", dest="from_timepoint", metavar="T", help="prepost: e.g. T0")
        parser.add_argument("--to", dest="to_timepoint", metavar="T", help="prepost: e.g. T3")
        parser.add_argument(
            "--role",
            choices=[role for role in ParticipantRole.values if role != ParticipantRole.CHILD],
            help="descriptives, prepost: only the answers of participants in this role",
        )
        parser.add_argument("--track", choices=Track.values, help="only cases on this track")
        parser.add_argument(
            "--period",
            metavar="YEAR",
            help="only cases opened in this calendar year (one of the years the dashboards offer; no free dates: "
            "two reports whose cases differ by a month would give that month's numbers by subtraction)",
        )
        # Refused with a reason (issue 21): they took free months, which let two reports be subtracted.
        parser.add_argument("--since", help=argparse.SUPPRESS)
        parser.add_argument("--until", help=argparse.SUPPRESS)
        parser.add_argument("--format", required=True, choices=("json", "csv"))
        parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of to standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        analysis = options["analysis"]
        _check_options(options)
        scope = _scope(options["organization"], options["network"])
        threshold = _threshold(options["threshold"], scope)
        try:
            made = report.make(
                scope,
                kind=analysis,
                instrument=options["instrument"],
                score=options["score"],
                before=options["from_timepoint"],
                after=options["to_timepoint"],
                role=options["role"],
                group_by=options["group_by"],
                track=options["track"],
                since=options["since"],
                until=options["until"],
                reference=options["reference"],
                model=options["model"],
                at=_days(options["at"]) if analysis == "survival" else DEFAULT_SURVIVAL_DAYS,
                threshold=threshold,
            )
        except report.ReportRefused as exc:
            raise CommandError(str(exc)) from None
        key = "organization" if options["organization"] else "network"
        made = {"analysis": made.pop("analysis"), "scope": {key: options[key]}, **made}
        text = report.as_json(made) if options["format"] == "json" else report.as_csv(made)
        for organization in scope.organizations:
            record(
                None,
                action=REPORT_ACTION,
                object_type=REPORT_OBJECT_TYPE,
                object_id=analysis,
                organization_id=organization.pk,
            )
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(self.style.SUCCESS(f"Wrote the {analysis} report to {options['output']}."))
        else:
            self.stdout.write(text, ending="")


def _scope(organization: str | None, network: str | None) -> dataset.Scope:
    if bool(organization) == bool(network):
        raise CommandError("Say whose data to analyse: --organization SLUG or --network SLUG (one of them).")
    if organization:
        found = Organization.objects.filter(slug=organization).first()
        if found is None:
            raise CommandError(f"No organization with the short name {organization!r}.")
        return dataset.Scope.for_organization(found)
    pooled = Network.objects.filter(slug=network).first()
    if pooled is None:
        raise CommandError(f"No network with the short name {network!r}.")
    return dataset.Scope.for_published_network(pooled)


def _threshold(asked: int | None, scope: dataset.Scope) -> int:
    """The scope's threshold, or a higher one; never lower (the network decided how small is too small)."""
    if asked is None:
        return scope.threshold
    if asked < scope.threshold:
        raise CommandError(
            f"--threshold {asked} is below this network's suppression threshold ({scope.threshold}); a report "
            f"may suppress more, never less."
        )
    return asked


def _days(text: str) -> list[int]:
    try:
        days = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--at must be whole numbers of days separated by commas, not {text!r}.") from None
    if not days or any(day < 0 for day in days):
        raise CommandError(f"--at must be whole numbers of days of 0 or more, not {text!r}.")
    return days


def _flag(name: str) -> str:
    return "--" + name.removesuffix("_timepoint").replace("_", "-")


def _check_options(options: dict[str, Any]) -> None:
    analysis = options["analysis"]
    if options["threshold"] is not None and options["threshold"] < 1:
        raise CommandError("--threshold must be 1 or more.")
    allowed: set[str] = set()
    if analysis in report.SCORE_ANALYSES:
        allowed |= {*SCORE_OPTIONS, "role"}
    if analysis == "prepost":
        allowed |= set(PAIR_OPTIONS)
    if analysis == "irr":
        allowed |= set(OUTCOME_OPTIONS)
    for name in ("since", "until"):
        if options[name]:
            raise CommandError(
                f"--{name} is no longer offered: reports cover a whole calendar year (--period YEAR) or every "
                f"year, never free dates, so that two reports cannot be subtracted to give a month's numbers."
            )
    if analysis not in report.OUTCOME_ANALYSES:
        allowed |= {"track", "period"}
    given = [
        _flag(name)
        for name in (*SCORE_OPTIONS, *PAIR_OPTIONS, *OUTCOME_OPTIONS, "role", "track", "period")
        if options[name] and name not in allowed
    ]
    if given:
        raise CommandError(f"{', '.join(given)}: not an option of {analysis}.")
    needed = [_flag(name) for name in sorted(allowed & {*SCORE_OPTIONS, *PAIR_OPTIONS}) if not options[name]]
    if needed:
        raise CommandError(f"{analysis} needs {', '.join(needed)}.")
    groupings = report.GROUPINGS if analysis in report.OUTCOME_ANALYSES else report.DATA_GROUPINGS
    if options["group_by"] is not None and options["group_by"] not in groupings:
        why = (
            " (imported outcomes carry no case or track)"
            if analysis in report.OUTCOME_ANALYSES
            else " (group is the external outcome file's group)"
        )
        raise CommandError(
            f"--group-by {options['group_by']} is not available for {analysis}{why}; use "
            f"{' or '.join(groupings)}."
        )
    if options["period"]:
        options["since"], options["until"] = _year(options["period"])


def _year(text: str) -> tuple[datetime.date, datetime.date]:
    """The first and last day of a calendar year the dashboards offer (dashboard_forms.period_choices)."""
    offered = [value for value, _label in period_choices() if value]
    if text not in offered:
        raise CommandError(f"--period must be one of the years {', '.join(offered)}, not {text!r}.")
    year = int(text)
    return datetime.date(year, 1, 1), datetime.date(year, 12, 31)
