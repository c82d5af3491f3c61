"""Outcome data kept outside the program and imported for analysis (issue 8 item 6), e.g. re-arrests from court
records, or a comparison group followed elsewhere. One row per person: events over person-days of follow-up."""

from __future__ import annotations

import uuid
from typing import Self

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Network, Organization, User
from circlekeeper.lib.fields import BlindIndexField, EncryptedLongTextField, EncryptedTextField
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet


class ImportBatch(models.Model):
    """One imported file: appended whole or not at all."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    # A file's name, and a note on where the data came from, may name people: encrypted.
    file_name = EncryptedTextField(_("file name"), max_length=255)
    rows = models.PositiveIntegerField(_("rows"))
    source_note = EncryptedLongTextField(
        _("where the data came from"), blank=True, null=True, max_length=2000
    )
    # None when imported by the command on the server.
    imported_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    imported_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("outcome import")
        ordering = ["imported_at", "id"]
        indexes = [models.Index(fields=["organization", "imported_at"], name="importbatch_org_at")]

    def __str__(self) -> str:
        return f"outcome import {self.pk} · {self.rows} rows · {self.imported_at:%Y-%m-%d}"


class ExternalOutcomeQuerySet(OrganizationScopedQuerySet):
    def for_network(self, network: Network | None) -> Self:
        """The outcomes of every organization in the network, for pooled (suppressed) reports."""
        if network is None:
            return self.none()
        return self.filter(organization__network_id=network.pk)


class ExternalOutcome(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    import_batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="outcomes")
    # A code from elsewhere (a court's case number, say) identifies a person to whoever holds the key to it.
    participant_code = EncryptedTextField(_("participant code"), max_length=100)
    # Each person is counted once: the same code in a later file is refused, through this index.
    code_index = BlindIndexField(
        sources=("participant_code",), kinds=("text",), purpose="external_outcome_code"
    )
    group = models.CharField(_("group"), max_length=60)
    person_days = models.FloatField(_("days followed"))
    events = models.PositiveIntegerField(_("events"))
    first_event_day = models.FloatField(_("day of the first event"), null=True, blank=True)
    imported_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ExternalOutcomeQuerySet.as_manager()

    class Meta:
        verbose_name = _("external outcome")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["organization", "group"], name="outcome_org_group"),
            models.Index(fields=["organization", "import_batch"], name="outcome_org_batch"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["organization", "code_index"], name="outcome_one_row_per_code"),
            models.CheckConstraint(condition=Q(person_days__gt=0), name="outcome_person_days_positive"),
            models.CheckConstraint(
                condition=Q(first_event_day__isnull=True)
                | Q(events__gt=0, first_event_day__gte=0, first_event_day__lte=F("person_days")),
                name="outcome_first_event_within_follow_up",
            ),
        ]

    def __str__(self) -> str:
        return f"outcome {self.pk} · {self.group}"
