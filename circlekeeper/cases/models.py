from __future__ import annotations

import datetime
import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization, Role, User
from circlekeeper.lib.fields import BlindIndexField, EncryptedLongTextField, EncryptedTextField
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


class ParticipantRole(models.TextChoices):
    SURVIVOR = "survivor", _("Survivor")
    PERSON_WHO_CAUSED_HARM = "person_who_caused_harm", _("Person who caused harm")
    SURVIVOR_SUPPORTER = "survivor_supporter", _("Support person for the survivor")
    HARM_SUPPORTER = "harm_supporter", _("Support person for the person who caused harm")
    CHILD = "child", _("Child")
    COMMUNITY_MEMBER = "community_member", _("Community member")
    SAFETY_MONITOR = "safety_monitor", _("Safety monitor")


class Participant(models.Model):
    """A person in a case, known everywhere by a pseudonymous label. Identifying details arrive later, encrypted."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="participants")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    role = models.CharField(_("role"), max_length=32, choices=ParticipantRole.choices)
    label = models.CharField(
        _("label"), max_length=60, help_text=_("A pseudonymous label, e.g. “Survivor A”.")
    )
    # Until consent records arrive (next issue): no link or message goes to someone who has not agreed.
    agreed_to_contact = models.BooleanField(_("agreed to be contacted"), default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("participant")
        ordering = ["case", "id"]
        constraints = [models.UniqueConstraint(fields=["case", "label"], name="participant_label_unique")]
        indexes = [models.Index(fields=["organization", "case"], name="participant_org_case")]

    def __str__(self) -> str:
        return self.label


class ReleasableField(models.TextChoices):
    """Identifying information a release may cover (SECURITY.md 1)."""

    NAME = "name", _("Name")
    CONTACT = "contact", _("Contact details")
    ADDRESS = "address", _("Address")
    DATE_OF_BIRTH = "date_of_birth", _("Date of birth")
    CASE_SUMMARY = "case_summary", _("What happened (case summary)")
    SAFETY_PLAN = "safety_plan", _("Safety plan")
    ATTENDANCE = "attendance", _("Attendance and participation")


class ReleaseQuerySet(OrganizationScopedQuerySet):
    def current(self, on: datetime.date) -> ReleaseQuerySet:
        return self.filter(revoked_at__isnull=True, affirmed_on__lte=on, expires_on__gte=on)


class ReleaseOfInformation(models.Model):
    """A participant's written or affirmed permission to share named fields with one recipient, until a date."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="releases")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    recipient = EncryptedTextField(_("recipient"))
    recipient_index = BlindIndexField(sources=("recipient",), kinds=("text",), purpose="release_recipient")
    fields = models.JSONField(_("information released"))
    purpose = EncryptedLongTextField(_("purpose"))
    how_given = models.CharField(
        _("given"),
        max_length=10,
        choices=[("signed", _("Signed")), ("affirmed", _("Affirmed (recorded by staff)"))],
    )
    affirmed_on = models.DateField(_("signed or affirmed on"))
    expires_on = models.DateField(_("expires on"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    revoked_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("release of information")
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__gte=models.F("affirmed_on")), name="release_expires_after_affirmed"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "participant", "expires_on"], name="release_org_participant")
        ]

    def __str__(self) -> str:
        return f"{self.participant} · {self.affirmed_on:%Y-%m-%d} – {self.expires_on:%Y-%m-%d}"

    def is_current(self, on: datetime.date) -> bool:
        return self.revoked_at is None and self.affirmed_on <= on <= self.expires_on

    @property
    def field_labels(self) -> list[str]:
        return [str(ReleasableField(f).label) for f in self.fields if f in ReleasableField.values]


class CompelledDisclosure(models.Model):
    """Information disclosed because the law required it, recorded with its basis (SECURITY.md 4)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="compelled_disclosures"
    )
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    recipient = EncryptedTextField(_("disclosed to"))
    legal_basis = EncryptedLongTextField(_("legal basis"))
    fields = models.JSONField(_("information disclosed"))
    disclosed_on = models.DateField(_("disclosed on"))
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("compelled disclosure")

    def __str__(self) -> str:
        return f"{self.participant} · {self.disclosed_on:%Y-%m-%d}"


class TaskKind(models.TextChoices):
    NOTIFY_COMPELLED_DISCLOSURE = (
        "notify_compelled_disclosure",
        _("Tell the participant about a compelled disclosure"),
    )


class CaseTask(models.Model):
    """Something the case team must do, e.g. tell a participant about a disclosure the law compelled."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(_("task"), max_length=40, choices=TaskKind.choices)
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    due_on = models.DateField(_("due"))
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("task")
        ordering = ["done_at", "due_on", "id"]
        indexes = [models.Index(fields=["organization", "case", "done_at"], name="task_org_case_open")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.due_on:%Y-%m-%d}"


class RetentionPolicy(models.Model):
    """How long an organization keeps what it recorded after a case closes (SECURITY.md 10)."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="retention_policy"
    )
    narrative_months = models.PositiveIntegerField(
        _("purge narratives after (months)"),
        null=True,
        blank=True,
        help_text=_("Case summaries and notes are erased this many months after a case closes. Empty: keep."),
    )
    case_years = models.PositiveIntegerField(
        _("purge whole cases after (years)"),
        null=True,
        blank=True,
        help_text=_("The whole case is erased this many years after it closes. Empty: keep."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("retention policy")

    def __str__(self) -> str:
        return f"{self.organization} · {self.narrative_months} / {self.case_years}"


class PurgeTombstone(models.Model):
    """What a purge removed, as counts only: the trace that something was erased, and by which rule."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    ran_at = models.DateTimeField(default=timezone.now)
    rule = models.CharField(max_length=100)
    cases_purged = models.PositiveIntegerField(default=0)
    narratives_purged = models.PositiveIntegerField(default=0)
    notes_purged = models.PositiveIntegerField(default=0)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("purge record")
        ordering = ["-ran_at"]

    def __str__(self) -> str:
        return f"{self.rule} · {self.ran_at:%Y-%m-%d}"
