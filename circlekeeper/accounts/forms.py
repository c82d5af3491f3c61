from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import ORGANIZATION_ROLES, Role, normalize_email

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
