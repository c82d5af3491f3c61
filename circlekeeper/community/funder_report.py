"""The quarterly funder report of one organization (issue 9 item 6): aggregate and unduplicated, small cells
suppressed (SECURITY.md 5), ready to paste into a grant report.

How things are counted:

- **Cases served**: cases open at any time in the quarter (opened on or before its last day, not closed before
  its first), each once however many stage changes or contacts it had.
- **People served**: the participants of those cases, each *person* once. A person known in two cases is one
  person when both records carry the same name and date of birth (their blind index, as "Is this person already
  known?" finds them, SECURITY.md 8); a participant without both is counted as one person. Each person is counted
  under their role in their most recent case, so the roles add up to the people served.
- **Cases by track and stage**: each case's track and stage at the end of the quarter (from the history of
  track choices and stage transitions).
- **Services**: what was done in the quarter (meetings held by kind, safety checks, safety plans made and
  reviewed, agreements affirmed by every party, progress check-ins on commitments).
- **Community**: events held in the quarter by kind, with the people reached (attendance counts); trainings and
  their hours; the facilitators who completed a training in the quarter and their hours.
- **Outcomes**: survivors whose felt safety (outcome_safety, felt_safety) was scored at T0 and again at T2 or T3
  in the quarter, and the share whose later score is higher (safer) than at T0.

Suppression: the network's threshold (`suppression_threshold`, default 11). A count of people or of services
from 1 to threshold - 1 is shown as "<11"; every count of the report, in whichever table or figure, is suppressed
in one pass (evaluation.release), with complementary cells wherever a hidden count could be narrowed below a width
of 3 from the others; counts left shown are rounded where the network chose a base (`rounding_base`).

Complete quarters only (issue 21): the current quarter changes from day to day, so it is never offered, and a
request for it or a later one is refused naming the latest complete quarter. Every complete quarter since the
organization's first case or event is one release: all the tables of all the quarters are suppressed together,
replayed one quarter at a time with what earlier releases hid kept hidden and what they showed kept shown
(protect_history), so a quarter's numbers are the same in every report that shows them. The
number of events and trainings and their hours are shown as they are: they describe the
program's public activity, not people. A share is shown only when both those it counts and those it does not
are 0 or at least the threshold, so that the share and its n never give away a small count.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from circlekeeper.accountability.models import AgreementVersion, CheckIn
from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import (
    Case,
    CaseEvent,
    EventKind,
    Participant,
    ParticipantRole,
    Stage,
    Track,
    TrackChoice,
)
from circlekeeper.community.models import TRAINING_KINDS, Attendance, CommunityEvent, TrainingRecord
from circlekeeper.community.models import EventKind as CommunityEventKind
from circlekeeper.evaluation.dataset import Scope, scores_frame
from circlekeeper.evaluation.release import ReleaseCounts, protect_releases
from circlekeeper.evaluation.suppression import Shown, small_mark
from circlekeeper.protocol.models import Meeting, MeetingKind, MeetingStatus, Transition
from circlekeeper.safety.models import SafetyCheck, SafetyPlanRevision

NOT_CHOSEN = ""
OUTCOME_INSTRUMENT, OUTCOME_SCORE = "outcome_safety", "felt_safety"
BASELINE, FOLLOW_UPS = "T0", ("T2", "T3")
QUARTERS_OFFERED = 12


# --- quarters -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int

    @property
    def code(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def label(self) -> str:
        return _("Q%(number)s %(year)s") % {"number": self.number, "year": self.year}

    @property
    def start(self) -> datetime.date:
        return datetime.date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> datetime.date:
        return self.next().start - datetime.timedelta(days=1)

    @property
    def months(self) -> set[str]:
        return {f"{self.year:04d}-{3 * self.number - m:02d}" for m in (2, 1, 0)}

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    def moments(self) -> tuple[datetime.datetime, datetime.datetime]:
        """The quarter as [start, end) in the server's time zone."""
        tz = timezone.get_current_timezone()
        start = datetime.datetime.combine(self.start, datetime.time.min, tzinfo=tz)
        end = datetime.datetime.combine(self.next().start, datetime.time.min, tzinfo=tz)
        return start, end

    @classmethod
    def containing(cls, day: datetime.date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def last_full(cls, today: datetime.date) -> Quarter:
        return cls.containing(today).previous()

    @classmethod
    def parse(cls, code: str) -> Quarter | None:
        """'2026-Q1' as a quarter; None for anything else."""
        year, _sep, number = code.partition("-Q")
        if not (year.isdigit() and len(year) == 4 and number in {"1", "2", "3", "4"}):
            return None
        return cls(int(year), int(number))

    @classmethod
    def offered(cls, today: datetime.date) -> list[Quarter]:
        """The quarters the chooser offers: complete quarters only, latest first. The current quarter is never
        offered: its numbers change from day to day, and two days' reports would differ by a small group."""
        quarters = [cls.last_full(today)]
        while len(quarters) < QUARTERS_OFFERED:
            quarters.append(quarters[-1].previous())
        return quarters


# --- the report ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    cells: list[Shown]
    total: Shown | None = None


@dataclass(frozen=True)
class Table:
    key: str
    caption: str
    row_header: str
    columns: list[str]
    rows: list[Row]
    totals: list[Shown] | None = None
    total: Shown | None = None
    total_label: str = ""

    @property
    def has_row_totals(self) -> bool:
        return any(r.total is not None for r in self.rows)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: Shown | str
    note: str = ""


@dataclass
class FunderReport:
    organization: Organization
    quarter: Quarter
    threshold: int
    rounding: int | None = None
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    services: list[Figure] = field(default_factory=list)
    community: list[Figure] = field(default_factory=list)
    outcomes: list[Figure] = field(default_factory=list)

    @property
    def mark(self) -> str:
        return small_mark(self.threshold)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def figure(self, key: str) -> Figure:
        return next(
            f for f in (*self.figures, *self.services, *self.community, *self.outcomes) if f.key == key
        )


def _one_column(
    key: str,
    caption: str,
    row_header: str,
    column: str,
    labels: Sequence[str],
    units: Sequence[set[object]],
    counts: _Counts,
) -> Callable[[dict[Hashable, Shown]], Table]:
    """A table of counts in one column with its total: its counts named in the release now, the table made once
    the release is suppressed (see build_report)."""
    for index, cell in enumerate(units):
        counts.count((key, index), cell)
    counts.count((key, "total"), set().union(*units) if units else set())

    def table(shown: dict[Hashable, Shown]) -> Table:
        return Table(
            key=key,
            caption=caption,
            row_header=row_header,
            columns=[column],
            rows=[Row(label, [shown[(key, index)]]) for index, label in enumerate(labels)],
            totals=[shown[(key, "total")]],
            total_label=_("Total"),
        )

    return table


def _served_cases(organization: Organization, quarter: Quarter) -> list[Case]:
    return list(
        Case.objects.for_organization(organization)
        .filter(opened_on__lte=quarter.end)
        .filter(Q(closed_on__isnull=True) | Q(closed_on__gte=quarter.start))
        .only("id", "opened_on", "track", "stage")
        .order_by("opened_on", "id")
    )


def _people_by_role(organization: Organization, cases: list[Case]) -> dict[str, set[object]]:
    """Each person once (see the module's docstring), under their role in their most recent case."""
    order = {case.pk: position for position, case in enumerate(cases)}
    latest: dict[str, tuple[int, int, str]] = {}
    participants = (
        Participant.objects.for_organization(organization)
        .filter(case_id__in=list(order))
        .values_list("pk", "case_id", "role", "name_dob_index")
    )
    for pk, case_id, role, index in participants:
        person = f"index:{index}" if index else f"participant:{pk}"
        seen = (order[case_id], pk, role)
        if person not in latest or seen > latest[person]:
            latest[person] = seen
    by_role: dict[str, set[object]] = defaultdict(set)
    for person, (_position, _pk, role) in latest.items():
        by_role[role].add(("person", person))
    return by_role


def _as_of_end(organization: Organization, cases: list[Case], quarter: Quarter) -> list[tuple[str, str]]:
    """Each case's (track, stage) at the end of the quarter."""
    _start, end = quarter.moments()
    ids = [c.pk for c in cases]
    tracks: dict[int, str] = {}
    chosen_at_all: set[int] = set()
    for case_id, track, at in (
        TrackChoice.objects.for_organization(organization)
        .filter(case_id__in=ids)
        .order_by("recorded_at", "id")
        .values_list("case_id", "track", "recorded_at")
    ):
        chosen_at_all.add(case_id)
        if at < end:
            tracks[case_id] = track
    stages: dict[int, str] = {}
    moved_at_all: set[int] = set()
    for case_id, stage, at in (
        Transition.objects.for_organization(organization)
        .filter(case_id__in=ids)
        .order_by("at", "id")
        .values_list("case_id", "to_stage", "at")
    ):
        moved_at_all.add(case_id)
        if at < end:
            stages[case_id] = stage
    result = []
    for case in cases:
        # A case with no recorded history at all is taken as it is now.
        track = tracks.get(case.pk, NOT_CHOSEN if case.pk in chosen_at_all else case.track)
        stage = stages.get(case.pk, Stage.REFERRAL if case.pk in moved_at_all else case.stage)
        result.append((track, stage))
    return result


def _track_stage_table(
    cases: list[Case], pairs: list[tuple[str, str]], counts: _Counts
) -> Callable[[dict[Hashable, Shown]], Table]:
    tracks = [*Track.values, NOT_CHOSEN]
    stages = list(Stage.values)
    cells: dict[tuple[int, int], set[object]] = defaultdict(set)
    for case, (track, stage) in zip(cases, pairs, strict=True):
        row = tracks.index(track) if track in tracks else len(tracks) - 1
        if stage in stages:
            cells[(row, stages.index(stage))].add(("case", case.pk))
    key = "cases_by_track_and_stage"
    for i in range(len(tracks)):
        for j in range(len(stages)):
            counts.count((key, i, j), cells[(i, j)])
        counts.count((key, i, "total"), set().union(*(cells[(i, j)] for j in range(len(stages)))))
    for j in range(len(stages)):
        counts.count((key, "total", j), set().union(*(cells[(i, j)] for i in range(len(tracks)))))
    counts.count((key, "total", "total"), set().union(*cells.values()) if cells else set())
    track_labels = [*(str(label) for label in Track.labels), _("Not chosen yet")]

    def table(shown: dict[Hashable, Shown]) -> Table:
        return Table(
            key=key,
            caption=_("Cases served by track (rows) and stage (columns) at the end of the quarter"),
            row_header=_("Track"),
            columns=[str(label) for label in Stage.labels],
            rows=[
                Row(label, [shown[(key, i, j)] for j in range(len(stages))], shown[(key, i, "total")])
                for i, label in enumerate(track_labels)
            ],
            totals=[shown[(key, "total", j)] for j in range(len(stages))],
            total=shown[(key, "total", "total")],
            total_label=_("All tracks"),
        )

    return table


def _ids(queryset: Any, name: str) -> set[object]:
    return {(name, pk) for pk in queryset.values_list("pk", flat=True)}


def _services(
    organization: Organization, quarter: Quarter, counts: _Counts
) -> tuple[Callable[[dict[Hashable, Shown]], Table], Callable[[dict[Hashable, Shown]], list[Figure]]]:
    start, end = quarter.moments()
    held: dict[str, set[object]] = defaultdict(set)
    for pk, kind in (
        Meeting.objects.for_organization(organization)
        .filter(status=MeetingStatus.HELD, held_at__gte=start, held_at__lt=end)
        .values_list("pk", "kind")
    ):
        held[kind].add(("meeting", pk))
    meetings = _one_column(
        "meetings_by_kind",
        _("Meetings held in the quarter, by kind"),
        _("Kind of meeting"),
        _("Meetings held"),
        [str(label) for label in MeetingKind.labels],
        [held[kind] for kind in MeetingKind.values],
        counts,
    )
    plans = SafetyPlanRevision.objects.for_organization(organization).filter(
        saved_at__gte=start, saved_at__lt=end, declined=False
    )
    services = [
        (
            "safety_checks",
            _("Safety checks"),
            _ids(
                SafetyCheck.objects.for_organization(organization).filter(
                    checked_at__gte=start, checked_at__lt=end
                ),
                "check",
            ),
        ),
        ("safety_plans_made", _("Safety plans made"), _ids(plans.filter(number=1), "plan")),
        ("safety_plans_revised", _("Safety plans revised"), _ids(plans.filter(number__gt=1), "plan")),
        (
            "safety_plans_reviewed",
            _("Safety plans reviewed with the survivor"),
            _ids(
                CaseEvent.objects.for_organization(organization).filter(
                    kind=EventKind.PLAN_REVIEWED, at__gte=start, at__lt=end
                ),
                "review",
            ),
        ),
        (
            "agreements_affirmed",
            _("Agreements affirmed by every party"),
            _ids(
                AgreementVersion.objects.for_organization(organization).filter(
                    affirmed_at__gte=start, affirmed_at__lt=end
                ),
                "agreement",
            ),
        ),
        (
            "progress_checkins",
            _("Progress check-ins on commitments"),
            _ids(CheckIn.objects.for_organization(organization).filter(at__gte=start, at__lt=end), "checkin"),
        ),
    ]
    for key, _label, units in services:
        counts.count(key, units)

    def figures(shown: dict[Hashable, Shown]) -> list[Figure]:
        return [Figure(key, label, shown[key]) for key, label, _units in services]

    return meetings, figures


def _community(
    organization: Organization, quarter: Quarter, counts: _Counts
) -> Callable[[dict[Hashable, Shown]], tuple[Table, list[Figure]]]:
    events = CommunityEvent.objects.for_organization(organization).filter(
        date__gte=quarter.start, date__lte=quarter.end
    )
    held = dict(events.values_list("kind").annotate(n=Count("id")).values_list("kind", "n"))
    reached: dict[str, set[object]] = defaultdict(set)
    for pk, kind, people in (
        Attendance.objects.for_organization(organization)
        .filter(event__in=events)
        .values_list("pk", "event__kind", "count")
    ):
        reached[kind].update(("reached", pk, n) for n in range(people or 0))
    kinds, labels = list(CommunityEventKind.values), [str(label) for label in CommunityEventKind.labels]
    for kind in kinds:
        counts.count(("reached", kind), reached[kind])
    counts.count(("reached", "total"), set().union(*reached.values()) if reached else set())
    trainings = events.filter(kind__in=[k.value for k in TRAINING_KINDS])
    training_hours = trainings.aggregate(hours=Sum("hours"))["hours"] or Decimal(0)
    records = TrainingRecord.objects.for_organization(organization).filter(
        event__in=trainings, completed=True
    )
    counts.count(
        "facilitators_trained",
        {("facilitator", pk) for pk in records.values_list("facilitator_id", flat=True).distinct()},
    )
    trained_hours = records.aggregate(hours=Sum("hours"))["hours"] or Decimal(0)
    trainings_held = trainings.count()

    def made(shown: dict[Hashable, Shown]) -> tuple[Table, list[Figure]]:
        table = Table(
            key="events_by_kind",
            caption=_("Community events and trainings held in the quarter, and the people they reached"),
            row_header=_("Kind of event"),
            columns=[_("Events"), _("People reached")],
            rows=[
                Row(label, [held.get(kind, 0), shown[("reached", kind)]])
                for label, kind in zip(labels, kinds, strict=True)
            ],
            totals=[sum(held.values()), shown[("reached", "total")]],
            total_label=_("All events"),
        )
        trained = shown["facilitators_trained"]
        figures = [
            Figure("trainings", _("Trainings held"), trainings_held),
            Figure("training_hours", _("Hours of training offered"), _number(training_hours)),
            Figure("facilitators_trained", _("Community facilitators who completed a training"), trained),
            Figure(
                "facilitator_hours",
                _("Hours of training they completed"),
                _number(trained_hours) if isinstance(trained, int) else trained,
                _("Shown only when the number of facilitators is shown."),
            ),
        ]
        return table, figures

    return made


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:.1f}"


