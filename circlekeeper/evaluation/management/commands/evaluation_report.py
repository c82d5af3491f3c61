from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Network, Organization
from circlekeeper.evaluation import report
from circlekeeper.evaluation.analysis import DEFAULT_SURVIVAL_DAYS
from circlekeeper.evaluation.models import ExternalOutcome, ExternalOutcomeQuerySet
from circlekeeper.evaluation.suppression import DEFAULT_THRESHOLD
from circlekeeper.lib.audit import record

# accounts.audit.Action has no member for this yet; the code is the one it should gain.
REPORT_ACTION = Action.EVALUATION_REPORT
REPORT_OBJECT_TYPE = "evaluation_report"
ANALYSIS_OPTIONS = ("instrument", "score", "from_timepoint", "to_timepoint")


class Command(BaseCommand):
    help = (
        "Print an analysis of the imported external outcomes as JSON or CSV, with small cells suppressed "
        "(irr: incidence rate ratios between groups; survival: time to first event). The analyses of "
        "questionnaire scores (descriptives, prepost, retention, fidelity) are not available yet."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--analysis", required=True, choices=report.ANALYSES)
        parser.add_argument("--organization", metavar="SLUG", help="one organization's outcomes")
        parser.add_argument(
            "--network", metavar="SLUG", help="the outcomes of every organization in a network"
        )
        parser.add_argument(
            "--group-by", default="group", help="group (the file's group; the default) or organization"
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
            default=DEFAULT_THRESHOLD,
            help=f"counts of people below this are suppressed (default {DEFAULT_THRESHOLD})",
        )
        parser.add_argument("--instrument", metavar="NAME", help="descriptives, prepost: not available yet")
        parser.add_argument("--score", metavar="NAME", help="descriptives, prepost: not available yet")
        parser.add_argument("--from", dest="from_timepoint", metavar="T", help="prepost: not available yet")
        parser.add_argument("--to", dest="to_timepoint", metavar="T", help="prepost: not available yet")
        parser.add_argument("--format", required=True, choices=("json", "csv"))
        parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of to standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        analysis = options["analysis"]
        _check_options(options)
        organizations, outcomes = self._scope(options["organization"], options["network"])
        try:
            made = _make(report.outcomes_frame(outcomes), options)
        except report.ReportRefused as exc:
            raise CommandError(str(exc)) from None
        key = "organization" if options["organization"] else "network"
        scope = {key: options[key]}
        made = {"analysis": made.pop("analysis"), "scope": scope, **made}
        text = report.as_json(made) if options["format"] == "json" else report.as_csv(made)
        for organization in organizations:
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

    def _scope(
        self, organization: str | None, network: str | None
    ) -> tuple[list[Organization], ExternalOutcomeQuerySet]:
        if bool(organization) == bool(network):
            raise CommandError(
                "Say whose outcomes to analyse: --organization SLUG or --network SLUG (one of them)."
            )
        if organization:
            found = Organization.objects.filter(slug=organization).first()
            if found is None:
                raise CommandError(f"No organization with the short name {organization!r}.")
            return [found], ExternalOutcome.objects.for_organization(found)
        pooled = Network.objects.filter(slug=network).first()
        if pooled is None:
            raise CommandError(f"No network with the short name {network!r}.")
        return list(pooled.organizations.order_by("pk")), ExternalOutcome.objects.for_network(pooled)


def _days(text: str) -> list[int]:
    try:
        days = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--at must be whole numbers of days separated by commas, not {text!r}.") from None
    if not days or any(day < 0 for day in days):
        raise CommandError(f"--at must be whole numbers of days of 0 or more, not {text!r}.")
    return days


def _check_options(options: dict[str, Any]) -> None:
    analysis = options["analysis"]
    if analysis in report.NOT_BUILT_YET:
        raise CommandError(
            f"{analysis} is not available yet: it needs evaluation timepoints and questionnaire responses, "
            f"which are not built yet. Available now, over imported external outcomes: "
            f"{', '.join(report.AVAILABLE)}."
        )
    given = [f"--{name.removesuffix('_timepoint')}" for name in ANALYSIS_OPTIONS if options[name]]
    if given:
        raise CommandError(f"{', '.join(given)}: only for descriptives and prepost, not for {analysis}.")
    if options["group_by"] not in report.GROUPINGS:
        raise CommandError(
            f"--group-by {options['group_by']} is not available for external outcomes (they carry no "
            f"case or track); use {' or '.join(report.GROUPINGS)}."
        )
    if options["threshold"] < 1:
        raise CommandError("--threshold must be 1 or more.")


def _make(frame: pd.DataFrame, options: dict[str, Any]) -> dict[str, Any]:
    if options["analysis"] == "irr":
        return report.irr_report(
            frame,
            group_by=options["group_by"],
            reference=options["reference"],
            model=options["model"],
            threshold=options["threshold"],
        )
    return report.survival_report(
        frame, group_by=options["group_by"], at=_days(options["at"]), threshold=options["threshold"]
    )
