from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import ORGANIZATION_ROLES, Role, User, normalize_email
from circlekeeper.lib.audit import AuditEventQuerySet

ORGANIZATION_ROLE_CHOICES = [(value, label) for value, label in Role.choices if value in ORGANIZATION_ROLES]


class LoginForm(forms.Form):
    username = forms.EmailField(
        label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean_username(self) -> str:
        return normalize_email(self.cleaned_data["username"])


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=16,
        help_text=_("The 6-digit code from your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        return "".join(self.cleaned_data["token"].split())


class SetupForm(TokenForm):
    """Confirms a new authenticator; replacing an existing one asks for the password again."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, needs_password: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["token"].help_text = _(
            "The 6-digit code your authenticator app shows after adding the account."
        )
        if not needs_password:
            del self.fields["password"]
        else:
            self.fields["password"].required = True


class MemberForm(forms.Form):
    email = forms.EmailField(label=_("Email"))
    display_name = forms.CharField(label=_("Name"), max_length=150)
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=ORGANIZATION_ROLE_CHOICES, widget=forms.CheckboxSelectMultiple
    )

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class NewMemberForm(MemberForm):
    password = forms.CharField(
        label=_("First password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Give it to the person in a safe way. They set up their second factor when they first sign in."
        ),
    )

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


class MemberChangeForm(forms.Form):
    display_name = forms.CharField(label=_("Name"), max_length=150)
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=ORGANIZATION_ROLE_CHOICES, widget=forms.CheckboxSelectMultiple
    )


class AuditFilterForm(forms.Form):
    person = forms.TypedChoiceField(label=_("Person"), required=False, coerce=int, empty_value=None)
    case = forms.IntegerField(
        label=_("Case number"),
        required=False,
        min_value=1,
        help_text=_("The number in the case's web address, e.g. 42 in /cases/42/."),
    )
    action = forms.ChoiceField(label=_("What happened"), required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args: Any, people: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [("", _("Anyone")), *((u.pk, f"{u} ({u.email})") for u in people)]  # type: ignore[attr-defined]
        self.fields["action"].choices = [("", _("Anything")), *Action.choices]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(_("The “From” date is after the “To” date."))
        return data

    def filter(self, events: AuditEventQuerySet) -> AuditEventQuerySet:
        data = self.cleaned_data
        if data["person"]:
            events = events.by_actor(data["person"])
        if data["case"]:
            events = events.about("case", data["case"])
        if data["action"]:
            events = events.filter(action=data["action"])
        if data["date_from"]:
            events = events.filter(occurred_at__gte=_start_of(data["date_from"]))
        if data["date_to"]:
            events = events.filter(occurred_at__lt=_start_of(data["date_to"] + datetime.timedelta(days=1)))
        return events


def _start_of(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of a day, in the time zone the page shows times in."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