def _outcomes(
    organization: Organization, quarter: Quarter, counts: _Counts
) -> Callable[[dict[Hashable, Shown]], list[Figure]]:
    frame = scores_frame(
        Scope.for_organization(organization),
        instrument=OUTCOME_INSTRUMENT,
        score=OUTCOME_SCORE,
        roles=[ParticipantRole.SURVIVOR],
    )
    baseline = frame[frame["timepoint"] == BASELINE].groupby("participant")["value"].first()
    later = frame[frame["timepoint"].isin(FOLLOW_UPS) & frame["month"].isin(quarter.months)]
    latest = later.groupby("participant")["value"].last()
    paired = latest.index.intersection(baseline.index)
    safer = {("survivor", code) for code in paired if latest[code] > baseline[code]}
    every = {("survivor", code) for code in paired}
    # The share and its n give the counts of those safer and not: they are counts of the release.
    counts.count("survivors_followed_up", every)
    counts.count("survivors_safer", safer)
    counts.count("survivors_not_safer", every - safer)

    def figures(shown: dict[Hashable, Shown]) -> list[Figure]:
        n = len(every)
        if n == 0:
            share: str = "—"
        elif not all(
            isinstance(shown[key], int)
            for key in ("survivors_followed_up", "survivors_safer", "survivors_not_safer")
        ):
            share = _("suppressed")
        else:
            share = f"{round(100 * len(safer) / n)} %"
        return [
            Figure(
                "survivors_followed_up",
                _("Survivors who answered the felt-safety questions at intake (T0) and again at T2 or T3"),
                shown["survivors_followed_up"],
            ),
            Figure(
                "survivors_safer",
                _("Share of them who feel safer than at intake"),
                share,
                _(
                    "A higher felt-safety score (1–5) at their latest follow-up in the quarter than at intake."
                ),
            ),
        ]

    return figures


