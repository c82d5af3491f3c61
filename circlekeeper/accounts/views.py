from __future__ import annotations

import time
from typing import Any

import django_otp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from circlekeeper.accounts import invitations, mfa, passkeys, second_factor_reset, services
from circlekeeper.accounts.access import choose_organization, program_admin_context
from circlekeeper.accounts.audit import Action, audit, audit_sign_in_failure
from circlekeeper.accounts.forms import InviteForm, LoginForm, MemberChangeForm, SetupForm, TokenForm
from circlekeeper.accounts.middleware import LOGIN_AT_KEY, RENEWED_AT_KEY
from circlekeeper.accounts.models import Invitation, Membership, Organization, User
from circlekeeper.lib.audit import Outcome
from circlekeeper.lib.idempotency import remember_result

NEXT_KEY = "next_after_login"
THROTTLED = _lazy("Wait a few seconds before trying again: each wrong code makes the next try wait longer.")


def _safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


# Outside the request transaction (issue 20): checking a password costs about 0.2 s of CPU (PBKDF2), and on
# SQLite a transaction holds the database's one write lock, so a burst of sign-ins (or of wrong passwords from
# one address) held every other writer off until they timed out. The hash is checked with no transaction open;
# what signing in writes (the session, the last sign-in, the audit event) is one short transaction after it,
# and a failure's event and the throttle's count each write on their own.
@transaction.non_atomic_requests
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
        )
        if user is not None:
            with transaction.atomic():
                login(request, user)
                # Signing in saves the session (a fresh idle expiry): that is its first renewal.
                request.session[LOGIN_AT_KEY] = request.session[RENEWED_AT_KEY] = time.time()
                audit(request, action=Action.LOGIN_SUCCESS)
            next_url = _safe_next(request, request.POST.get("next"))
            if next_url:
                request.session[NEXT_KEY] = next_url
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
        audit_sign_in_failure(request, form.cleaned_data["username"])
        # One message for an unknown email and a wrong password, so that nobody can tell which it was.
        form.add_error(None, _("The email or password is not right. Please try again."))
    return render(
        request,
        "accounts/login.html",
        {
            "form": form,
            "next": _safe_next(request, request.GET.get("next")),
            "mfa_off": not settings.REQUIRE_MFA,
        },
    )


