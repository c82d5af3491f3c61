"""Who may see which evaluation results (SECURITY.md 5 and 13; ARCHITECTURE.md "Who uses it").

- An organization's **aggregates** (dashboards, analyses; small cells suppressed): its evaluators, program
  admins and supervisors.
- An organization's **de-identified rows** (the data view and exports): its evaluators only. Nothing they reach
  names a person; case pages stay closed to them (they are on no case team).
- A network's **pooled aggregates**: its network admins, and the evaluators of its organizations. Reports to a
  network are aggregate only (SECURITY.md 5): no network scope ever gives rows.

Anyone else gets 403; a network the person has no part in gives 404, as another organization's object does.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from circlekeeper.accounts.access import StaffContext, staff_context
from circlekeeper.accounts.models import Network, Role
from circlekeeper.evaluation.dataset import Scope

AGGREGATE_ROLES = (Role.EVALUATOR, Role.PROGRAM_ADMIN, Role.SUPERVISOR)
ROW_ROLES = (Role.EVALUATOR,)


def _context(request: HttpRequest) -> StaffContext:
    context = staff_context(request)
    if context is None:
        raise PermissionDenied
    return context


def organization_aggregate_scope(request: HttpRequest) -> Scope:
    """The active organization's scope, for aggregates; 403 for roles that do not see them."""
    context = _context(request)
    if context.organization is None or not context.has_role(*AGGREGATE_ROLES):
        raise PermissionDenied
    return Scope.for_organization(context.organization)


def organization_row_scope(request: HttpRequest) -> Scope:
    """The active organization's scope, for de-identified rows and exports: evaluators only."""
    context = _context(request)
    if context.organization is None or not context.has_role(*ROW_ROLES):
        raise PermissionDenied
    return Scope.for_organization(context.organization)


def may_see_rows(request: HttpRequest) -> bool:
    """Whether this person may download the active organization's de-identified rows (for links on pages)."""
    context = staff_context(request)
    return context is not None and context.organization is not None and context.has_role(*ROW_ROLES)


def may_see_network(context: StaffContext, network: Network) -> bool:
    if any(n.pk == network.pk for n in context.admin_of_networks):
        return True
    return (
        context.organization is not None
        and context.organization.network_id == network.pk
        and context.has_role(Role.EVALUATOR)
    )


def network_aggregate_scope(request: HttpRequest, slug: str) -> Scope:
    """A network's pooled scope, for aggregates only; 404 for a network the person has no part in."""
    context = _context(request)
    if not context.admin_of_networks and not context.has_role(Role.EVALUATOR):
        raise PermissionDenied
    network = Network.objects.filter(slug=slug).first()
    if network is None or not may_see_network(context, network):
        raise Http404
    return Scope.for_published_network(network)


def networks_visible(request: HttpRequest) -> list[Network]:
    """The networks whose pooled aggregates this person may open (for links in menus)."""
    context = staff_context(request)
    if context is None:
        return []
    networks = {n.pk: n for n in context.admin_of_networks}
    if context.organization is not None and context.has_role(Role.EVALUATOR):
        network = context.organization.network
        networks.setdefault(network.pk, network)
    return sorted(networks.values(), key=lambda n: n.name)