class _Counts(Protocol):
    def count(self, key: Hashable, units: Iterable[Hashable]) -> Hashable: ...


class _QuarterCounts:
    """The counts of one quarter inside the release of every quarter: each key carries the quarter's code."""

    def __init__(self, counts: ReleaseCounts, quarter: Quarter) -> None:
        self.release, self.code = counts, quarter.code

    def count(self, key: Hashable, units: Iterable[Hashable]) -> Hashable:
        return self.release.count((self.code, key), units)

    def shown(self, shown: dict[Hashable, Shown]) -> dict[Hashable, Shown]:
        return {
            key[1]: value
            for key, value in shown.items()
            if isinstance(key, tuple) and len(key) == 2 and key[0] == self.code
        }


def first_quarter(organization: Organization, today: datetime.date) -> Quarter:
    """The first quarter of the organization's releases: that of its first case or event, or the latest complete one."""
    days = [
        day
        for day in (
            Case.objects.for_organization(organization)
            .order_by("opened_on")
            .values_list("opened_on", flat=True)
            .first(),
            CommunityEvent.objects.for_organization(organization)
            .order_by("date")
            .values_list("date", flat=True)
            .first(),
        )
        if day is not None
    ]
    latest = Quarter.last_full(today)
    return min(Quarter.containing(min(days)), latest) if days else latest


