"""Outcome data kept outside the program and imported for analysis (issue 8 item 6), e.g. re-arrests from court
records, or a comparison group followed elsewhere. One row per person: events over person-days of follow-up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from typing import Self

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Network, Organization, User
from circlekeeper.lib.fields import BlindIndexField, EncryptedLongTextField, EncryptedTextField
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet


def _new_code_key() -> bytes:
    return secrets.token_bytes(32)


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


# --- Evaluation plans, timepoints and their windows (issue 8 items 1-2; EVALUATION.md "Timepoints") ---------


class Anchor(models.TextChoices):
    """What a timepoint's window is counted from."""

    ENROLMENT = "enrolment", _("Enrolment (intake)")
    PREPARATION = "preparation", _("The case reaching preparation (before dialogue)")
    AFTER_DIALOGUE = "after_dialogue", _("The dialogue ending (the case reaching the agreement stage)")


class EvaluationPlanQuerySet(models.QuerySet["EvaluationPlan"]):
    def for_organization(self, organization: Organization) -> Self:
        """The plans an organization's cases may be enrolled in: its own, and its network's shared one."""
        return self.filter(Q(organization=organization) | Q(network_id=organization.network_id))


class EvaluationPlan(models.Model):
    """Which instruments are asked at which timepoints, of whom. An organization's own, or shared by a network."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    network = models.ForeignKey(Network, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    name = models.CharField(_("name"), max_length=200)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Bumped by every change, so that two admins editing at once cannot overwrite each other.
    lock_version = models.PositiveIntegerField(default=1, editable=False)

    objects = EvaluationPlanQuerySet.as_manager()

    class Meta:
        verbose_name = _("evaluation plan")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(organization__isnull=False, network__isnull=True)
                | Q(organization__isnull=True, network__isnull=False),
                name="plan_one_owner",
            )
        ]

    def __str__(self) -> str:
        return f"evaluation plan {self.pk} · {self.name}"


class PlanTimepoint(models.Model):
    """One timepoint of a plan: its window around an anchor, the instruments asked and the roles asked.

    Changing a plan changes what is scheduled from then on: timepoints already open, answered or missed keep
    the window and instruments they had (Timepoint copies them), and a retired timepoint stays for history.
    """

    plan = models.ForeignKey(EvaluationPlan, on_delete=models.CASCADE, related_name="timepoints")
    code = models.CharField(_("code"), max_length=10)  # T0, T1, ... as analyses and exports name them
    label = models.CharField(_("label"), max_length=100)
    anchor = models.CharField(_("counted from"), max_length=20, choices=Anchor.choices)
    offset_days = models.IntegerField(_("due, days after the anchor"), default=0)
    opens_days_before = models.PositiveIntegerField(_("opens, days before it is due"), default=0)
    closes_days_after = models.PositiveIntegerField(_("closes, days after it is due"), default=14)
    position = models.PositiveIntegerField(_("order"), default=0)
    instruments = models.ManyToManyField(
        "instruments.Instrument", related_name="+", verbose_name=_("questionnaires")
    )
    # Participant roles (cases.ParticipantRole values) asked at this timepoint.
    roles = models.JSONField(_("asked of"), default=list)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    class Meta:
        verbose_name = _("plan timepoint")
        ordering = ["plan", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "code"],
                condition=Q(retired_at__isnull=True),
                name="plan_timepoint_code_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.label}"


class Enrollment(models.Model):
    """A case taking part in an evaluation plan; its timepoints are scheduled from the plan."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="evaluation_enrollment")
    plan = models.ForeignKey(EvaluationPlan, on_delete=models.PROTECT, related_name="enrollments")
    enrolled_on = models.DateField(_("enrolled on"))
    enrolled_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("evaluation enrolment")
        ordering = ["enrolled_on", "id"]
        indexes = [models.Index(fields=["organization", "plan"], name="enrollment_org_plan")]

    def __str__(self) -> str:
        return f"enrolment {self.pk} · case {self.case_id}"


class TimepointStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    OPEN = "open", _("Open")
    COMPLETED = "completed", _("Answered")
    MISSED = "missed", _("Missed")
    CANCELLED = "cancelled", _("Cancelled")


class TimepointQuerySet(OrganizationScopedQuerySet):
    pass


