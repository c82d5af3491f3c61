"""The practice model's records: stage transitions, meetings with their safety check-in and check-out, the
acknowledgment of responsibility, and the supervisor's approval of a joint dialogue (PROTOCOL.md)."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, EnteredInError, Participant, Stage
from circlekeeper.lib.fields import EncryptedLongTextField, EncryptedTextField
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet


class TransitionKind(models.TextChoices):
    ADVANCE = "advance", _("Moved to the next stage")
    WITHDRAW = "withdraw", _("The survivor withdrew")
    REFER_OUT = "refer_out", _("Referred out")
    CLOSE = "close", _("Closed")
    REOPEN = "reopen", _("Reopened")


class Transition(models.Model):
    """One change of a case's stage or status: who, when and why. Appended, never changed."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="transitions")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    kind = models.CharField(_("what"), max_length=12, choices=TransitionKind.choices)
    from_stage = models.CharField(_("from"), max_length=20, choices=Stage.choices)
    to_stage = models.CharField(_("to"), max_length=20, choices=Stage.choices)
    # Why, in the team's words; for a referral out also where to. Either may say too much: encrypted.
    reason = EncryptedLongTextField(_("why"), blank=True, null=True, max_length=2000)
    referred_to = EncryptedTextField(_("referred to"), blank=True, null=True, max_length=300)
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("stage transition")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["organization", "case", "at"], name="transition_org_case_at")]

    def __str__(self) -> str:
        return f"{self.case} · {self.kind} {self.from_stage} → {self.to_stage}"


class MeetingKind(models.TextChoices):
    PREPARATION = "preparation", _("Preparation meeting (one party and their supporters)")
    CIRCLE = "circle", _("Circle (both parties)")
    CONFERENCE = "conference", _("Conference (both parties)")
    SHUTTLE = "shuttle", _("Shuttle session (the keeper meets each side in turn)")
    POD = "pod", _("Support-pod meeting")


# Meetings where the survivor and the person who caused harm are in the same room: the joint-dialogue gate.
JOINT_KINDS = (MeetingKind.CIRCLE, MeetingKind.CONFERENCE)


class MeetingStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    HELD = "held", _("Held")
    CANCELLED = "cancelled", _("Cancelled")
    # The survivor's check-in signalled danger or a wish to stop: the meeting ended there, never held.
    STOPPED = "stopped", _("Stopped at the survivor's check-in")


class MeetingChannel(models.TextChoices):
    """How people meet: the safe-contact rules of each invitee must allow it, at the meeting's time."""

    IN_PERSON = "in_person", _("In person")
    PHONE = "phone_call", _("Phone call")
    VIDEO = "video", _("Video call")


class MeetingQuerySet(OrganizationScopedQuerySet):
    def scheduled(self) -> MeetingQuerySet:
        return self.filter(status=MeetingStatus.SCHEDULED)

    def held(self) -> MeetingQuerySet:
        return self.filter(status=MeetingStatus.HELD)


class Meeting(EnteredInError):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="meetings")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=MeetingKind.choices)
    starts_at = models.DateTimeField(_("starts"))
    # A place can reveal where a survivor is: encrypted, and never in a calendar feed.
    place = EncryptedTextField(_("place"), blank=True, null=True, max_length=300)
    channel = models.CharField(
        _("how"), max_length=12, choices=MeetingChannel.choices, default=MeetingChannel.IN_PERSON
    )
    participants: models.ManyToManyField[Participant, Invitation] = models.ManyToManyField(
        Participant, through="Invitation", related_name="meetings"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=MeetingStatus.choices, default=MeetingStatus.SCHEDULED
    )
    notes = EncryptedLongTextField(_("keeper's notes"), blank=True, null=True, max_length=2000)
    scheduled_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    scheduled_at = models.DateTimeField(default=timezone.now, editable=False)
    # The facts of the joint-dialogue gate when this joint meeting was scheduled and when it was held.
    gate_at_scheduling = models.JSONField(default=dict, blank=True, editable=False)
    gate_at_holding = models.JSONField(default=dict, blank=True, editable=False)
    held_at = models.DateTimeField(_("held"), null=True, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    cancel_reason = models.CharField(_("why cancelled"), max_length=200, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = MeetingQuerySet.as_manager()

    class Meta:
        verbose_name = _("meeting")
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["organization", "case", "starts_at"], name="meeting_org_case_start"),
            models.Index(fields=["organization", "status", "starts_at"], name="meeting_org_status_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=MeetingStatus.HELD, held_at__isnull=False) | ~Q(status=MeetingStatus.HELD),
                name="meeting_held_has_time",
            )
        ]

    def __str__(self) -> str:
        return f"{self.case} · {self.kind} · {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def is_joint(self) -> bool:
        return self.kind in JOINT_KINDS


