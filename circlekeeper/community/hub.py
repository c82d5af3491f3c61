"""The network hub (issue 9 item 5): the organizations of a network side by side, for its admins and evaluators.

Everything here is an aggregate shared beyond a case team, so every count goes through the network's
suppression threshold, in one suppression pass over every count of the page (evaluation.release). Only the
organizations in the network's pooled data as published (dataset.Scope.for_published_network: their latest
`PoolDecision` made before the current quarter began is "in", or they never decided) are counted anywhere on the
hub; an organization that left is named, with its decision, and nothing else.

Who opens it (evaluation.access.may_see_network): the network's admins, and the evaluators of its
organizations. Anyone else signed in gets 403; a network the person has no part in, 404.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from circlekeeper.accounts.access import StaffContext, staff_context
from circlekeeper.accounts.models import Network, Organization, Role, User
from circlekeeper.cases.models import Case, CaseStatus, ParticipantRole, Stage
from circlekeeper.community.models import TRAINING_KINDS, CommunityEvent, Facilitator
from circlekeeper.community.readiness import readiness_for
from circlekeeper.evaluation.access import may_see_network
from circlekeeper.evaluation.dataset import Scope, fidelity_frame, scores_frame
from circlekeeper.evaluation.models import EvaluationPlan, PlanTimepoint, PoolDecision
from circlekeeper.evaluation.release import ReleaseCounts
from circlekeeper.evaluation.suppression import Shown
from circlekeeper.instruments.models import Instrument

SAFETY_INSTRUMENT = "outcome_safety"
SAFETY_SCORE = "felt_safety"


# --- access ------------------------------------------------------------------------------------------------------


def hub_network(request: HttpRequest, slug: str) -> tuple[StaffContext, Network]:
    """The network whose hub this person may open: 403 for a role that never may, 404 for another network."""
    context = staff_context(request)
    if context is None or (not context.admin_of_networks and not context.has_role(Role.EVALUATOR)):
        raise PermissionDenied
    network = Network.objects.filter(slug=slug).first()
    if network is None or not may_see_network(context, network):
        raise Http404
    return context, network


def admin_network(request: HttpRequest, slug: str) -> tuple[StaffContext, Network]:
    """A network this person administers: 403 for anyone who administers none, 404 for another network."""
    context = staff_context(request)
    if context is None or not context.admin_of_networks:
        raise PermissionDenied
    network = next((n for n in context.admin_of_networks if n.slug == slug), None)
    if network is None:
        raise Http404
    return context, network


# --- joining and leaving the pooled data --------------------------------------------------------------------------


@transaction.atomic
def record_pool_decision(*, organization: Organization, pooled: bool, reason: str, by: User) -> PoolDecision:
    """Record the program admin's decision to join or leave the pool; the same one sent twice is recorded once.

    The pooled aggregates (hub, network dashboards) follow it from the next calendar quarter
    (dataset.Scope.for_published_network); the pooled row data follow it at once (dataset.Scope.for_network).
    """
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
    reason = reason.strip()
    latest = PoolDecision.objects.for_organization(organization).order_by("-at", "-id").first()
    if latest is not None and latest.pooled == pooled and latest.reason == reason:
        return latest
    decision = PoolDecision(organization=organization, pooled=pooled, reason=reason, by=by)
    try:
        decision.full_clean()
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    decision.save()
    return decision


def pool_history(organization: Organization) -> list[PoolDecision]:
    return list(
        PoolDecision.objects.for_organization(organization).select_related("by").order_by("-at", "-id")[:20]
    )


# --- what the hub shows ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganizationRow:
    organization: Organization
    open_cases: Shown
    holds_open: Shown
    fidelity_n: Shown
    fidelity_share: str
    events: Shown
    trainings: Shown
    facilitators_ready: Shown
    facilitators: Shown


@dataclass(frozen=True)
class StageRow:
    organization: Organization
    cells: list[Shown]
    total: Shown


@dataclass(frozen=True)
class TimepointRow:
    timepoint: str
    n: Shown
    mean: str
    sd: str


@dataclass(frozen=True)
class OutOfPool:
    organization: Organization
    decision: PoolDecision | None


@dataclass
class Hub:
    network: Network
    threshold: int
    year: int
    pooled: list[Organization]
    out: list[OutOfPool]
    rows: list[OrganizationRow] = field(default_factory=list)
    stage_labels: list[str] = field(default_factory=list)
    stages: list[StageRow] = field(default_factory=list)
    stage_totals: list[Shown] = field(default_factory=list)
    stage_total: Shown = 0
    felt_safety: list[TimepointRow] = field(default_factory=list)
    instruments: list[Instrument] = field(default_factory=list)
    plans: list[EvaluationPlan] = field(default_factory=list)
    decisions: dict[int, PoolDecision] = field(default_factory=dict)
    dashboard_url: str = ""
    rounding: int | None = None

    @property
    def small_mark(self) -> str:
        return f"<{self.threshold}"


def _latest_decisions(network: Network) -> dict[int, PoolDecision]:
    latest: dict[int, PoolDecision] = {}
    for decision in (
        PoolDecision.objects.filter(organization__network=network).select_related("by").order_by("at", "id")
    ):
        latest[decision.organization_id] = decision
    return latest


def _dashboard_url(network: Network) -> str:
    """The evaluation's pooled dashboard for the network, where that page exists."""
    for name in ("evaluation:network_dashboard", "evaluation:network"):
        try:
            return reverse(name, args=[network.slug])
        except NoReverseMatch:
            continue
    return ""


