"""The one access helper for cases: every view that touches a case starts here."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils import timezone

from circlekeeper.accounts.access import StaffContext, staff_context
from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import User
from circlekeeper.cases.models import (
    Case,
    CaseQuerySet,
    CaseTask,
    Consent,
    Participant,
    ReleaseOfInformation,
)
from circlekeeper.lib.audit import AuditEvent, Outcome
from circlekeeper.lib.hooks import hooks


def case_worker_context(request: HttpRequest) -> StaffContext:
    """The signed-in person, if they hold a case role (keeper, advocate, supervisor) in their organization."""
    context = staff_context(request)
    if context is None or context.organization is None or not context.works_cases:
        raise PermissionDenied
    return context


def cases_for(context: StaffContext) -> CaseQuerySet:
    """The cases this person may see: their active organization's cases on whose team they sit."""
    if not context.works_cases:
        return Case.objects.none()
    return Case.objects.for_organization(context.organization).for_team_member(context.user)


def get_case_for(request: HttpRequest, case_id: int) -> Case:
    """A case the signed-in person may see, or 404 (never 403, so existence is not revealed)."""
    context = staff_context(request)
    if context is None:
        raise Http404
    if not context.works_cases:
        raise Http404
    case = (
        Case.objects.for_organization(context.organization)
        .filter(pk=case_id)
        .on_team_of(context.user)
        .select_related("organization")
        .first()
    )
    if case is None:
        raise Http404
    return case


def get_participant_for(request: HttpRequest, case_id: int, participant_id: int) -> Participant:
    """A participant of a case the signed-in person may see, or 404."""
    case = get_case_for(request, case_id)
    participant = case.participants.filter(pk=participant_id).first()
    if participant is None:
        raise Http404
    return participant


def get_release_for(request: HttpRequest, case_id: int, release_id: int) -> ReleaseOfInformation:
    case = get_case_for(request, case_id)
    release = (
        ReleaseOfInformation.objects.for_organization(case.organization)
        .filter(pk=release_id, participant__case=case)
        .first()
    )
    if release is None:
        raise Http404
    return release


def get_consent_for(request: HttpRequest, case_id: int, consent_id: int) -> Consent:
    """A consent given by a participant of a case the signed-in person may see, or 404."""
    case = get_case_for(request, case_id)
    consent = (
        Consent.objects.for_organization(case.organization)
        .filter(pk=consent_id, participant__case=case)
        .select_related("participant")
        .first()
    )
    if consent is None:
        raise Http404
    consent.participant.case = case
    return consent


def get_task_for(request: HttpRequest, case_id: int, task_id: int) -> CaseTask:
    case = get_case_for(request, case_id)
    task = case.tasks.filter(pk=task_id).first()
    if task is None:
        raise Http404
    return task


def known_lookup_context(request: HttpRequest) -> StaffContext:
    """Who may ask "is this person already known?" (SECURITY.md 15b): the roles that do intake only.

    Keepers, safety advocates and supervisors; never an evaluator, and never a community facilitator's account
    (a keeper membership that sees its own cases and nothing beyond them): settings.KNOWN_LOOKUP_CHECKS may refuse.
    """
    context = case_worker_context(request)
    for check in hooks("KNOWN_LOOKUP_CHECKS"):
        check(context)
    return context


def known_lookups_left(user: User) -> int:
    """How many more lookups this person may make in the hour (settings.KNOWN_LOOKUPS_PER_HOUR), from the audit log."""
    since = timezone.now() - datetime.timedelta(hours=1)
    done = AuditEvent.objects.filter(
        actor_id=user.pk, action=Action.KNOWN_LOOKUP, outcome=Outcome.OK, occurred_at__gte=since
    ).count()
    return max(0, settings.KNOWN_LOOKUPS_PER_HOUR - done)
