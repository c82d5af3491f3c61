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
from 1 to threshold - 1 is shown as "<11"; tables with totals get complementary suppression (evaluation.
suppression). The number of events and trainings and their hours are shown as they are: they describe the
program's public activity, not people. A share is shown only when both those it counts and those it does not
are 0 or at least the threshold, so that the share and its n never give away a small count.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

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
from circlekeeper.evaluation.suppression import Shown, is_small, small_mark, suppress_count, suppress_table
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
        """The quarters the chooser offers: the current one and the ones before it, latest first."""
        quarters = [cls.containing(today)]
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
    counts: Sequence[int],
    threshold: int,
) -> Table:
    """A table of counts in one column with its total, suppressed with complementary cells."""
    suppressed = suppress_table([[n] for n in counts], threshold)
    return Table(
        key=key,
        caption=caption,
        row_header=row_header,
        columns=[column],
        rows=[Row(label, cells) for label, cells in zip(labels, suppressed.cells, strict=True)],
        totals=suppressed.column_totals,
        total_label=_("Total"),
    )


def _served_cases(organization: Organization, quarter: Quarter) -> list[Case]:
    return list(
        Case.objects.for_organization(organization)
        .filter(opened_on__lte=quarter.end)
        .filter(Q(closed_on__isnull=True) | Q(closed_on__gte=quarter.start))
        .only("id", "opened_on", "track", "stage")
        .order_by("opened_on", "id")
    )


def _people_by_role(organization: Organization, cases: list[Case]) -> dict[str, int]:
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
    by_role: dict[str, int] = defaultdict(int)
    for _position, _pk, role in latest.values():
        by_role[role] += 1
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


def _track_stage_table(pairs: list[tuple[str, str]], threshold: int) -> Table:
    tracks = [*Track.values, NOT_CHOSEN]
    stages = list(Stage.values)
    counts = [[0] * len(stages) for _t in tracks]
    for track, stage in pairs:
        row = tracks.index(track) if track in tracks else len(tracks) - 1
        if stage in stages:
            counts[row][stages.index(stage)] += 1
    suppressed = suppress_table(counts, threshold)
    track_labels = [*(str(label) for label in Track.labels), _("Not chosen yet")]
    return Table(
        key="cases_by_track_and_stage",
        caption=_("Cases served by track (rows) and stage (columns) at the end of the quarter"),
        row_header=_("Track"),
        columns=[str(label) for label in Stage.labels],
        rows=[
            Row(label, cells, total)
            for label, cells, total in zip(track_labels, suppressed.cells, suppressed.row_totals, strict=True)
        ],
        totals=suppressed.column_totals,
        total=suppressed.total,
        total_label=_("All tracks"),
    )


def _services(organization: Organization, quarter: Quarter, threshold: int) -> tuple[Table, list[Figure]]:
    start, end = quarter.moments()
    held = dict(
        Meeting.objects.for_organization(organization)
        .filter(status=MeetingStatus.HELD, held_at__gte=start, held_at__lt=end)
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    meetings = _one_column(
        "meetings_by_kind",
        _("Meetings held in the quarter, by kind"),
        _("Kind of meeting"),
        _("Meetings held"),
        [str(label) for label in MeetingKind.labels],
        [held.get(kind, 0) for kind in MeetingKind.values],
        threshold,
    )
    plans = SafetyPlanRevision.objects.for_organization(organization).filter(
        saved_at__gte=start, saved_at__lt=end, declined=False
    )
    counts = [
        (
            "safety_checks",
            _("Safety checks"),
            SafetyCheck.objects.for_organization(organization)
            .filter(checked_at__gte=start, checked_at__lt=end)
            .count(),
        ),
        ("safety_plans_made", _("Safety plans made"), plans.filter(number=1).count()),
        ("safety_plans_revised", _("Safety plans revised"), plans.filter(number__gt=1).count()),
        (
            "safety_plans_reviewed",
            _("Safety plans reviewed with the survivor"),
            CaseEvent.objects.for_organization(organization)
            .filter(kind=EventKind.PLAN_REVIEWED, at__gte=start, at__lt=end)
            .count(),
        ),
        (
            "agreements_affirmed",
            _("Agreements affirmed by every party"),
            AgreementVersion.objects.for_organization(organization)
            .filter(affirmed_at__gte=start, affirmed_at__lt=end)
            .count(),
        ),
        (
            "progress_checkins",
            _("Progress check-ins on commitments"),
            CheckIn.objects.for_organization(organization).filter(at__gte=start, at__lt=end).count(),
        ),
    ]
    return meetings, [Figure(key, label, suppress_count(n, threshold)) for key, label, n in counts]


def _community(organization: Organization, quarter: Quarter, threshold: int) -> tuple[Table, list[Figure]]:
    events = CommunityEvent.objects.for_organization(organization).filter(
        date__gte=quarter.start, date__lte=quarter.end
    )
    held = dict(events.values_list("kind").annotate(n=Count("id")).values_list("kind", "n"))
    reached = dict(
        Attendance.objects.for_organization(organization)
        .filter(event__in=events)
        .values_list("event__kind")
        .annotate(n=Sum("count"))
        .values_list("event__kind", "n")
    )
    kinds, labels = list(CommunityEventKind.values), [str(label) for label in CommunityEventKind.labels]
    people = suppress_table([[reached.get(kind) or 0] for kind in kinds], threshold)
    table = Table(
        key="events_by_kind",
        caption=_("Community events and trainings held in the quarter, and the people they reached"),
        row_header=_("Kind of event"),
        columns=[_("Events"), _("People reached")],
        rows=[
            Row(label, [held.get(kind, 0), shown[0]])
            for label, kind, shown in zip(labels, kinds, people.cells, strict=True)
        ],
        totals=[sum(held.values()), people.column_totals[0]],
        total_label=_("All events"),
    )
    trainings = events.filter(kind__in=[k.value for k in TRAINING_KINDS])
    training_hours = trainings.aggregate(hours=Sum("hours"))["hours"] or Decimal(0)
    records = TrainingRecord.objects.for_organization(organization).filter(
        event__in=trainings, completed=True
    )
    trained = records.values("facilitator_id").distinct().count()
    trained_hours = records.aggregate(hours=Sum("hours"))["hours"] or Decimal(0)
    figures = [
        Figure("trainings", _("Trainings held"), trainings.count()),
        Figure("training_hours", _("Hours of training offered"), _number(training_hours)),
        Figure(
            "facilitators_trained",
            _("Community facilitators who completed a training"),
            suppress_count(trained, threshold),
        ),
        Figure(
            "facilitator_hours",
            _("Hours of training they completed"),
            _number(trained_hours) if not is_small(trained, threshold) else small_mark(threshold),
            _("Shown only when the number of facilitators is shown."),
        ),
    ]
    return table, figures


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:.1f}"


