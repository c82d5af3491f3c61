from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization, Role, User
from circlekeeper.lib.fields import (
    BlindIndexField,
    EncryptedDateField,
    EncryptedLongTextField,
    EncryptedTextField,
)
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet


class EnteredInError(models.Model):
    """A record someone marked "entered in error": it stays (audited, shown struck through with who, when and
    why) but counts nowhere any more. Never unmarked: a second mistake is corrected by recording it again."""

    error_at = models.DateTimeField(_("entered in error"), null=True, blank=True, editable=False)
    error_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    # Why, in the team's words; it may name people, so encrypted like every narrative.
    error_reason = EncryptedTextField(_("why it was entered in error"), blank=True, null=True, max_length=500)

    class Meta:
        abstract = True

    @property
    def in_error(self) -> bool:
        return self.error_at is not None


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")
    WITHDRAWN = "withdrawn", _("Withdrawn by the survivor")
    REFERRED_OUT = "referred_out", _("Referred out")


class Track(models.TextChoices):
    """The survivor's choice of how the program responds (PROTOCOL.md, tracks), re-choosable at any time."""

    SUPPORT_ONLY = "support_only", _("Support only")
    COMMUNITY_ACCOUNTABILITY = "community_accountability", _("Community accountability")
    INDIRECT_DIALOGUE = "indirect_dialogue", _("Indirect dialogue")
    DIRECT_DIALOGUE = "direct_dialogue", _("Direct dialogue")
    REFERRAL_OUT = "referral_out", _("Referral out")


# How much contact with the person who caused harm each track brings: moving up passes the gates again,
# and is refused while a safety hold is open. A referral out brings none through the program.
TRACK_CONTACT = {
    Track.SUPPORT_ONLY: 0,
    Track.REFERRAL_OUT: 0,
    Track.COMMUNITY_ACCOUNTABILITY: 1,
    Track.INDIRECT_DIALOGUE: 1,
    Track.DIRECT_DIALOGUE: 2,
}


class Stage(models.TextChoices):
    """The stages of PROTOCOL.md, in order. Only circlekeeper.protocol moves a case from one to the next."""

    REFERRAL = "referral", _("Referral and first contact")
    INTAKE = "intake", _("Intake: getting clear")
    SAFETY_PLANNING = "safety_planning", _("Safety planning")
    MAPPING_SUPPORT = "mapping_support", _("Mapping support")
    PREPARATION = "preparation", _("Preparation")
    DIALOGUE = "dialogue", _("Dialogue")
    AGREEMENT = "agreement", _("Agreement")
    MONITORING = "monitoring", _("Monitoring")
    CLOSURE = "closure", _("Closure and follow-up")


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

    def on_team_of(self, user: User) -> CaseQuerySet:
        """The same rule as for_team_member, for a query that picks one case or a few: EXISTS looks (case, user) up
        in the assignment index for each case read, where IN first lists every case of the person's history
        (SQLite builds that whole list even to answer for one case)."""
        return self.filter(Exists(CaseAssignment.objects.filter(case_id=OuterRef("pk"), user=user)))


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
    # The survivor's current track (choice.py keeps it with its history in TrackChoice); empty until chosen.
    track = models.CharField(_("track"), max_length=30, choices=Track.choices, blank=True)
    # Where the case is in the protocol; changed only by circlekeeper.protocol's transitions, never by a form.
    stage = models.CharField(
        _("stage"), max_length=20, choices=Stage.choices, default=Stage.REFERRAL, editable=False
    )
    # Facts the safety app owns, kept here so that lower apps can ask them (ARCHITECTURE.md): only
    # circlekeeper.safety.services changes them, in the transaction that opens or lifts a hold or records a check.
    on_hold = models.BooleanField(_("on safety hold"), default=False, editable=False)
    risk_level = models.CharField(_("latest risk level"), max_length=10, blank=True, editable=False)
    # When the check that gave `risk_level` was taken, and when the survivors' next full safety check falls due
    # (empty while a survivor has never had one: due since the case opened). Kept by circlekeeper.safety.services
    # with `risk_level`, so the case list can show and sort by them without reading the safety app.
    risk_level_at = models.DateTimeField(_("risk level recorded"), null=True, blank=True, editable=False)
    check_due_on = models.DateField(_("next safety check due"), null=True, blank=True, editable=False)
    # When the agreement in force was affirmed by every party; kept by circlekeeper.accountability.services
    # (the protocol's agreement gate reads it). Empty while no version has been affirmed.
    agreement_affirmed_at = models.DateTimeField(
        _("agreement affirmed"), null=True, blank=True, editable=False
    )
    # Kept by circlekeeper.accountability.services: the survivor's own view of progress disagrees with the
    # keeper's (commitments kept, harm repaired), so the case page can say so.
    progress_views_disagree = models.BooleanField(
        _("the survivor's and the keeper's views of progress disagree"), default=False, editable=False
    )
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


