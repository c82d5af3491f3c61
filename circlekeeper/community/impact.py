"""The network's public impact page (issue 9 item 4): a few aggregates by quarter, small cells suppressed.

Only organizations whose program admin chose to show their numbers (their latest `ImpactDecision` says shown;
never decided means hidden) are counted. Every count of people or cases goes through the network's suppression
threshold, and every count of the page is suppressed in one pass over all its tables (evaluation.release), so
that a hidden cell is not found by subtraction within a table or across them. The page names no case, person,
date or organization's numbers on their own: counts are pooled across the organizations shown, by calendar
quarter, with a total per calendar year (never over a period that moves with the page).

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
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.cache import cache
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
from circlekeeper.evaluation.release import ReleaseCounts, protect_releases
from circlekeeper.evaluation.suppression import Shown
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
    # One row per calendar year whose four quarters are all published (issue 21, finding 3): a fixed cell, the
    # same in every later release, never a rolling total that two releases could be subtracted from.
    years: list[Row]

    @property
    def latest_year(self) -> Row | None:
        return self.years[-1] if self.years else None


@dataclass
class ImpactReport:
    network: Network
    organizations: list[Organization]
    quarters: list[Quarter]
    threshold: int
    rounding: int | None = None
    tracks: Table | None = None
    agreements: Table | None = None
    safer: Table | None = None
    reach: Table | None = None
    facilitators: list[tuple[str, Shown]] = field(default_factory=list)
    facilitators_years: list[tuple[str, Shown]] = field(default_factory=list)
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

    @property
    def latest_year_label(self) -> str:
        return self.tracks.years[-1].label if self.tracks and self.tracks.years else ""

    @property
    def facilitators_latest_year(self) -> Shown | None:
        return self.facilitators_years[-1][1] if self.facilitators_years else None


def _share(part: Shown, whole: Shown, threshold: int) -> str:
    """A percentage, only when both counts may be shown and the whole is not small."""
    if not isinstance(part, int) or not isinstance(whole, int) or whole < threshold or whole == 0:
        return ""
    return f"{round(100 * part / whole)}%"


# What each table counts. A unit is what one person, case or attendance adds: the release's relations between
# counts come from the units they share (evaluation.release).
MEASURES = ("tracks", "agreements", "safer", "reach")


@dataclass
class _Units:
    """The units of every measure, by quarter and column, before any suppression."""

    cells: dict[tuple[str, Quarter, int], set[object]] = field(default_factory=lambda: defaultdict(set))
    trained: dict[Quarter, set[int]] = field(default_factory=lambda: defaultdict(set))
    events: dict[Quarter, int] = field(default_factory=lambda: defaultdict(int))


def history_quarters(network: Network, latest: Quarter, earliest: Quarter | None = None) -> list[Quarter]:
    """Every quarter ever published up to `latest`: from the quarter after the network's first "shown" decision
    (nothing is counted before it). The whole history is one release, so that an older quarter's hidden cells
    are protected against the numbers published since."""
    first = ImpactDecision.objects.filter(organization__network=network, shown=True).order_by("at").first()
    if first is None:
        return []
    start = Quarter.of(timezone.localdate(first.at)).next()
    if earliest is not None and (earliest.year, earliest.number) < (start.year, start.number):
        start = earliest  # quarters shown from before anyone was counted: zeros, in the release all the same
    quarters = []
    while (start.year, start.number) <= (latest.year, latest.number):
        quarters.append(start)
        start = start.next()
    return quarters


def complete_years(quarters: Sequence[Quarter]) -> list[int]:
    """The calendar years whose last quarter is among `quarters` (the history: a year's quarters before it began
    count nothing, so the year's cells are fixed once its fourth quarter is released)."""
    return sorted({q.year for q in quarters if q.number == 4})


def _collect(network: Network, quarters: list[Quarter]) -> tuple[_Units, list[Organization]]:
    """Every unit counted on the page, over `quarters`, in a fixed number of queries."""
    units = _Units()
    by_quarter_organizations = organizations_by_quarter(network, quarters)
    union = {organization.pk: organization for chosen in by_quarter_organizations for organization in chosen}
    organizations = sorted(union.values(), key=lambda organization: (organization.name, organization.pk))
    if not organizations:
        return units, organizations
    allowed = {
        q: {organization.pk for organization in chosen}
        for q, chosen in zip(quarters, by_quarter_organizations, strict=True)
    }

    def counted(day: datetime.date, organization_id: int) -> Quarter | None:
        """The quarter when the organization is counted in it, else None."""
        quarter = Quarter.of(day)
        return quarter if organization_id in allowed.get(quarter, ()) else None

    first, last = quarters[0].start, quarters[-1].end
    ids = [organization.pk for organization in organizations]

    # Cases opened, by track chosen.
    track_codes = [*Track.values, NO_TRACK]
    for case_id, opened_on, track, organization_id in Case.objects.filter(
        organization_id__in=ids, opened_on__gte=first, opened_on__lte=last
    ).values_list("pk", "opened_on", "track", "organization_id"):
        quarter = counted(opened_on, organization_id)
        if quarter is not None:
            column = track_codes.index(track if track in Track.values else NO_TRACK)
            units.cells[("tracks", quarter, column)].add(("case", case_id))

    # Cases that reached the agreement stage (the first time), and those with an affirmed agreement.
    reached: dict[int, tuple[datetime.datetime, bool, int]] = {}
    for case_id, at, affirmed, organization_id in (
        Transition.objects.filter(organization_id__in=ids, to_stage=Stage.AGREEMENT, at__lte=_end_of(last))
        .order_by("at", "id")
        .values_list("case_id", "at", "case__agreement_affirmed_at", "organization_id")
    ):
        reached.setdefault(case_id, (at, affirmed is not None, organization_id))
    for case_id, (at, affirmed, organization_id) in reached.items():
        quarter = counted(timezone.localdate(at), organization_id)
        if quarter is not None:
            units.cells[("agreements", quarter, 0 if affirmed else 1)].add(("case", case_id))

    # Survivors feeling safer at their latest follow-up than at intake.
    scope = Scope(tuple(organizations), network, evaluation_for(network=network))
    frame = scores_frame(
        scope, instrument=SAFETY_INSTRUMENT, score=SAFETY_SCORE, roles=[ParticipantRole.SURVIVOR]
    )
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
        quarter = counted(datetime.date(year, month, 1), organization_of[code])
        if quarter is not None:
            units.cells[("safer", quarter, 0 if follow_up[1] > points["T0"][1] else 1)].add(("person", code))

    # Community events (not people: shown as they are) and people reached (each attendance counts its people).
    for day, organization_id in CommunityEvent.objects.filter(
        organization_id__in=ids, date__gte=first, date__lte=last
    ).values_list("date", "organization_id"):
        quarter = counted(day, organization_id)
        if quarter is not None:
            units.events[quarter] += 1
    for attendance_id, day, count, organization_id in Attendance.objects.filter(
        organization_id__in=ids, event__date__gte=first, event__date__lte=last
    ).values_list("pk", "event__date", "count", "organization_id"):
        quarter = counted(day, organization_id)
        if quarter is not None:
            units.cells[("reach", quarter, 0)].update(("reached", attendance_id, i) for i in range(count))

    # Facilitators who completed a training (each counted once per quarter, and once per year).
    for facilitator_id, day, organization_id in TrainingRecord.objects.filter(
        organization_id__in=ids, completed=True, event__date__gte=first, event__date__lte=last
    ).values_list("facilitator_id", "event__date", "organization_id"):
        quarter = counted(day, organization_id)
        if quarter is not None:
            units.trained[quarter].add(facilitator_id)
    return units, organizations


COLUMNS = {"tracks": len(Track.values) + 1, "agreements": 2, "safer": 2, "reach": 1}


def _release(units: _Units, quarters: Sequence[Quarter]) -> ReleaseCounts:
    """Every count published when `quarters` have been released: each quarter's cells and totals, and each
    complete calendar year's, of every table (see ReleaseCounts)."""
    counts = ReleaseCounts()
    periods: list[tuple[object, list[Quarter]]] = [(q, [q]) for q in quarters]
    periods += [(year, [q for q in quarters if q.year == year]) for year in complete_years(quarters)]
    for period, members in periods:
        for measure in MEASURES:
            every: set[object] = set()
            for column in range(COLUMNS[measure]):
                cell: set[object] = set()
                for q in members:
                    cell |= units.cells.get((measure, q, column), set())
                counts.count((measure, period, column), cell)
                every |= cell
            counts.count((measure, period, "total"), every)
        trained: set[int] = set()
        for q in members:
            trained |= units.trained.get(q, set())
        counts.count(("facilitators", period), trained)
    return counts


def protect_history(
    units: _Units, history: Sequence[Quarter], threshold: int, rounding: int | None
) -> dict[object, Shown]:
    """The cells as the latest release shows them, after replaying every release since the first: a count
    hidden by one release stays hidden in every later one, and one shown stays shown, so that no two releases
    together say more than either (issue 21, finding 3). Each release is one suppression pass over all its
    tables (evaluation.release)."""
    return protect_releases(
        (_release(units, history[:end]) for end in range(1, len(history) + 1)),
        threshold=threshold,
        rounding=rounding,
    )


def _protected_history(
    network: Network, units: _Units, history: Sequence[Quarter], threshold: int, rounding: int | None
) -> dict[object, Shown]:
    """protect_history, remembered for the same units, quarters and settings: the linear programmes behind a
    release take seconds, and a public page should not redo them for every visitor (nor let one make it)."""
    fingerprint = hashlib.sha256(
        repr(
            (
                sorted((repr(key), sorted(map(repr, value))) for key, value in units.cells.items()),
                sorted((repr(key), sorted(value)) for key, value in units.trained.items()),
                [quarter.label for quarter in history],
                threshold,
                rounding,
            )
        ).encode()
    ).hexdigest()
    key = f"impact-release:{network.pk}:{fingerprint}"
    shown = cache.get(key)
    if shown is None:
        shown = protect_history(units, history, threshold, rounding)
        cache.set(key, shown, timeout=24 * 3600)
    return shown


def _table(
    measure: str,
    quarters: Sequence[Quarter],
    years: Sequence[int],
    columns: Sequence[str],
    shown: dict[object, Shown],
    threshold: int,
    *,
    share: bool = False,
) -> Table:
    def row(period: object, label: str) -> Row:
        cells = [shown[(measure, period, column)] for column in range(len(columns))]
        total = shown[(measure, period, "total")]
        return Row(label, cells, total, _share(cells[0], total, threshold) if share else "")

    return Table(
        list(columns),
        [row(q, q.label) for q in quarters],
        [row(year, _("Year %(year)s") % {"year": year}) for year in years],
    )


def impact_report(network: Network, today: datetime.date | None = None) -> ImpactReport:
    """Everything the public impact page shows, in a fixed number of queries however many cases there are."""
    today = today or timezone.localdate()
    quarters = release_quarters(today)
    history = history_quarters(network, quarters[-1], quarters[0])
    units, organizations = _collect(network, history) if history else (_Units(), [])
    threshold = network.suppression_threshold
    rounding = network.rounding_base or None
    shown_organizations = organizations_by_quarter(network, quarters)
    counted_now = {organization.pk: organization for chosen in shown_organizations for organization in chosen}
    report = ImpactReport(
        network,
        sorted(counted_now.values(), key=lambda organization: (organization.name, organization.pk)),
        quarters,
        threshold,
        rounding,
    )
    if not organizations or not report.organizations:
        return report
    shown = _protected_history(network, units, history, threshold, rounding)
    # The years shown: the complete years the four quarters shown fall in.
    years = [year for year in complete_years(history) if year in {q.year for q in quarters}]
    report.tracks = _table(
        "tracks",
        quarters,
        years,
        [str(label) for label in Track.labels] + [_("Not chosen yet")],
        shown,
        threshold,
    )
    report.agreements = _table(
        "agreements",
        quarters,
        years,
        [_("Agreement affirmed"), _("Not (yet) affirmed")],
        shown,
        threshold,
        share=True,
    )
    report.safer = _table(
        "safer", quarters, years, [_("Feeling safer"), _("Not feeling safer")], shown, threshold, share=True
    )
    reach = _table("reach", quarters, years, [_("People reached")], shown, threshold)
    events_by_year = {
        year: sum(units.events.get(Quarter(year, n), 0) for n in (1, 2, 3, 4)) for year in years
    }
    report.reach = Table(
        [_("Events held"), _("People reached")],
        [
            Row(r.label, [units.events.get(q, 0), *r.cells], r.total)
            for q, r in zip(quarters, reach.rows, strict=True)
        ],
        [
            Row(r.label, [events_by_year[y], *r.cells], r.total)
            for y, r in zip(years, reach.years, strict=True)
        ],
    )
    report.facilitators = [(q.label, shown[("facilitators", q)]) for q in quarters]
    report.facilitators_years = [
        (_("Year %(year)s") % {"year": year}, shown[("facilitators", year)]) for year in years
    ]
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
    year = report.tracks.latest_year
    if year is not None:
        charts["tracks"] = bar_chart(
            chart_id="chart-tracks",
            title=_("Options chosen by survivors, %(year)s") % {"year": year.label},
            description=_("The numbers are in the table below the chart."),
            bars=[
                _bar(column, shown, hidden)
                for column, shown in zip(report.tracks.columns, year.cells, strict=True)
            ],
        )
    return charts
