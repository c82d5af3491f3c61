"""Community capacity and the network's public side (issue 9; ARCHITECTURE.md `community/`).

- Community events and trainings, with attendance counted by role (never names), and community facilitators
  (volunteer keepers and support people who are not staff) with their training history and readiness.
- The public directory of options (entries edited by program admins, published only once a network admin
  approves them) and each organization's opt-in to the network's public impact page.
"""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization, User
from circlekeeper.lib.fields import EncryptedLongTextField, EncryptedTextField
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet

# --- events and trainings ---------------------------------------------------------------------------------------


class EventKind(models.TextChoices):
    COMMUNITY_CONVERSATION = "community_conversation", _("Community conversation")
    KEEPER_TRAINING = "keeper_training", _("Circle-keeper training")
    ALLY_TRAINING = "ally_training", _("Bystander and ally training")
    WORKSHOP = "workshop", _("Workshop")
    OUTREACH = "outreach", _("Outreach")


TRAINING_KINDS = (EventKind.KEEPER_TRAINING, EventKind.ALLY_TRAINING)


class Competency(models.TextChoices):
    """What a training covers; an organization names which ones a facilitator needs before a dialogue."""

    DV_DYNAMICS = "dv_dynamics", _("Domestic violence: dynamics and coercive control")
    SAFETY_PLANNING = "safety_planning", _("Safety planning and risk")
    CIRCLE_KEEPING = "circle_keeping", _("Keeping a circle")
    ACCOUNTABILITY = "accountability", _("Supporting accountability")
    SURVIVOR_CENTERED = "survivor_centered", _("Survivor-centered practice and consent")
    CHILDREN = "children", _("Children and family well-being")
    TRAUMA_INFORMED = "trauma_informed", _("Trauma-informed practice")
    CULTURAL_HUMILITY = "cultural_humility", _("Cultural humility and language access")
    BYSTANDER = "bystander", _("Bystander intervention")


class AttendeeRole(models.TextChoices):
    """Who came to a community event, counted, never named."""

    COMMUNITY_MEMBER = "community_member", _("Community members")
    YOUTH = "youth", _("Young people")
    FAITH_LEADER = "faith_leader", _("Faith and cultural leaders")
    SERVICE_PROVIDER = "service_provider", _("Service providers")
    FACILITATOR = "facilitator", _("Community facilitators")
    STAFF = "staff", _("Staff")
    OTHER = "other", _("Others")


class CommunityEvent(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    kind = models.CharField(_("kind"), max_length=30, choices=EventKind.choices)
    title = models.CharField(_("title"), max_length=200)
    date = models.DateField(_("date"))
    place = models.CharField(_("place"), max_length=200, blank=True)
    language = models.CharField(_("language"), max_length=40)
    facilitators = models.ManyToManyField(
        "community.Facilitator", blank=True, related_name="events", verbose_name=_("facilitators")
    )
    staff_facilitators = models.ManyToManyField(
        User, blank=True, related_name="+", verbose_name=_("staff who facilitated")
    )
    materials = models.TextField(_("materials"), blank=True, max_length=2000)
    # Follow-up may name people or places in the community: encrypted.
    follow_up = EncryptedLongTextField(_("follow-up actions"), blank=True, null=True, max_length=2000)
    # Trainings only.
    hours = models.DecimalField(
        _("hours"),
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(200)],
    )
    competencies = models.JSONField(_("competencies covered"), default=list, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    lock_version = models.PositiveIntegerField(default=1, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("community event")
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["organization", "date"], name="event_org_date")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in TRAINING_KINDS]) | Q(hours__isnull=True),
                name="event_hours_only_for_trainings",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.date:%Y-%m-%d}"

    @property
    def is_training(self) -> bool:
        return self.kind in TRAINING_KINDS


