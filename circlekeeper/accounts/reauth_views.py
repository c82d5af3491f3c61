"""The re-authentication page (SECURITY.md 14): the password again, and a current code when there is a device."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from circlekeeper.accounts import mfa, reauth
from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import User
from circlekeeper.accounts.views import THROTTLED, _safe_next
from circlekeeper.lib.audit import Outcome


@login_required
@transaction.non_atomic_requests  # the password hash is checked outside any transaction (see login_view)
def reauthenticate(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    needs_code = mfa.has_confirmed_device(user)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = reauth.ReauthenticationForm(request.POST or None, needs_code=needs_code)
    status = 200
    if request.method == "POST" and form.is_valid():
        # Both checks always run, so the answer does not tell which of the two was wrong.
        password_ok = user.check_password(form.cleaned_data["password"])
        device, throttled = mfa.match_code(user, form.cleaned_data["token"]) if needs_code else (None, False)
        if password_ok and (device is not None or not needs_code):
            with transaction.atomic():
                reauth.mark_reauthenticated(request)
                audit(request, action=Action.REAUTHENTICATED)
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
        failures = reauth.record_failure(request)
        if failures >= reauth.MAX_FAILURES:
            with transaction.atomic():
                audit(request, action=Action.REAUTHENTICATION_FAILURE, outcome=Outcome.REFUSED)
                logout(request)
            messages.error(
                request, _("Too many wrong tries: you have been signed out. Please sign in again.")
            )
            return redirect(settings.LOGIN_URL)
        audit(request, action=Action.REAUTHENTICATION_FAILURE, outcome=Outcome.FAILED)
        if throttled:
            form.add_error(None, THROTTLED)
        elif needs_code:
            form.add_error(None, _("The password or the code is not right. Please try again."))
        else:
            form.add_error(None, _("That password is not right. Please try again."))
        status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "accounts/reauthenticate.html",
        {
            "form": form,
            "next": next_url,
            "tries_left": reauth.MAX_FAILURES - int(request.session.get(reauth.FAILURES_KEY, 0)),
        },
        status=status,
    )