class Invitation(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="invitations")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="invitations")
    # Recorded when the meeting is marked held.
    attended = models.BooleanField(_("attended"), null=True, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        constraints = [models.UniqueConstraint(fields=["meeting", "participant"], name="invitation_unique")]

    def __str__(self) -> str:
        return f"{self.meeting} · {self.participant}"


class CheckMoment(models.TextChoices):
    CHECK_IN = "in", _("Check-in at the start")
    CHECK_OUT = "out", _("Check-out at the end")


class Answer(models.TextChoices):
    YES = "yes", _("Yes")
    NO = "no", _("No")
    PREFER_NOT = "pnts", _("Prefer not to say")


class SafetyCheckIn(models.Model):
    """The survivor's short safety check at the start (check-in) or the end (check-out) of a meeting."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="checks")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    moment = models.CharField(_("when"), max_length=3, choices=CheckMoment.choices)
    feels_safe = models.CharField(_("feels safe now"), max_length=4, choices=Answer.choices)
    threatened = models.CharField(_("threatened or pressured"), max_length=4, choices=Answer.choices)
    wants_to_stop = models.CharField(_("wants to stop"), max_length=4, choices=Answer.choices)
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("meeting safety check")
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "participant", "moment"], name="meeting_check_once")
        ]

    def __str__(self) -> str:
        return f"{self.meeting} · {self.moment}"

    @property
    def signals_danger(self) -> bool:
        """Not safe, threatened or pressured, or asking to stop; "prefer not to say" counts as a signal."""
        return (
            self.feels_safe != Answer.YES or self.threatened != Answer.NO or self.wants_to_stop != Answer.NO
        )


class Acknowledgment(models.Model):
    """The person who caused harm acknowledged responsibility, as the keeper recorded it in a preparation meeting."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="acknowledgments")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    meeting = models.ForeignKey(Meeting, on_delete=models.PROTECT, related_name="acknowledgments")
    in_their_words = EncryptedLongTextField(_("in their words"), max_length=2000)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("acknowledgment of responsibility")
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.case} · acknowledgment {self.recorded_at:%Y-%m-%d}"


class ReachedOutSide(models.TextChoices):
    """Who of the other side reached out to the program themselves."""

    PERSON_WHO_CAUSED_HARM = "person_who_caused_harm", _("The person who caused harm")
    SUPPORTER = "supporter", _("A supporter of theirs")
    ON_THEIR_BEHALF = "on_their_behalf", _("Someone else on their behalf")


class ReachedOutHow(models.TextChoices):
    PHONE_CALL = "phone_call", _("Phone call")
    TEXT = "text", _("Text message")
    EMAIL = "email", _("Email")
    IN_PERSON = "in_person", _("In person")
    LETTER = "letter", _("Letter")
    SOCIAL_MEDIA = "social_media", _("Social media message")
    OTHER = "other", _("Another way")


class ReachOut(models.Model):
    """The person who caused harm (or their side) contacted the program themselves (PROTOCOL.md, "Contact with
    the other side": a first contact they made is recorded, never refused).

    A fact the keeper records, whatever the case's stage, track, holds or status: it is not contact that staff
    arranged, so the contact policy never decides it and no gate counts it. What was said is encrypted."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reach_outs")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    side = models.CharField(_("who reached out"), max_length=30, choices=ReachedOutSide.choices)
    # The participant, when they are recorded on the case (of the other side).
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reached_at = models.DateTimeField(_("when"))
    how = models.CharField(_("how"), max_length=20, choices=ReachedOutHow.choices)
    summary = EncryptedLongTextField(_("what they said or asked"), max_length=2000)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("contact made by the other side")
        ordering = ["-reached_at", "-id"]

    def __str__(self) -> str:
        return f"{self.case} · reached out {self.reached_at:%Y-%m-%d}"


class Approval(models.Model):
    """A supervisor's approval of the joint dialogue, given after every other condition held. It lapses as soon
    as any condition stops holding (gates.joint_gate decides; nothing here is ever changed)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="approvals")
    approved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(default=timezone.now)
    # The conditions as they stood: codes and dates, never what anyone said.
    conditions = models.JSONField(default=dict)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("joint-dialogue approval")
        ordering = ["-approved_at", "-id"]
        indexes = [models.Index(fields=["organization", "case", "approved_at"], name="approval_org_case_at")]

    def __str__(self) -> str:
        return f"{self.case} · approved {self.approved_at:%Y-%m-%d}"


class CalendarToken(models.Model):
    """A staff member's private calendar feed. Only the SHA-256 of its token is kept, so a copy of the database
    opens no feed; making a new one replaces the old, which stops working at once."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="calendar_token")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("private calendar feed")

    def __str__(self) -> str:
        # Never the hash: it is what opens the feed's lookup.
        return f"{self.user} · calendar feed"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    @classmethod
    def make_for(cls, user: User) -> tuple[CalendarToken, str]:
        """A new feed for this person, replacing any older one, and its token (to show once; never stored)."""
        token = secrets.token_urlsafe(32)
        feed, _created = cls.objects.update_or_create(
            user=user, defaults={"token_hash": cls.hash(token), "created_at": timezone.now()}
        )
        return feed, token