class Attendance(models.Model):
    """How many people of one role came to an event."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    event = models.ForeignKey(CommunityEvent, on_delete=models.CASCADE, related_name="attendance")
    role = models.CharField(_("who"), max_length=30, choices=AttendeeRole.choices)
    count = models.PositiveIntegerField(_("how many"))

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("attendance")
        ordering = ["event", "role"]
        constraints = [models.UniqueConstraint(fields=["event", "role"], name="attendance_once_per_role")]

    def __str__(self) -> str:
        return f"{self.role}: {self.count}"


# --- community facilitators --------------------------------------------------------------------------------------


class FacilitatorRole(models.TextChoices):
    VOLUNTEER_KEEPER = "volunteer_keeper", _("Volunteer keeper")
    SUPPORT_PERSON = "support_person", _("Community support person")


class Facilitator(models.Model):
    """A volunteer who is not staff. With an account (`user`), they work the cases whose team they are on,
    with the access of their role there and nothing beyond those cases."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    user = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    name = EncryptedTextField(_("name"), max_length=200)
    role = models.CharField(_("role"), max_length=30, choices=FacilitatorRole.choices)
    languages = models.CharField(_("languages"), max_length=200, blank=True)
    availability = EncryptedTextField(_("availability"), blank=True, null=True, max_length=500)
    competencies = models.JSONField(_("competencies"), default=list, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    lock_version = models.PositiveIntegerField(default=1, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("community facilitator")
        ordering = ["id"]
        indexes = [models.Index(fields=["organization", "active"], name="facilitator_org_active")]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"],
                condition=Q(user__isnull=False),
                name="facilitator_one_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"facilitator {self.pk}"


class TrainingRecord(models.Model):
    """A facilitator's part in a training: hours attended, and whether they completed it."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    facilitator = models.ForeignKey(Facilitator, on_delete=models.CASCADE, related_name="trainings")
    event = models.ForeignKey(CommunityEvent, on_delete=models.PROTECT, related_name="trainees")
    hours = models.DecimalField(
        _("hours attended"), max_digits=5, decimal_places=1, validators=[MinValueValidator(0)]
    )
    completed = models.BooleanField(_("completed"), default=False)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("training record")
        ordering = ["event__date", "id"]
        constraints = [models.UniqueConstraint(fields=["facilitator", "event"], name="training_record_once")]

    def __str__(self) -> str:
        return f"training {self.event_id} · facilitator {self.facilitator_id}"


class SupervisionNote(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    facilitator = models.ForeignKey(Facilitator, on_delete=models.CASCADE, related_name="supervision_notes")
    text = EncryptedLongTextField(_("note"), max_length=4000)
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("supervision note")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"supervision note {self.pk}"


class ReadinessRequirement(models.Model):
    """A competency an organization requires, from completed trainings, before a facilitator joins a dialogue."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    competency = models.CharField(_("competency"), max_length=30, choices=Competency.choices)
    minimum_hours = models.DecimalField(
        _("at least this many hours of training"),
        max_digits=5,
        decimal_places=1,
        default=0,
        validators=[MinValueValidator(0)],
    )

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("readiness requirement")
        ordering = ["competency"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "competency"], name="readiness_once_per_competency"
            )
        ]

    def __str__(self) -> str:
        return f"{self.competency} ≥ {self.minimum_hours} h"


# --- the public directory and the public impact page ------------------------------------------------------------


class EntryStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Waiting for the network's approval")
    APPROVED = "approved", _("Approved")
    RETURNED = "returned", _("Returned with comments")


class DirectoryEntry(models.Model):
    """An organization's entry in its network's public directory.

    Program admins edit the draft fields; a network admin approves a submitted draft, which copies it to
    `published` (what the public sees), so an edit is never public before it is approved.
    """

    organization = models.OneToOneField(
        Organization, on_delete=models.PROTECT, related_name="directory_entry"
    )
    # The draft, as a dict of the directory fields (see community.directory for the fields).
    draft = models.JSONField(default=dict, blank=True)
    published = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=EntryStatus.choices, default=EntryStatus.DRAFT
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(_("comment"), blank=True, max_length=1000)
    published_at = models.DateTimeField(null=True, blank=True)
    lock_version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        verbose_name = _("directory entry")
        ordering = ["organization__name"]

    def __str__(self) -> str:
        return f"directory entry {self.pk} · {self.status}"


class ImpactDecision(models.Model):
    """An organization's recorded decision to show (or stop showing) its aggregates on the public impact page."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    shown = models.BooleanField(_("shown on the public impact page"))
    reason = models.TextField(_("why"), blank=True, max_length=1000)
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("public impact decision")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["organization", "at"], name="impact_decision_org_at")]

    def __str__(self) -> str:
        return f"impact decision {self.pk} · {'shown' if self.shown else 'hidden'}"