def locked_out(
    request: HttpRequest, credentials: dict[str, Any] | None = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    audit_sign_in_failure(request, request.POST.get("username", ""), action=Action.LOGIN_LOCKED)
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    return render(request, "accounts/locked_out.html", {"minutes": minutes}, status=429)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit(request, action=Action.LOGOUT)
    logout(request)
    messages.info(request, _("You have signed out."))
    return redirect("accounts:login")


@login_required
def mfa_setup(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    replacing = mfa.has_confirmed_device(user)
    if replacing and not user.is_verified():  # type: ignore[attr-defined]
        # Someone who only knows the password must not be able to swap the second factor.
        return redirect("accounts:mfa_verify")
    device = mfa.pending_totp_device(user)
    form = SetupForm(request.POST or None, needs_password=replacing)
    if request.method == "POST" and form.is_valid():
        if replacing and not user.check_password(form.cleaned_data["password"]):
            form.add_error("password", _("That password is not right."))
        elif not device.verify_is_allowed()[0]:
            form.add_error("token", THROTTLED)
        elif not device.verify_token(form.cleaned_data["token"]):
            form.add_error(
                "token", _("That code did not match. Check the time on your phone and try the newest code.")
            )
        else:
            codes = mfa.confirm_totp_device(user, device)
            django_otp.login(request, device)
            audit(request, action=Action.MFA_SETUP)
            # The codes are shown once, in this answer; a repeat of the form goes to the account page and
            # neither replaces the authenticator nor makes new codes.
            remember_result(request, reverse("accounts:account"))
            return render(request, "accounts/recovery_codes.html", {"codes": codes})
        audit(request, action=Action.MFA_SETUP, outcome=Outcome.FAILED)
    context = {
        "form": form,
        "qr_svg": mfa.qr_code_svg(device),
        "secret": mfa.totp_secret(device),
        "replacing": replacing,
    }
    return render(request, "accounts/mfa_setup.html", context)


@login_required
def mfa_verify(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not mfa.has_confirmed_device(user):
        return redirect("accounts:mfa_setup")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device, throttled = mfa.match_code(user, form.cleaned_data["token"])
        if device is not None:
            django_otp.login(request, device)
            audit(request, action=Action.MFA_VERIFY)
            next_url = _safe_next(request, request.session.pop(NEXT_KEY, None))
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
        audit(request, action=Action.MFA_VERIFY, outcome=Outcome.FAILED)
        form.add_error(
            "token",
            THROTTLED if throttled else _("That code did not work. Try the newest code, or a recovery code."),
        )
    return render(
        request, "accounts/mfa_verify.html", {"form": form, "has_passkey": passkeys.has_passkey(user)}
    )


@login_required
@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    try:
        organization_id = int(request.POST.get("organization", ""))
    except ValueError:
        organization_id = 0
    if not choose_organization(request, organization_id):
        raise Http404
    return redirect(settings.LOGIN_REDIRECT_URL)


def _get_member_for(organization: Organization, user_id: int) -> User:
    """A person with roles in the admin's active organization; anyone else is a 404."""
    return get_object_or_404(User.objects.distinct(), pk=user_id, memberships__organization=organization)


@login_required
def member_list(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    memberships = Membership.objects.in_organization(organization).select_related("user")
    people: dict[int, dict[str, Any]] = {}
    for m in memberships.order_by("user__display_name", "user__email", "role"):
        entry = people.setdefault(
            m.user_id, {"user": m.user, "roles": [], "active": m.is_active and m.user.is_active}
        )
        entry["roles"].append(m.get_role_display())
    page = Paginator(list(people.values()), 50).get_page(request.GET.get("page"))
    pending = Invitation.objects.usable().filter(organization=organization).order_by("email")[:100]
    return render(
        request, "accounts/member_list.html", {"page": page, "organization": organization, "pending": pending}
    )


@login_required
def member_add(request: HttpRequest) -> HttpResponse:
    """Invite someone: the page says the same whether or not the address has an account (it never looks)."""
    context, organization = program_admin_context(request)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sent = invitations.invite(
                organization=organization, email=data["email"], roles=data["roles"], by=context.user
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            audit(request, action=Action.INVITATION_SEND, object_type="invitation", object_id=sent.pk)
            messages.success(
                request,
                _(
                    "An invitation was sent to %(email)s. The roles start when it is accepted; "
                    "the link works once and expires in %(days)s days."
                )
                % {"email": data["email"], "days": settings.INVITATION_VALID_DAYS},
            )
            return redirect("accounts:member_list")
    return render(request, "accounts/member_form.html", {"form": form, "adding": True})


@login_required
@require_POST
def invitation_withdraw(request: HttpRequest, invitation_id: int) -> HttpResponse:
    _context, organization = program_admin_context(request)
    if not invitations.withdraw(organization=organization, invitation_id=invitation_id):
        raise Http404
    audit(request, action=Action.INVITATION_WITHDRAW, object_type="invitation", object_id=invitation_id)
    messages.success(request, _("The invitation was withdrawn: its link no longer works."))
    return redirect("accounts:member_list")


@login_required
def member_change(request: HttpRequest, user_id: int) -> HttpResponse:
    """Roles in this organization only: a person's name, email, password and second factor are theirs."""
    _context, organization = program_admin_context(request)
    member = _get_member_for(organization, user_id)
    roles = list(
        Membership.objects.in_organization(organization).filter(user=member).values_list("role", flat=True)
    )
    form = MemberChangeForm(request.POST or None, initial={"roles": roles})
    if request.method == "POST" and form.is_valid():
        try:
            services.change_member(organization=organization, user=member, roles=form.cleaned_data["roles"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            audit(request, action=Action.MEMBER_CHANGE, object_type="user", object_id=member.pk)
            messages.success(request, _("Changes saved."))
            return redirect("accounts:member_list")
    active = Membership.objects.in_organization(organization).filter(user=member, is_active=True).exists()
    return render(
        request,
        "accounts/member_form.html",
        {
            "form": form,
            "member": member,
            "adding": False,
            "active": active,
            "reset_pending": second_factor_reset.pending(organization, member),
        },
    )


@login_required
@require_POST
def member_set_active(request: HttpRequest, user_id: int) -> HttpResponse:
    context, organization = program_admin_context(request)
    member = _get_member_for(organization, user_id)
    active = request.POST.get("active") == "1"
    try:
        services.set_member_active(
            organization=organization,
            user=member,
            active=active,
            by=context.user,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        action = Action.MEMBER_ACTIVATE if active else Action.MEMBER_DEACTIVATE
        audit(request, action=action, object_type="user", object_id=member.pk)
        text = (
            _("%(name)s can sign in again.")
            if active
            else _(
                "%(name)s can no longer open anything at %(org)s. Their other organizations are not affected."
            )
        )
        messages.success(request, text % {"name": member, "org": organization.name})
    return redirect("accounts:member_change", user_id=member.pk)


@login_required
@require_POST
def member_second_factor(request: HttpRequest, user_id: int) -> HttpResponse:
    """Start, or (as a second program admin) confirm, the re-enrolment of a member's lost second factor."""
    context, organization = program_admin_context(request)
    member = _get_member_for(organization, user_id)
    confirming = request.POST.get("step") == "confirm"
    try:
        if confirming:
            second_factor_reset.confirm_reset(organization=organization, user=member, by=context.user)
            done = True
        else:
            done = second_factor_reset.request_reset(organization=organization, user=member, by=context.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        action = Action.MFA_RESET_CONFIRM if confirming else Action.MFA_RESET_REQUEST
        audit(request, action=action, object_type="user", object_id=member.pk)
        if done:
            messages.success(
                request,
                _("%(name)s was signed out and sets up a new second factor at the next sign-in.")
                % {"name": member},
            )
        else:
            messages.success(request, _("Another program admin must now confirm the re-enrolment."))
    return redirect("accounts:member_change", user_id=member.pk)
