"""Agreements and their versions, commitments, the parties' affirmations, progress check-ins, the staircase of
accountability, the survivor's own view of progress, and the participant's progress page link (PROTOCOL.md,
stages 7 and 8, and the staircase).

Everything here is written by services.py only. A version with no affirmation is a draft and may be edited; the
first affirmation freezes it; once every party affirmed it, it is in force until a later version is.
"""

from __future__ import annotations

import datetime
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, ContactChannel, Participant
from circlekeeper.instruments.models import Response
from circlekeeper.lib.fields import EncryptedLongTextField, EncryptedTextField
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet
from circlekeeper.protocol.models import Meeting

# The codes and English labels of ProgressStatus and Step are repeated in cases/history.py (which may not import
# this app), so the case history words them: keep the two the same (a test compares them).

DESCRIPTION_MAX = 2000
NOTE_MAX = 500


class Agreement(models.Model):
    """A case's agreement: what it says lives in its versions."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="agreement")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("agreement")
        indexes = [models.Index(fields=["organization", "case"], name="agreement_org_case")]

    def __str__(self) -> str:
        return f"{self.case} · agreement"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft: may still be changed")
    AFFIRMING = "affirming", _("Being affirmed: frozen")
    IN_FORCE = "in_force", _("In force")
    REPLACED = "replaced", _("Replaced by a later version")
    SET_ASIDE = "set_aside", _("Set aside before every party affirmed it")


class AgreementVersion(models.Model):
    """One version of an agreement. Edited only while no party has affirmed it; never changed afterwards."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    # The dialogue it was reached in; empty when reached through the keeper (indirect and community tracks).
    reached_in = models.ForeignKey(
        Meeting,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reached in"),
    )
    # PROTOCOL.md, stage 7: "the plan must not raise risk to the survivor or children".
    risk_reviewed = models.BooleanField(_("reviewed with the survivor for risk"), default=False)
    drafted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    drafted_at = models.DateTimeField(_("drafted"), default=timezone.now)
    # Set by the first affirmation: from then on nothing in the version changes.
    frozen_at = models.DateTimeField(_("first affirmed"), null=True, blank=True, editable=False)
    # Set when every party has affirmed it.
    affirmed_at = models.DateTimeField(_("affirmed by every party"), null=True, blank=True, editable=False)
    # Raised by every change of the draft: a second editor working from an older page is refused.
    lock_version = models.PositiveIntegerField(default=1, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("agreement version")
        ordering = ["agreement", "number"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "number"], name="agreement_version_number"),
            models.CheckConstraint(
                condition=Q(affirmed_at__isnull=True) | Q(frozen_at__isnull=False),
                name="agreement_version_affirmed_is_frozen",
            ),
        ]
        indexes = [models.Index(fields=["organization", "agreement", "number"], name="agreement_ver_org")]

    def __str__(self) -> str:
        return f"{self.agreement} · v{self.number}"

    @property
    def is_draft(self) -> bool:
        return self.frozen_at is None

    def status(self, *, in_force: int | None, latest: int) -> str:
        """Where this version stands, given the numbers of the version in force and of the latest one."""
        if self.affirmed_at is not None:
            return VersionStatus.IN_FORCE if self.number == in_force else VersionStatus.REPLACED
        if self.number < latest:
            return VersionStatus.SET_ASIDE
        return VersionStatus.DRAFT if self.frozen_at is None else VersionStatus.AFFIRMING

    def status_label(self, *, in_force: int | None, latest: int) -> str:
        return str(VersionStatus(self.status(in_force=in_force, latest=latest)).label)


class CommitmentKind(models.TextChoices):
    STOP_BEHAVIOR = "stop_behavior", _("Stop specific behaviors")
    ATTEND_PROGRAM = "attend_program", _("Attend a program")
    REPAIR_SURVIVOR = "repair_survivor", _("Repair toward the survivor")
    REPAIR_CHILDREN = "repair_children", _("Repair toward the children")
    REPAIR_COMMUNITY = "repair_community", _("Repair toward the community")
    RESTITUTION = "restitution", _("Restitution")
    OTHER = "other", _("Other")