class ReachedOutBy(models.TextChoices):
    """Who first reached out to the program about a case (PROTOCOL.md, stage 1)."""

    SURVIVOR = "survivor", _("The survivor")
    ALLY = "ally", _("An ally of the survivor (a friend, relative, neighbour)")
    PERSON_WHO_CAUSED_HARM = "person_who_caused_harm", _("The person who caused harm")
    COURT = "court", _("A court")
    SHELTER = "shelter", _("A shelter")
    OTHER = "other", _("Someone else")


class Referral(models.Model):
    """How a case began: who reached out and how the survivor may be reached safely (stage 1).

    `form_token` comes from the page the referral was typed on: the same page sent twice (a double click,
    a retry after a lost answer) finds the case it already opened instead of opening a second one.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="referral")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    reached_out_by = models.CharField(_("who reached out"), max_length=30, choices=ReachedOutBy.choices)
    # Who, when "someone else" (an agency, a person): may identify them, so encrypted.
    reached_out_other = EncryptedTextField(_("who, if someone else"), blank=True, null=True, max_length=200)
    # How to reach the survivor without putting them at risk: a narrative, so encrypted.
    safe_contact = EncryptedLongTextField(
        _("how to reach the survivor safely"), blank=True, null=True, max_length=1000
    )
    form_token = models.UUIDField(editable=False)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("referral")
        constraints = [
            models.UniqueConstraint(fields=["organization", "form_token"], name="referral_form_token_once")
        ]

    def __str__(self) -> str:
        return f"{self.case} · referral"


class HarmType(models.TextChoices):
    """Types of harm the survivor names at intake (PROTOCOL.md, stage 2)."""

    PHYSICAL = "physical", _("Physical")
    EMOTIONAL = "emotional", _("Emotional or verbal")
    SEXUAL = "sexual", _("Sexual")
    ECONOMIC = "economic", _("Economic (money, work, housing)")
    SPIRITUAL = "spiritual", _("Spiritual or religious")
    TECHNOLOGY = "technology", _("Technology-facilitated (phones, tracking, online)")
    IMMIGRATION = "immigration", _("Immigration-related (papers, threats of deportation)")
    OTHER = "other", _("Other")
    PREFER_NOT = "prefer_not", _("Prefer not to say")


class Frequency(models.TextChoices):
    ONCE = "once", _("Once")
    SOMETIMES = "sometimes", _("Now and then")
    MONTHLY = "monthly", _("About monthly")
    WEEKLY = "weekly", _("About weekly")
    DAILY = "daily", _("Most days")
    UNSURE = "unsure", _("Not sure")
    PREFER_NOT = "prefer_not", _("Prefer not to say")


class Escalation(models.TextChoices):
    WORSE = "worse", _("Getting worse or more often")
    SAME = "same", _("About the same")
    LESS = "less", _("Less than before")
    UNSURE = "unsure", _("Not sure")
    PREFER_NOT = "prefer_not", _("Prefer not to say")


class YesNoPreferNot(models.TextChoices):
    YES = "yes", _("Yes")
    NO = "no", _("No")
    PREFER_NOT = "prefer_not", _("Prefer not to say")


class ReferralSource(models.TextChoices):
    SELF = "self", _("They found us themselves")
    FRIEND_FAMILY = "friend_family", _("A friend or relative")
    COMMUNITY = "community", _("A community or faith group")
    SHELTER = "shelter", _("A shelter or advocacy program")
    COURT = "court", _("A court or probation")
    POLICE = "police", _("The police")
    HEALTH = "health", _("A health or counselling service")
    SCHOOL = "school", _("A school")
    OTHER = "other", _("Other")
    PREFER_NOT = "prefer_not", _("Prefer not to say")


# The intake's answers that hold what the survivor said: encrypted, and erased by the narrative retention rule.
INTAKE_NARRATIVES = (
    "account",
    "harm_other",
    "first_happened",
    "most_recent",
    "children_exposure",
    "goals",
    "does_not_want",
    "languages_access",
)


class Intake(models.Model):
    """Getting clear (PROTOCOL.md, stage 2): what happened, in the survivor's words, and what they want.

    Every answer may be "prefer not to say". What the survivor said is a narrative and is encrypted; the coded
    answers (types of harm, how often, escalation) are kept in clear for the team's work and evaluation.
    `version` is raised by every save: a second editor working from an older page is refused.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="intake")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    account = EncryptedLongTextField(_("what happened, in the survivor's words"), blank=True, null=True)
    harm_types = models.JSONField(_("types of harm"), default=list, blank=True)
    harm_other = EncryptedTextField(_("other harm"), blank=True, null=True, max_length=300)
    first_happened = EncryptedTextField(_("when it first happened"), blank=True, null=True, max_length=200)
    most_recent = EncryptedTextField(_("the most recent time"), blank=True, null=True, max_length=200)
    frequency = models.CharField(_("how often"), max_length=20, choices=Frequency.choices, blank=True)
    escalation = models.CharField(_("getting worse?"), max_length=20, choices=Escalation.choices, blank=True)
    children_in_home = models.CharField(
        _("children in the home"), max_length=20, choices=YesNoPreferNot.choices, blank=True
    )
    children_exposure = EncryptedLongTextField(
        _("what the children saw or heard"), blank=True, null=True, max_length=2000
    )
    goals = EncryptedLongTextField(_("what the survivor wants"), blank=True, null=True, max_length=2000)
    does_not_want = EncryptedLongTextField(
        _("what the survivor does not want"), blank=True, null=True, max_length=2000
    )
    languages_access = EncryptedLongTextField(
        _("languages and access needs"), blank=True, null=True, max_length=1000
    )
    referral_source = models.CharField(
        _("how they heard of us"), max_length=20, choices=ReferralSource.choices, blank=True
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("intake")

    def __str__(self) -> str:
        # Never the account: an intake may be printed in a log or an error page.
        return f"{self.case} · intake v{self.version}"

    @property
    def recorded(self) -> bool:
        """What the intake gate asks: the account, or the types of harm ("prefer not to say" is an answer)."""
        return bool((self.account or "").strip() or self.harm_types)

    @property
    def harm_type_labels(self) -> list[str]:
        return [str(HarmType(code).label) for code in self.harm_types if code in HarmType.values]


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


class CaseNote(EnteredInError):
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


class ParticipantQuerySet(OrganizationScopedQuerySet):
    def survivors(self) -> ParticipantQuerySet:
        return self.filter(role=ParticipantRole.SURVIVOR)


# Typed loosely, as `ParticipantQuerySet.as_manager()` was, so pages may hang figures on the rows they list.
_CountingBase: Any = models.Manager.from_queryset(ParticipantQuerySet)


class CountingParticipantManager(_CountingBase):
    """The participants who count: a participant entered in error is left out of every gate, list, dashboard
    and count that reads participants through the model (and `case.participants`), by construction.
    `Participant.everyone` still finds them, to show them struck through."""

    def get_queryset(self) -> ParticipantQuerySet:
        return ParticipantQuerySet(self.model, using=self._db).filter(error_at__isnull=True)


# Whose side each role is on: the survivor's private information never reaches the other side (PROTOCOL.md).
HARM_SIDE = (ParticipantRole.PERSON_WHO_CAUSED_HARM, ParticipantRole.HARM_SUPPORTER)


# Who the first participant of a referral may be: the survivor, or whoever reached out (PROTOCOL.md, stage 1).
REFERRAL_FIRST_ROLES = (
    ParticipantRole.SURVIVOR,
    ParticipantRole.SURVIVOR_SUPPORTER,
    ParticipantRole.PERSON_WHO_CAUSED_HARM,
    ParticipantRole.COMMUNITY_MEMBER,
)


class Participant(EnteredInError):
    """A person in a case, known everywhere by a pseudonymous label; identifying details are encrypted."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="participants")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    role = models.CharField(_("role"), max_length=32, choices=ParticipantRole.choices)
    label = models.CharField(
        _("label"), max_length=60, help_text=_("A pseudonymous label, e.g. “Survivor A”.")
    )
    # Identifying details (SECURITY.md 6): encrypted, shown only to the case team, never in a list.
    name = EncryptedTextField(_("name"), blank=True, null=True, max_length=200)
    phone = EncryptedTextField(_("phone"), blank=True, null=True, max_length=40)
    email = EncryptedTextField(_("email"), blank=True, null=True, max_length=254)
    address = EncryptedLongTextField(_("address"), blank=True, null=True, max_length=1000)
    date_of_birth = EncryptedDateField(_("date of birth"), blank=True, null=True)
    languages = EncryptedTextField(_("languages"), blank=True, null=True, max_length=200)
    pronouns = EncryptedTextField(_("pronouns"), blank=True, null=True, max_length=60)
    # "Is this person already known to us?" without decrypting anyone (SECURITY.md 8).
    name_dob_index = BlindIndexField(
        sources=("name", "date_of_birth"), kinds=("name", "date"), purpose="participant_name_dob"
    )
    name_index = BlindIndexField(sources=("name",), kinds=("name",), purpose="participant_name")
    phone_index = BlindIndexField(sources=("phone",), kinds=("phone",), purpose="participant_phone")
    email_index = BlindIndexField(sources=("email",), kinds=("email",), purpose="participant_email")
    # Someone a party named as a barrier in a support network is never invited or contacted (contact.contact_allowed
    # and the protocol's invitations refuse them). Changed only by participants.set_barrier, which keeps its history
    # (BarrierFlag); unlinking a support-network record never clears it.
    barrier = models.BooleanField(_("a barrier"), default=False, editable=False)
    # Raised by every change of the details: a second editor working from an older page is refused.
    details_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = CountingParticipantManager()
    everyone = ParticipantQuerySet.as_manager()

    class Meta:
        verbose_name = _("participant")
        ordering = ["case", "id"]
        constraints = [models.UniqueConstraint(fields=["case", "label"], name="participant_label_unique")]
        indexes = [models.Index(fields=["organization", "case"], name="participant_org_case")]

    def __str__(self) -> str:
        return self.label

    @property
    def is_survivor(self) -> bool:
        return self.role == ParticipantRole.SURVIVOR

    @property
    def is_harm_side(self) -> bool:
        return self.role in HARM_SIDE

    def has_consent(self, kind: str) -> bool:
        return self.consents.current().filter(kind=kind).exists()


class BarrierSource(models.TextChoices):
    POD = "pod", _("Named a barrier in a support network")
    POD_CHANGED = "pod_changed", _("Their support-network record was changed")
    LABEL_MATCH = (
        "label_match",
        _("Added with the label of a barrier in a support network, confirmed the same person"),
    )
    EARLIER = "earlier", _("Flagged before this history was kept")


class BarrierFlag(models.Model):
    """One change of a participant's barrier flag, never edited: the flag is a fact about the person with its own
    history. Unlinking a support-network record changes nothing here; `Participant.barrier` is the newest row."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="barrier_flags")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="barrier_flags")
    barrier = models.BooleanField(_("a barrier"))
    source = models.CharField(_("why"), max_length=20, choices=BarrierSource.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("barrier flag")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["organization", "case", "at"], name="barrierflag_org_case_at")]

    def __str__(self) -> str:
        return f"{self.participant} · barrier={self.barrier} {self.at:%Y-%m-%d}"


