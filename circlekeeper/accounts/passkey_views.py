"""Passkeys: the person's own list (add, name, remove) and the package's JSON ceremonies, with our rules on top.

The ceremonies are django-otp-webauthn's views, narrowed: adding needs a recent re-authentication (as any
second-factor change does), signing in with a passkey needs the password first (never passwordless), and every
outcome is audited like the other second-factor events.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp_webauthn import exceptions, views
from django_otp_webauthn.models import AbstractWebAuthnCredential, WebAuthnCredential

from circlekeeper.accounts import passkeys, reauth
from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import User
from circlekeeper.accounts.views import NEXT_KEY, _safe_next
from circlekeeper.lib.audit import Outcome


class ReauthenticationNeeded(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = _lazy("Confirm who you are again before adding a passkey: reload the page.")
    default_code = "reauthentication_needed"


class PasswordFirst(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = _lazy("Sign in with your email and password first.")
    default_code = "password_first"


@method_decorator(require_POST, name="dispatch")
class RegistrationBegin(views.BeginCredentialRegistrationView):
    def check_can_register(self) -> None:
        if not reauth.recently_authenticated(self.request):
            raise ReauthenticationNeeded()


@method_decorator(require_POST, name="dispatch")
class RegistrationComplete(views.CompleteCredentialRegistrationView):
    def check_can_register(self) -> None:
        if not reauth.recently_authenticated(self.request):
            raise ReauthenticationNeeded()

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = super().post(*args, **kwargs)
        except exceptions.OTPWebAuthnApiError:
            audit(self.request, action=Action.PASSKEY_ADD, outcome=Outcome.FAILED)
            raise
        audit(self.request, action=Action.PASSKEY_ADD, object_type="passkey", object_id=_id_of(response))
        return response


@method_decorator(require_POST, name="dispatch")
class AuthenticationBegin(views.BeginCredentialAuthenticationView):
    def check_can_authenticate(self) -> None:
        user = self.get_user()
        if user is None or not user.is_active:
            raise PasswordFirst()


@method_decorator(require_POST, name="dispatch")
class AuthenticationComplete(views.CompleteCredentialAuthenticationView):
    def check_can_authenticate(self) -> None:
        user = self.get_user()
        if user is None or not user.is_active:
            raise PasswordFirst()

    def complete_auth(self, device: AbstractWebAuthnCredential) -> None:
        # The password was checked by the sign-in page; the passkey is the second factor, as a TOTP code is.
        otp_login(self.request, device)
        audit(self.request, action=Action.MFA_VERIFY, object_type="passkey", object_id=device.pk)

    def get_success_url(self) -> str:
        next_url = _safe_next(self.request, self.request.session.pop(NEXT_KEY, None))
        return next_url or reverse(settings.LOGIN_REDIRECT_URL)

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().post(*args, **kwargs)
        except exceptions.OTPWebAuthnApiError:
            audit(self.request, action=Action.MFA_VERIFY, object_type="passkey", outcome=Outcome.FAILED)
            raise


def _id_of(response: HttpResponse) -> str:
    return str(json.loads(response.content).get("id", "")) if isinstance(response, JsonResponse) else ""


@login_required
def passkey_list(request: HttpRequest) -> HttpResponse:
    """The person's passkeys, and the button that adds one: behind a fresh re-authentication."""
    needed = reauth.require_recent_authentication(request)
    if needed is not None:
        return needed
    user: User = request.user  # type: ignore[assignment]
    return render(request, "accounts/passkeys.html", {"passkeys": passkeys.for_user(user)})


def _own_passkey(request: HttpRequest, passkey_id: int) -> WebAuthnCredential:
    found = passkeys.get_own(request.user, passkey_id)  # type: ignore[arg-type]
    if found is None:
        raise Http404
    return found


@login_required
@require_POST
def passkey_rename(request: HttpRequest, passkey_id: int) -> HttpResponse:
    passkey = _own_passkey(request, passkey_id)
    needed = reauth.require_recent_authentication(request, next_url=reverse("accounts:passkeys"))
    if needed is not None:
        return needed
    try:
        passkeys.rename(passkey, request.POST.get("name", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        audit(request, action=Action.PASSKEY_RENAME, object_type="passkey", object_id=passkey.pk)
        messages.success(request, _("The passkey was renamed."))
    return redirect("accounts:passkeys")


@login_required
@require_POST
def passkey_remove(request: HttpRequest, passkey_id: int) -> HttpResponse:
    passkey = _own_passkey(request, passkey_id)
    needed = reauth.require_recent_authentication(request, next_url=reverse("accounts:passkeys"))
    if needed is not None:
        return needed
    user: User = request.user  # type: ignore[assignment]
    removed_id = passkey.pk
    try:
        passkeys.remove(user, passkey)
    except ValidationError as exc:
        audit(
            request,
            action=Action.PASSKEY_REMOVE,
            object_type="passkey",
            object_id=removed_id,
            outcome=Outcome.REFUSED,
        )
        messages.error(request, " ".join(exc.messages))
    else:
        audit(request, action=Action.PASSKEY_REMOVE, object_type="passkey", object_id=removed_id)
        messages.success(request, _("The passkey was removed: it no longer signs you in."))
    return redirect("accounts:passkeys")
