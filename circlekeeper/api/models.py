"""API tokens: how an evaluator's own tools (PyCap, REDCapR) read their organization's de-identified data.

A token is shown once, when it is made; only its SHA-256 digest is stored (a token is 128 random bits, so a
fast digest is enough: nobody can guess one to test against it). It belongs to one person and one
organization's evaluation, expires, can be revoked, and counts its calls for the throttle (api/services.py).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Network, Organization, User


class ApiToken(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    # One organization's evaluation (an evaluator's token: rows and aggregates), or one network's pooled
    # aggregates (a network admin's token: aggregates only, never rows, SECURITY.md 5).
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="+", null=True, blank=True)
    name = models.CharField(_("name"), max_length=100)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=4, editable=False)  # the token's last characters, to tell tokens apart
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    # The throttle's window: when it started and how many calls it has seen.
    window_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    window_calls = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("API token")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(organization__isnull=False, network__isnull=True)
                | models.Q(organization__isnull=True, network__isnull=False),
                name="api_token_one_scope",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} (…{self.hint})"

    def is_live(self, now: object = None) -> bool:
        moment = now or timezone.now()
        return self.revoked_at is None and self.expires_at > moment  # type: ignore[operator]
