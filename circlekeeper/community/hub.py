"""The network hub (issue 9 item 5): the organizations of a network side by side, for its admins and evaluators.

Everything here is an aggregate shared beyond a case team, so every count goes through the network's
suppression threshold, in one suppression pass over every count of the page (evaluation.release). Only the
organizations in the network's pooled data as published (dataset.Scope.for_published_network: their latest
`PoolDecision` made before the quarter began is "in", or they never decided) are counted anywhere on the
hub; an organization that left is named, with its decision, and nothing else.

Over time (issue 21, findings 1 and 3), as the public impact page: the hub shows the figures as at the end of the
latest complete quarter, once impact.RELEASE_LAG_DAYS have passed since it ended, so it changes only at a quarter
boundary plus the lag, never from one day to the next, nor when a case is opened or closed or an organization
joins or leaves the pool meanwhile. Stocks (open cases by stage, on safety hold, facilitators) are taken on the
quarter's last day; flows (safety checks, events, trainings, felt-safety answers) are counted within it. Every
quarter since the network's first is a release, replayed (evaluation.release.protect_releases): a count hidden
once stays hidden, one shown stays shown. The result is remembered in the cache, keyed by its inputs.

Who opens it (evaluation.access.may_see_network): the network's admins, and the evaluators of its
organizations. Anyone else signed in gets 403; a network the person has no part in, 404.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from circlekeeper.accounts.access import StaffContext, staff_context
from circlekeeper.accounts.models import Network, Organization, Role, User
from circlekeeper.cases.models import Case, CaseStatus, ParticipantRole, Stage
from circlekeeper.community.impact import RELEASE_LAG_DAYS, Quarter, release_quarters
from circlekeeper.community.models import (
    TRAINING_KINDS,
    CommunityEvent,
    Facilitator,
    ReadinessRequirement,
    TrainingRecord,
)
from circlekeeper.community.readiness import assess
from circlekeeper.evaluation.access import may_see_network
from circlekeeper.evaluation.dataset import Scope, evaluation_for, fidelity_frame, quarter_began, scores_frame
from circlekeeper.evaluation.models import EvaluationPlan, PlanTimepoint, PoolDecision
from circlekeeper.evaluation.release import ReleaseCounts, replay_releases
from circlekeeper.evaluation.suppression import Shown
from circlekeeper.instruments.models import Instrument
from circlekeeper.protocol.models import Transition
from circlekeeper.safety.models import SafetyHold

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
    quarter: Quarter
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

    @property
    def as_of(self) -> datetime.date:
        """The day the figures are as at: the last day of the quarter released."""
        return self.quarter.end

    @property
    def lag_days(self) -> int:
        return RELEASE_LAG_DAYS

    @property
    def next_update(self) -> datetime.date:
        """The first day the next quarter is shown (release_quarters)."""
        return self.quarter.next().end + datetime.timedelta(days=RELEASE_LAG_DAYS + 1)


def _decisions(network: Network) -> list[PoolDecision]:
    return list(
        PoolDecision.objects.filter(organization__network=network).select_related("by").order_by("at", "id")
    )


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


def _began(quarter: Quarter) -> datetime.datetime:
    """The first moment of the quarter, in the local time zone (dataset.quarter_began)."""
    return quarter_began(quarter.start)


def pooled_by_quarter(
    organizations: list[Organization], decisions: list[PoolDecision], quarters: list[Quarter]
) -> dict[Quarter, list[Organization]]:
    """For each quarter, the organizations counted in it: dataset.Scope.for_published_network's rule (the latest
    pool decision made before the quarter began is "in", or none was made) for that quarter, from one query."""
    counted = {}
    for quarter in quarters:
        began = _began(quarter)
        latest: dict[int, bool] = {}
        for decision in decisions:
            if decision.at < began:
                latest[decision.organization_id] = decision.pooled
        counted[quarter] = [o for o in organizations if latest.get(o.pk, True)]
    return counted


@dataclass
class _Collected:
    """Every count the hub would show for each quarter, each with the units it counts, before suppression."""

    counts: dict[Quarter, dict[tuple[object, ...], frozenset[object]]]
    pooled: dict[Quarter, list[Organization]]
    fidelity_share: dict[tuple[Quarter, int], tuple[int, int]]  # (on time, all) per quarter and organization
    felt_safety: dict[Quarter, Any]  # the quarter's answers at evaluation timepoints (a DataFrame)


def _quarter_of(month: str) -> Quarter:
    year, number = (int(part) for part in month.split("-"))
    return Quarter.of(datetime.date(year, number, 1))


def _collect(
    network: Network, organizations: list[Organization], decisions: list[PoolDecision], latest: Quarter
) -> _Collected:
    """The units of every count of every quarter up to `latest`, from the network's first quarter with anything
    to count, in a number of queries that does not grow with cases, events, people or quarters.

    Stocks (open cases by stage, on safety hold, facilitators and their readiness) are taken on the quarter's
    last day from the records' dates (case opened and closed, stage transitions, holds opened and lifted, when a
    facilitator was added, trainings completed); flows (safety checks, events, trainings held, felt-safety
    answers) are counted within the quarter."""
    reach = latest.end
    ids = [o.pk for o in organizations]
    cases = list(
        Case.objects.filter(organization_id__in=ids, opened_on__lte=reach).values_list(
            "pk", "organization_id", "stage", "status", "opened_on", "closed_on"
        )
    )
    moves: dict[int, list[tuple[datetime.datetime, str, str]]] = defaultdict(list)
    for case_id, at, from_stage, to_stage in (
        Transition.objects.filter(organization_id__in=ids)
        .order_by("at", "id")
        .values_list("case_id", "at", "from_stage", "to_stage")
    ):
        moves[case_id].append((at, from_stage, to_stage))
    holds: dict[int, list[tuple[datetime.datetime, datetime.datetime | None]]] = defaultdict(list)
    for case_id, opened_at, lifted_at in SafetyHold.objects.filter(organization_id__in=ids).values_list(
        "case_id", "opened_at", "lifted_at"
    ):
        holds[case_id].append((opened_at, lifted_at))
    events = list(
        CommunityEvent.objects.filter(organization_id__in=ids, date__lte=reach).values_list(
            "pk", "organization_id", "kind", "date"
        )
    )
    people = list(
        Facilitator.objects.filter(organization_id__in=ids, active=True).only(
            "pk", "organization_id", "competencies", "created_at"
        )
    )
    requirements: dict[int, list[ReadinessRequirement]] = defaultdict(list)
    for requirement in ReadinessRequirement.objects.filter(organization_id__in=ids).order_by("competency"):
        requirements[requirement.organization_id].append(requirement)
    records = list(
        TrainingRecord.objects.filter(organization_id__in=ids, facilitator_id__in=[f.pk for f in people])
        .select_related("event")
        .only("organization_id", "facilitator_id", "hours", "completed", "event__competencies", "event__date")
    )
    scope = Scope(tuple(organizations), network, evaluation_for(network=network))
    fidelity = fidelity_frame(scope)
    fidelity = fidelity[fidelity["month"] != ""]
    answers = scores_frame(
        scope, instrument=SAFETY_INSTRUMENT, score=SAFETY_SCORE, roles=[ParticipantRole.SURVIVOR]
    )
    answers = answers[answers["timepoint"] != ""]

    # The network's first quarter: the earliest with anything the hub counts.
    days = [opened_on for _pk, _o, _s, _st, opened_on, _c in cases]
    days += [day for _pk, _o, _k, day in events]
    days += [timezone.localdate(f.created_at) for f in people]
    days += [_quarter_of(month).start for month in (*fidelity["month"], *answers["month"])]
    first = Quarter.of(min(days)) if days else latest
    quarters = [first]
    while (quarters[-1].year, quarters[-1].number) < (latest.year, latest.number):
        quarters.append(quarters[-1].next())
    quarters = [q for q in quarters if (q.year, q.number) <= (latest.year, latest.number)] or [latest]
    pooled = pooled_by_quarter(organizations, decisions, quarters)
    slugs = {o.slug: o.pk for o in organizations}
    fidelity_quarters = [_quarter_of(month) for month in fidelity["month"]]
    answer_quarters = [_quarter_of(month) for month in answers["month"]]
    collected = _Collected({}, pooled, {}, {})

    for quarter in quarters:
        tag = quarter.label
        counted = pooled[quarter]
        allowed = {o.pk for o in counted}
        ends = _began(quarter.next())
        units: dict[tuple[object, ...], set[object]] = defaultdict(set)
        for case_id, organization_id, stage, status, opened_on, closed_on in cases:
            if organization_id not in allowed or opened_on > quarter.end:
                continue
            if closed_on is not None and closed_on <= quarter.end:
                continue
            if closed_on is None and status != CaseStatus.OPEN:
                continue  # closed on a day not recorded: not counted as open on any day
            past = [move for move in moves.get(case_id, ()) if move[0] < ends]
            if past:
                stage = past[-1][2]
            elif case_id in moves:
                stage = moves[case_id][0][1]
            unit = ("case", case_id)
            units[("stage", tag, organization_id, stage)].add(unit)
            units[("open", tag, organization_id)].add(unit)
            if any(opened < ends and (lifted is None or lifted >= ends) for opened, lifted in holds[case_id]):
                units[("holds", tag, organization_id)].add(unit)
        for event_id, organization_id, kind, day in events:
            if organization_id in allowed and Quarter.of(day) == quarter:
                name = "trainings" if kind in TRAINING_KINDS else "events"
                units[(name, tag, organization_id)].add(("event", event_id))
        for organization in counted:
            present = [f for f in people if f.organization_id == organization.pk]
            present = [f for f in present if timezone.localdate(f.created_at) <= quarter.end]
            trained = [
                r for r in records if r.organization_id == organization.pk and r.event.date <= quarter.end
            ]
            found = assess(present, requirements[organization.pk], trained)
            units[("facilitators", tag, organization.pk)] = {("facilitator", f.pk) for f in present}
            units[("ready", tag, organization.pk)] = {
                ("facilitator", pk) for pk, readiness in found.items() if readiness.ready
            }
        for (index, slug, on_time), when in zip(
            fidelity[["organization", "on_time"]].itertuples(), fidelity_quarters, strict=True
        ):
            organization_id = slugs[str(slug)]
            if when != quarter or organization_id not in allowed:
                continue
            unit = ("check", index)
            units[("fidelity", tag, organization_id)].add(unit)
            units[("fidelity_kept" if on_time else "fidelity_late", tag, organization_id)].add(unit)
        chosen = [
            when == quarter and slugs[str(slug)] in allowed
            for slug, when in zip(answers["organization"], answer_quarters, strict=True)
        ]
        frame = answers[chosen] if len(answers) else answers
        collected.felt_safety[quarter] = frame
        for timepoint, group in frame.groupby("timepoint"):
            units[("felt_safety", tag, str(timepoint))] = {("answer", index) for index in group.index}

        # Every count the page shows, also the empty ones (an organization's zero is a published number too).
        keyed: dict[tuple[object, ...], frozenset[object]] = {}
        for organization in counted:
            pk = organization.pk
            every: set[object] = set()
            for stage in Stage.values:
                keyed[("stage", tag, pk, stage)] = frozenset(units[("stage", tag, pk, stage)])
                every |= units[("stage", tag, pk, stage)]
            keyed[("open", tag, pk)] = frozenset(every)
            for name in ("holds", "fidelity", "fidelity_kept", "fidelity_late", "events", "trainings"):
                keyed[(name, tag, pk)] = frozenset(units[(name, tag, pk)])
            keyed[("facilitators", tag, pk)] = frozenset(units[("facilitators", tag, pk)])
            keyed[("ready", tag, pk)] = frozenset(units[("ready", tag, pk)])
            collected.fidelity_share[(quarter, pk)] = (
                len(units[("fidelity_kept", tag, pk)]),
                len(units[("fidelity", tag, pk)]),
            )
        if counted:
            for stage in Stage.values:
                keyed[("stage", tag, "all", stage)] = frozenset().union(
                    *(units[("stage", tag, o.pk, stage)] for o in counted)
                )
            keyed[("open", tag, "all")] = frozenset().union(*(keyed[("open", tag, o.pk)] for o in counted))
        for key, found_units in units.items():
            if key[0] == "felt_safety":
                keyed[key] = frozenset(found_units)
        collected.counts[quarter] = keyed
    return collected


def _release(collected: _Collected, quarters: list[Quarter]) -> ReleaseCounts:
    """Every count the hub has shown by the time the last of `quarters` is released: one ReleaseCounts."""
    counts = ReleaseCounts()
    for quarter in quarters:
        for key, units in collected.counts[quarter].items():
            counts.count(key, units)
    return counts


def _protected(
    network: Network, collected: _Collected, threshold: int, rounding: int | None
) -> dict[Hashable, Shown]:
    """Every release of the hub since the network's first quarter, replayed (evaluation.release.replay_releases)
    and remembered, as impact._protected_history does: the linear programmes take time, and the hub is opened
    often. Each release's outcome is kept under a fingerprint of its inputs and of every release before it, so a
    second view does no linear programming, and a new quarter (or a record changed in the latest one) replays
    only from the first release whose inputs changed."""
    quarters = list(collected.counts)
    fingerprint = hashlib.sha256(repr((network.pk, threshold, rounding)).encode())
    keys = []
    for quarter in quarters:
        counts = collected.counts[quarter]
        fingerprint.update(
            repr(
                (
                    quarter.label,
                    sorted((repr(key), sorted(map(repr, units))) for key, units in counts.items()),
                )
            ).encode()
        )
        keys.append(f"hub-release-2:{network.pk}:{fingerprint.hexdigest()}")
    done = 0
    shown: dict[Hashable, Shown] = {}
    hidden: frozenset[Hashable] = frozenset()
    public: frozenset[Hashable] = frozenset()
    bounded: frozenset[Hashable] = frozenset()
    for end in range(len(quarters), 0, -1):
        state = cache.get(keys[end - 1])
        if state is not None:
            done, (shown, hidden, public, bounded) = end, state
            break
    replay = replay_releases(
        (_release(collected, quarters[:end]) for end in range(done + 1, len(quarters) + 1)),
        threshold=threshold,
        rounding=rounding,
        hidden=hidden,
        public=public,
        bounded=bounded,
    )
    for key, state in zip(keys[done:], replay, strict=True):
        cache.set(key, state, timeout=24 * 3600)
        shown = state[0]
    return shown


def hub_for(network: Network, today: datetime.date | None = None) -> Hub:
    """Everything the hub shows: the latest released quarter (impact.release_quarters: complete, and published
    RELEASE_LAG_DAYS after it ended), the same on every day until the next release, in a number of queries that
    does not grow with cases, events or people."""
    today = today or timezone.localdate()
    quarter = release_quarters(today, count=1)[-1]
    threshold = network.suppression_threshold
    rounding = network.rounding_base or None
    organizations = list(Organization.objects.filter(network=network).order_by("name", "pk"))
    decisions = _decisions(network)
    pooled = pooled_by_quarter(organizations, decisions, [quarter])[quarter]
    pooled_ids = {o.pk for o in pooled}
    latest = {decision.organization_id: decision for decision in decisions}
    out = [OutOfPool(o, latest.get(o.pk)) for o in organizations if o.pk not in pooled_ids]
    hub = Hub(network, threshold, quarter, pooled, out, rounding=rounding)
    hub.decisions = latest
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

    collected = _collect(network, organizations, decisions, quarter)
    shown = _protected(network, collected, threshold, rounding)
    tag = quarter.label
    stages = Stage.values

    for organization in hub.pooled:
        pk = organization.pk
        fidelity_n = shown[("fidelity", tag, pk)]
        kept_shown, late_shown = shown[("fidelity_kept", tag, pk)], shown[("fidelity_late", tag, pk)]
        kept, n = collected.fidelity_share[(quarter, pk)]
        # A share is a count over n: shown only when the counts it rests on are.
        share_shown = all(isinstance(v, int) for v in (fidelity_n, kept_shown, late_shown)) and n >= threshold
        hub.rows.append(
            OrganizationRow(
                organization=organization,
                open_cases=shown[("open", tag, pk)],
                holds_open=shown[("holds", tag, pk)],
                fidelity_n=fidelity_n,
                fidelity_share=f"{round(100 * kept / n)}%" if share_shown else "",
                events=shown[("events", tag, pk)],
                trainings=shown[("trainings", tag, pk)],
                facilitators_ready=shown[("ready", tag, pk)],
                facilitators=shown[("facilitators", tag, pk)],
            )
        )

    hub.stage_labels = [str(label) for label in Stage.labels]
    hub.stages = [
        StageRow(o, [shown[("stage", tag, o.pk, stage)] for stage in stages], shown[("open", tag, o.pk)])
        for o in hub.pooled
    ]
    hub.stage_totals = [shown[("stage", tag, "all", stage)] for stage in stages]
    hub.stage_total = shown[("open", tag, "all")]

    frame = collected.felt_safety[quarter]
    if len(frame):
        # Imported here, not at the top: the analyses load scipy and statsmodels, which only this part of the
        # hub needs; the other pages importing this module run without them (issue 10, a web worker's memory).
        from circlekeeper.evaluation.analysis import descriptives

        for row in descriptives(frame, "value", group="timepoint"):
            n_shown = shown[("felt_safety", tag, str(row["group"]))]
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
