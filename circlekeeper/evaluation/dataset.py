"""The de-identified view of the data that evaluators, dashboards, reports and exports work on (issue 8 item 4).

Built from the records by construction, never by removing columns from an identifying table:

- people are named only by their code in the evaluation (`Evaluation.code_for`): stable within it, different
  in every other evaluation, and never the label, reference or uid staff see;
- dates are reduced to months ("2026-03"); the day never leaves this module;
- no free text and no identifying items: only scores (numbers computed by the instrument's definition), and,
  for item-level exports, the answers to choice, yes/no and number items not flagged identifying;
- organizations appear by their short name, tracks and roles by their codes.

Every frame is scoped to a `Scope`: one organization, or every organization of a network (pooled).
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from circlekeeper.accounts.models import Network, Organization
from circlekeeper.cases.models import Case, ParticipantRole
from circlekeeper.evaluation.models import Evaluation, PoolDecision, Timepoint, TimepointStatus
from circlekeeper.evaluation.suppression import DEFAULT_THRESHOLD
from circlekeeper.instruments.models import Response, ResponseStatus

if TYPE_CHECKING:
    # Only the frames below need pandas, and they import it when called: `Scope` and the codes are imported
    # by every page's access checks, and a web worker should not load pandas for those (issue 10, its memory).
    import pandas as pd

SCORE_COLUMNS = [
    "participant",
    "organization",
    "track",
    "role",
    "instrument",
    "timepoint",
    "month",
    "score",
    "value",
]
TIMEPOINT_COLUMNS = ["participant", "organization", "track", "role", "timepoint", "status", "month"]
FIDELITY_COLUMNS = ["kind", "organization", "track", "month", "on_time"]
# How recent the survivor's safety check must be for a stage change to count as done on time (the gates'
# own window in protocol.gates).
CHECK_BEFORE_ADVANCE = datetime.timedelta(days=7)


@dataclass(frozen=True)
class Scope:
    """What an analysis covers: one organization, or a network's organizations pooled."""

    organizations: tuple[Organization, ...]
    network: Network | None
    evaluation: Evaluation

    @property
    def threshold(self) -> int:
        """The smallest count of people shown: the network's setting (default 11)."""
        network = self.network or (self.organizations[0].network if self.organizations else None)
        return network.suppression_threshold if network is not None else DEFAULT_THRESHOLD

    @property
    def organization_ids(self) -> list[int]:
        return [organization.pk for organization in self.organizations]

    @property
    def slug(self) -> str:
        if self.network is not None:
            return self.network.slug
        return self.organizations[0].slug

    @classmethod
    def for_organization(cls, organization: Organization) -> Scope:
        return cls((organization,), None, evaluation_for(organization=organization))

    @classmethod
    def for_network(cls, network: Network) -> Scope:
        """The network's organizations that are in its pooled data (an organization can leave it)."""
        organizations = tuple(pooled_organizations(network))
        return cls(organizations, network, evaluation_for(network=network))

    @classmethod
    def for_published_network(cls, network: Network, today: datetime.date | None = None) -> Scope:
        """The pool as the network's published aggregates count it (hub, pooled dashboards): the decisions made
        before the current calendar quarter began. Joining or leaving takes effect at the next quarter, never
        mid-quarter, so that two pages saved either side of a decision do not differ by one organization's
        numbers (issue 21, finding 3). Row data (for_network) follow a decision at once."""
        organizations = tuple(pooled_organizations(network, before=quarter_began(today)))
        return cls(organizations, network, evaluation_for(network=network))


def quarter_began(today: datetime.date | None = None) -> datetime.datetime:
    """The first moment of today's calendar quarter, in the local time zone."""
    today = today or timezone.localdate()
    first = datetime.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return timezone.make_aware(datetime.datetime.combine(first, datetime.time.min))


def pooled_organizations(network: Network, *, before: datetime.datetime | None = None) -> list[Organization]:
    """The network's organizations whose latest pool decision is "in", or who never decided (in by default);
    with `before`, the latest decision made before that moment."""
    decisions = PoolDecision.objects.filter(organization_id=OuterRef("pk"))
    if before is not None:
        decisions = decisions.filter(at__lt=before)
    latest = decisions.order_by("-at", "-id")
    return list(
        Organization.objects.filter(network=network)
        .annotate(pooled=Subquery(latest.values("pooled")[:1]))
        .filter(Q(pooled__isnull=True) | Q(pooled=True))
        .order_by("slug")
    )


