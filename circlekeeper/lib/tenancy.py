"""Tenancy: every row that belongs to an organization is read through these QuerySet methods."""

from __future__ import annotations

from typing import Any, Self

from django.db import models


class OrganizationScopedQuerySet(models.QuerySet[Any]):
    def for_organization(self, organization: Any) -> Self:
        if organization is None:
            return self.none()
        return self.filter(organization_id=organization.pk)
