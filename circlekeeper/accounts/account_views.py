"""A person's own account: accepting an invitation, their name, their password (changed or reset by email)."""

from __future__ import annotations

import time

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from circlekeeper.accounts import invitations, mfa, passkeys, passwords
from circlekeeper.accounts.access import staff_context
from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.forms import (
    AccountForm,
    EmailChangeForm,
    NewAccountForm,
    NewPasswordForm,
    PasswordChangeForm,
    ResetRequestForm,
)
from circlekeeper.accounts.middleware import LOGIN_AT_KEY, RENEWED_AT_KEY
from circlekeeper.accounts.models import Role, User
from circlekeeper.accounts.views import THROTTLED
from circlekeeper.lib.audit import Outcome
from circlekeeper.lib.idempotency import remember_result

INVITATION_TOKEN_KEY = "invitation_token"  # nosec B105: the session key's name, not a secret
RESET_USER_KEY = "password_reset_user"
RESET_TOKEN_KEY = "password_reset_token"  # nosec B105: the session key's name, not a secret


def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: its token moves into the session at once, so no later page, redirect or `next` holds it."""
    if invitations.find_usable(token) is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    request.session[INVITATION_TOKEN_KEY] = token
    return redirect("accounts:invitation")


def invitation(request: HttpRequest) -> HttpResponse:
    found = invitations.find_usable(request.session.get(INVITATION_TOKEN_KEY, ""))
    if found is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    user = request.user
    if user.is_authenticated:
        assert isinstance(user, User)
        if request.method == "POST":
            try:
                invitations.accept(found, user)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                return redirect(settings.LOGIN_REDIRECT_URL)
            request.session.pop(INVITATION_TOKEN_KEY, None)
            audit(request, action=Action.INVITATION_ACCEPT, object_type="invitation", object_id=found.pk)
            messages.success(request, _("You joined %(org)s.") % {"org": found.organization.name})
            return redirect(settings.LOGIN_REDIRECT_URL)
        return render(
            request,
            "accounts/invitation_accept.html",
            {"invitation": found, "same_address": user.email == found.email},
        )
    if invitations.account_exists(found):
        # The holder of the link owns the address: telling them their account exists tells nobody else anything.
        login_url = f"{reverse('accounts:login')}?{urlencode({'next': request.path})}"
        return render(
            request, "accounts/invitation_sign_in.html", {"invitation": found, "login_url": login_url}
        )
    form = NewAccountForm(request.POST or None, user=User(email=found.email))
    if request.method == "POST" and form.is_valid():
        try:
            new_user = invitations.accept_with_new_account(
                found,
                display_name=form.cleaned_data["display_name"],
                password=form.cleaned_data["new_password1"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            request.session.pop(INVITATION_TOKEN_KEY, None)
            login(request, new_user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[LOGIN_AT_KEY] = request.session[RENEWED_AT_KEY] = time.time()
            audit(request, action=Action.ACCOUNT_CREATE, object_type="invitation", object_id=found.pk)
            # The second factor is part of the same flow: nothing opens before it is set up.
            return redirect("accounts:mfa_setup")
    return render(request, "accounts/invitation_new_account.html", {"invitation": found, "form": form})


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = AccountForm(request.POST or None, initial={"display_name": user.display_name})
    if request.method == "POST" and form.is_valid():
        user.display_name = form.cleaned_data["display_name"]
        user.full_clean(exclude=["password"])
        user.save(update_fields=["display_name"])
        audit(request, action=Action.ACCOUNT_CHANGE, object_type="user", object_id=user.pk)
        messages.success(request, _("Changes saved."))
        return redirect("accounts:account")
    context = staff_context(request)
    # Evaluators and network admins make their API tokens from here (issue 24: the api app's page).
    api_tokens = context is not None and bool(context.has_role(Role.EVALUATOR) or context.admin_of_networks)
    return render(
        request,
        "accounts/account.html",
        {
            "form": form,
            "has_device": mfa.has_confirmed_device(user),
            "passkey_count": passkeys.for_user(user).count(),
            "api_tokens": api_tokens,
        },
    )


@login_required
def email_change(request: HttpRequest) -> HttpResponse:
    """A new address for one's own account: the current password, then a link the new address must open."""
    user: User = request.user  # type: ignore[assignment]
    form = EmailChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not user.check_password(form.cleaned_data["password"]):
            form.add_error("password", _("That password is not right."))
        else:
            # The same answer whether or not another account has the address: it is checked when confirmed.
            passwords.request_email_change(user, form.cleaned_data["email"])
            audit(request, action=Action.ACCOUNT_CHANGE, object_type="user", object_id=user.pk)
            messages.success(
                request,
                _(
                    "A link to confirm the new address was sent there. Your address changes when it is opened."
                ),
            )
            return redirect("accounts:account")
    return render(request, "accounts/email_change.html", {"form": form})