def evaluation_for(*, organization: Organization | None = None, network: Network | None = None) -> Evaluation:
    """The scope's evaluation (made on first use, with its own code key)."""
    if (organization is None) == (network is None):
        raise ValueError("an evaluation covers one organization or one network")
    lookup: dict[str, Any] = {"organization": organization} if organization else {"network": network}
    existing = Evaluation.objects.filter(**lookup).first()
    if existing is not None:
        return existing
    name = (organization or network).name  # type: ignore[union-attr]
    try:
        with transaction.atomic():
            return Evaluation.objects.create(name=name, **lookup)
    except IntegrityError:
        # Made by a concurrent request a moment ago: use that one, so codes stay the same.
        return Evaluation.objects.get(**lookup)


def month_of(moment: datetime.datetime | datetime.date | None) -> str:
    if moment is None:
        return ""
    return f"{moment.year:04d}-{moment.month:02d}"


class Coder:
    """Codes participants for one evaluation, once each (an HMAC per person, cached)."""

    def __init__(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation
        self._codes: dict[str, str] = {}

    def __call__(self, participant_uid: Any) -> str:
        key = str(participant_uid)
        code = self._codes.get(key)
        if code is None:
            code = self.evaluation.code_for(key)
            self._codes[key] = code
        return code


def _case_filter(
    scope: Scope, *, track: str | None, since: datetime.date | None, until: datetime.date | None, prefix: str
) -> Q:
    """Cases in scope, of a track, opened in a period (the period filters on the case's opening date)."""
    q = Q(**{f"{prefix}organization_id__in": scope.organization_ids})
    if track:
        q &= Q(**{f"{prefix}track": track})
    if since:
        q &= Q(**{f"{prefix}opened_on__gte": since})
    if until:
        q &= Q(**{f"{prefix}opened_on__lte": until})
    return q


def scores_frame(
    scope: Scope,
    *,
    instrument: str | None = None,
    score: str | None = None,
    track: str | None = None,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    roles: Iterable[str] | None = None,
    include_unscored: bool = False,
) -> pd.DataFrame:
    """One row per submitted response and numeric score: who (code), where, which timepoint, which month.

    `timepoint` is the evaluation timepoint the response answered ("" for a response outside the plan, e.g.
    a safety check at a meeting). Children never appear. With `include_unscored` (and an instrument and a
    score named), a response whose score could not be computed (too few items answered) is a row with an
    empty value, so the reports can say how many answered without a score rather than drop them from n.
    """
    import pandas as pd  # here, not at the top: see the TYPE_CHECKING import

    responses = (
        Response.objects.filter(
            status=ResponseStatus.SUBMITTED,
            participant__isnull=False,
            case__isnull=False,
        )
        .filter(_case_filter(scope, track=track, since=since, until=until, prefix="case__"))
        .exclude(participant__role=ParticipantRole.CHILD)
        .select_related("version__instrument", "participant", "case", "timepoint")
        .only(
            "scores",
            "submitted_at",
            "organization_id",
            "version__instrument__code",
            "participant__uid",
            "participant__role",
            "case__track",
            "timepoint__code",
        )
        .order_by("submitted_at", "id")
    )
    if instrument:
        responses = responses.filter(version__instrument__code=instrument)
    if roles:
        responses = responses.filter(participant__role__in=list(roles))
    slugs = {organization.pk: organization.slug for organization in scope.organizations}
    code = Coder(scope.evaluation)
    rows: list[dict[str, Any]] = []
    for response in responses:
        timepoint = getattr(response, "timepoint", None)
        found = dict(response.scores or {})
        if include_unscored and instrument and score and found.get(score) is None:
            found[score] = math.nan
        for name, value in found.items():
            if score and name != score:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue  # levels and bands are words; only numbers are analysed here
            rows.append(
                {
                    "participant": code(response.participant.uid),
                    "organization": slugs[response.organization_id],
                    "track": response.case.track,
                    "role": response.participant.role,
                    "instrument": response.version.instrument.code,
                    "timepoint": timepoint.code if timepoint is not None else "",
                    "month": month_of(response.submitted_at),
                    "score": name,
                    "value": float(value),
                }
            )
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def timepoints_frame(
    scope: Scope,
    *,
    track: str | None = None,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
) -> pd.DataFrame:
    """One row per participant and timepoint: completed (any questionnaire answered), missed (none answered
    and every window closed), or pending (a window still open or not yet open). Cancelled ones are left out.
    """
    import pandas as pd  # here, not at the top: see the TYPE_CHECKING import

    timepoints = (
        Timepoint.objects.filter(_case_filter(scope, track=track, since=since, until=until, prefix="case__"))
        .exclude(status=TimepointStatus.CANCELLED)
        .select_related("participant", "case")
        .only(
            "code",
            "status",
            "due_at",
            "organization_id",
            "participant__uid",
            "participant__role",
            "case__track",
        )
        .order_by("participant_id", "code", "id")
    )
    slugs = {organization.pk: organization.slug for organization in scope.organizations}
    code = Coder(scope.evaluation)
    grouped: dict[tuple[str, str], list[Timepoint]] = defaultdict(list)
    for timepoint in timepoints:
        grouped[(str(timepoint.participant.uid), timepoint.code)].append(timepoint)
    rows: list[dict[str, Any]] = []
    for (participant_uid, point), items in grouped.items():
        statuses = {item.status for item in items}
        if TimepointStatus.COMPLETED in statuses:
            status = "completed"
        elif statuses == {TimepointStatus.MISSED}:
            status = "missed"
        else:
            status = "pending"
        first = items[0]
        rows.append(
            {
                "participant": code(participant_uid),
                "organization": slugs[first.organization_id],
                "track": first.case.track,
                "role": first.participant.role,
                "timepoint": point,
                "status": status,
                "month": month_of(min(item.due_at for item in items)),
            }
        )
    return pd.DataFrame(rows, columns=TIMEPOINT_COLUMNS)


def fidelity_frame(
    scope: Scope,
    *,
    track: str | None = None,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
) -> pd.DataFrame:
    """One row per held meeting and per stage advance: were its safety checks done on time?

    - a held meeting: the survivor's check-in was recorded no later than the meeting was recorded held, and
      the check-out after the check-in (the protocol refuses to hold a meeting without both; a row that is
      not on time shows a record made out of order);
    - a stage advance: a survivor's safety check in the 7 days before it (the gates' window).
    """
    import pandas as pd  # here, not at the top: see the TYPE_CHECKING import

    from circlekeeper.protocol.models import CheckMoment, Meeting, MeetingStatus, Transition, TransitionKind
    from circlekeeper.safety.models import SafetyCheck

    cases = Case.objects.filter(_case_filter(scope, track=track, since=since, until=until, prefix=""))
    slugs = {organization.pk: organization.slug for organization in scope.organizations}
    rows: list[dict[str, Any]] = []
    meetings = (
        Meeting.objects.filter(case__in=cases, status=MeetingStatus.HELD)
        .select_related("case")
        .only("held_at", "organization_id", "case__track")
        .prefetch_related("checks__participant")
        .order_by("held_at", "id")
    )
    for meeting in meetings:
        survivor_checks = [c for c in meeting.checks.all() if c.participant.role == ParticipantRole.SURVIVOR]
        check_in = min((c.at for c in survivor_checks if c.moment == CheckMoment.CHECK_IN), default=None)
        check_out = max((c.at for c in survivor_checks if c.moment == CheckMoment.CHECK_OUT), default=None)
        on_time = (
            check_in is not None
            and check_out is not None
            and meeting.held_at is not None
            and check_in <= meeting.held_at
            and check_out >= check_in
        )
        rows.append(
            {
                "kind": "meeting",
                "organization": slugs[meeting.organization_id],
                "track": meeting.case.track,
                "month": month_of(meeting.held_at),
                "on_time": bool(on_time),
            }
        )
    advances = list(
        Transition.objects.filter(case__in=cases, kind=TransitionKind.ADVANCE)
        .select_related("case")
        .only("at", "case_id", "organization_id", "case__track")
        .order_by("at", "id")
    )
    checks: dict[int, list[datetime.datetime]] = defaultdict(list)
    for case_id, checked_at in (
        SafetyCheck.objects.of_survivors()
        .filter(case_id__in={t.case_id for t in advances})
        .values_list("case_id", "checked_at")
    ):
        checks[case_id].append(checked_at)
    for transition in advances:
        on_time = any(
            transition.at - CHECK_BEFORE_ADVANCE <= checked_at <= transition.at
            for checked_at in checks[transition.case_id]
        )
        rows.append(
            {
                "kind": "stage",
                "organization": slugs[transition.organization_id],
                "track": transition.case.track,
                "month": month_of(transition.at),
                "on_time": on_time,
            }
        )
    return pd.DataFrame(rows, columns=FIDELITY_COLUMNS)