def _outcomes(organization: Organization, quarter: Quarter, threshold: int) -> list[Figure]:
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
    n = len(paired)
    safer = int((latest[paired] > baseline[paired]).sum()) if n else 0
    shown_n = suppress_count(n, threshold)
    if n == 0:
        share: str = "—"
    elif is_small(n, threshold) or is_small(safer, threshold) or is_small(n - safer, threshold):
        share = _("suppressed")
    else:
        share = f"{round(100 * safer / n)} %"
    return [
        Figure(
            "survivors_followed_up",
            _("Survivors who answered the felt-safety questions at intake (T0) and again at T2 or T3"),
            shown_n,
        ),
        Figure(
            "survivors_safer",
            _("Share of them who feel safer than at intake"),
            share,
            _("A higher felt-safety score (1–5) at their latest follow-up in the quarter than at intake."),
        ),
    ]


def build_report(organization: Organization, quarter: Quarter) -> FunderReport:
    threshold = organization.network.suppression_threshold
    report = FunderReport(organization=organization, quarter=quarter, threshold=threshold)
    cases = _served_cases(organization, quarter)
    opened = sum(1 for c in cases if c.opened_on >= quarter.start)
    by_role = _people_by_role(organization, cases)
    roles = _one_column(
        "people_by_role",
        _("People served, each counted once, by their role"),
        _("Role"),
        _("People"),
        [str(label) for label in ParticipantRole.labels],
        [by_role.get(role, 0) for role in ParticipantRole.values],
        threshold,
    )
    by_track_and_stage = _track_stage_table(_as_of_end(organization, cases, quarter), threshold)
    report.figures = [
        # The same number as that table's grand total, shown as the table shows it: were the table to hide it
        # (a complementary cell), showing it here would give a hidden cell back by subtraction.
        Figure(
            "cases_served",
            _("Cases served (open at any time in the quarter)"),
            by_track_and_stage.total
            if by_track_and_stage.total is not None
            else suppress_count(len(cases), threshold),
        ),
        Figure("cases_opened", _("New cases opened in the quarter"), suppress_count(opened, threshold)),
        Figure(
            "people_served", _("People served, each counted once"), roles.totals[0] if roles.totals else 0
        ),
    ]
    meetings, report.services = _services(organization, quarter, threshold)
    events, report.community = _community(organization, quarter, threshold)
    report.tables = [
        roles,
        by_track_and_stage,
        meetings,
        events,
    ]
    report.outcomes = _outcomes(organization, quarter, threshold)
    return report


def _limits(report: FunderReport) -> dict[str, object]:
    return {"n": report.threshold - 1, "mark": report.mark}


def csv_rows(report: FunderReport) -> list[list[object]]:
    """The report as rows (section, what, column, value), ready for csv.writer after formula escaping."""
    rows: list[list[object]] = [
        [_("Organization"), report.organization.name, "", ""],
        [_("Quarter"), report.quarter.label, str(report.quarter.start), str(report.quarter.end)],
        [_("Suppression"), _("Counts from 1 to %(n)s are shown as %(mark)s") % _limits(report), "", ""],
    ]
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
