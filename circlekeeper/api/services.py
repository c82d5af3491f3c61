"""Making, revoking and checking API tokens (models.ApiToken), and the throttle on their calls.

A token reaches exactly what its owner's de-identified export reaches (evaluation/access.py ROW_ROLES): it
works only while the person is active and still an evaluator of the token's organization, so ending the
role ends the token too.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import Membership, Network, Organization, Role, User
from circlekeeper.api.models import ApiToken
from circlekeeper.evaluation.access import ROW_ROLES
from circlekeeper.evaluation.dataset import Scope

THROTTLE_WINDOW = datetime.timedelta(minutes=1)


class TokenRefused(Exception):
    """A call whose token is missing, unknown, expired, revoked, no longer allowed, or over its limit."""

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def digest(raw: str) -> str:
    return hashlib.sha256(raw.strip().upper().encode("utf-8")).hexdigest()


def may_hold_token(
    user: User, *, organization: Organization | None = None, network: Network | None = None
) -> bool:
    """An organization's evaluator, for its evaluation; a network's admin, for its pooled aggregates."""
    memberships = Membership.objects.active().filter(user=user)
    if organization is not None:
        return memberships.filter(organization=organization, role__in=ROW_ROLES).exists()
    return memberships.filter(network=network, organization__isnull=True, role=Role.NETWORK_ADMIN).exists()


def create_token(
    user: User,
    *,
    organization: Organization | None = None,
    network: Network | None = None,
    name: str,
    days: int | None = None,
) -> tuple[ApiToken, str]:
    """A new token for `user` over one organization or one network; returns it with the raw value, never stored."""
    if (organization is None) == (network is None):
        raise ValueError("a token covers one organization or one network")
    if not may_hold_token(user, organization=organization, network=network):
        raise TokenRefused(
            _("Only an evaluator of the organization may make an API token for its data.")
            if organization is not None
            else _("Only an admin of the network may make an API token for its pooled results.")
        )
    lifetime = days if days is not None else settings.CIRCLEKEEPER_API_TOKEN_DAYS
    # 32 upper-case hexadecimal characters: the shape of a REDCap token, which REDCap's clients check.
    raw = secrets.token_hex(16).upper()
    token = ApiToken.objects.create(
        user=user,
        organization=organization,
        network=network,
        name=name.strip(),
        digest=digest(raw),
        hint=raw[-4:],
        expires_at=timezone.now() + datetime.timedelta(days=lifetime),
    )
    return token, raw


def revoke(token: ApiToken) -> None:
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        token.refresh_from_db(fields=["revoked_at"])


def authenticate(raw: str) -> ApiToken:
    """The live token `raw` names, or TokenRefused with REDCap's wording where REDCap has one."""
    if not raw:
        raise TokenRefused(_("No API token was given."), status=401)
    token = (
        ApiToken.objects.select_related("user", "organization", "network").filter(digest=digest(raw)).first()
    )
    # One answer for unknown, revoked and expired tokens: a caller learns nothing about tokens it does not hold.
    if token is None or not token.is_live() or not token.user.is_active:
        raise TokenRefused(
            _("You do not have permissions to use the API (the token is unknown, expired or revoked).")
        )
    if not may_hold_token(token.user, organization=token.organization, network=token.network):
        raise TokenRefused(
            _("The token's owner is no longer an evaluator of this organization.")
            if token.organization is not None
            else _("The token's owner is no longer an admin of this network.")
        )
    return token


def scope_of(token: ApiToken) -> Scope:
    if token.organization is not None:
        return Scope.for_organization(token.organization)
    assert token.network is not None
    return Scope.for_network(token.network)


def count_call(token: ApiToken, *, now: datetime.datetime | None = None) -> None:
    """Count one call against the token's limit per minute (TokenRefused 429 beyond it) and note its use."""
    moment = now or timezone.now()
    limit = settings.CIRCLEKEEPER_API_CALLS_PER_MINUTE
    with transaction.atomic():
        current = ApiToken.objects.select_for_update().get(pk=token.pk)
        if current.window_started_at is None or moment - current.window_started_at >= THROTTLE_WINDOW:
            current.window_started_at, current.window_calls = moment, 0
        if current.window_calls >= limit:
            raise TokenRefused(
                _("Too many calls with this token: at most %(limit)d a minute. Please wait a minute.")
                % {"limit": limit},
                status=429,
            )
        current.window_calls += 1
        current.last_used_at = moment
        current.save(update_fields=["window_started_at", "window_calls", "last_used_at"])
