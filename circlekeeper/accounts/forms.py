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


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email"))
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=ORGANIZATION_ROLE_CHOICES, widget=forms.CheckboxSelectMultiple
    )

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class MemberChangeForm(forms.Form):
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=ORGANIZATION_ROLE_CHOICES, widget=forms.CheckboxSelectMultiple
    )


class NewPasswordForm(forms.Form):
    """A new password, typed twice, checked against the password validators (common passwords included)."""

    new_password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "At least 12 characters; not a common password, not only digits, not like your name or email."
        ),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("new_password1"), data.get("new_password2")
        if first and second:
            if first != second:
                self.add_error("new_password2", _("The two passwords are not the same."))
            else:
                try:
                    password_validation.validate_password(first, self.user)
                except forms.ValidationError as exc:
                    self.add_error("new_password1", exc)
        return data


class NewAccountForm(NewPasswordForm):
    display_name = forms.CharField(
        label=_("Your name"), max_length=150, help_text=_("As colleagues will see it.")
    )

    field_order = ["display_name", "new_password1", "new_password2"]

    def clean(self) -> dict[str, Any]:
        self.user.display_name = self.cleaned_data.get("display_name", "")
        return super().clean()


class PasswordChangeForm(NewPasswordForm):
    current_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    token = forms.CharField(
        label=_("Code"),
        max_length=16,
        help_text=_("The 6-digit code from your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
    )

    field_order = ["current_password", "token", "new_password1", "new_password2"]

    def __init__(self, *args: Any, needs_code: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not needs_code:
            del self.fields["token"]

    def clean_token(self) -> str:
        return "".join(self.cleaned_data["token"].split())


class ResetRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True})
    )

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class EmailChangeForm(forms.Form):
    email = forms.EmailField(label=_("New email address"))
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class AccountForm(forms.Form):
    display_name = forms.CharField(label=_("Your name"), max_length=150)


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


class ShredForm(forms.Form):
    confirmation = forms.CharField(
        label=_("Type the organization's name to confirm"),
        max_length=200,
        help_text=_("Exactly as it is written above. This cannot be undone."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
