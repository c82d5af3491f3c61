"""The network's public impact page (issue 9 item 4): a few aggregates by quarter, small cells suppressed.

Only organizations whose program admin chose to show their numbers (their latest `ImpactDecision` says shown;
never decided means hidden) are counted. Every count of people or cases goes through the network's suppression
threshold; tables with totals use complementary suppression (evaluation.suppression), so that a hidden cell is
not found by subtraction. The page names no case, person, date or organization's numbers on their own: counts
are pooled across the organizations shown, by calendar quarter.

Over time (issue 21, finding 3): the page shows the last four *complete* quarters, the latest one only once
RELEASE_LAG_DAYS have passed since it ended, so the page changes only at a quarter boundary plus the lag, never
from one day to the next. Each quarter counts the organizations whose latest decision made *before the quarter
began* says shown: turning "show our numbers" on or off takes effect from the next quarter, and a quarter's
numbers, once published, are the same in every later release. Saving the page before and after a decision
therefore gives the same cells for the quarters both show: there is no difference to take.

What is counted, per quarter:

- cases opened, by the track the survivor has chosen (a case counts once, in the quarter it was opened);
- cases that reached the agreement stage (the first time), and how many of them have an agreement affirmed;
- survivors feeling safer: the felt-safety score (outcome_safety) at their latest follow-up (T3, else T2) is above
  their intake score (T0), counted in the quarter of that follow-up (evaluation.dataset.scores_frame);
- community events held and people reached (attendance counts);
- community facilitators who completed a training in the quarter.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import Network, Organization, User
from circlekeeper.cases.models import Case, ParticipantRole, Stage, Track
from circlekeeper.community.models import Attendance, CommunityEvent, ImpactDecision, TrainingRecord
from circlekeeper.evaluation.dataset import Scope, evaluation_for, scores_frame
from circlekeeper.evaluation.suppression import Shown, suppress_count, suppress_table
from circlekeeper.lib.charts import Bar, bar_chart
from circlekeeper.protocol.models import Transition

QUARTERS_SHOWN = 4
# Days after a quarter ends before it is published (late records of the quarter come in meanwhile).
RELEASE_LAG_DAYS = 30
NO_TRACK = ""
SAFETY_INSTRUMENT = "outcome_safety"
SAFETY_SCORE = "felt_safety"
FOLLOW_UPS = ("T3", "T2")  # the latest follow-up a survivor answered, in this order of preference


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int

    @classmethod
    def of(cls, day: datetime.date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def start(self) -> datetime.date:
        return datetime.date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> datetime.date:
        return self.next().start - datetime.timedelta(days=1)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    @property
    def label(self) -> str:
        return f"{self.year} Q{self.number}"


def last_quarters(today: datetime.date, count: int = QUARTERS_SHOWN) -> list[Quarter]:
    """The `count` quarters ending with today's, oldest first."""
    quarters = [Quarter.of(today)]
    while len(quarters) < count:
        quarters.insert(0, quarters[0].previous())
    return quarters


def release_quarters(
    today: datetime.date, count: int = QUARTERS_SHOWN, lag_days: int = RELEASE_LAG_DAYS
) -> list[Quarter]:
    """The `count` complete quarters published on `today`, oldest first: the latest is the last quarter that
    ended at least `lag_days` days ago. The same list on every day from one release to the next."""
    latest = Quarter.of(today).previous()
    while latest.end + datetime.timedelta(days=lag_days) >= today:
        latest = latest.previous()
    return last_quarters(latest.start, count)


# --- who is counted ----------------------------------------------------------------------------------------------