def complete_quarters(organization: Organization, today: datetime.date) -> list[Quarter]:
    """Every complete quarter since the organization's first, oldest first."""
    quarters = [first_quarter(organization, today)]
    while quarters[-1] < Quarter.last_full(today):
        quarters.append(quarters[-1].next())
    return quarters


def protect_history(
    organization: Organization, quarters: Sequence[Quarter]
) -> tuple[dict[Hashable, Shown], dict[Quarter, Callable[[dict[Hashable, Shown]], FunderReport]]]:
    """Every quarter's report in one release, replayed one quarter at a time from the first (issue 21): each
    release suppresses every table of every complete quarter together, keeps hidden what an earlier one hid and
    never hides what an earlier one showed, so that comparing two quarters' reports, or a report before and
    after a new quarter is added, recovers nothing."""
    threshold = organization.network.suppression_threshold
    rounding = organization.network.rounding_base or None
    makers: dict[Quarter, Callable[[dict[Hashable, Shown]], FunderReport]] = {}
    per_quarter: dict[Quarter, ReleaseCounts] = {}
    for quarter in quarters:
        per_quarter[quarter] = ReleaseCounts()
        makers[quarter] = _collect(organization, quarter, _QuarterCounts(per_quarter[quarter], quarter))
    # The linear programmes behind a release take seconds: the same units, quarters and settings give the same
    # suppression, so it is remembered for them (as the impact page does) and a second view solves nothing.
    fingerprint = hashlib.sha256(
        repr(
            (
                [(quarter.code, per_quarter[quarter].fingerprint()) for quarter in quarters],
                threshold,
                rounding,
            )
        ).encode()
    ).hexdigest()
    key = f"funder-release:{organization.pk}:{fingerprint}"
    shown: dict[Hashable, Shown] | None = cache.get(key)
    if shown is None:
        shown = _replay([per_quarter[quarter] for quarter in quarters], threshold, rounding)
        cache.set(key, shown, timeout=24 * 3600)
    return shown, makers


