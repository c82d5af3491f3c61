"""The case list as a worklist: for each case its next step and when it is due, found in the same query as the list.

A case's next step is the earliest of its open tasks (a compelled disclosure to tell, a plan or a commitment to
review, a questionnaire due) and its survivors' next full safety check, which the safety app keeps on the case
(`Case.check_due_on`; empty while a survivor has never had one, so the check is due since the case opened). Closed,
withdrawn and referred-out cases have no next step. The facts all live on the case or in this app (ARCHITECTURE.md:
imports never point up), so the list costs the same number of queries with 5 cases as with 50,000.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Case as When_
from django.db.models import DateField, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Least
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import (
    Case,
    CaseAssignment,
    CaseQuerySet,
    CaseStatus,
    CaseTask,
    TaskKind,
    TeamRole,
)

# Later than any real due date: a case with no open task sorts by its check alone.
_NEVER = datetime.date(9999, 12, 31)

CHECK_STEP: Promise = gettext_lazy("Full safety check with the survivor")


@dataclass(frozen=True)
class NextStep:
    label: str
    due_on: datetime.date
    url: str

    def overdue(self, today: datetime.date) -> bool:
        return self.due_on < today


def with_next_step(cases: CaseQuerySet) -> CaseQuerySet:
    """Annotate each case with its earliest open task (`task_due_on`, `task_kind`) and `due_on`, the earlier of that
    and its safety check (None for a case that is not open)."""
    tasks = CaseTask.objects.filter(case_id=OuterRef("pk"), done_at__isnull=True).order_by("due_on", "id")
    annotated = cases.annotate(
        task_due_on=Subquery(tasks.values("due_on")[:1], output_field=DateField()),
        task_kind=Subquery(tasks.values("kind")[:1]),
    )
    return annotated.annotate(
        due_on=When_(
            When(
                status=CaseStatus.OPEN,
                then=Least(
                    Coalesce(F("task_due_on"), Value(_NEVER)),
                    Coalesce(F("check_due_on"), F("opened_on")),
                    output_field=DateField(),
                ),
            ),
            default=None,
            output_field=DateField(),
        )
    )


def needs_me(cases: CaseQuerySet, user: User, today: datetime.date) -> CaseQuerySet:
    """Of cases annotated by with_next_step, the open ones that need this person now: something due today or overdue
    on a case where they are the keeper or the safety advocate, or a safety hold on a case they supervise (only a
    supervisor lifts one)."""
    mine = CaseAssignment.objects.filter(case_id=OuterRef("pk"), user=user)
    return cases.filter(status=CaseStatus.OPEN).filter(
        Q(Exists(mine.filter(role__in=(TeamRole.KEEPER, TeamRole.SAFETY_ADVOCATE))), due_on__lte=today)
        | Q(Exists(mine.filter(role=TeamRole.SUPERVISOR)), on_hold=True)
    )


def next_step(case: Case) -> NextStep | None:
    """The next step of a case annotated by with_next_step, with where to act on it."""
    if case.status != CaseStatus.OPEN:
        return None
    check_due = case.check_due_on or case.opened_on
    task_due = getattr(case, "task_due_on", None)
    if task_due is not None and task_due < check_due:
        return NextStep(
            label=str(TaskKind(getattr(case, "task_kind", "")).label),
            due_on=task_due,
            url=f"{reverse('cases:detail', args=[case.pk])}#tasks",
        )
    # A URL name, not an import: the safety page is where a check is run.
    return NextStep(
        label=str(CHECK_STEP), due_on=check_due, url=reverse("safety:case", args=[case.pk]) + "#run-check"
    )


def keepers(case: Case) -> list[User]:
    """The case's keepers, from the prefetched team."""
    return [member.user for member in case.assignments.all() if member.role == TeamRole.KEEPER]
