"""The case timeline: every CaseEvent of a case in words, newest first, a page at a time, each linked to its record.

Pages are cut by keyset (the events before a given one, in (at, id) order), never by OFFSET, so a page costs the
same at the start of a long history as at its end; and the queries for a page do not grow with its events.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from circlekeeper.cases.history import HistoryLine, describe_event
from circlekeeper.cases.models import Case, CaseEvent, EventKind, Participant

PER_PAGE = 25


class KindGroup(models.TextChoices):
    STAGES = "stages", _("Stages and status")
    SAFETY = "safety", _("Safety: checks, holds, alerts, plans")
    CHOICES = "choices", _("Consent and choices")
    MEETINGS = "meetings", _("Meetings and approvals")
    PARTICIPANTS = "participants", _("Participants")
    ACCOUNTABILITY = "accountability", _("Agreements, progress and support networks")


GROUP_KINDS: dict[str, tuple[str, ...]] = {
    KindGroup.STAGES: (
        EventKind.STAGE_CHANGED,
        EventKind.WITHDRAWN,
        EventKind.REFERRED_OUT,
        EventKind.CLOSED,
        EventKind.REFERRAL_RECEIVED,
        EventKind.REOPENED,
    ),
    KindGroup.SAFETY: (
        EventKind.CHECK_RECORDED,
        EventKind.HOLD_OPENED,
        EventKind.HOLD_LIFTED,
        EventKind.ALERT_RAISED,
        EventKind.ALERT_SEEN,
        EventKind.PLAN_SAVED,
        EventKind.PLAN_DECLINED,
        EventKind.PLAN_REVIEWED,
        EventKind.PLAN_REVIEW_DUE,
    ),
    KindGroup.CHOICES: (
        EventKind.CONSENT_GIVEN,
        EventKind.CONSENT_WITHDRAWN,
        EventKind.TRACK_CHOSEN,
        EventKind.CONTACT_RULES,
    ),
    KindGroup.MEETINGS: (
        EventKind.MEETING_SCHEDULED,
        EventKind.MEETING_HELD,
        EventKind.MEETING_CANCELLED,
        EventKind.MEETING_CHECK,
        EventKind.ACKNOWLEDGED,
        EventKind.APPROVED,
        EventKind.REACHED_OUT,
    ),
    KindGroup.PARTICIPANTS: (
        EventKind.PARTICIPANT_ADDED,
        EventKind.DETAILS_CHANGED,
        EventKind.LINK_REVOKED,
        EventKind.INTAKE_SAVED,
        EventKind.ENTERED_IN_ERROR,
    ),
    KindGroup.ACCOUNTABILITY: (
        EventKind.POD_CHANGED,
        EventKind.AGREEMENT_DRAFTED,
        EventKind.AGREEMENT_PARTY_AFFIRMED,
        EventKind.AGREEMENT_AFFIRMED,
        EventKind.COMMITMENT_CHECKIN,
        EventKind.STAIRCASE_STEP,
        EventKind.SURVIVOR_VIEW,
    ),
}

_SAFETY_CASE = (
    EventKind.CHECK_RECORDED,
    EventKind.HOLD_OPENED,
    EventKind.HOLD_LIFTED,
    EventKind.ALERT_RAISED,
    EventKind.ALERT_SEEN,
)
_PLANS = (EventKind.PLAN_SAVED, EventKind.PLAN_DECLINED, EventKind.PLAN_REVIEWED, EventKind.PLAN_REVIEW_DUE)
_PARTICIPANT_PAGE = (
    EventKind.PARTICIPANT_ADDED,
    EventKind.DETAILS_CHANGED,
    EventKind.CONSENT_GIVEN,
    EventKind.CONSENT_WITHDRAWN,
    EventKind.CONTACT_RULES,
    EventKind.LINK_REVOKED,
)
_MEETINGS = (
    EventKind.MEETING_SCHEDULED,
    EventKind.MEETING_HELD,
    EventKind.MEETING_CANCELLED,
    EventKind.MEETING_CHECK,
    EventKind.ACKNOWLEDGED,
)


class TimelineFilter(forms.Form):
    kind = forms.ChoiceField(
        label=_("Show"),
        required=False,
        choices=[("", _("Everything")), *KindGroup.choices],
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def choice(self) -> tuple[str, int | None]:
        """The kind group ('' for all) and the event to continue before; anything unreadable is ignored."""
        data = self.cleaned_data if self.is_valid() else {}
        return data.get("kind") or "", data.get("before")


@dataclass(frozen=True)
class Entry:
    line: HistoryLine
    url: str | None


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Entry]
    # The id to continue from (the oldest event shown), when there are older ones.
    next_before: int | None


def record_url(event: CaseEvent, participants: dict[str, int]) -> str | None:
    """Where the record behind this event lives, if anywhere; `participants` maps the case's labels to ids."""
    case_id = event.case_id
    participant_id = participants.get(str(event.facts.get("participant", "")))
    if event.kind in _MEETINGS and str(event.facts.get("meeting", "")).isdigit():
        return reverse("protocol:meeting", args=[case_id, int(event.facts["meeting"])])
    if event.kind == EventKind.REACHED_OUT:
        return reverse("protocol:reach_out", args=[case_id])
    if event.kind == EventKind.APPROVED or event.kind in GROUP_KINDS[KindGroup.STAGES]:
        # The case's protocol page: its stage, its gate and the joint-dialogue checklist.
        return reverse("protocol:case", args=[case_id])
    if event.kind in _SAFETY_CASE:
        return reverse("safety:case", args=[case_id])
    if event.kind in _PLANS:
        if participant_id is not None:
            return reverse("safety:plan", args=[case_id, participant_id])
        return reverse("safety:case", args=[case_id])
    if event.kind in _PARTICIPANT_PAGE:
        if participant_id is None:
            return None
        return reverse("cases:participant_detail", args=[case_id, participant_id])
    if event.kind == EventKind.TRACK_CHOSEN:
        return reverse("cases:track_choice", args=[case_id])
    if event.kind == EventKind.INTAKE_SAVED:
        return reverse("cases:intake", args=[case_id])
    if event.kind == EventKind.ENTERED_IN_ERROR:
        # The record stays, struck through, on the case page (a participant's own page no longer opens).
        return reverse("cases:detail", args=[case_id])
    # The apps above this one own these records; their pages are named, never imported.
    if event.kind == EventKind.POD_CHANGED:
        return reverse("support:pods", args=[case_id])
    if event.kind in GROUP_KINDS[KindGroup.ACCOUNTABILITY]:
        return reverse("accountability:agreement", args=[case_id])
    return None


