"""The evaluation dashboards: per organization and per network, an index of the domains and one page per domain.

Aggregates only, small cells suppressed (dashboards.py). The numbers are computed in the background
(dashboard_tasks.py); until they are ready the page shows the progress, and htmx asks again every two seconds
(without JavaScript, a refresh link does the same).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.reauth import guard_export
from circlekeeper.evaluation import bundle, dashboards
from circlekeeper.evaluation.access import (
    may_see_rows,
    network_aggregate_scope,
    networks_visible,
    organization_aggregate_scope,
    organization_row_scope,
)
from circlekeeper.evaluation.dashboard_forms import FILTER_NAMES, DashboardFilterForm
from circlekeeper.evaluation.dashboard_tasks import current_computation, request_computation
from circlekeeper.evaluation.dataset import Scope

OBJECT_TYPE = "evaluation_dashboard"
BUNDLE_OBJECT_TYPE = "evaluation_bundle"


def _domain(code: str) -> dashboards.Domain:
    domain = dashboards.DOMAINS_BY_CODE.get(code)
    if domain is None:
        raise Http404
    return domain


def _links(network_slug: str | None) -> list[tuple[dashboards.Domain, str]]:
    if network_slug is None:
        return [(d, reverse("evaluation:dashboard_domain", args=[d.code])) for d in dashboards.DOMAINS]
    return [
        (d, reverse("evaluation:network_dashboard_domain", args=[network_slug, d.code]))
        for d in dashboards.DOMAINS
    ]


def _index(request: HttpRequest, scope: Scope, network_slug: str | None) -> HttpResponse:
    audit(
        request,
        action=Action.EVALUATION_DASHBOARD_VIEW,
        object_type=OBJECT_TYPE,
        object_id=f"{network_slug}/index" if network_slug else "index",
    )
    context = {
        "scope": scope,
        "network": scope.network,
        "domains": _links(network_slug),
        "networks": [] if network_slug else networks_visible(request),
    }
    return render(request, "evaluation/dashboard/index.html", context)


def _domain_page(request: HttpRequest, scope: Scope, code: str, network_slug: str | None) -> HttpResponse:
    domain = _domain(code)
    organizations = list(scope.organizations) if scope.network is not None else None
    form = DashboardFilterForm(request.GET or None, organizations=organizations)
    polling = "HX-Request" in request.headers
    if not polling:
        audit(
            request,
            action=Action.EVALUATION_DASHBOARD_VIEW,
            object_type=OBJECT_TYPE,
            object_id=f"{network_slug}/{domain.code}" if network_slug else domain.code,
        )
    context: dict[str, Any] = {
        "scope": scope,
        "network": scope.network,
        "domain": domain,
        "domains": _links(network_slug),
        "form": form,
        "computation": None,
        "sections": None,
        "threshold": scope.threshold,
        "index_url": reverse("evaluation:network_dashboard", args=[network_slug])
        if network_slug
        else reverse("evaluation:dashboard"),
    }
    if form.is_bound and not form.is_valid():
        return render(request, "evaluation/dashboard/domain.html", context, status=400)
    requested = request_computation(scope, domain.code, form.filters() if form.is_bound else form_defaults())
    computation = requested.computation
    if not requested.fresh:
        # Queued just now: with a worker in this process (tests, a single-process run) it may be done already.
        computation.refresh_from_db()
    context["computation"] = computation
    if computation.result is not None:
        context["sections"] = dashboards.present(computation.result)
        if network_slug is None and may_see_rows(request):
            _link_bundles(context["sections"], computation.result, domain.code, request.GET)
    template = "evaluation/dashboard/_body.html" if polling else "evaluation/dashboard/domain.html"
    return render(request, template, context)


def _link_bundles(sections: list[dashboards.Section], result: dict[str, Any], code: str, query: Any) -> None:
    """A download link on each section that has a reproducibility bundle (bundle.py): row data, so only for
    those who may have the organization's de-identified rows, and never on a network's pages (SECURITY.md 5)."""
    suffix = f"?{urlencode({k: v for k, v in query.items() if k in FILTER_NAMES})}" if query else ""
    for index, (shown, stored) in enumerate(zip(sections, result["sections"], strict=True)):
        if bundle.has_bundle(stored):
            shown.download_url = reverse("evaluation:dashboard_bundle", args=[code, index]) + suffix


def form_defaults() -> dict[str, str]:
    return DashboardFilterForm().filters()


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return _index(request, organization_aggregate_scope(request), None)


@login_required
@require_GET
def dashboard_domain(request: HttpRequest, domain: str) -> HttpResponse:
    return _domain_page(request, organization_aggregate_scope(request), domain, None)


@login_required
@require_GET
def network_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    return _index(request, network_aggregate_scope(request, slug), slug)


@login_required
@require_GET
def network_dashboard_domain(request: HttpRequest, slug: str, domain: str) -> HttpResponse:
    return _domain_page(request, network_aggregate_scope(request, slug), domain, slug)


@login_required
@require_GET
def dashboard_bundle(request: HttpRequest, domain: str, section: int) -> HttpResponse:
    """One section's reproducibility bundle (bundle.py): the organization's evaluators, after confirming who they
    are (the export guard), audited like every export."""
    scope = organization_row_scope(request)
    code = _domain(domain).code
    needed = guard_export(request)
    if needed is not None:
        return needed
    form = DashboardFilterForm(request.GET or None)
    page_url = reverse("evaluation:dashboard_domain", args=[code])
    if form.is_bound and not form.is_valid():
        message = _("The filters of this download are not ones the dashboard offers.")
        return _bundle_refused(request, message, page_url, status=400)
    filters = form.filters() if form.is_bound else form_defaults()
    computation = current_computation(scope, code, filters)
    if computation is None or computation.computed_at is None or computation.result is None:
        message = _(
            "The page's numbers are not computed from the data as they are now. Open the dashboard page, wait "
            "until it shows its numbers, then download again."
        )
        return _bundle_refused(request, message, page_url, status=409)
    try:
        made = bundle.build(scope, computation.result, section, computed_at=computation.computed_at)
    except bundle.BundleRefused as exc:
        return _bundle_refused(request, exc.message, page_url, status=404)
    audit(
        request,
        action=Action.EVALUATION_EXPORT,
        object_type=BUNDLE_OBJECT_TYPE,
        object_id=f"{code}/{section}",
    )
    response = HttpResponse(made.content, content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, made.filename) or "attachment"
    response["Cache-Control"] = "no-store, private"
    return response


def _bundle_refused(request: HttpRequest, message: str, page_url: str, *, status: int) -> HttpResponse:
    context = {"message": message, "page_url": page_url}
    return render(request, "evaluation/dashboard/bundle_refused.html", context, status=status)
