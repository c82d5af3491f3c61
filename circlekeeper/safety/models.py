"""Safety checks and risk levels, safety holds and their alerts, and the survivor's safety plan."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, EnteredInError, Participant
from circlekeeper.instruments.models import Instrument, Response
from circlekeeper.lib.fields import EncryptedLongTextField
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet


class RiskLevel(models.TextChoices):
    LOW = "low", _("Low")
    ELEVATED = "elevated", _("Elevated")
    HIGH = "high", _("High")
    SEVERE = "severe", _("Severe")


def is_high(level: str) -> bool:
    """High or severe: the levels that put a case on hold (PROTOCOL.md, escalation)."""
    return level in (RiskLevel.HIGH, RiskLevel.SEVERE)


class CheckKind(models.TextChoices):
    FULL = "full", _("Safety check")
    SCREEN = "screen", _("Immediate-danger screen")


class RiskInstrument(models.Model):
    """An organization's own risk instrument (e.g. a validated one it is licensed for), and how its levels map.

    The built-in safety check and screen need no row: their levels are ours (see services.BUILTIN).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("used as"), max_length=10, choices=CheckKind.choices, default=CheckKind.FULL)
    band = models.CharField(_("level from"), max_length=100)
    # {the instrument's level code: one of RiskLevel}: every level of the band is mapped.
    level_map = models.JSONField(_("levels"))
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("risk instrument")
        constraints = [
            models.UniqueConstraint(fields=["organization", "instrument"], name="risk_instrument_unique")
        ]

    def __str__(self) -> str:
        return f"{self.instrument} · {self.band}"


class SafetyCheckQuerySet(OrganizationScopedQuerySet):
    def of_survivors(self) -> SafetyCheckQuerySet:
        # Not of a "survivor" entered in error: their checks count nowhere.
        return self.filter(participant__role="survivor", participant__error_at__isnull=True)


class SafetyCheck(models.Model):
    """A submitted safety check (or screen) and the risk level it gave. The answers stay on the response."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="safety_checks")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="safety_checks")
    response = models.OneToOneField(Response, on_delete=models.CASCADE, related_name="safety_check")
    kind = models.CharField(_("kind"), max_length=10, choices=CheckKind.choices)
    # Empty when too few answers gave no level: such a check lifts no hold.
    level = models.CharField(_("risk level"), max_length=10, choices=RiskLevel.choices, blank=True)
    checked_at = models.DateTimeField(_("checked"))
    # Empty when the participant answered through their own link.
    entered_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    objects = SafetyCheckQuerySet.as_manager()

    class Meta:
        verbose_name = _("safety check")
        ordering = ["-checked_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "case", "checked_at"], name="check_org_case_at"),
            models.Index(fields=["organization", "participant", "checked_at"], name="check_org_part_at"),
        ]

    def __str__(self) -> str:
        return f"{self.case} · {self.kind} · {self.level or '?'}"


class HoldReason(models.TextChoices):
    RISK = "risk", _("A safety check came out high or severe")
    NEW_VIOLENCE = "new_violence", _("New violence was reported")
    BROKEN_COMMITMENT = "broken_commitment", _("A commitment was broken")
    MEETING_CHECK = "meeting_check", _("A meeting check-in or check-out signalled danger")
    SURVIVOR_REPORT = "survivor_report", _("The survivor said something made them feel less safe")


class SafetyHoldQuerySet(OrganizationScopedQuerySet):
    def open(self) -> SafetyHoldQuerySet:
        return self.filter(lifted_at__isnull=True)


class SafetyHold(models.Model):
    """While open, contact with the person who caused harm and joint activities are refused (PROTOCOL.md)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="safety_holds")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    reason = models.CharField(_("reason"), max_length=20, choices=HoldReason.choices)
    opening_check = models.ForeignKey(
        SafetyCheck, on_delete=models.SET_NULL, null=True, blank=True, related_name="holds_opened"
    )
    # What was reported (new violence, a broken commitment), as the team wrote it: encrypted.
    details = EncryptedLongTextField(_("what happened"), blank=True, null=True, max_length=2000)
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    # Empty when the hold opened on its own, from a check.
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lifted_at = models.DateTimeField(_("lifted"), null=True, blank=True)
    lifted_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lift_reason = EncryptedLongTextField(_("why it was lifted"), blank=True, null=True, max_length=2000)
    lift_check = models.ForeignKey(
        SafetyCheck, on_delete=models.SET_NULL, null=True, blank=True, related_name="holds_lifted"
    )

    objects = SafetyHoldQuerySet.as_manager()

    class Meta:
        verbose_name = _("safety hold")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(lifted_at__isnull=True), name="one_open_hold_per_case"
            ),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True) | Q(lifted_by__isnull=False),
                name="hold_lifted_by_someone",
            ),
        ]
        indexes = [models.Index(fields=["organization", "lifted_at"], name="hold_org_open")]

    def __str__(self) -> str:
        return f"{self.case} · hold {self.opened_at:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.lifted_at is None