def _replay(quarters: Sequence[ReleaseCounts], threshold: int, rounding: int | None) -> dict[Hashable, Shown]:
    """The release after each quarter in turn (each holding every quarter so far), replayed by
    evaluation.release.protect_releases: what earlier releases hid, showed and showed as "<11" is kept; the last
    one's counts."""

    def cumulative() -> Iterator[ReleaseCounts]:
        counts = ReleaseCounts()
        for quarter in quarters:
            for key, units in quarter.units.items():
                counts.count(key, units)
            yield counts

    return protect_releases(cumulative(), threshold=threshold, rounding=rounding)


def build_reports(organization: Organization, today: datetime.date) -> dict[Quarter, FunderReport]:
    """Every complete quarter's report, from one release over all of them (protect_history)."""
    shown, makers = protect_history(organization, complete_quarters(organization, today))
    return {quarter: make(shown) for quarter, make in makers.items()}


def build_report(
    organization: Organization, quarter: Quarter, today: datetime.date | None = None
) -> FunderReport:
    """One complete quarter's report, as the release of every complete quarter shows it (`today`: the server's
    date by default). Raises ValueError for the current or a future quarter."""
    today = today or timezone.localdate()
    latest = Quarter.last_full(today)
    if quarter > latest:
        raise ValueError(incomplete_message(latest))
    quarters = complete_quarters(organization, today)
    if quarter < quarters[0]:  # before the organization's first case or event: nothing to count
        quarters = [quarter]
    shown, makers = protect_history(organization, quarters)
    return makers[quarter](shown)


