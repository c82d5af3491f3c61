from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    KEEPER = "keeper", _("Keeper")
    SAFETY_ADVOCATE = "safety_advocate", _("Safety advocate")
    SUPERVISOR = "supervisor", _("Supervisor")
    PROGRAM_ADMIN = "program_admin", _("Program admin")
    EVALUATOR = "evaluator", _("Evaluator")
    NETWORK_ADMIN = "network_admin", _("Network admin")


# Roles that work directly with cases, and so may sit on a case team.
CASE_ROLES = frozenset({Role.KEEPER, Role.SAFETY_ADVOCATE, Role.SUPERVISOR})
ORGANIZATION_ROLES = frozenset(set(Role) - {Role.NETWORK_ADMIN})


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


def normalize_email(email: str) -> str:
    # Sign-in is by email and case-insensitive, so the stored form is the lower-cased one.
    return email.strip().lower()


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(_("name"), max_length=150)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["display_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["display_name", "email"]

    def __str__(self) -> str:
        return self.display_name or self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    @property
    def is_staff(self) -> bool:
        # Django's admin site is not mounted; nothing should treat a user as admin-site staff.
        return False

    def end_sessions(self) -> int:
        """End every session of this user at once, on every device."""
        deleted, _details = UserSession.objects.filter(user_id=self.pk).delete()
        return deleted


class Network(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    slug = models.SlugField(_("short name"), unique=True)
    # Counts of people below this are shown as "<N" in every aggregate shared beyond a case team
    # (EVALUATION.md); a network may raise it, never below 5.
    suppression_threshold = models.PositiveSmallIntegerField(
        _("smallest count shown"),
        default=11,
        validators=[MinValueValidator(5), MaxValueValidator(100)],
        help_text=_("Counts of people below this are shown as “<N” in shared results."),
    )
    # Counts left shown are rounded to this base where the network chooses it (issue 21): 0 means not rounded.
    rounding_base = models.PositiveSmallIntegerField(
        _("round shown counts to"),
        default=0,
        validators=[MaxValueValidator(10)],
        help_text=_(
            "Counts shown in shared results are rounded to a multiple of this number; 0: not rounded."
        ),
    )

    class Meta:
        verbose_name = _("network")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Organization(models.Model):
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="organizations")
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("short name"), unique=True)
    case_prefix = models.CharField(
        _("case reference prefix"),
        max_length=5,
        unique=True,
        help_text=_("Two to five capital letters that start every case reference, e.g. HAR."),
    )

    class Meta:
        verbose_name = _("organization")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(models.QuerySet["Membership"]):
    def active(self) -> MembershipQuerySet:
        return self.filter(is_active=True, user__is_active=True)

    def in_organization(self, organization: Organization) -> MembershipQuerySet:
        return self.filter(organization=organization)


class Membership(models.Model):
    """A role a person holds: in an organization, or (network admins) over a whole network."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships", null=True, blank=True
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization", "role"],
                name="membership_one_role_per_organization",
                condition=Q(organization__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["user", "network", "role"],
                name="membership_one_network_role",
                condition=Q(organization__isnull=True),
            ),
            # Network admins hold their role over a network; everyone else within one organization.
            models.CheckConstraint(
                condition=(Q(role=Role.NETWORK_ADMIN) & Q(organization__isnull=True))
                | (~Q(role=Role.NETWORK_ADMIN) & Q(organization__isnull=False)),
                name="membership_scope_matches_role",
            ),
        ]
        indexes = [models.Index(fields=["organization", "role", "is_active"], name="membership_org_role")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.organization or self.network}"


class UserSession(AbstractBaseSession):
    """Django's database session, with the user it belongs to, so that all of a user's sessions can end."""

    user_id = models.BigIntegerField(null=True, db_index=True)

    @classmethod
    def get_session_store_class(cls) -> type:
        from circlekeeper.accounts.sessions import SessionStore

        return SessionStore


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def usable(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, withdrawn_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """An organization's offer of roles to whoever holds the emailed link and owns (or makes) the account.

    Only a hash of the link's token is stored; the link works once, until it expires. Nobody is attached to an
    organization without accepting, and the admin who invites never learns whether an account exists.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email address"))
    roles = models.JSONField(_("roles"), default=list)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "accepted_at"], name="invitation_org_open")]

    def __str__(self) -> str:
        return f"{self.email} · {self.organization}"

    @property
    def role_labels(self) -> list[str]:
        return [str(label) for value, label in Role.choices if value in self.roles]


class SecondFactorReset(models.Model):
    """A program admin's request to remove a member's lost second factor so they enrol a new one.

    Where the organization has two or more active program admins a second one must confirm it; the request
    expires after a day.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    confirmed_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("second-factor reset")
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"second-factor reset {self.pk}"
