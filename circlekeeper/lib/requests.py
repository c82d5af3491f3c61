"""One transaction per request that may change something; none for requests that only read.

Django's ATOMIC_REQUESTS wraps every view in a transaction, GETs too. For a page that only reads, that costs
concurrency for nothing: on SQLite each transaction starts with BEGIN IMMEDIATE (settings), which takes the
database's one write lock for the whole view, so no two pages could be built at the same time; on PostgreSQL
the audit event a page records (lib.audit.record) locks the chain head until the request commits, so every
audited page waited for the one before it to finish rendering (issue 10: pages under load).

So the settings turn ATOMIC_REQUESTS off and this middleware (last in MIDDLEWARE) does what it did, for unsafe
methods only: the view runs inside `transaction.atomic()`, an exception from the view rolls everything back
before the 403/404/500 handlers run (so what those record stays, as before), and a view marked
`transaction.non_atomic_requests` is left alone. A GET, HEAD or OPTIONS view runs in autocommit: each query reads
committed data, and whatever it writes goes through a service or lib.audit.record, which open their own
transaction (every multi-step write is atomic on its own, SECURITY.md 23), so the write lock or the chain
head's lock is held for a moment, not for the page. tests/test_request_transactions.py checks both halves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponseBase

from circlekeeper.lib.hooks import hooks
from circlekeeper.lib.idempotency import run_once
from circlekeeper.lib.keys import KeysDestroyed
from circlekeeper.lib.password_checks import PasswordChecksBusy, busy_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class AtomicUnsafeRequestsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if request.method in SAFE_METHODS or "default" in getattr(view_func, "_non_atomic_requests", set()):
            return None  # Django calls the view itself, outside any transaction
        if getattr(view_func, "changes_nothing", False):
            return (
                None  # a POST that saves nothing (lib.idempotency.changes_nothing): no transaction, no token
            )
        # Called here, the view's exception leaves the atomic block (rolling it back) before any handler runs,
        # exactly as ATOMIC_REQUESTS did: the transaction wraps the view call, not the response's rendering.
        # The form token is claimed in the same transaction as the view's writes: a repeated submit of a form
        # is answered with the first one's result and never runs the view again (lib/idempotency.py).
        # A password check refused under load (lib/password_checks.py) leaves the block first: nothing is saved,
        # and the answer is the "try again in a moment" 503, not a 500.
        try:
            with transaction.atomic():
                return run_once(request, lambda: view_func(request, *view_args, **view_kwargs))
        except PasswordChecksBusy:
            return busy_response(request)
        except KeysDestroyed as shredded:
            # A view called here is not one Django called, so no middleware's process_exception sees what it
            # raises: a shredded organization's answer (410, not 500) is given here, after the rollback, by the
            # same function settings.KEYS_DESTROYED_RESPONSE names for the views Django calls.
            (answer,) = hooks("KEYS_DESTROYED_RESPONSE")
            response: HttpResponseBase = answer(request, shredded)
            return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        # The same answer from a view Django called itself (a read, or a view outside any transaction: sign-in).
        if isinstance(exception, PasswordChecksBusy):
            return busy_response(request)
        return None
