from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, ContactChannel, Participant
from circlekeeper.lib.fields import EncryptedJSONField
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet

if TYPE_CHECKING:
    from circlekeeper.instruments.expressions import EventAnswers


class Source(models.TextChoices):
    BUILTIN = "builtin", _("Built in")
    REDCAP = "redcap", _("REDCap data dictionary")
    XLSFORM = "xlsform", _("XLSForm")
    MANUAL = "manual", _("Written by hand")


class InstrumentQuerySet(models.QuerySet["Instrument"]):
    def available_to(self, organization: Organization | None) -> InstrumentQuerySet:
        """The organization's own instruments and the shared ones (built in, or shared by the network)."""
        if organization is None:
            return self.filter(owner__isnull=True)
        return self.filter(Q(owner__isnull=True) | Q(owner_id=organization.pk))


class Instrument(models.Model):
    """A questionnaire, known by its code; what it asks lives in its versions."""

    # Empty for the built-in instruments and those a network shares with all its organizations.
    owner = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="instruments"
    )
    code = models.CharField(_("code"), max_length=100)
    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = InstrumentQuerySet.as_manager()

    class Meta:
        verbose_name = _("instrument")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "code"], condition=Q(owner__isnull=False), name="instrument_code_per_owner"
            ),
            models.UniqueConstraint(
                fields=["code"], condition=Q(owner__isnull=True), name="instrument_code_shared"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def latest_version(self) -> InstrumentVersion | None:
        return self.versions.order_by("-number").first()


class InstrumentVersion(models.Model):
    """One definition of an instrument, never changed once made: a changed definition is a new version."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    definition = models.JSONField(_("definition"))
    content_hash = models.CharField(max_length=64, editable=False)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    imported_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("instrument version")
        ordering = ["instrument", "number"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "number"], name="instrument_version_number"),
            models.UniqueConstraint(fields=["instrument", "content_hash"], name="instrument_version_content"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument} v{self.number}"


class ResponseStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    SUBMITTED = "submitted", _("Submitted")


class Response(models.Model):
    """Someone's answers to one exact instrument version, for one purpose (e.g. a timepoint)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    version = models.ForeignKey(InstrumentVersion, on_delete=models.PROTECT, related_name="responses")
    # Responses belong to their case: purging a case (retention) takes them with it.
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, null=True, blank=True, related_name="responses"
    )
    case = models.ForeignKey(Case, on_delete=models.CASCADE, null=True, blank=True, related_name="responses")
    purpose = models.CharField(_("purpose"), max_length=60, blank=True)
    # Every answer is encrypted: free text is narrative, and a choice can say as much as a sentence.
    answers = EncryptedJSONField(_("answers"), default=dict)
    # Item codes that skip logic hid: stored as skipped, never as empty answers.
    skipped = models.JSONField(_("skipped items"), default=list, blank=True)
    # Numbers and levels only (see scoring.py), in clear for analysis: nothing identifying.
    scores = models.JSONField(_("scores"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=ResponseStatus.choices, default=ResponseStatus.IN_PROGRESS
    )
    # Set when staff enter the answers on a participant's behalf.
    entered_by_staff = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    # A questionnaire in progress about the other side is voided by a safety event (protocol.policy.cascade):
    # kept, never submitted, with why.
    voided_at = models.DateTimeField(_("voided"), null=True, blank=True)
    void_reason = models.CharField(_("why voided"), max_length=40, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("response")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=ResponseStatus.SUBMITTED, submitted_at__isnull=False)
                | Q(status=ResponseStatus.IN_PROGRESS, submitted_at__isnull=True),
                name="response_submitted_has_time",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "version", "status"], name="response_org_version"),
            models.Index(fields=["organization", "case", "purpose"], name="response_org_case"),
        ]

    def __str__(self) -> str:
        # Never the answers: a response may be printed in a log or an error page.
        return f"{self.version} · response {self.uid}"

    def submit(self, *, today: Any = None, events: EventAnswers | None = None) -> None:
        """Record what skip logic hid, compute the scores, and mark the response submitted.

        Answers to hidden items are dropped (they are skipped, not answered), so nothing a person typed
        before changing an earlier answer lingers. `events` (an expressions.EventAnswers) is what
        [event][field] reads when the caller already knows it (a records import, as it checked the row);
        otherwise it is read for this response (instruments/events.py).
        """
        from circlekeeper.instruments.events import event_answers
        from circlekeeper.instruments.scoring import calculated_values, score_response, visible_items

        definition = self.version.definition
        answers = dict(self.answers or {})
        events = event_answers(self, definition) if events is None else events
        shown = set(visible_items(definition, answers, today=today, events=events))
        asked = [
            item["code"]
            for section in definition["sections"]
            for item in section["items"]
            if item["type"] not in ("descriptive", "calculated")
        ]
        self.skipped = [code for code in asked if code not in shown]
        answers = {code: value for code, value in answers.items() if code in shown}
        answers.update(calculated_values(definition, answers, today=today, events=events))
        self.answers = answers
        self.scores = score_response(definition, answers)
        self.status = ResponseStatus.SUBMITTED
        self.submitted_at = timezone.now()
        self.save(update_fields=["skipped", "answers", "scores", "status", "submitted_at"])


