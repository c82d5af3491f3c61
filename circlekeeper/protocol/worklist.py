"""The dashboard's worklist: everything that needs doing on a person's cases, in one list ranked by urgency.

First the safety holds and the unacknowledged alerts, then the overdue safety checks and the safety plans due for
review, then the joint dialogues waiting for a supervisor's approval, then the open cases without movement (PROTOCOL.md:
safety before progress). Within a rank, the oldest first. Each row is one line: the case, what it needs, and the link
to where it is done. The counts of each kind come first; the list is paged past PER_PAGE rows.

Query budget: each kind is one query (the approvals read at most GATES_READ gates, see dashboard.py), so the page
costs the same with 20 rows as with 20,000.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from circlekeeper.accounts.access import StaffContext
from circlekeeper.accounts.models import Role
from circlekeeper.protocol import dashboard
from circlekeeper.safety import dashboard as safety_lists

PER_PAGE = 20

# The ranks, most urgent first.
SAFETY, CHECKS, APPROVALS, STALLED = range(4)


@dataclass(frozen=True)
class WorkItem:
    rank: int
    # When the need began (the hold opened, the alert was raised, the last check, the last movement): oldest first.
    since: datetime.datetime | datetime.date | None
    reference: str
    what: str
    url: str
    action: str
    # An alert is acknowledged from the row itself (a POST form, so it works without JavaScript).
    ack_url: str = ""

    @property
    def urgent(self) -> bool:
        return self.rank == SAFETY


@dataclass(frozen=True)
class Count:
    label: str
    count: int


class Items(Sequence[WorkItem]):
    """The worklist's rows, sorted by what `_key` reads (rank, since, reference), each made only when it is read:
    the dashboard shows PER_PAGE of them, and a keeper with hundreds of overdue checks would otherwise pay for
    every row's words and links on every visit (issue 23)."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, int, str, Callable[[], WorkItem]]] = []

    def add(
        self,
        rank: int,
        since: datetime.datetime | datetime.date | None,
        reference: str,
        make: Callable[[], WorkItem],
    ) -> None:
        self._rows.append((rank, since.toordinal() if since else 0, reference, make))

    def sort(self) -> None:
        # By day: a rank mixes times (a hold opened) and dates (a case opened); what has no date comes first.
        self._rows.sort(key=lambda row: row[:3])

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> WorkItem: ...

    @overload
    def __getitem__(self, index: slice) -> list[WorkItem]: ...

    def __getitem__(self, index: int | slice) -> WorkItem | list[WorkItem]:
        if isinstance(index, slice):
            return [make() for *_key, make in self._rows[index]]
        return self._rows[index][3]()


@dataclass
class Worklist:
    items: Items = field(default_factory=Items)
    counts: list[Count] = field(default_factory=list)
    # Direct-track cases in preparation or dialogue whose gate was not read (dashboard.GATES_READ).
    approvals_unchecked: int = 0


def _day(value: datetime.datetime | datetime.date) -> str:
    return date_format(value, "SHORT_DATE_FORMAT")


def _alert_item(alert: Any) -> WorkItem:
    what = str(alert.get_reason_display())
    if alert.level:
        what += f" ({alert.get_level_display()})"
    return WorkItem(
        rank=SAFETY,
        since=alert.raised_at,
        reference=alert.case.reference,
        what=_("Safety alert: %(what)s, %(when)s") % {"what": what, "when": _day(alert.raised_at)},
        url=reverse("safety:case", args=[alert.case_id]),
        action=_("Open the safety page"),
        ack_url=reverse("safety:alert_ack", args=[alert.case_id, alert.pk]),
    )


def _review_item(hold: Any) -> WorkItem:
    since = _("on hold since %(since)s") % {"since": _day(hold.opened_at)}
    can_lift = bool(getattr(hold, "can_lift", False))  # set by holds_to_review
    return WorkItem(
        rank=SAFETY,
        since=hold.opened_at,
        reference=hold.case.reference,
        what=f"{hold.get_reason_display()}, {since}",
        url=reverse("safety:hold_lift", args=[hold.case_id, hold.pk])
        if can_lift
        else reverse("safety:case", args=[hold.case_id]),
        action=_("a newer check below high is in: review and lift")
        if can_lift
        else _("waiting for a newer safety check below high"),
    )


def _hold_item(hold: Any) -> WorkItem:
    since = _("on hold since %(since)s") % {"since": _day(hold.opened_at)}
    return WorkItem(
        rank=SAFETY,
        since=hold.opened_at,
        reference=hold.case.reference,
        what=f"{hold.get_reason_display()}, {since}",
        url=reverse("safety:case", args=[hold.case_id]),
        action=_("Open the safety page"),
    )


def _check_item(survivor: Any) -> WorkItem:
    last = getattr(survivor, "last_checked_at", None)  # annotated by overdue_checks
    return WorkItem(
        rank=CHECKS,
        since=last,
        reference=survivor.case.reference,
        what=_("%(label)s: last full safety check on %(when)s")
        % {"label": survivor.label, "when": _day(last)}
        if last
        else _("%(label)s: no full safety check yet") % {"label": survivor.label},
        url=reverse("safety:case", args=[survivor.case_id]) + "#run-check",
        action=_("Run the safety check"),
    )


