"""Access helpers for the support network pages, each built on the case's own helper (off the team: 404)."""

from __future__ import annotations

from django.http import Http404, HttpRequest

from circlekeeper.cases.access import get_case_for
from circlekeeper.support.models import PodMember, PodTie


def get_member_for(request: HttpRequest, case_id: int, member_id: int) -> PodMember:
    """A pod member of a case the signed-in person may see, or 404."""
    case = get_case_for(request, case_id)
    member = (
        PodMember.objects.for_organization(case.organization)
        .filter(pk=member_id, case=case)
        .select_related("participant")
        .first()
    )
    if member is None:
        raise Http404
    member.case = case
    return member


def get_tie_for(request: HttpRequest, case_id: int, tie_id: int) -> PodTie:
    """A tie between two pod members of a case the signed-in person may see, or 404."""
    case = get_case_for(request, case_id)
    tie = PodTie.objects.for_organization(case.organization).filter(pk=tie_id, case=case).first()
    if tie is None:
        raise Http404
    tie.case = case
    return tie
