"""Who is asking, in which organization, with which roles: the one place views learn it from."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from circlekeeper.accounts.models import CASE_ROLES, Membership, Network, Organization, Role, User

ACTIVE_ORGANIZATION_KEY = "active_organization_id"


@dataclass(frozen=True)
class StaffContext:
    user: User
    organization: Organization | None
    roles: frozenset[str]
    organizations: tuple[Organization, ...] = ()
    admin_of_networks: tuple[Network, ...] = field(default=())

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def role_labels(self) -> list[str]:
        return [str(label) for value, label in Role.choices if value in self.roles]

    @property
    def works_cases(self) -> bool:
        return bool(self.roles & CASE_ROLES)


def staff_context(request: HttpRequest) -> StaffContext | None:
    """The signed-in person's active organization and roles there, or None for anonymous visitors.

    Only active memberships count, so a membership deactivated a second ago already grants nothing.
    """
    cached: StaffContext | None = getattr(request, "_staff_context", None)
    if cached is not None:
        return cached
    user = request.user
    if not user.is_authenticated or not isinstance(user, User):
        return None
    memberships = list(
        Membership.objects.active().filter(user=user).select_related("organization", "network")
    )
    organizations = sorted(
        {m.organization for m in memberships if m.organization is not None}, key=lambda o: (o.name, o.pk)
    )
    wanted = request.session.get(ACTIVE_ORGANIZATION_KEY)
    active = next((o for o in organizations if o.pk == wanted), organizations[0] if organizations else None)
    roles = frozenset(m.role for m in memberships if active is not None and m.organization_id == active.pk)
    networks = tuple(
        sorted({m.network for m in memberships if m.role == Role.NETWORK_ADMIN}, key=lambda n: n.name)
    )
    context = StaffContext(user, active, roles, tuple(organizations), networks)
    request._staff_context = context  # type: ignore[attr-defined]
    return context


def choose_organization(request: HttpRequest, organization_id: int) -> bool:
    """Make one of the person's own organizations the active one; refuse any other."""
    context = staff_context(request)
    if context is None or all(o.pk != organization_id for o in context.organizations):
        return False
    request.session[ACTIVE_ORGANIZATION_KEY] = organization_id
    if hasattr(request, "_staff_context"):
        del request._staff_context
    return True


def program_admin_context(request: HttpRequest) -> tuple[StaffContext, Organization]:
    """The program admin and the organization they administer; anyone else is refused."""
    context = staff_context(request)
    if context is None or context.organization is None or not context.has_role(Role.PROGRAM_ADMIN):
        raise PermissionDenied
    return context, context.organization
