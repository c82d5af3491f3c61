"""Whether a community facilitator is ready for a dialogue, and the checks that keep an unready one out of one.

An organization's `ReadinessRequirement` rows each name a competency and the hours of completed training that
must cover it. A facilitator meets a requirement when the completed trainings whose competencies include it add
up to at least its hours, and the competency is among theirs (from completed trainings, or recorded by a program
admin: a requirement of 0 hours asks only for that). They are ready when they meet every requirement.

The lower apps call the two checks here through settings (they may not import community):
`MEETING_SCHEDULING_CHECKS` from protocol.services.schedule_meeting, and `TRACK_CHANGE_CHECKS` from
cases.choice.choose_track. Each raises ValidationError naming the facilitator and what they miss.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import Case, CaseAssignment, Track
from circlekeeper.community.models import Competency, Facilitator, ReadinessRequirement, TrainingRecord

# The tracks where the facilitator takes part in a dialogue between the parties (direct or through the keeper).
DIALOGUE_TRACKS = (Track.DIRECT_DIALOGUE, Track.INDIRECT_DIALOGUE)
# protocol.MeetingKind values of the dialogue meetings (community may import protocol, but the values are what the
# hook receives, and keeping them here keeps this module free of the protocol's models).
DIALOGUE_MEETING_KINDS = ("circle", "conference", "shuttle")


@dataclass(frozen=True)
class Shortfall:
    competency: str
    hours: Decimal
    minimum: Decimal
    covered: bool

    @property
    def label(self) -> str:
        return (
            str(Competency(self.competency).label)
            if self.competency in Competency.values
            else self.competency
        )

    def describe(self) -> str:
        if self.minimum > 0:
            return _("%(competency)s (%(hours)s of %(minimum)s hours of completed training)") % {
                "competency": self.label,
                "hours": _hours(self.hours),
                "minimum": _hours(self.minimum),
            }
        return _("%(competency)s (not yet covered)") % {"competency": self.label}


@dataclass(frozen=True)
class Readiness:
    """Where one facilitator stands: their training hours, competencies, and what they still miss."""

    facilitator: Facilitator
    total_hours: Decimal
    completed_hours: Decimal
    competencies: frozenset[str]
    missing: tuple[Shortfall, ...]

    @property
    def ready(self) -> bool:
        return not self.missing

    @property
    def competency_labels(self) -> list[str]:
        return [str(label) for value, label in Competency.choices if value in self.competencies]

    def missing_text(self) -> str:
        return "; ".join(s.describe() for s in self.missing)


def _hours(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:.1f}"


def readiness_for(organization: Organization, facilitators: Iterable[Facilitator]) -> dict[int, Readiness]:
    """Each facilitator's readiness, in two queries however many there are."""
    people = list(facilitators)
    requirements = list(ReadinessRequirement.objects.for_organization(organization).order_by("competency"))
    records = (
        TrainingRecord.objects.for_organization(organization)
        .filter(facilitator__in=[f.pk for f in people])
        .select_related("event")
        .only("facilitator_id", "hours", "completed", "event__competencies")
    )
    return assess(people, requirements, records)


def assess(
    people: Iterable[Facilitator],
    requirements: Iterable[ReadinessRequirement],
    records: Iterable[TrainingRecord],
) -> dict[int, Readiness]:
    """Each facilitator's readiness from the requirements and the training records given (the hub passes the
    records up to a quarter's end, for readiness as at that day)."""
    requirements = list(requirements)
    total: dict[int, Decimal] = defaultdict(Decimal)
    completed: dict[int, Decimal] = defaultdict(Decimal)
    covering: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for record in records:
        total[record.facilitator_id] += record.hours
        if record.completed:
            completed[record.facilitator_id] += record.hours
            for competency in record.event.competencies or []:
                covering[record.facilitator_id][competency] += record.hours
    result = {}
    for facilitator in people:
        hours = covering[facilitator.pk]
        competencies = frozenset(hours) | frozenset(facilitator.competencies or [])
        missing = tuple(
            Shortfall(
                r.competency,
                hours.get(r.competency, Decimal(0)),
                r.minimum_hours,
                r.competency in competencies,
            )
            for r in requirements
            if r.competency not in competencies or hours.get(r.competency, Decimal(0)) < r.minimum_hours
        )
        result[facilitator.pk] = Readiness(
            facilitator, total[facilitator.pk], completed[facilitator.pk], competencies, missing
        )
    return result


def readiness_of(facilitator: Facilitator) -> Readiness:
    return readiness_for(facilitator.organization, [facilitator])[facilitator.pk]


def facilitators_on_team(case: Case) -> list[Facilitator]:
    """The community facilitators (with an account) on the case's team."""
    users = CaseAssignment.objects.filter(case_id=case.pk).values("user_id")
    return list(
        Facilitator.objects.for_organization(case.organization)
        .filter(user_id__in=users)
        .select_related("user")
        .order_by("id")
    )


def unready_message(readiness: Readiness) -> str:
    """Names the facilitator by their account's display name (what the case team sees of team members), never
    by the encrypted name on the roster."""
    user = readiness.facilitator.user
    who = user.display_name if user is not None else _("A community facilitator")
    return _("%(who)s is not yet ready for a dialogue: missing %(missing)s.") % {
        "who": who,
        "missing": readiness.missing_text(),
    }


def unready_on_team(case: Case) -> list[Readiness]:
    team = facilitators_on_team(case)
    if not team:
        return []
    readiness = readiness_for(case.organization, team)
    return [readiness[f.pk] for f in team if not readiness[f.pk].ready]


def check_meeting(*, case: Case, kind: str) -> None:
    """settings.MEETING_SCHEDULING_CHECKS: no dialogue meeting while a facilitator on the team is not ready."""
    if kind not in DIALOGUE_MEETING_KINDS:
        return
    unready = unready_on_team(case)
    if unready:
        raise ValidationError(
            {
                "kind": [
                    _("This dialogue meeting cannot be scheduled yet."),
                    *(unready_message(r) for r in unready),
                ]
            }
        )


def check_track_change(*, case: Case, track: str) -> None:
    """settings.TRACK_CHANGE_CHECKS: no move to a dialogue track while a facilitator on the team is not ready."""
    if track not in DIALOGUE_TRACKS:
        return
    unready = unready_on_team(case)
    if unready:
        raise ValidationError(
            {
                "track": [
                    _(
                        "A dialogue track cannot be chosen while a community facilitator on the team is not ready."
                    ),
                    *(unready_message(r) for r in unready),
                ]
            }
        )