def organizations_by_quarter(network: Network, quarters: Sequence[Quarter]) -> list[list[Organization]]:
    """For each quarter, the network's organizations whose latest decision made before the quarter began says
    shown (a decision takes effect from the next quarter; no decision: not shown)."""
    organizations = {
        organization.pk: organization for organization in Organization.objects.filter(network=network)
    }
    decisions = (
        ImpactDecision.objects.filter(organization_id__in=list(organizations))
        .order_by("at", "id")
        .values_list("organization_id", "shown", "at")
    )
    history = list(decisions)
    counted = []
    for quarter in quarters:
        begins = _end_of(quarter.start - datetime.timedelta(days=1))
        latest: dict[int, bool] = {}
        for organization_id, shown, at in history:
            if at < begins:
                latest[organization_id] = shown
        chosen = [organizations[pk] for pk, shown in latest.items() if shown]
        counted.append(sorted(chosen, key=lambda organization: (organization.name, organization.pk)))
    return counted


def shown_organizations(network: Network) -> list[Organization]:
    """The network's organizations whose latest impact decision is "shown" (no decision: not shown)."""
    latest = ImpactDecision.objects.filter(organization_id=OuterRef("pk")).order_by("-at", "-id")
    return list(
        Organization.objects.filter(network=network)
        .annotate(shown=Subquery(latest.values("shown")[:1]))
        .filter(shown=True)
        .order_by("name", "pk")
    )


@transaction.atomic
def record_impact_decision(
    *, organization: Organization, shown: bool, reason: str, by: User
) -> ImpactDecision:
    """Record the program admin's decision; the same decision sent twice (a double click) is recorded once."""
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
    reason = reason.strip()
    latest = ImpactDecision.objects.for_organization(organization).order_by("-at", "-id").first()
    if latest is not None and latest.shown == shown and latest.reason == reason:
        return latest
    decision = ImpactDecision(organization=organization, shown=shown, reason=reason, by=by)
    try:
        decision.full_clean()
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    decision.save()
    return decision


def impact_history(organization: Organization) -> list[ImpactDecision]:
    return list(
        ImpactDecision.objects.for_organization(organization).select_related("by").order_by("-at", "-id")[:20]
    )


# --- the numbers -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    cells: list[Shown]
    total: Shown
    share: str = ""


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[Row]
    totals: Row


@dataclass
class ImpactReport:
    network: Network
    organizations: list[Organization]
    quarters: list[Quarter]
    threshold: int
    tracks: Table | None = None
    agreements: Table | None = None
    safer: Table | None = None
    reach: Table | None = None
    facilitators: list[tuple[str, Shown]] = field(default_factory=list)
    facilitators_total: Shown = 0
    charts: dict[str, SafeString] = field(default_factory=dict)

    @property
    def small_mark(self) -> str:
        return f"<{self.threshold}"

    @property
    def first_label(self) -> str:
        return self.quarters[0].label

    @property
    def last_label(self) -> str:
        return self.quarters[-1].label


def _share(part: Shown, whole: Shown, threshold: int) -> str:
    """A percentage, only when both counts may be shown and the whole is not small."""
    if not isinstance(part, int) or not isinstance(whole, int) or whole < threshold or whole == 0:
        return ""
    return f"{round(100 * part / whole)}%"


def _table(
    labels: Sequence[str],
    columns: Sequence[str],
    counts: list[list[int]],
    threshold: int,
    *,
    share: bool = False,
) -> Table:
    suppressed = suppress_table(counts, threshold)
    rows = [
        Row(label, cells, total, _share(cells[0], total, threshold) if share else "")
        for label, cells, total in zip(labels, suppressed.cells, suppressed.row_totals, strict=True)
    ]
    totals = Row(
        _("All quarters"),
        suppressed.column_totals,
        suppressed.total,
        _share(suppressed.column_totals[0], suppressed.total, threshold) if share else "",
    )
    return Table(list(columns), rows, totals)