class Timepoint(models.Model):
    """One participant's one questionnaire at one timepoint, with its window.

    A window that closes unanswered is MISSED, and stays missed: an answer given later is not filed back
    under it (EVALUATION.md: never back-filled).
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="timepoints")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    participant = models.ForeignKey("cases.Participant", on_delete=models.CASCADE, related_name="+")
    plan_timepoint = models.ForeignKey(PlanTimepoint, on_delete=models.PROTECT, related_name="scheduled")
    code = models.CharField(_("timepoint"), max_length=10)
    instrument = models.ForeignKey("instruments.Instrument", on_delete=models.PROTECT, related_name="+")
    opens_at = models.DateTimeField(_("opens"))
    due_at = models.DateTimeField(_("due"))
    closes_at = models.DateTimeField(_("closes"))
    status = models.CharField(
        _("status"), max_length=12, choices=TimepointStatus.choices, default=TimepointStatus.SCHEDULED
    )
    link = models.OneToOneField(
        "instruments.ParticipantLink", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    response = models.OneToOneField(
        "instruments.Response", on_delete=models.SET_NULL, null=True, blank=True, related_name="timepoint"
    )
    reminded_at = models.DateTimeField(_("staff reminded"), null=True, blank=True)
    completed_at = models.DateTimeField(_("answered"), null=True, blank=True)
    missed_at = models.DateTimeField(_("marked missed"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TimepointQuerySet.as_manager()

    class Meta:
        verbose_name = _("evaluation timepoint")
        ordering = ["due_at", "id"]
        constraints = [
            # The scheduler's idempotence rests on this: one row per person, timepoint and questionnaire.
            models.UniqueConstraint(
                fields=["participant", "plan_timepoint", "instrument"], name="timepoint_once_per_person"
            ),
            models.CheckConstraint(
                condition=Q(opens_at__lte=F("due_at"), due_at__lte=F("closes_at")),
                name="timepoint_window_order",
            ),
            models.CheckConstraint(
                condition=~Q(status=TimepointStatus.COMPLETED) | Q(response__isnull=False),
                name="timepoint_completed_has_response",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "opens_at"], name="timepoint_org_status_opens"),
            models.Index(fields=["organization", "status", "closes_at"], name="timepoint_org_status_closes"),
            models.Index(fields=["organization", "case"], name="timepoint_org_case"),
        ]

    def __str__(self) -> str:
        return f"{self.code} · participant {self.participant_id} · {self.get_status_display()}"


# --- De-identified analysis (issue 8 item 4) -------------------------------------------------------------------


class Evaluation(models.Model):
    """An evaluation: the scope an evaluator analyses, and the key of its pseudonymous participant codes.

    A participant's code is an HMAC of their uid under this evaluation's own random key, so it is stable
    within the evaluation, different in every other, and never the label staff see. The key never leaves
    the server and is never shown.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    network = models.ForeignKey(Network, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    name = models.CharField(_("name"), max_length=200)
    code_key = models.BinaryField(max_length=32, editable=False, default=_new_code_key)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("evaluation")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(organization__isnull=False, network__isnull=True)
                | Q(organization__isnull=True, network__isnull=False),
                name="evaluation_one_scope",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(organization__isnull=False),
                name="evaluation_one_per_org",
            ),
            models.UniqueConstraint(
                fields=["network"], condition=Q(network__isnull=False), name="evaluation_one_per_network"
            ),
        ]

    def __str__(self) -> str:
        return f"evaluation {self.pk} · {self.name}"

    def code_for(self, participant_uid: uuid.UUID | str) -> str:
        digest = hmac.new(bytes(self.code_key), str(participant_uid).encode("ascii"), hashlib.sha256)
        # 40 bits of base-32: collisions are vanishingly unlikely at a program's scale, and checked anyway.
        return "E" + base64.b32encode(digest.digest()[:5]).decode("ascii")


class PoolDecision(models.Model):
    """An organization's recorded decision to join or leave its network's pooled data (issue 9 item 5).

    Until an organization has decided, it is in the pool (it joined the network for that); its latest decision
    counts. Pooled results (dataset.Scope.for_network) leave out the organizations that are out.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    pooled = models.BooleanField(_("in the network's pooled data"))
    reason = models.TextField(_("why"), blank=True, max_length=1000)
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("pooled data decision")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["organization", "at"], name="pool_decision_org_at")]

    def __str__(self) -> str:
        return f"pool decision {self.pk} · {'in' if self.pooled else 'out'}"


# --- Dashboards computed in the background (issue 8 item 9) ------------------------------------------------------


class ComputationStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be computed")
    RUNNING = "running", _("Computing")
    DONE = "done", _("Computed")
    FAILED = "failed", _("Failed")


class DashboardComputation(models.Model):
    """One dashboard page's numbers for one scope and set of filters, computed by a background task.

    The result holds aggregates only, already suppressed (dashboards.py): no row, no code, no free text. It is
    used again until the data change (data_stamp) or it grows old, then computed anew.
    """

    # One of the two: the organization's own dashboard, or a network's pooled one.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    network = models.ForeignKey(Network, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    scope_key = models.CharField(max_length=40, editable=False)  # "organization:12" or "network:3"
    domain = models.CharField(_("domain"), max_length=30)
    filters = models.JSONField(_("filters"), default=dict)
    filters_key = models.CharField(max_length=64, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=ComputationStatus.choices, default=ComputationStatus.PENDING
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    result = models.JSONField(_("result"), null=True, blank=True)
    data_stamp = models.CharField(max_length=64, blank=True, editable=False)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("dashboard computation")
        ordering = ["-requested_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope_key", "domain", "filters_key"], name="dashboard_computation_once"
            ),
            models.CheckConstraint(
                condition=Q(organization__isnull=False, network__isnull=True)
                | Q(organization__isnull=True, network__isnull=False),
                name="dashboard_computation_one_scope",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="dashboard_computation_progress"),
        ]

    def __str__(self) -> str:
        return f"dashboard {self.scope_key} · {self.domain} · {self.status}"
