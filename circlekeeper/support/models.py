"""Support networks (pods, PROTOCOL.md stage 4): the people around each party, who among them know each other,
and the measures of each pod kept at every change (the outcome data evaluation reads).

Everything here is written by services.py only; the parties themselves are the centers of the map, never members.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, Participant
from circlekeeper.lib.fields import EncryptedLongTextField, EncryptedTextField
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet

# The codes and English labels below are repeated in cases/history.py (which may not import this app), so the
# case history words them: keep the two the same (a test compares them).


class PodSide(models.TextChoices):
    SURVIVOR = "survivor", _("The survivor's pod")
    HARM = "harm", _("The pod of the person who caused harm")
    BOTH = "both", _("Both pods")


LABEL_MAX_LENGTH = 60

# The two pods measured and drawn; a member on BOTH is in each.
POD_SIDES = (PodSide.SURVIVOR, PodSide.HARM)


class Stance(models.TextChoices):
    ALLY = "ally", _("Ally")
    BARRIER = "barrier", _("Barrier")
    UNSURE = "unsure", _("Unsure")


class HelpKind(models.TextChoices):
    """What a person around a party can help with (the Creative Interventions toolkit's list, shortened)."""

    EMOTIONAL_SUPPORT = "emotional_support", _("Emotional support")
    SAFE_PLACE = "safe_place", _("A safe place to stay")
    CHILDCARE = "childcare", _("Childcare")
    TRANSPORT = "transport", _("Transport")
    MONEY = "money", _("Money")
    TALK_WITH_HARM = "talk_with_harm", _("Talking with the person who caused harm")
    MONITORING_SAFETY = "monitoring_safety", _("Monitoring safety")
    HOUSING = "housing", _("Housing")
    TRANSLATION = "translation", _("Translation")
    SPIRITUAL_SUPPORT = "spiritual_support", _("Spiritual support")
    OTHER = "other", _("Other")


def help_order(codes: list[str]) -> list[str]:
    """The codes without repeats, in the order of the list of kinds."""
    order = HelpKind.values
    return sorted(set(codes), key=lambda code: order.index(code) if code in order else len(order))


def validate_help(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise ValidationError(_("Choose what they can help with from the list."), code="invalid")
    unknown = sorted(set(value) - set(HelpKind.values))
    if unknown:
        raise ValidationError(
            _("Not a kind of help on the list: %(codes)s.") % {"codes": ", ".join(unknown)}, code="invalid"
        )


class PodMemberQuerySet(OrganizationScopedQuerySet):
    def in_pod(self, side: str) -> PodMemberQuerySet:
        return self.filter(side__in=(side, PodSide.BOTH))


class PodMember(models.Model):
    """One person in a party's pod (or both), a participant of the case or not (yet)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="pod_members")
    # Names the row in the encryption context of its encrypted fields.
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    side = models.CharField(_("pod"), max_length=10, choices=PodSide.choices)
    label = models.CharField(
        _("label"),
        max_length=LABEL_MAX_LENGTH,
        help_text=_("A pseudonymous label, e.g. “Aunt R”; never a full name."),
    )
    # One record per person: the same participant is never entered twice (both pods is a side of its own).
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, null=True, blank=True, related_name="pod_memberships"
    )
    # Who they are to the party ("sister", "pastor"): can identify them, so encrypted.
    relationship = EncryptedTextField(_("relationship"), max_length=200)
    stance = models.CharField(_("ally, barrier or unsure"), max_length=10, choices=Stance.choices)
    help = models.JSONField(_("can help with"), default=list, blank=True, validators=[validate_help])
    active = models.BooleanField(_("active"), default=True)
    # Why one person is in both pods (required then, refused otherwise): may say too much, so encrypted.
    both_reason = EncryptedLongTextField(_("why in both pods"), blank=True, null=True, max_length=1000)
    # Raised by every change: a second editor working from an older page is refused.
    version = models.PositiveIntegerField(default=1, editable=False)
    added_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = PodMemberQuerySet.as_manager()

    class Meta:
        verbose_name = _("support network member")
        ordering = ["case", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "label"], name="podmember_label_unique"),
            models.UniqueConstraint(
                fields=["case", "participant"],
                condition=Q(participant__isnull=False),
                name="podmember_participant_unique",
            ),
        ]
        indexes = [models.Index(fields=["organization", "case"], name="podmember_org_case")]

    def __str__(self) -> str:
        # The label only: never the relationship, which may be printed in a log or an error page.
        return self.label

    @property
    def is_barrier(self) -> bool:
        return self.stance == Stance.BARRIER

    @property
    def help_labels(self) -> list[str]:
        return [str(HelpKind(code).label) for code in self.help if code in HelpKind.values]

    def in_pod(self, side: str) -> bool:
        return self.side in (side, PodSide.BOTH)


class PodTieQuerySet(OrganizationScopedQuerySet):
    def current(self) -> PodTieQuerySet:
        return self.filter(removed_at__isnull=True)


class PodTie(models.Model):
    """Two members of a case's pods know each other. Unordered: stored with a before b.

    Removing a tie stamps it, never deletes it: the history of who knew whom stays as it was.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="pod_ties")
    a = models.ForeignKey(PodMember, on_delete=models.CASCADE, related_name="+")
    b = models.ForeignKey(PodMember, on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    removed_at = models.DateTimeField(_("removed"), null=True, blank=True)
    removed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    objects = PodTieQuerySet.as_manager()

    class Meta:
        verbose_name = _("tie between support network members")
        ordering = ["a_id", "b_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(a__lt=F("b")), name="podtie_ordered_pair"),
            models.UniqueConstraint(
                fields=["a", "b"], condition=Q(removed_at__isnull=True), name="podtie_unique_current"
            ),
        ]
        indexes = [models.Index(fields=["organization", "case"], name="podtie_org_case")]

    def __str__(self) -> str:
        return f"{self.case} · tie {self.a_id}–{self.b_id}"


class PodMeasureQuerySet(OrganizationScopedQuerySet):
    def last_stored(self, case: Case) -> dict[str, PodMeasure]:
        """The row stored last for each pod of the case: one query, read newest first until both are found."""
        found: dict[str, PodMeasure] = {}
        for row in self.filter(case=case).order_by("-id").iterator(chunk_size=4):
            found.setdefault(row.side, row)
            if len(found) == len(POD_SIDES):
                break
        return found


class PodMeasure(models.Model):
    """One pod's connectedness as it stood after a change (measures.py says how each number is counted).

    Stored only when a number changed, so the rows are the pod's history; issue 8's evaluation reads them.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="pod_measures")
    side = models.CharField(_("pod"), max_length=10, choices=[(s.value, s.label) for s in POD_SIDES])
    computed_at = models.DateTimeField(_("when"), default=timezone.now)
    pod_size = models.PositiveIntegerField(_("people in the pod"))
    consenting_active = models.PositiveIntegerField(_("consenting active allies"))
    help_covered = models.JSONField(_("kinds of help covered"), default=list, blank=True)
    density = models.FloatField(_("share of them who know each other"))
    in_touch_share = models.FloatField(_("share in touch with the program"), null=True, blank=True)

    objects = PodMeasureQuerySet.as_manager()

    class Meta:
        verbose_name = _("support network measure")
        ordering = ["computed_at", "id"]
        indexes = [
            models.Index(fields=["organization", "case", "computed_at"], name="podmeasure_org_case_at")
        ]

    def __str__(self) -> str:
        return f"{self.case} · {self.side} · {self.computed_at:%Y-%m-%d %H:%M}"

    @property
    def help_labels(self) -> list[str]:
        return [str(HelpKind(code).label) for code in self.help_covered if code in HelpKind.values]