def impact_report(network: Network, today: datetime.date | None = None) -> ImpactReport:
    """Everything the public impact page shows, in a fixed number of queries however many cases there are."""
    today = today or timezone.localdate()
    quarters = release_quarters(today)
    by_quarter_organizations = organizations_by_quarter(network, quarters)
    union = {organization.pk: organization for chosen in by_quarter_organizations for organization in chosen}
    organizations = sorted(union.values(), key=lambda organization: (organization.name, organization.pk))
    report = ImpactReport(network, organizations, quarters, network.suppression_threshold)
    if not organizations:
        return report
    allowed = [{organization.pk for organization in chosen} for chosen in by_quarter_organizations]
    positions = {quarter: position for position, quarter in enumerate(quarters)}

    def counted(day: datetime.date, organization_id: int) -> int | None:
        """The quarter's position when the organization is counted in it, else None."""
        position = positions.get(Quarter.of(day))
        return position if position is not None and organization_id in allowed[position] else None

    first, last = quarters[0].start, quarters[-1].end
    ids = [organization.pk for organization in organizations]
    labels = [quarter.label for quarter in quarters]
    threshold = report.threshold

    # Cases opened, by track chosen.
    track_codes = [*Track.values, NO_TRACK]
    tracks = [[0] * len(track_codes) for _q in quarters]
    for opened_on, track, organization_id in Case.objects.filter(
        organization_id__in=ids, opened_on__gte=first, opened_on__lte=last
    ).values_list("opened_on", "track", "organization_id"):
        position = counted(opened_on, organization_id)
        if position is not None:
            tracks[position][track_codes.index(track if track in Track.values else NO_TRACK)] += 1
    report.tracks = _table(
        labels, [str(label) for label in Track.labels] + [_("Not chosen yet")], tracks, threshold
    )

    # Cases that reached the agreement stage (the first time), and those with an affirmed agreement.
    reached: dict[int, tuple[datetime.datetime, bool, int]] = {}
    for case_id, at, affirmed, organization_id in (
        Transition.objects.filter(organization_id__in=ids, to_stage=Stage.AGREEMENT, at__lte=_end_of(last))
        .order_by("at", "id")
        .values_list("case_id", "at", "case__agreement_affirmed_at", "organization_id")
    ):
        reached.setdefault(case_id, (at, affirmed is not None, organization_id))
    agreements = [[0, 0] for _q in quarters]
    for at, affirmed, organization_id in reached.values():
        position = counted(timezone.localdate(at), organization_id)
        if position is not None:
            agreements[position][0 if affirmed else 1] += 1
    report.agreements = _table(
        labels, [_("Agreement affirmed"), _("Not (yet) affirmed")], agreements, threshold, share=True
    )

    # Survivors feeling safer at their latest follow-up than at intake.
    scope = Scope(tuple(organizations), network, evaluation_for(network=network))
    frame = scores_frame(
        scope, instrument=SAFETY_INSTRUMENT, score=SAFETY_SCORE, roles=[ParticipantRole.SURVIVOR]
    )
    safer = [[0, 0] for _q in quarters]
    by_person: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)
    organization_of: dict[str, int] = {}
    slugs = {organization.slug: organization.pk for organization in organizations}
    for code, point, month, value, slug in frame[
        ["participant", "timepoint", "month", "value", "organization"]
    ].itertuples(index=False):
        if point == "T0" or point in FOLLOW_UPS:
            by_person[code].setdefault(point, (month, float(value)))
            organization_of[code] = slugs[slug]
    for code, points in by_person.items():
        follow_up = next((points[p] for p in FOLLOW_UPS if p in points), None)
        if "T0" not in points or follow_up is None:
            continue
        year, month = (int(part) for part in follow_up[0].split("-"))
        position = counted(datetime.date(year, month, 1), organization_of[code])
        if position is not None:
            safer[position][0 if follow_up[1] > points["T0"][1] else 1] += 1
    report.safer = _table(labels, [_("Feeling safer"), _("Not feeling safer")], safer, threshold, share=True)

    # Community events and people reached.
    events = [0] * len(quarters)
    for day, organization_id in CommunityEvent.objects.filter(
        organization_id__in=ids, date__gte=first, date__lte=last
    ).values_list("date", "organization_id"):
        position = counted(day, organization_id)
        if position is not None:
            events[position] += 1
    people = [[0] for _q in quarters]
    for day, count, organization_id in Attendance.objects.filter(
        organization_id__in=ids, event__date__gte=first, event__date__lte=last
    ).values_list("event__date", "count", "organization_id"):
        position = counted(day, organization_id)
        if position is not None:
            people[position][0] += count
    reach = _table(labels, [_("People reached")], people, threshold)
    report.reach = Table(
        [_("Events held"), _("People reached")],
        [Row(row.label, [events[i], *row.cells], row.total) for i, row in enumerate(reach.rows)],
        Row(reach.totals.label, [sum(events), *reach.totals.cells], reach.totals.total),
    )

    # Facilitators who completed a training (each counted once per quarter, and once in all).
    trained: dict[int, set[int]] = defaultdict(set)
    for facilitator_id, day, organization_id in TrainingRecord.objects.filter(
        organization_id__in=ids, completed=True, event__date__gte=first, event__date__lte=last
    ).values_list("facilitator_id", "event__date", "organization_id"):
        position = counted(day, organization_id)
        if position is not None:
            trained[position].add(facilitator_id)
    # Complementary suppression over the quarters: with one quarter hidden, the total shown beside them (each
    # person once) minus the quarters shown would give it away.
    by_quarter = suppress_table([[len(trained[i])] for i in range(len(quarters))], threshold)
    report.facilitators = [(quarter.label, by_quarter.cells[i][0]) for i, quarter in enumerate(quarters)]
    report.facilitators_total = suppress_count(len(set().union(*trained.values())), threshold)
    report.charts = _charts(report)
    return report


