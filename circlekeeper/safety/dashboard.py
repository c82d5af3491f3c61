"""The safety lists of the dashboard's worklist (protocol/worklist.py ranks them): each is one query, however many
cases, holds or checks.

Keepers and safety advocates see their cases' open holds, overdue safety checks and safety plans due for
review; supervisors and safety advocates see the unacknowledged alerts of the cases they sit on in that role;
supervisors see the holds waiting for their review.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from django.db.models import OuterRef, Q, Subquery

from circlekeeper.accounts.access import StaffContext
from circlekeeper.cases.models import Case, CaseAssignment, CaseQuerySet, Participant, TeamRole
from circlekeeper.safety.models import (
    CheckKind,
    SafetyAlert,
    SafetyCheck,
    SafetyHold,
    SafetyPlan,
    is_high,
)
from circlekeeper.safety.services import CHECK_OVERDUE_DAYS, plan_review_due

# The most rows one list shows; the rest are counted ("and 12 more").
SHOWN = 20

T = TypeVar("T")


@dataclass
class Listing(Generic[T]):
    rows: list[T] = field(default_factory=list)
    total: int = 0

    @classmethod
    def of(cls, rows: list[T]) -> Listing[T]:
        return cls(rows[:SHOWN], len(rows))

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def _team_cases(context: StaffContext) -> CaseQuerySet:
    return Case.objects.for_organization(context.organization).for_team_member(context.user)


def open_holds(context: StaffContext) -> list[SafetyHold]:
    return list(
        SafetyHold.objects.for_organization(context.organization)
        .open()
        .filter(case__in=_team_cases(context))
        .select_related("case")
        .order_by("opened_at", "id")
    )


def overdue_checks(context: StaffContext, now: datetime.datetime) -> list[Participant]:
    """Survivors of open cases with no full safety check in CHECK_OVERDUE_DAYS (or none ever), oldest first.

    A screen does not count: it is the short first-contact version, not the assessment the protocol asks for.
    """
    last = (
        # The organization too, so the (organization, participant, checked_at) index gives the newest first.
        SafetyCheck.objects.filter(
            organization_id=OuterRef("organization_id"), participant_id=OuterRef("pk"), kind=CheckKind.FULL
        )
        .order_by("-checked_at", "-id")
        .values("checked_at")[:1]
    )
    since = now - datetime.timedelta(days=CHECK_OVERDUE_DAYS)
    return list(
        Participant.objects.for_organization(context.organization)
        .survivors()
        .filter(case__in=_team_cases(context).open())
        .annotate(last_checked_at=Subquery(last))
        .filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=since))
        .select_related("case")
        .only("pk", "label", "role", "case_id", "organization_id", "case__reference", "case__organization_id")
        .order_by("last_checked_at", "case__reference", "pk")
    )


def plans_due(context: StaffContext, now: datetime.datetime) -> list[Participant]:
    """Survivors of open cases whose plan is due for review, or who have none yet (plan_review_due)."""
    survivors = list(
        Participant.objects.for_organization(context.organization)
        .survivors()
        .filter(case__in=_team_cases(context).open())
        .select_related("case")
        .only("pk", "label", "role", "case_id", "organization_id", "case__reference", "case__organization_id")
        .order_by("case__reference", "pk")
    )
    plans = {
        plan.participant_id: plan
        for plan in SafetyPlan.objects.for_organization(context.organization).filter(
            participant__in=[s.pk for s in survivors]
        )
    }
    due = []
    for survivor in survivors:
        survivor.plan = plans.get(survivor.pk)
        if plan_review_due(survivor.plan, now):
            due.append(survivor)
    return due


def unseen_alerts(context: StaffContext) -> list[SafetyAlert]:
    """Alerts not yet acknowledged, on the cases where this person is the supervisor or the safety advocate."""
    cases = CaseAssignment.objects.filter(
        user=context.user, role__in=(TeamRole.SUPERVISOR, TeamRole.SAFETY_ADVOCATE)
    ).values("case_id")
    return list(
        SafetyAlert.objects.for_organization(context.organization)
        .unseen()
        .filter(case__in=cases)
        .select_related("case")
        .order_by("-raised_at", "-id")
    )


def holds_to_review(context: StaffContext) -> list[SafetyHold]:
    """Open holds on this supervisor's cases, each with `can_lift`: whether the survivor's newest check, taken
    after the hold opened, is below high (services.check_that_lifts, for every hold in one query)."""
    newest = (
        SafetyCheck.objects.of_survivors()
        .filter(case_id=OuterRef("case_id"), checked_at__gt=OuterRef("opened_at"))
        .order_by("-checked_at", "-id")
        .values("level")[:1]
    )
    holds = list(
        SafetyHold.objects.for_organization(context.organization)
        .open()
        .filter(case__in=_team_cases(context))
        .annotate(newest_level=Subquery(newest))
        .select_related("case")
        .order_by("opened_at", "id")
    )
    for hold in holds:
        level = hold.newest_level
        hold.can_lift = bool(level) and not is_high(level)
    return holds