# How a link reaches a participant: the safe-contact rules allow or forbid each way.
Channel = ContactChannel


class LinkStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("survey link", "Open")
    EXPIRED = "expired", pgettext_lazy("survey link", "Expired")
    REVOKED = "revoked", pgettext_lazy("survey link", "Revoked")
    SUBMITTED = "submitted", pgettext_lazy("survey link", "Answered")


class ParticipantLinkQuerySet(OrganizationScopedQuerySet):
    def usable(self, now: Any) -> ParticipantLinkQuerySet:
        return self.filter(revoked_at__isnull=True, submitted_at__isnull=True, expires_at__gt=now)


class ParticipantLink(models.Model):
    """A personal link to one instrument version for one case participant, for one purpose.

    Only the SHA-256 of its token is kept: the token is shown once to the person who issued it, so a copy of
    the database (or its backups) opens no questionnaire. It works until it expires, is revoked or is answered.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    # Links go with their case when retention purges it.
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="links")
    version = models.ForeignKey(InstrumentVersion, on_delete=models.PROTECT, related_name="links")
    purpose = models.CharField(_("purpose"), max_length=60, blank=True)
    channel = models.CharField(_("sent by"), max_length=20, choices=Channel.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # Links handed over in person also get a short code to read out (links.SHORT_CODE_LENGTH characters), typed
    # at /s/code/ by someone who cannot scan the QR code: like the token, only its SHA-256 is kept.
    short_code_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("issued"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"))
    # Created outside the times the safe-contact rules allow: not to be sent before this, the next allowed time.
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    # Why it was revoked, as a code (protocol.policy.CascadeReason): a safety event, a withdrawal, staff.
    revoke_reason = models.CharField(_("why revoked"), max_length=40, blank=True)
    response = models.OneToOneField(
        Response, on_delete=models.SET_NULL, null=True, blank=True, related_name="link"
    )
    submitted_at = models.DateTimeField(_("answered"), null=True, blank=True)

    objects = ParticipantLinkQuerySet.as_manager()
    # Not a column: the short code of a link just issued in person, shown once and never stored (links.issue_link).
    short_code: str = ""

    class Meta:
        verbose_name = _("participant link")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "participant"], name="link_org_participant")]

    def __str__(self) -> str:
        # Never the token (it is not kept) nor the participant: a link may be printed in a log.
        return f"link {self.uid}"

    def status(self, now: Any = None) -> str:
        now = now or timezone.now()
        if self.submitted_at is not None:
            return LinkStatus.SUBMITTED
        if self.revoked_at is not None:
            return LinkStatus.REVOKED
        if self.expires_at <= now:
            return LinkStatus.EXPIRED
        return LinkStatus.OPEN

    def is_usable(self, now: Any = None) -> bool:
        return self.status(now) == LinkStatus.OPEN

    def revoke(self, *, when: Any = None, reason: str = "") -> bool:
        """Stop the link at once; False if it had already stopped working (nothing to do)."""
        if not self.is_usable(when):
            return False
        self.revoked_at = when or timezone.now()
        self.revoke_reason = reason[:40]
        self.save(update_fields=["revoked_at", "revoke_reason"])
        return True
