"""Re-authentication before sensitive actions such as exports (SECURITY.md 14).

A signed-in person confirms who they are again (password, and a current code when they have a second
factor); the time is kept in their session. A view that needs it calls `require_recent_authentication`,
which answers with a redirect to the re-authentication page (coming back to the view afterwards) when the
confirmation is missing or older than `max_age`.

Failures are counted in the session: after `MAX_FAILURES` in a row the session ends, so that someone at an
unattended, signed-in computer cannot keep guessing the password.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

REAUTHENTICATED_AT_KEY = "reauthenticated_at"
FAILURES_KEY = "reauthentication_failures"
MAX_AGE = datetime.timedelta(minutes=10)
MAX_FAILURES = 5


def mark_reauthenticated(request: HttpRequest, *, now: float | None = None) -> None:
    request.session[REAUTHENTICATED_AT_KEY] = time.time() if now is None else now
    request.session.pop(FAILURES_KEY, None)


def recently_authenticated(request: HttpRequest, *, max_age: datetime.timedelta = MAX_AGE) -> bool:
    at = request.session.get(REAUTHENTICATED_AT_KEY)
    if not isinstance(at, int | float):
        return False
    age = time.time() - float(at)
    # A time in the future (a clock set back) is not trusted either.
    return 0 <= age <= max_age.total_seconds()


def require_recent_authentication(
    request: HttpRequest, *, max_age: datetime.timedelta = MAX_AGE, next_url: str | None = None
) -> HttpResponse | None:
    """None when the person confirmed their identity within `max_age`; else a redirect to do it now.

    `next_url` is where to come back to (by default this page, with its query): a POST cannot be replayed
    after the redirect, so a view answering a POST passes the page that shows its form.
    """
    if request.user.is_authenticated and recently_authenticated(request, max_age=max_age):
        return None
    target = next_url or request.get_full_path()
    return redirect(f"{reverse('accounts:reauthenticate')}?{urlencode({'next': target})}")


def guard_export(request: HttpRequest, *, next_url: str | None = None) -> HttpResponse | None:
    """The web side of the one export guard (lib.csv_safety has the cells): every download of a file asks for
    the same recent re-authentication. None when it may go ahead; else the redirect to confirm first."""
    return require_recent_authentication(request, max_age=MAX_AGE, next_url=next_url)


def record_failure(request: HttpRequest) -> int:
    """Count one more failure in a row; the count so far."""
    failures = int(request.session.get(FAILURES_KEY, 0)) + 1
    request.session[FAILURES_KEY] = failures
    return failures


class ReauthenticationForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    token = forms.CharField(
        label=_("Code"),
        max_length=16,
        help_text=_("The 6-digit code from your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
    )

    def __init__(self, *args: Any, needs_code: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not needs_code:
            del self.fields["token"]

    def clean_token(self) -> str:
        return "".join(self.cleaned_data["token"].split())