# The kinds that repair harm: the keeper's view of repair is measured on these.
REPAIR_KINDS = (
    CommitmentKind.REPAIR_SURVIVOR,
    CommitmentKind.REPAIR_CHILDREN,
    CommitmentKind.REPAIR_COMMUNITY,
    CommitmentKind.RESTITUTION,
)


class Cadence(models.TextChoices):
    ONCE = "once", _("Once")
    WEEKLY = "weekly", _("Every week")
    MONTHLY = "monthly", _("Every month")
    AS_AGREED = "as_agreed", _("As agreed")


class Concern(models.TextChoices):
    """What a broken commitment would mean for safety: any of these opens a safety hold when it is not kept."""

    VIOLENCE = "violence", _("Violence")
    THREATS = "threats", _("Threats")
    CONTACT = "contact", _("Contact with the survivor")
    CHILDREN = "children", _("The children")


def validate_concerns(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise ValidationError(_("Choose what a broken commitment would mean from the list."), code="invalid")
    unknown = sorted(set(value) - set(Concern.values))
    if unknown:
        raise ValidationError(
            _("Not a safety concern on the list: %(codes)s.") % {"codes": ", ".join(unknown)}, code="invalid"
        )


class Commitment(models.Model):
    """One commitment by the person who caused harm, in one version. Its number stays the same across versions."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    version = models.ForeignKey(AgreementVersion, on_delete=models.CASCADE, related_name="commitments")
    number = models.PositiveIntegerField(_("number"))
    kind = models.CharField(_("kind"), max_length=20, choices=CommitmentKind.choices)
    # What they commit to, in the parties' words: it may say much about the family, so encrypted.
    description = EncryptedLongTextField(_("what they commit to"), max_length=DESCRIPTION_MAX)
    supporter = models.ForeignKey(
        Participant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("supporter"),
    )
    due_on = models.DateField(_("due"), null=True, blank=True)
    cadence = models.CharField(_("how often"), max_length=10, choices=Cadence.choices, blank=True)
    evidence = EncryptedLongTextField(_("how it will be known it was kept"), max_length=DESCRIPTION_MAX)
    # The survivor's wish: never shown on anything built for the other side.
    survivor_wants_updates = models.BooleanField(
        _("the survivor wants to be told about progress"), default=False
    )
    concerns = models.JSONField(
        _("what a broken commitment would mean for safety"),
        default=list,
        blank=True,
        validators=[validate_concerns],
    )

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("commitment")
        ordering = ["version", "number"]
        constraints = [
            models.UniqueConstraint(fields=["version", "number"], name="commitment_number_per_version")
        ]
        indexes = [models.Index(fields=["organization", "version", "number"], name="commitment_org_version")]

    def __str__(self) -> str:
        # Never the description: a commitment may be printed in a log or an error page.
        return f"{self.version} · commitment {self.number}"

    def clean(self) -> None:
        if self.due_on is None and not self.cadence:
            raise ValidationError({"due_on": _("Give a due date, how often, or both.")})

    @property
    def concern_labels(self) -> list[str]:
        return [str(Concern(code).label) for code in Concern.values if code in (self.concerns or [])]

    @property
    def is_safety_related(self) -> bool:
        return bool(set(self.concerns or []) & set(Concern.values))

    def copy_to(self, version: AgreementVersion) -> Commitment:
        """The same commitment, with its number, in another version (not saved)."""
        return Commitment(
            organization_id=self.organization_id,
            version=version,
            number=self.number,
            kind=self.kind,
            description=self.description,
            supporter_id=self.supporter_id,
            due_on=self.due_on,
            cadence=self.cadence,
            evidence=self.evidence,
            survivor_wants_updates=self.survivor_wants_updates,
            concerns=list(self.concerns or []),
        )


class HowAffirmed(models.TextChoices):
    WRITTEN = "written", _("In writing")
    ORAL = "oral", _("Orally (recorded by staff)")
    IN_MEETING = "in_meeting", _("In a meeting")


class Affirmation(models.Model):
    """A party's affirmation of one version of the agreement, dated, as staff recorded it."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(AgreementVersion, on_delete=models.CASCADE, related_name="affirmations")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    affirmed_on = models.DateField(_("affirmed on"))
    how = models.CharField(_("how"), max_length=12, choices=HowAffirmed.choices)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("affirmation")
        ordering = ["version", "recorded_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "participant"], name="affirmation_once_per_party")
        ]
        indexes = [models.Index(fields=["organization", "version"], name="affirmation_org_version")]

    def __str__(self) -> str:
        return f"{self.version} · {self.participant} · {self.affirmed_on:%Y-%m-%d}"


class ProgressStatus(models.TextChoices):
    KEPT = "kept", _("Kept")
    PARTLY = "partly", _("Partly kept")
    NOT_KEPT = "not_kept", _("Not kept")
    UNKNOWN = "unknown", _("Not known")


class ReportedBy(models.TextChoices):
    KEEPER = "keeper", _("The keeper")
    SUPPORTER = "supporter", _("The commitment's supporter")
    SAFETY_MONITOR = "safety_monitor", _("The safety monitor")


class CheckIn(models.Model):
    """Progress on one commitment of the version in force, as reported to the team."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    commitment = models.ForeignKey(Commitment, on_delete=models.CASCADE, related_name="checkins")
    status = models.CharField(_("progress"), max_length=10, choices=ProgressStatus.choices)
    # A short note, in the reporter's words: encrypted, and only the case team ever sees it.
    note = EncryptedTextField(_("short note"), blank=True, null=True, max_length=NOTE_MAX)
    reported_by = models.CharField(_("reported by"), max_length=16, choices=ReportedBy.choices)
    reporter = models.ForeignKey(
        Participant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who reported it"),
    )
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("recorded"), default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("progress check-in")
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["organization", "commitment", "at"], name="checkin_org_commitment_at")
        ]

    def __str__(self) -> str:
        # Never the note.
        return f"{self.commitment} · {self.status} · {self.at:%Y-%m-%d}"


class Step(models.IntegerChoices):
    """The staircase of accountability (PROTOCOL.md), for the person who caused harm."""

    STOP_VIOLENCE = 1, _("1 · Stop the immediate violence")
    RECOGNIZE_VIOLENCE = 2, _("2 · Recognize the violence")
    RECOGNIZE_CONSEQUENCES = 3, _("3 · Recognize its consequences without excuses")
    MAKE_REPAIRS = 4, _("4 · Make repairs")
    CHANGE_BEHAVIOR = 5, _("5 · Change harmful attitudes and behavior")
    TAKE_PART_HEALTHIER = 6, _("6 · Take part in the community in a healthier way")


class StaircaseStep(models.Model):
    """The step the keeper found reached, with the evidence behind it. Appended, never changed: the latest is
    the current step, and a step down is recorded like any other."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="staircase_steps")
    step = models.PositiveSmallIntegerField(_("step reached"), choices=Step.choices)
    commitments: models.ManyToManyField[Commitment, StepCommitment] = models.ManyToManyField(
        Commitment, through="StepCommitment", related_name="+", verbose_name=_("commitments")
    )
    checkins: models.ManyToManyField[CheckIn, StepCheckIn] = models.ManyToManyField(
        CheckIn, through="StepCheckIn", related_name="+", verbose_name=_("check-ins")
    )
    note = EncryptedLongTextField(_("keeper's note"), blank=True, null=True, max_length=DESCRIPTION_MAX)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("staircase step")
        ordering = ["recorded_at", "id"]
        indexes = [models.Index(fields=["organization", "case", "recorded_at"], name="step_org_case_at")]

    def __str__(self) -> str:
        return f"{self.case} · step {self.step} · {self.recorded_at:%Y-%m-%d}"


class StepCommitment(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    step = models.ForeignKey(StaircaseStep, on_delete=models.CASCADE, related_name="+")
    commitment = models.ForeignKey(Commitment, on_delete=models.CASCADE, related_name="+")

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("staircase evidence: a commitment")
        constraints = [models.UniqueConstraint(fields=["step", "commitment"], name="step_commitment_once")]
        indexes = [models.Index(fields=["organization", "step"], name="step_commitment_org")]

    def __str__(self) -> str:
        return f"{self.step} · {self.commitment}"


class StepCheckIn(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    step = models.ForeignKey(StaircaseStep, on_delete=models.CASCADE, related_name="+")
    checkin = models.ForeignKey(CheckIn, on_delete=models.CASCADE, related_name="+")

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("staircase evidence: a check-in")
        constraints = [models.UniqueConstraint(fields=["step", "checkin"], name="step_checkin_once")]
        indexes = [models.Index(fields=["organization", "step"], name="step_checkin_org")]

    def __str__(self) -> str:
        return f"{self.step} · {self.checkin}"


class SurvivorView(models.Model):
    """The survivor's own rating of progress, from their answers to the progress_view instrument (0 not at all
    to 3 fully; empty when they did not know or preferred not to say). The answers stay on the response."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="survivor_views")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    response = models.OneToOneField(Response, on_delete=models.CASCADE, related_name="survivor_view")
    kept = models.PositiveSmallIntegerField(
        _("commitments kept"), null=True, blank=True, validators=[MaxValueValidator(3)]
    )
    repair = models.PositiveSmallIntegerField(
        _("harm repaired"), null=True, blank=True, validators=[MaxValueValidator(3)]
    )
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("the survivor's view of progress")
        ordering = ["recorded_at", "id"]
        indexes = [
            models.Index(fields=["organization", "case", "recorded_at"], name="survivor_view_org_case")
        ]

    def __str__(self) -> str:
        return f"{self.case} · survivor's view {self.recorded_at:%Y-%m-%d}"


class ProgressLinkQuerySet(OrganizationScopedQuerySet):
    def usable(self, now: datetime.datetime) -> ProgressLinkQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=now)


class ProgressLink(models.Model):
    """A personal link to the progress page of the person who caused harm: their own commitments and progress.

    Only the SHA-256 of its token is kept: the token is shown once to the person who issued it, so a copy of the
    database opens nothing. It works until it expires or is revoked, and never while the case is on hold,
    withdrawn or closed.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="progress_links")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(_("sent by"), max_length=20, choices=ContactChannel.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    issued_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField(_("issued"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    # Why it was revoked, as a code (a safety event's reason, or replaced by a newer link).
    revoke_reason = models.CharField(_("why revoked"), max_length=40, blank=True)

    objects = ProgressLinkQuerySet.as_manager()

    class Meta:
        verbose_name = _("progress page link")
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["organization", "case"], name="progress_link_org_case")]

    def __str__(self) -> str:
        # Never the token (it is not kept) nor the participant: a link may be printed in a log.
        return f"progress link {self.uid}"

    def is_usable(self, now: datetime.datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())

    def revoke(self, *, when: datetime.datetime | None = None, reason: str = "") -> bool:
        """Stop the link at once; False if it had already stopped working (nothing to do)."""
        if not self.is_usable(when):
            return False
        self.revoked_at = when or timezone.now()
        self.revoke_reason = reason[:40]
        self.save(update_fields=["revoked_at", "revoke_reason"])
        return True


def in_force(versions: list[AgreementVersion]) -> AgreementVersion | None:
    """The latest version every party affirmed, among these."""
    affirmed = [v for v in versions if v.affirmed_at is not None]
    return max(affirmed, key=lambda v: v.number) if affirmed else None


def latest_draft(versions: list[AgreementVersion]) -> AgreementVersion | None:
    """The latest version if it is not affirmed yet (a draft, or frozen while the parties affirm it)."""
    latest = max(versions, key=lambda v: v.number) if versions else None
    return latest if latest is not None and latest.affirmed_at is None else None
