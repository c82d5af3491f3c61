"""The audit log page: a program admin reads who did what in their organization (and is recorded doing so)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from circlekeeper.accounts.access import program_admin_context
from circlekeeper.accounts.audit import Action, audit, describe
from circlekeeper.accounts.forms import AuditFilterForm
from circlekeeper.accounts.models import User
from circlekeeper.lib.audit import AuditEvent, seal

EVENTS_PER_PAGE = 50


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    people = list(
        User.objects.filter(memberships__organization=organization)
        .distinct()
        .order_by("display_name", "email")
    )
    form = AuditFilterForm(request.GET or None, people=people)
    # The reads of the last seconds are still pending: sealed now, so the page shows them too.
    seal()
    events = AuditEvent.objects.for_organization(organization)
    if form.is_valid():
        events = form.filter(events)
    page = Paginator(events.order_by("-sequence"), EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [describe(event) for event in page]
    audit(request, action=Action.AUDIT_VIEW)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/audit_log.html",
        {"form": form, "page": page, "rows": rows, "query": query.urlencode(), "organization": organization},
    )