def _end_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min))


def _bar(label: str, shown: Shown, suppressed: str) -> Bar:
    if isinstance(shown, int):
        return Bar(label, float(shown), str(shown))
    return Bar(label, None, suppressed)


def _share_bar(label: str, share: str, suppressed: str) -> Bar:
    if share:
        return Bar(label, float(share.rstrip("%")), share)
    return Bar(label, None, suppressed)


def _charts(report: ImpactReport) -> dict[str, SafeString]:
    assert report.tracks and report.agreements and report.safer and report.reach
    hidden = _("not shown (too few)")
    charts = {
        "cases": bar_chart(
            chart_id="chart-cases",
            title=_("Cases opened, by quarter"),
            description=_("The numbers are in the table below the chart."),
            bars=[_bar(row.label, row.total, hidden) for row in report.tracks.rows],
        ),
        "tracks": bar_chart(
            chart_id="chart-tracks",
            title=_("Options chosen by survivors, all quarters"),
            description=_("The numbers are in the table below the chart."),
            bars=[
                _bar(column, shown, hidden)
                for column, shown in zip(report.tracks.columns, report.tracks.totals.cells, strict=True)
            ],
        ),
        "agreements": bar_chart(
            chart_id="chart-agreements",
            title=_("Share of cases with an affirmed agreement, by quarter"),
            description=_(
                "Percent of the cases that reached the agreement stage. The numbers are in the table."
            ),
            bars=[_share_bar(row.label, row.share, hidden) for row in report.agreements.rows],
            maximum=100,
        ),
        "safer": bar_chart(
            chart_id="chart-safer",
            title=_("Share of survivors feeling safer, by quarter"),
            description=_(
                "Percent of the survivors who answered at intake and at a follow-up. "
                "The numbers are in the table."
            ),
            bars=[_share_bar(row.label, row.share, hidden) for row in report.safer.rows],
            maximum=100,
        ),
        "reach": bar_chart(
            chart_id="chart-reach",
            title=_("People reached by community events, by quarter"),
            description=_("The numbers are in the table below the chart."),
            bars=[_bar(row.label, row.cells[1], hidden) for row in report.reach.rows],
        ),
    }
    return charts