def incomplete_message(latest: Quarter) -> str:
    return _(
        "The funder report covers complete quarters only: the current quarter is not over yet. "
        "The latest complete quarter is %(quarter)s."
    ) % {"quarter": latest.label}


def _collect(
    organization: Organization, quarter: Quarter, counts: _QuarterCounts
) -> Callable[[dict[Hashable, Shown]], FunderReport]:
    """Name every count of one quarter's report in the release; returns how to make the report once the release
    is suppressed. The cases opened are among the cases served, the people served are the roles' total, and so
    on, so a count hidden in one place is not found from the others."""
    network = organization.network
    threshold = network.suppression_threshold
    report = FunderReport(
        organization=organization,
        quarter=quarter,
        threshold=threshold,
        rounding=network.rounding_base or None,
    )
    cases = _served_cases(organization, quarter)
    counts.count("cases_opened", {("case", c.pk) for c in cases if c.opened_on >= quarter.start})
    by_role = _people_by_role(organization, cases)
    roles = _one_column(
        "people_by_role",
        _("People served, each counted once, by their role"),
        _("Role"),
        _("People"),
        [str(label) for label in ParticipantRole.labels],
        [by_role[role] for role in ParticipantRole.values],
        counts,
    )
    by_track_and_stage = _track_stage_table(cases, _as_of_end(organization, cases, quarter), counts)
    meetings, services = _services(organization, quarter, counts)
    community = _community(organization, quarter, counts)
    outcomes = _outcomes(organization, quarter, counts)

    def made(everything: dict[Hashable, Shown]) -> FunderReport:
        shown = counts.shown(everything)
        _fill(report, shown, roles, by_track_and_stage, meetings, services, community, outcomes)
        return report

    return made


