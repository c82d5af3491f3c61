"""Access helpers for the protocol pages, each built on the case's own helper (off the team: 404, never 403),
and the one rule for what a private calendar feed may show."""

from __future__ import annotations

import datetime

from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest
from django.utils import timezone

from circlekeeper.accounts.models import CASE_ROLES, Membership, User
from circlekeeper.cases.access import get_case_for
from circlekeeper.cases.models import CaseAssignment
from circlekeeper.protocol.models import CalendarToken, Invitation, Meeting, MeetingQuerySet, MeetingStatus


def get_meeting_for(request: HttpRequest, case_id: int, meeting_id: int) -> Meeting:
    """A meeting of a case the signed-in person may see, or 404."""
    case = get_case_for(request, case_id)
    meeting = Meeting.objects.for_organization(case.organization).filter(pk=meeting_id, case=case).first()
    if meeting is None:
        raise Http404
    meeting.case = case
    return meeting


def calendar_owner(token: str) -> User | None:
    """Whose feed this token opens: an active person's, or nobody's (a wrong, replaced or stopped token alike)."""
    # token_urlsafe(32) is 43 characters; anything far from that is not worth hashing.
    if not token or len(token) > 100:
        return None
    found = CalendarToken.objects.filter(token_hash=CalendarToken.hash(token)).select_related("user").first()
    if found is None or not found.user.is_active:
        return None
    return found.user


def calendar_meetings(user: User) -> MeetingQuerySet:
    """The scheduled meetings a feed shows: on cases whose team this person sits on, in organizations where
    they still hold an active case role (a deactivated membership shows nothing at once)."""
    organizations = (
        Membership.objects.active().filter(user=user, role__in=CASE_ROLES).values("organization_id")
    )
    invitations = Invitation.objects.select_related("participant").order_by("participant_id")
    # Meetings still to come, and those a safety event cancelled or stopped, so the feed shows them cancelled.
    recent = timezone.now() - datetime.timedelta(days=1)
    return (
        Meeting.objects.filter(
            Q(status=MeetingStatus.SCHEDULED)
            | Q(status__in=(MeetingStatus.CANCELLED, MeetingStatus.STOPPED), starts_at__gte=recent)
        )
        .filter(
            organization_id__in=organizations,
            case_id__in=CaseAssignment.objects.filter(user=user).values("case_id"),
        )
        .select_related("case")
        .prefetch_related(Prefetch("invitations", queryset=invitations))
        .order_by("starts_at", "id")
    )