def _plan_since(survivor: Any) -> datetime.datetime | datetime.date | None:
    plan = getattr(survivor, "plan", None)  # set by plans_due
    return getattr(plan, "review_due_since", None) or getattr(plan, "last_reviewed_at", None)


def _plan_item(survivor: Any) -> WorkItem:
    plan = getattr(survivor, "plan", None)  # set by plans_due
    if plan is None or not plan.revision:
        why = _("no plan yet")
    elif plan.review_due_since:
        why = _("due for review since the risk changed")
    else:
        why = _("due for its regular review")
    return WorkItem(
        rank=CHECKS,
        since=_plan_since(survivor),
        reference=survivor.case.reference,
        what=f"{survivor.label}: {why}",
        url=reverse("safety:plan", args=[survivor.case_id, survivor.pk]),
        action=_("Review the safety plan"),
    )


def _approval_item(waiting: Any) -> WorkItem:
    return WorkItem(
        rank=APPROVALS,
        since=None,
        reference=waiting.case.reference,
        what=_("%(stage)s: every other condition of the joint dialogue holds")
        % {"stage": waiting.case.get_stage_display()},
        url=waiting.url,
        action=_("Review and approve"),
    )


def _stalled_item(case: Any) -> WorkItem:
    moved = case.last_moved
    return WorkItem(
        rank=STALLED,
        since=moved or case.opened_on,
        reference=case.reference,
        what=_("%(stage)s: last recorded on %(when)s")
        % {"stage": case.get_stage_display(), "when": _day(moved)}
        if moved
        else _("%(stage)s: nothing recorded since it opened on %(when)s")
        % {"stage": case.get_stage_display(), "when": _day(case.opened_on)},
        url=reverse("protocol:timeline", args=[case.pk]),
        action=_("Open the timeline"),
    )


def _safety(context: StaffContext, now: datetime.datetime, work: Worklist) -> None:
    keeper_side = context.has_role(Role.KEEPER, Role.SAFETY_ADVOCATE)
    if context.has_role(Role.SUPERVISOR, Role.SAFETY_ADVOCATE):
        alerts = safety_lists.unseen_alerts(context)
        work.counts.append(Count(_("Safety alerts"), len(alerts)))
        for alert in alerts:
            work.items.add(
                SAFETY, alert.raised_at, alert.case.reference, functools.partial(_alert_item, alert)
            )
    if context.has_role(Role.SUPERVISOR):
        holds = safety_lists.holds_to_review(context)
        work.counts.append(Count(_("Holds waiting for your review"), len(holds)))
        for hold in holds:
            work.items.add(SAFETY, hold.opened_at, hold.case.reference, functools.partial(_review_item, hold))
    if keeper_side:
        holds = safety_lists.open_holds(context)
        work.counts.append(Count(_("Your cases on safety hold"), len(holds)))
        for hold in holds:
            work.items.add(SAFETY, hold.opened_at, hold.case.reference, functools.partial(_hold_item, hold))
        checks = safety_lists.overdue_checks(context, now)
        work.counts.append(Count(_("Safety checks due"), len(checks)))
        for survivor in checks:
            last = getattr(survivor, "last_checked_at", None)
            work.items.add(CHECKS, last, survivor.case.reference, functools.partial(_check_item, survivor))
        plans = safety_lists.plans_due(context, now)
        work.counts.append(Count(_("Safety plans to review"), len(plans)))
        for survivor in plans:
            since = _plan_since(survivor)
            work.items.add(CHECKS, since, survivor.case.reference, functools.partial(_plan_item, survivor))


def _supervision(context: StaffContext, now: datetime.datetime, work: Worklist) -> None:
    approvals, work.approvals_unchecked = dashboard.waiting_approvals(context, now)
    work.counts.append(Count(_("Joint dialogues waiting for your approval"), approvals.total))
    for waiting in approvals.rows:
        work.items.add(APPROVALS, None, waiting.case.reference, functools.partial(_approval_item, waiting))
    stalled = list(dashboard.stalled_cases(context, now))
    work.counts.append(
        Count(
            ngettext(
                "Open cases without movement for %(days)d day",
                "Open cases without movement for %(days)d days",
                dashboard.STALLED_DAYS,
            )
            % {"days": dashboard.STALLED_DAYS},
            len(stalled),
        )
    )
    for case in stalled:
        since = case.last_moved or case.opened_on
        work.items.add(STALLED, since, case.reference, functools.partial(_stalled_item, case))


def worklist(context: StaffContext, now: datetime.datetime) -> Worklist:
    """What needs doing on this person's cases, most urgent first (empty for someone who works no cases)."""
    work = Worklist()
    if context.organization is None or not context.works_cases:
        return work
    _safety(context, now, work)
    if context.has_role(Role.SUPERVISOR):
        _supervision(context, now, work)
    work.items.sort()
    return work
