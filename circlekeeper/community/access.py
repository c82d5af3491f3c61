"""Who may open the community activity pages (events and trainings, facilitators, the funder report), and the
one access helper per object type. A role that may not act gets 403; an object of another organization, 404.

- **Events and trainings**: staff who work in the community — program admins, supervisors, keepers and safety
  advocates — list, read and record them. A community facilitator's own account (a keeper membership linked to a
  `Facilitator`) is refused: a facilitator has access to their cases and nothing beyond them.
- **Facilitators**: program admins keep the roster (add, change, requirements); supervisors read it, record
  training and supervision notes. Supervision notes: supervisors and program admins only.
- **Training records** (which change readiness): program admins and supervisors.
- **A case's facilitators** (adding one to the team): a supervisor on the case's team.
- **The funder report**: the roles that see the organization's aggregates (evaluation.access.AGGREGATE_ROLES).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from circlekeeper.accounts.access import StaffContext, staff_context
from circlekeeper.accounts.models import Organization, Role
from circlekeeper.cases.access import get_case_for
from circlekeeper.cases.models import Case
from circlekeeper.community.models import CommunityEvent, Facilitator
from circlekeeper.evaluation.access import AGGREGATE_ROLES

EVENT_ROLES = (Role.PROGRAM_ADMIN, Role.SUPERVISOR, Role.KEEPER, Role.SAFETY_ADVOCATE)
ROSTER_READ_ROLES = (Role.PROGRAM_ADMIN, Role.SUPERVISOR)
ROSTER_WRITE_ROLES = (Role.PROGRAM_ADMIN,)
SUPERVISION_ROLES = (Role.PROGRAM_ADMIN, Role.SUPERVISOR)
TRAINING_ROLES = (Role.PROGRAM_ADMIN, Role.SUPERVISOR)
TEAM_ROLES = (Role.SUPERVISOR,)
FUNDER_REPORT_ROLES = AGGREGATE_ROLES


def _context(request: HttpRequest, roles: tuple[str, ...]) -> tuple[StaffContext, Organization]:
    context = staff_context(request)
    if context is None or context.organization is None or not context.has_role(*roles):
        raise PermissionDenied
    return context, context.organization


def is_facilitator_account(context: StaffContext) -> bool:
    return (
        context.organization is not None
        and Facilitator.objects.for_organization(context.organization).filter(user=context.user).exists()
    )


def refuse_facilitator_lookup(context: StaffContext) -> None:
    """settings.KNOWN_LOOKUP_CHECKS: a facilitator's account may not ask whether someone is a client."""
    if not context.has_role(Role.SUPERVISOR, Role.SAFETY_ADVOCATE) and is_facilitator_account(context):
        raise PermissionDenied


def event_context(request: HttpRequest) -> tuple[StaffContext, Organization]:
    context, organization = _context(request, EVENT_ROLES)
    if not context.has_role(Role.PROGRAM_ADMIN, Role.SUPERVISOR) and is_facilitator_account(context):
        raise PermissionDenied
    return context, organization


def get_event_for(request: HttpRequest, event_id: int) -> CommunityEvent:
    """An event of the person's organization, or 404."""
    _staff, organization = event_context(request)
    event = CommunityEvent.objects.for_organization(organization).filter(pk=event_id).first()
    if event is None:
        raise Http404
    event.organization = organization
    return event


def roster_context(request: HttpRequest, *, write: bool = False) -> tuple[StaffContext, Organization]:
    return _context(request, ROSTER_WRITE_ROLES if write else ROSTER_READ_ROLES)


def get_facilitator_for(request: HttpRequest, facilitator_id: int, *, write: bool = False) -> Facilitator:
    """A facilitator of the person's organization, or 404; 403 for a role that may not read (or change) them."""
    _staff, organization = roster_context(request, write=write)
    facilitator = (
        Facilitator.objects.for_organization(organization)
        .filter(pk=facilitator_id)
        .select_related("user")
        .first()
    )
    if facilitator is None:
        raise Http404
    facilitator.organization = organization
    return facilitator


def supervision_context(request: HttpRequest) -> tuple[StaffContext, Organization]:
    return _context(request, SUPERVISION_ROLES)


def training_context(request: HttpRequest) -> tuple[StaffContext, Organization]:
    return _context(request, TRAINING_ROLES)


def get_team_case_for(request: HttpRequest, case_id: int) -> Case:
    """A case whose facilitators the signed-in supervisor may change: 403 for other roles, 404 off the team."""
    _context(request, TEAM_ROLES)
    return get_case_for(request, case_id)


def funder_report_context(request: HttpRequest) -> tuple[StaffContext, Organization]:
    return _context(request, FUNDER_REPORT_ROLES)
