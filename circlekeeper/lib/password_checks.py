"""Password hashing, bounded per process, so that a burst of sign-ins cannot take the site down (issue 20).

Checking a password costs about 0.2 s of a core (PBKDF2, 1,000,000 iterations: never weakened). On a small
server (two cores) 200 people signing in at once used every core and every web thread for a minute: /healthz
and every page waited behind them. So each web process lets `PASSWORD_CHECKS_AT_ONCE` hashes run at a time
(1 by default); up to `PASSWORD_CHECKS_WAITING` more wait for their turn, each for at most
`PASSWORD_CHECK_WAIT_SECONDS`; any other is refused at once with `PasswordChecksBusy`. A refusal is answered
with a 503 page, "too many sign-ins at once, try again in a moment", and a Retry-After header, never a 500
(lib/requests.AtomicUnsafeRequestsMiddleware turns it into that page, after rolling back the request's
transaction, so nothing is half-saved). A refusal is not a failed sign-in: the throttle (django-axes) never
sees it, because no password was checked.

Refusing at once, rather than letting every sign-in queue, is what keeps the site answering: waiting requests
hold web threads, and a page or /healthz queued behind a hundred sign-ins waits for all of them. With one hash
and two waiting per process, at most three of a process's threads are ever busy with passwords.

Every password hash goes through here (accounts/hashers.BoundedPBKDF2PasswordHasher is the default hasher):
sign-in, re-authentication, a password change, a new account; Django's dummy hash for an unknown email too, so
a refusal tells nobody whether the address exists.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import loader

RETRY_AFTER_SECONDS = 5
logger = logging.getLogger("circlekeeper.password_checks")


class PasswordChecksBusy(Exception):
    """Too many password checks in this process already: try again in a moment."""


class _Slots:
    def __init__(self) -> None:
        self._free = threading.Condition()
        self.running = 0
        self.waiting = 0

    @contextmanager
    def hold(self, *, at_once: int, waiting: int, wait_seconds: float) -> Iterator[None]:
        with self._free:
            if self.running >= at_once:
                if self.waiting >= waiting:
                    raise PasswordChecksBusy
                self.waiting += 1
                try:
                    turn = self._free.wait_for(lambda: self.running < at_once, timeout=wait_seconds)
                finally:
                    self.waiting -= 1
                if not turn:
                    raise PasswordChecksBusy
            self.running += 1
        try:
            yield
        finally:
            with self._free:
                self.running -= 1
                self._free.notify()


_slots = _Slots()


@contextmanager
def slot() -> Iterator[None]:
    """Hold one of this process's password-hashing turns while the block runs; PasswordChecksBusy if none
    comes free in time (or too many are waiting already)."""
    with _slots.hold(
        at_once=settings.PASSWORD_CHECKS_AT_ONCE,
        waiting=settings.PASSWORD_CHECKS_WAITING,
        wait_seconds=settings.PASSWORD_CHECK_WAIT_SECONDS,
    ):
        yield


def busy_response(request: HttpRequest) -> HttpResponse:
    # Rendered like the 500 page (no context processor reads the database): it is an answer under load.
    page = loader.get_template("503_busy.html").render({"request": request, "seconds": RETRY_AFTER_SECONDS})
    response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    # An answer by design, not a failure: one line at INFO, not Django's ERROR line for every 5xx.
    logger.info("Too many password checks at once: %s answered 503", request.path)
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
