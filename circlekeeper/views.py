"""Pages that belong to no single app: the public home, the signed-in dashboard, health, and error pages."""

from __future__ import annotations

import sys

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import InterfaceError, OperationalError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from circlekeeper.accounts.access import staff_context
from circlekeeper.accounts.audit import Action, audit, audit_refusal
from circlekeeper.cases.access import cases_for
from circlekeeper.cases.models import CaseStatus
from circlekeeper.evaluation.access import networks_visible
from circlekeeper.lib import health
from circlekeeper.protocol.dashboard import protocol_dashboard
from circlekeeper.protocol.worklist import PER_PAGE as WORK_PER_PAGE
from circlekeeper.protocol.worklist import worklist


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"public_page": True})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = staff_context(request)
    now = timezone.now()
    open_cases: int | None = None
    work, work_page, protocol = None, None, None
    if context is not None and context.works_cases:
        work = worklist(context, now)
        work_page = Paginator(work.items, WORK_PER_PAGE).get_page(request.GET.get("page"))
        # The keeper's meetings and next steps; the supervisor's queue is in the ranked worklist.
        protocol = protocol_dashboard(context, now)
        if protocol.next_steps is not None:
            # The next steps counted the same cases (the team's open cases, cases_for): not counted twice.
            open_cases = protocol.next_steps.total
        # It lists the team's holds, alerts and risk levels: a read of safety data (SECURITY.md 16).
        audit(request, action=Action.SAFETY_DASHBOARD)
    if open_cases is None:
        open_cases = cases_for(context).filter(status=CaseStatus.OPEN).count() if context else 0
    context_data = {
        "open_cases": open_cases,
        "work": work,
        "work_page": work_page,
        "protocol": protocol,
        # The networks whose hub and pooled dashboards this person may open.
        "networks": networks_visible(request),
    }
    return render(request, "dashboard.html", context_data)


@transaction.non_atomic_requests
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Answered by lib.health.HealthCheckMiddleware before it gets here; kept so the URL has a name."""
    return health.response()


# The refusal handlers run after the view's request transaction has rolled back, so what they record stays.
def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    audit_refusal(request)
    return render(request, "403.html", status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    # Django's own page has inline style (refused by our CSP) and no landmarks; this one is in the shell.
    audit_refusal(request, action=Action.FORM_REFUSED)
    return render(request, "403_csrf.html", status=403)


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    audit_refusal(request)
    # With the quick exit: a survivor may land here from a mistyped or expired link.
    return render(request, "404.html", {"public_page": True}, status=404)


def database_unavailable(exc: BaseException | None) -> bool:
    """The database restarting, unreachable, its connection ended, or (SQLite) locked past the busy timeout: an
    outage to wait out. SQLite's other OperationalErrors ("no such column") are bugs, and stay 500s."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if connection.vendor == "sqlite":
        return "locked" in str(exc) or "unable to open" in str(exc)
    return True


def error_500(request: HttpRequest) -> HttpResponse:
    # Rendered without context processors that touch the database: the database may be what failed.
    from django.template import loader

    # The database restarting, unreachable or locked for too long is an outage, not a bug: the request's
    # transaction was rolled back, and the same request will work in a moment (issue 20: a restart of
    # PostgreSQL recovers with no manual action). Called while the exception is being handled.
    if database_unavailable(sys.exc_info()[1]):
        page = loader.get_template("503_database.html").render({"request": request})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = "5"
        return response
    return HttpResponse(loader.get_template("500.html").render({"request": request}), status=500)