class ConsentKind(models.TextChoices):
    TAKE_PART = "take_part", _("To take part")
    CONTACT = "contact", _("To be contacted")
    SHARE = "share", _("To share information with named others")


class HowGiven(models.TextChoices):
    WRITTEN = "written", _("Written")
    ORAL = "oral", _("Oral (recorded by staff)")


class ConsentQuerySet(OrganizationScopedQuerySet):
    def current(self) -> ConsentQuerySet:
        return self.filter(revoked_at__isnull=True, error_at__isnull=True)


class Consent(EnteredInError):
    """One consent a participant gave, dated, written or oral; revoked at once, never edited or deleted."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="consents")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    kind = models.CharField(_("consent"), max_length=20, choices=ConsentKind.choices)
    # For consent to share: with whom, and what (the people named may be identifying, so encrypted).
    share_with = EncryptedLongTextField(_("shared with"), blank=True, null=True, max_length=500)
    how_given = models.CharField(_("given"), max_length=10, choices=HowGiven.choices)
    given_on = models.DateField(_("given on"))
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    revoked_how = models.CharField(_("withdrawn"), max_length=10, choices=HowGiven.choices, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        verbose_name = _("consent")
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "participant", "kind"], name="consent_org_participant")
        ]

    def __str__(self) -> str:
        return f"{self.participant} · {self.get_kind_display()} · {self.given_on:%Y-%m-%d}"

    @property
    def is_current(self) -> bool:
        return self.revoked_at is None and self.error_at is None


class ContactChannel(models.TextChoices):
    """Ways the program reaches a participant; the safe-contact rules allow or forbid each."""

    PHONE_CALL = "phone_call", _("Phone call")
    TEXT = "text", _("Text message")
    EMAIL = "email", _("Email")
    IN_PERSON = "in_person", _("In person")
    VIDEO = "video", _("Video call")
    NAMED_PERSON = "named_person", _("Through a named person")


# A text or an email stays on the phone or in the inbox, where someone else may read it.
LEAVES_MESSAGE = (ContactChannel.TEXT, ContactChannel.EMAIL)


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class ContactRules(models.Model):
    """How a participant may safely be contacted; contact.contact_allowed refuses anything else."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    participant = models.OneToOneField(Participant, on_delete=models.CASCADE, related_name="contact_rules")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    channels = models.JSONField(_("allowed ways"), default=list)
    days = models.JSONField(_("allowed days"), default=list)
    # In the organization's time zone; both empty means any time of the allowed days.
    from_time = models.TimeField(_("from"), null=True, blank=True)
    until_time = models.TimeField(_("until"), null=True, blank=True)
    code_word = EncryptedTextField(_("code word or phrase"), blank=True, null=True, max_length=200)
    never_leave_messages = models.BooleanField(_("never leave messages"), default=False)
    named_person = EncryptedTextField(_("named person"), blank=True, null=True, max_length=200)
    notes = EncryptedLongTextField(_("other instructions"), blank=True, null=True, max_length=1000)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("safe-contact rules")
        verbose_name_plural = _("safe-contact rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(from_time__isnull=True, until_time__isnull=True)
                | Q(from_time__isnull=False, until_time__isnull=False, until_time__gt=models.F("from_time")),
                name="contact_rules_time_window",
            )
        ]

    def __str__(self) -> str:
        return f"{self.participant} · contact rules"

    @property
    def channel_labels(self) -> list[str]:
        return [str(ContactChannel(c).label) for c in self.channels if c in ContactChannel.values]

    @property
    def day_labels(self) -> list[str]:
        return [str(Weekday(d).label) for d in sorted(self.days) if d in Weekday.values]


