from __future__ import annotations

import datetime
import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization, Role, User
from circlekeeper.lib.fields import EncryptedLongTextField
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")
    WITHDRAWN = "withdrawn", _("Withdrawn by the survivor")
    REFERRED_OUT = "referred_out", _("Referred out")


class TeamRole(models.TextChoices):
    KEEPER = Role.KEEPER.value, Role.KEEPER.label
    SAFETY_ADVOCATE = Role.SAFETY_ADVOCATE.value, Role.SAFETY_ADVOCATE.label
    SUPERVISOR = Role.SUPERVISOR.value, Role.SUPERVISOR.label


class CaseQuerySet(OrganizationScopedQuerySet):
    def open(self) -> CaseQuerySet:
        return self.filter(status=CaseStatus.OPEN)

    def for_team_member(self, user: User) -> CaseQuerySet:
        """Cases on whose team this person sits (staff outside the team see nothing of a case)."""
        return self.filter(pk__in=CaseAssignment.objects.filter(user=user).values("case_id"))


class Case(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="cases")
    # Names the row in the encryption context of its encrypted fields (the pk is unknown before INSERT).
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    reference = models.CharField(_("reference"), max_length=20, editable=False)
    status = models.CharField(_("status"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    opened_on = models.DateField(_("opened"), default=datetime.date.today)
    closed_on = models.DateField(_("closed"), null=True, blank=True)
    # What happened, in the survivor's words: a narrative, so encrypted (SECURITY.md 6).
    summary = EncryptedLongTextField(_("summary"), blank=True, null=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("case")
        ordering = ["-opened_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "reference"], name="case_reference_unique"),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=models.F("opened_on")),
                name="case_closed_after_opened",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "opened_on"], name="case_org_status_opened"),
            models.Index(fields=["organization", "opened_on"], name="case_org_opened"),
        ]

    def __str__(self) -> str:
        return self.reference

    @classmethod
    def next_reference(cls, organization: Organization, year: int) -> str:
        """The next pseudonymous reference, e.g. HAR-2026-0042; call inside a transaction that locked the org."""
        prefix = f"{organization.case_prefix}-{year}-"
        last = (
            cls.objects.filter(organization=organization, reference__startswith=prefix)
            # Longest first, so that 10000 sorts after 9999.
            .order_by(Length("reference").desc(), "-reference")
            .values_list("reference", flat=True)
            .first()
        )
        number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        return f"{prefix}{number:04d}"


class CaseAssignmentQuerySet(OrganizationScopedQuerySet):
    pass


class CaseAssignment(models.Model):
    """A member of a case's team: only they see the case."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="case_assignments")
    role = models.CharField(_("role on the team"), max_length=32, choices=TeamRole.choices)
    assigned_at = models.DateTimeField(default=timezone.now)

    objects = CaseAssignmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("team member")
        constraints = [
            models.UniqueConstraint(fields=["case", "user", "role"], name="assignment_unique"),
        ]
        indexes = [models.Index(fields=["organization", "user", "case"], name="assignment_org_user")]

    def __str__(self) -> str:
        return f"{self.case} · {self.user} · {self.get_role_display()}"


class CaseNoteQuerySet(OrganizationScopedQuerySet):
    pass


class CaseNote(models.Model):
    """A note by a team member on a case; the text is encrypted."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="case_notes")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    text = EncryptedLongTextField(_("note"))
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = CaseNoteQuerySet.as_manager()

    class Meta:
        verbose_name = _("case note")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["organization", "case", "created_at"], name="casenote_org_case_created")
        ]

    def __str__(self) -> str:
        # Never the text: a note may be printed in a log or an error page.
        return f"{self.case} · note {self.uid}"