def _fill(
    report: FunderReport,
    shown: dict[Hashable, Shown],
    roles: Callable[[dict[Hashable, Shown]], Table],
    by_track_and_stage: Callable[[dict[Hashable, Shown]], Table],
    meetings: Callable[[dict[Hashable, Shown]], Table],
    services: Callable[[dict[Hashable, Shown]], list[Figure]],
    community: Callable[[dict[Hashable, Shown]], tuple[Table, list[Figure]]],
    outcomes: Callable[[dict[Hashable, Shown]], list[Figure]],
) -> None:
    report.figures = [
        Figure(
            "cases_served",
            _("Cases served (open at any time in the quarter)"),
            shown[("cases_by_track_and_stage", "total", "total")],
        ),
        Figure("cases_opened", _("New cases opened in the quarter"), shown["cases_opened"]),
        Figure("people_served", _("People served, each counted once"), shown[("people_by_role", "total")]),
    ]
    report.services = services(shown)
    events, report.community = community(shown)
    report.tables = [roles(shown), by_track_and_stage(shown), meetings(shown), events]
    report.outcomes = outcomes(shown)


# "*" marks both the cells hidden to protect others and small counts whose range would give them away (see
# disclosure.protect): the note must not let a reader bound a "*" cell to 0 or at least the threshold.
SUPPRESSION_NOTE = gettext_noop(
    "Counts from 1 to %(n)s are shown as %(mark)s, or as * where even that range would give them away; "
    "* marks a hidden count, which may be any count, small or not"
)


def _limits(report: FunderReport) -> dict[str, object]:
    return {"n": report.threshold - 1, "mark": report.mark}


def csv_rows(report: FunderReport) -> list[list[object]]:
    """The report as rows (section, what, column, value), ready for csv.writer after formula escaping."""
    rows: list[list[object]] = [
        [_("Organization"), report.organization.name, "", ""],
        [_("Quarter"), report.quarter.label, str(report.quarter.start), str(report.quarter.end)],
        [_("Suppression"), _(SUPPRESSION_NOTE) % _limits(report), "", ""],
    ]
    if report.rounding:
        rows.append(
            [
                _("Rounding"),
                _("Counts shown are rounded to a multiple of %(base)s") % {"base": report.rounding},
                "",
                "",
            ]
        )
    section = _("Summary")
    rows += [[section, f.label, "", f.value] for f in report.figures]
    for table in report.tables:
        for row in table.rows:
            cells = zip(table.columns, row.cells, strict=True)
            rows += [[table.caption, row.label, column, value] for column, value in cells]
            if row.total is not None:
                rows.append([table.caption, row.label, _("Total"), row.total])
        if table.totals is not None:
            totals = zip(table.columns, table.totals, strict=True)
            rows += [[table.caption, table.total_label, column, value] for column, value in totals]
        if table.total is not None:
            rows.append([table.caption, table.total_label, _("Total"), table.total])
    rows += [[_("Services"), f.label, "", f.value] for f in report.services]
    rows += [[_("Community"), f.label, "", f.value] for f in report.community]
    rows += [[_("Outcomes"), f.label, "", f.value] for f in report.outcomes]
    return rows