def _format(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def hub_for(network: Network, today: datetime.date | None = None) -> Hub:
    """Everything the hub shows, in a number of queries that does not grow with cases, events or people."""
    today = today or timezone.localdate()
    scope = Scope.for_published_network(network, today)
    threshold = scope.threshold
    pooled = list(scope.organizations)
    pooled_ids = {o.pk for o in pooled}
    decisions = _latest_decisions(network)
    out = [
        OutOfPool(o, decisions.get(o.pk))
        for o in Organization.objects.filter(network=network).order_by("name", "pk")
        if o.pk not in pooled_ids
    ]
    hub = Hub(network, threshold, today.year, sorted(pooled, key=lambda o: (o.name, o.pk)), out)
    hub.decisions = decisions
    hub.dashboard_url = _dashboard_url(network)
    hub.instruments = list(Instrument.objects.filter(owner__isnull=True).order_by("name", "pk"))
    hub.plans = list(
        EvaluationPlan.objects.filter(network=network)
        .prefetch_related(
            Prefetch(
                "timepoints",
                queryset=PlanTimepoint.objects.filter(retired_at__isnull=True)
                .prefetch_related("instruments")
                .order_by("position", "id"),
            )
        )
        .order_by("name", "id")
    )
    if not pooled:
        return hub
    ids = [o.pk for o in hub.pooled]

    # Every count of the page is named with the units it counts, then suppressed in one pass (evaluation.release):
    # an organization's open cases, its stage cells, its holds and the network's totals are all the same cases.
    counts = ReleaseCounts()
    stages = Stage.values
    open_cases: dict[tuple[int, str], set[object]] = defaultdict(set)
    held: dict[int, set[object]] = defaultdict(set)
    for case_id, organization_id, stage, on_hold in Case.objects.filter(
        organization_id__in=ids, status=CaseStatus.OPEN
    ).values_list("pk", "organization_id", "stage", "on_hold"):
        open_cases[(organization_id, stage)].add(("case", case_id))
        if on_hold:
            held[organization_id].add(("case", case_id))
    for organization in hub.pooled:
        every: set[object] = set()
        for stage in stages:
            every |= counts.units[
                counts.count(("stage", organization.pk, stage), open_cases[(organization.pk, stage)])
            ]
        counts.count(("open", organization.pk), every)
        counts.count(("holds", organization.pk), held[organization.pk])
    for stage in stages:
        counts.count(("stage", "all", stage), set().union(*(open_cases[(o.pk, stage)] for o in hub.pooled)))
    counts.count(("open", "all"), set().union(*(counts.units[("open", o.pk)] for o in hub.pooled)))

    fidelity = fidelity_frame(scope)
    for slug, group in fidelity.groupby("organization"):
        checks = [("fidelity", str(slug), index) for index in group.index]
        done = [unit for unit, on_time in zip(checks, group["on_time"], strict=True) if on_time]
        counts.count(("fidelity", str(slug)), checks)
        counts.count(("fidelity_kept", str(slug)), done)
        counts.count(("fidelity_late", str(slug)), set(checks) - set(done))

    held_events: dict[tuple[str, int], set[object]] = defaultdict(set)
    for event_id, organization_id, kind in CommunityEvent.objects.filter(
        organization_id__in=ids, date__year=today.year
    ).values_list("pk", "organization_id", "kind"):
        held_events[("trainings" if kind in TRAINING_KINDS else "events", organization_id)].add(
            ("event", event_id)
        )
    for organization in hub.pooled:
        for name in ("events", "trainings"):
            counts.count((name, organization.pk), held_events[(name, organization.pk)])

    facilitators: dict[int, list[Facilitator]] = defaultdict(list)
    for facilitator in Facilitator.objects.filter(organization_id__in=ids, active=True).only(
        "pk", "organization_id", "competencies"
    ):
        facilitators[facilitator.organization_id].append(facilitator)
    for organization in hub.pooled:
        people = facilitators[organization.pk]
        readiness = readiness_for(organization, people) if people else {}
        counts.count(("facilitators", organization.pk), [("facilitator", f.pk) for f in people])
        counts.count(
            ("ready", organization.pk),
            [("facilitator", pk) for pk, found in readiness.items() if found.ready],
        )

    frame = scores_frame(
        scope, instrument=SAFETY_INSTRUMENT, score=SAFETY_SCORE, roles=[ParticipantRole.SURVIVOR]
    )
    frame = frame[frame["timepoint"] != ""]
    for timepoint, group in frame.groupby("timepoint"):
        counts.count(("felt_safety", str(timepoint)), [("answer", index) for index in group.index])

    shown = counts.protect(threshold=threshold, rounding=network.rounding_base or None)
    hub.rounding = network.rounding_base or None

    for organization in hub.pooled:
        slug = organization.slug
        fidelity_n = shown.get(("fidelity", slug), 0)
        kept_shown, late_shown = shown.get(("fidelity_kept", slug), 0), shown.get(("fidelity_late", slug), 0)
        n = len(counts.units.get(("fidelity", slug), ()))
        # A share is a count over n: shown only when the counts it rests on are.
        share_shown = all(isinstance(v, int) for v in (fidelity_n, kept_shown, late_shown)) and n >= threshold
        kept = len(counts.units.get(("fidelity_kept", slug), ()))
        hub.rows.append(
            OrganizationRow(
                organization=organization,
                open_cases=shown[("open", organization.pk)],
                holds_open=shown[("holds", organization.pk)],
                fidelity_n=fidelity_n,
                fidelity_share=f"{round(100 * kept / n)}%" if share_shown else "",
                events=shown[("events", organization.pk)],
                trainings=shown[("trainings", organization.pk)],
                facilitators_ready=shown[("ready", organization.pk)],
                facilitators=shown[("facilitators", organization.pk)],
            )
        )

    hub.stage_labels = [str(label) for label in Stage.labels]
    hub.stages = [
        StageRow(o, [shown[("stage", o.pk, stage)] for stage in stages], shown[("open", o.pk)])
        for o in hub.pooled
    ]
    hub.stage_totals = [shown[("stage", "all", stage)] for stage in stages]
    hub.stage_total = shown[("open", "all")]

    if len(frame):
        # Imported here, not at the top: the analyses load scipy and statsmodels, which only this part of the
        # hub needs; the other pages importing this module run without them (issue 10, a web worker's memory).
        from circlekeeper.evaluation.analysis import descriptives

        for row in descriptives(frame, "value", group="timepoint"):
            n_shown = shown[("felt_safety", str(row["group"]))]
            enough = isinstance(n_shown, int) and row["n"] >= threshold
            hub.felt_safety.append(
                TimepointRow(
                    timepoint=str(row["group"]),
                    n=n_shown,
                    mean=_format(row["mean"]) if enough else "",
                    sd=_format(row["sd"]) if enough else "",
                )
            )
    return hub