def email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    user = passwords.confirm_email_change(token)
    if user is None:
        return render(request, "accounts/email_change_invalid.html", status=404)
    audit(request, action=Action.ACCOUNT_CHANGE, object_type="user", object_id=user.pk, actor=user)
    messages.success(request, _("Your email address was changed. Sign in with the new one from now on."))
    return redirect(settings.LOGIN_REDIRECT_URL if request.user.is_authenticated else settings.LOGIN_URL)


@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    needs_code = mfa.has_confirmed_device(user)
    form = PasswordChangeForm(request.POST or None, user=user, needs_code=needs_code)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            # Both checks always run, so the answer does not tell which of the two was wrong.
            password_ok = user.check_password(form.cleaned_data["current_password"])
            device, throttled = (
                mfa.match_code(user, form.cleaned_data["token"]) if needs_code else (None, False)
            )
            if password_ok and (device is not None or not needs_code):
                passwords.change_password(request, user, form.cleaned_data["new_password1"])
                audit(request, action=Action.PASSWORD_CHANGE, object_type="user", object_id=user.pk)
                messages.success(request, _("Your password was changed. Your other sessions have ended."))
                return redirect("accounts:account")
            audit(
                request,
                action=Action.PASSWORD_CHANGE,
                outcome=Outcome.FAILED,
                object_type="user",
                object_id=user.pk,
            )
            form.add_error(
                None,
                THROTTLED
                if throttled
                else _("The current password or the code is not right. Please try again."),
            )
    return render(request, "accounts/password_change.html", {"form": form}, status=status)


def password_reset(request: HttpRequest) -> HttpResponse:
    form = ResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        sent = passwords.request_reset(
            request, form.cleaned_data["email"], get_client_ip_address(request) or ""
        )
        if not sent:
            return render(
                request, "accounts/password_reset.html", {"form": form, "throttled": True}, status=429
            )
        # A repeat of the form is shown this answer again, and no second email is sent.
        remember_result(request, f"{reverse('accounts:password_reset')}?asked=1")
        return render(request, "accounts/password_reset.html", {"form": None, "asked": True})
    if request.GET.get("asked"):
        return render(request, "accounts/password_reset.html", {"form": None, "asked": True})
    return render(request, "accounts/password_reset.html", {"form": form})


def password_reset_confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The emailed link: its token moves into the session at once, so the page after it carries no token."""
    user = passwords.user_for_reset(uidb64, token)
    if user is None:
        return render(request, "accounts/password_reset_invalid.html", status=404)
    request.session[RESET_USER_KEY] = uidb64
    request.session[RESET_TOKEN_KEY] = token
    return redirect("accounts:password_reset_set")


def password_reset_set(request: HttpRequest) -> HttpResponse:
    uidb64 = request.session.get(RESET_USER_KEY, "")
    token = request.session.get(RESET_TOKEN_KEY, "")
    user = passwords.user_for_reset(uidb64, token) if uidb64 and token else None
    if user is None:
        return render(request, "accounts/password_reset_invalid.html", status=404)
    form = NewPasswordForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        passwords.complete_reset(user, form.cleaned_data["new_password1"])
        audit(request, action=Action.PASSWORD_RESET, object_type="user", object_id=user.pk, actor=user)
        logout(request)
        messages.success(request, _("Your password was reset and every session ended. Please sign in."))
        return redirect(settings.LOGIN_URL)
    return render(request, "accounts/password_reset_set.html", {"form": form})