class HoldTrigger(models.Model):
    """One reason a hold is open: what opened it, and every later one while it stayed open (new violence, a
    threatened check-in, a broken commitment, another high check). Never only an alert: the hold lifts only on
    checks started after the latest trigger, of each survivor concerned (PROTOCOL.md, escalation)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    hold = models.ForeignKey(SafetyHold, on_delete=models.CASCADE, related_name="triggers")
    reason = models.CharField(_("reason"), max_length=20, choices=HoldReason.choices)
    at = models.DateTimeField(_("when"), default=timezone.now)
    by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    check_that_triggered = models.ForeignKey(
        SafetyCheck, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The survivor whose own answer it was; empty when it concerns every survivor of the case.
    survivor = models.ForeignKey(
        Participant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # What it was about, as codes only (e.g. {"commitment": "3"}), put into words in the reader's language when
    # shown: never a sentence stored in the language of whoever recorded it.
    facts = models.JSONField(default=dict, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("safety hold trigger")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["organization", "hold", "at"], name="trigger_org_hold_at")]

    def __str__(self) -> str:
        return f"{self.hold} · {self.reason} {self.at:%Y-%m-%d %H:%M}"

    def describe(self) -> str:
        """The reason in the reader's language, with what its codes say (e.g. which commitment)."""
        reason = str(HoldReason(self.reason).label) if self.reason in HoldReason.values else self.reason
        number = (self.facts or {}).get("commitment")
        if number:
            return _("%(reason)s: commitment %(number)s was not kept") % {"reason": reason, "number": number}
        return reason


class SafetyAlertQuerySet(OrganizationScopedQuerySet):
    def unseen(self) -> SafetyAlertQuerySet:
        return self.filter(acknowledged_at__isnull=True)


class SafetyAlert(models.Model):
    """Tells the case's supervisor and safety advocate that a hold opened (or a held case got worse)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="safety_alerts")
    hold = models.ForeignKey(SafetyHold, on_delete=models.CASCADE, related_name="alerts")
    reason = models.CharField(_("reason"), max_length=20, choices=HoldReason.choices)
    level = models.CharField(_("risk level"), max_length=10, choices=RiskLevel.choices, blank=True)
    raised_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = SafetyAlertQuerySet.as_manager()

    class Meta:
        verbose_name = _("safety alert")
        ordering = ["-raised_at", "-id"]
        indexes = [models.Index(fields=["organization", "acknowledged_at"], name="alert_org_unseen")]

    def __str__(self) -> str:
        return f"{self.case} · alert {self.raised_at:%Y-%m-%d %H:%M}"


class SafetyPlan(models.Model):
    """The survivor's safety plan: what it says lives in its revisions, each kept; this row tracks reviews."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    participant = models.OneToOneField(Participant, on_delete=models.CASCADE, related_name="safety_plan")
    # The number of the newest revision: a save from a page showing an older one is refused.
    revision = models.PositiveIntegerField(default=0)
    last_reviewed_at = models.DateTimeField(_("last reviewed"), null=True, blank=True)
    # Set when the risk level changes (or a hold opens): the plan must be gone through again.
    review_due_since = models.DateTimeField(_("due for review since"), null=True, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("safety plan")

    def __str__(self) -> str:
        return f"{self.participant} · safety plan r{self.revision}"

    def current(self) -> SafetyPlanRevision | None:
        """The newest revision that counts: one entered in error gives way to the one before it."""
        if not self.revision:
            return None
        return self.revisions.filter(error_at__isnull=True).order_by("-number").first()


class SafetyPlanRevision(EnteredInError):
    """One version of the plan, in the survivor's words; or their decision not to have one. Never changed."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey(SafetyPlan, on_delete=models.CASCADE, related_name="revisions")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    number = models.PositiveIntegerField()
    declined = models.BooleanField(_("the survivor chose not to have a plan"), default=False)
    people_to_call = EncryptedLongTextField(_("people to call"), blank=True, null=True, max_length=2000)
    signals = EncryptedLongTextField(_("signals"), blank=True, null=True, max_length=2000)
    safe_places = EncryptedLongTextField(_("safe places"), blank=True, null=True, max_length=2000)
    items_ready = EncryptedLongTextField(_("things to keep ready"), blank=True, null=True, max_length=2000)
    children_plan = EncryptedLongTextField(_("plan for the children"), blank=True, null=True, max_length=2000)
    backup_person = EncryptedLongTextField(_("back-up person"), blank=True, null=True, max_length=500)
    in_their_words = EncryptedLongTextField(
        _("in the survivor's words"), blank=True, null=True, max_length=4000
    )
    saved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    saved_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("safety plan revision")
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["plan", "number"], name="plan_revision_number")]

    def __str__(self) -> str:
        return f"{self.plan} · r{self.number}"


PLAN_FIELDS = (
    "people_to_call",
    "signals",
    "safe_places",
    "items_ready",
    "children_plan",
    "backup_person",
    "in_their_words",
)
