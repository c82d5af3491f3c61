from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.translation import gettext as _

LOGIN_AT_KEY = "login_at"

Handler = Callable[[HttpRequest], HttpResponse]


RENEWED_AT_KEY = "renewed_at"


def renew_for_activity(request: HttpRequest, now: float) -> None:
    """Inactivity ends a session: its expiry is SESSION_IDLE_MINUTES after it was last saved. Saving the session on
    every request costs a database write per page, so an active session is saved (its expiry moved on) at most once
    every SESSION_RENEW_SECONDS: it then ends between SESSION_IDLE_MINUTES minus that and SESSION_IDLE_MINUTES
    after the last request, a little early and never late."""
    session = request.session
    if session.session_key is None or session.is_empty():
        return  # nothing to keep alive (and an anonymous visitor is given no session by this)
    renewed = session.get(RENEWED_AT_KEY)
    if renewed is None or now - float(renewed) >= settings.SESSION_RENEW_SECONDS:
        session[RENEWED_AT_KEY] = now  # modified: SessionMiddleware saves it with a fresh expiry


class SessionLimitsMiddleware:
    """The absolute session limit, and the renewal of the idle limit (the session's own expiry) while in use."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        renew_for_activity(request, time.time())
        if request.user.is_authenticated:
            started = request.session.get(LOGIN_AT_KEY)
            if started is None or time.time() - float(started) > settings.SESSION_MAX_HOURS * 3600:
                logout(request)
                messages.info(request, _("Your session has ended. Please sign in again."))
                return redirect(settings.LOGIN_URL)
        return self.get_response(request)


class SecondFactorMiddleware:
    """Until a signed-in person has passed their second factor, only the pages that get them there open."""

    open_prefixes = ("/accounts/two-factor/", "/accounts/logout/", "/i18n/", "/static/", "/healthz")

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            settings.REQUIRE_MFA
            and user.is_authenticated
            and not user.is_verified()  # type: ignore[union-attr, attr-defined, unused-ignore]
            and not request.path.startswith(self.open_prefixes)
        ):
            from circlekeeper.accounts.mfa import has_confirmed_device

            name = "accounts:mfa_verify" if has_confirmed_device(user) else "accounts:mfa_setup"
            return redirect(reverse(name))
        return self.get_response(request)


class NoStoreForSignedInMiddleware:
    """Pages seen while signed in may carry personal data: no browser or proxy may keep them."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.user.is_authenticated and not request.path.startswith("/static/"):
            add_never_cache_headers(response)
            patch_cache_control(response, private=True)
        return response


class ShreddedOrganizationMiddleware:
    """Any page, export or API call that needs a shredded organization's keys answers 410 Gone with a page that
    says the data was destroyed and when (accounts.shredding_views.keys_destroyed), never a 500: every
    encrypted value is decrypted by lib.keys, which raises KeysDestroyed for such an organization. Views that
    lib.requests.AtomicUnsafeRequestsMiddleware calls itself get the same answer from there."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from circlekeeper.lib.hooks import hooks
        from circlekeeper.lib.keys import KeysDestroyed

        if not isinstance(exception, KeysDestroyed):
            return None
        (answer,) = hooks("KEYS_DESTROYED_RESPONSE")
        response: HttpResponse = answer(request, exception)
        return response