class TrackChoice(EnteredInError):
    """One choice of track by the survivor, after a staff member explained every track. Never changed."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="track_choices")
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    track = models.CharField(_("track"), max_length=30, choices=Track.choices)
    previous_track = models.CharField(_("previous track"), max_length=30, choices=Track.choices, blank=True)
    survivor = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+")
    explained_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    explained_on = models.DateField(_("explained on"))
    # What the survivor said about the choice, in their words (optional): a narrative, so encrypted.
    in_their_words = EncryptedLongTextField(
        _("in the survivor's words"), blank=True, null=True, max_length=2000
    )
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("choice of track")
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["organization", "case", "recorded_at"], name="track_org_case")]

    def __str__(self) -> str:
        return f"{self.case} · {self.get_track_display()}"


class EventKind(models.TextChoices):
    """What the case history records. The apps above `cases` add theirs here, so one history tells it all."""

    REFERRAL_RECEIVED = "case.referral", _("Referral received: the case was opened")
    INTAKE_SAVED = "case.intake", _("Intake recorded or changed")
    ENTERED_IN_ERROR = "case.entered_in_error", _("Marked as entered in error")
    REOPENED = "protocol.reopened", _("Case reopened")
    PARTICIPANT_ADDED = "participant.added", _("Participant added")
    DETAILS_CHANGED = "participant.details", _("Identifying details changed")
    CONSENT_GIVEN = "consent.given", _("Consent recorded")
    CONSENT_WITHDRAWN = "consent.withdrawn", _("Consent withdrawn")
    CONTACT_RULES = "contact.rules", _("Safe-contact rules changed")
    TRACK_CHOSEN = "track.chosen", _("Track chosen")
    CHECK_RECORDED = "safety.check", _("Safety check recorded")
    HOLD_OPENED = "safety.hold.opened", _("Safety hold opened")
    HOLD_LIFTED = "safety.hold.lifted", _("Safety hold lifted")
    ALERT_RAISED = "safety.alert", _("Safety alert raised")
    ALERT_SEEN = "safety.alert.seen", _("Safety alert acknowledged")
    PLAN_SAVED = "safety.plan.saved", _("Safety plan revised")
    PLAN_DECLINED = "safety.plan.declined", _("Survivor declined a safety plan")
    PLAN_REVIEWED = "safety.plan.reviewed", _("Safety plan reviewed")
    PLAN_REVIEW_DUE = "safety.plan.due", _("Safety plan due for review")
    STAGE_CHANGED = "protocol.stage", _("Moved to the next stage")
    WITHDRAWN = "protocol.withdrawn", _("The survivor withdrew")
    REFERRED_OUT = "protocol.referred_out", _("Referred out")
    CLOSED = "protocol.closed", _("Case closed")
    MEETING_SCHEDULED = "meeting.scheduled", _("Meeting scheduled")
    MEETING_HELD = "meeting.held", _("Meeting held")
    MEETING_CANCELLED = "meeting.cancelled", _("Meeting cancelled")
    MEETING_CHECK = "meeting.check", _("Safety check-in or check-out at a meeting")
    ACKNOWLEDGED = "protocol.acknowledged", _("Responsibility acknowledged")
    APPROVED = "protocol.approved", _("Supervisor approved the joint dialogue")
    LINK_REVOKED = "link.revoked", _("Survey link revoked")
    POD_CHANGED = "support.pod", _("Support network changed")
    AGREEMENT_DRAFTED = "agreement.drafted", _("Agreement version drafted")
    AGREEMENT_PARTY_AFFIRMED = "agreement.party", _("A party affirmed the agreement")
    AGREEMENT_AFFIRMED = "agreement.affirmed", _("Agreement affirmed by every party")
    COMMITMENT_CHECKIN = "commitment.checkin", _("Progress on a commitment recorded")
    STAIRCASE_STEP = "accountability.step", _("Staircase step recorded")
    SURVIVOR_VIEW = "accountability.survivor_view", _("The survivor's view of progress recorded")
    REACHED_OUT = "protocol.reached_out", _("The other side reached out to the program themselves")


class CaseEvent(models.Model):
    """One line of a case's history: what happened, when, by whom. Appended, never changed.

    `facts` holds codes only (a track, a risk level, a participant label), never what anyone said, so the
    history can be shown to the whole team and kept as long as the case.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40, choices=EventKind.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    facts = models.JSONField(default=dict, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("case event")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["organization", "case", "at"], name="caseevent_org_case_at")]

    def __str__(self) -> str:
        return f"{self.case} · {self.kind} · {self.at:%Y-%m-%d %H:%M}"


def record_event(
    case: Case, kind: str, *, by: User | None = None, at: datetime.datetime | None = None, **facts: str
) -> CaseEvent:
    return CaseEvent.objects.create(
        organization_id=case.organization_id,
        case=case,
        kind=kind,
        by=by,
        at=at or timezone.now(),
        facts=facts,
    )


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
    REVIEW_SAFETY_PLAN = "review_safety_plan", _("Review the safety plan with the survivor")
    REVIEW_COMMITMENT = "review_commitment", _("Review a commitment that was not kept")
    EVALUATION_DUE = "evaluation_due", _("An evaluation questionnaire is due")


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