def timeline_page(case: Case, *, group: str = "", before: int | None = None) -> TimelinePage | None:
    """One page of the case's events, newest first, continuing before event `before` (None if it is not one of
    this case's events). Three queries at most, whatever the page holds."""
    events = CaseEvent.objects.for_organization(case.organization).filter(case=case)
    if group in GROUP_KINDS:
        events = events.filter(kind__in=GROUP_KINDS[group])
    if before is not None:
        cursor = (
            CaseEvent.objects.for_organization(case.organization)
            .filter(case=case, pk=before)
            .values_list("at", flat=True)
            .first()
        )
        if cursor is None:
            return None
        events = events.filter(Q(at__lt=cursor) | Q(at=cursor, pk__lt=before))
    rows = list(events.select_related("by").order_by("-at", "-id")[: PER_PAGE + 1])
    shown = rows[:PER_PAGE]
    labels = {str(e.facts["participant"]) for e in shown if e.facts.get("participant")}
    # Every label of the page resolved in one query (labels are unique within a case).
    participants = (
        dict(
            Participant.objects.for_organization(case.organization)
            .filter(case=case, label__in=labels)
            .order_by()
            .values_list("label", "pk")
        )
        if labels
        else {}
    )
    entries = [Entry(describe_event(event), record_url(event, participants)) for event in shown]
    return TimelinePage(entries, shown[-1].pk if len(rows) > PER_PAGE else None)
