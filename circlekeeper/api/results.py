"""The results API (`/api/v1/`): the evaluation dashboards' numbers as JSON, after disclosure control, for a
token's organization or network (issue 24 item 4).

It publishes exactly what the dashboard pages publish — their presented sections (dashboards.present), every
count already suppressed as the page shows it — never the stored computation behind them. The schema is
generated from schema.py's models (`/api/v1/openapi.json`) and explained at `/api/v1/docs/`.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Role
from circlekeeper.api import services
from circlekeeper.api.models import ApiToken
from circlekeeper.evaluation import dashboards
from circlekeeper.evaluation.access import ROW_ROLES
from circlekeeper.evaluation.dashboard_forms import DashboardFilterForm
from circlekeeper.evaluation.dashboard_tasks import request_computation
from circlekeeper.evaluation.dashboard_views import form_defaults
from circlekeeper.evaluation.models import ComputationStatus
from circlekeeper.lib.audit import Outcome, record

RETRY_AFTER = 2


class Refused(Exception):
    def __init__(self, message: str, status: int, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.fields = message, status, fields or {}


def _bearer(request: HttpRequest) -> str:
    kind, _sep, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if kind.lower() == "bearer" else ""


def _token(request: HttpRequest) -> ApiToken:
    if not request.is_secure() and not settings.CIRCLEKEEPER_API_PLAIN_HTTP:
        raise Refused(_("The API answers over HTTPS only."), 403)
    try:
        token = services.authenticate(_bearer(request))
        services.count_call(token)
    except services.TokenRefused as refused:
        raise Refused(refused.message, refused.status) from refused
    return token


def _audit(request: HttpRequest, token: ApiToken | None, what: str, outcome: str) -> None:
    record(
        request,
        action=Action.API_CALL,
        object_type="api_token",
        object_id=f"{token.pk if token else '-'}:v1/{what}"[:64],
        outcome=outcome,
        organization_id=token.organization_id if token else None,
        actor=token.user if token else None,
        roles=(ROW_ROLES if token.organization_id else (Role.NETWORK_ADMIN,)) if token else (),
    )


def _json(model: Any, status: int = 200) -> JsonResponse:
    response = JsonResponse(
        model.model_dump(mode="json"), status=status, json_dumps_params={"ensure_ascii": False}
    )
    response["Cache-Control"] = "no-store, private"
    return response


def _refusal(refused: Refused) -> JsonResponse:
    from circlekeeper.api import schema

    return _json(schema.Error(error=refused.message, fields=refused.fields), refused.status)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    from circlekeeper.api import schema

    token = None
    try:
        token = _token(request)
        scope = services.scope_of(token)
    except Refused as refused:
        _audit(request, token, "index", Outcome.REFUSED)
        return _refusal(refused)
    _audit(request, token, "index", Outcome.OK)
    return _json(
        schema.Index(
            scope=schema.ScopeInfo(
                kind="network" if scope.network is not None else "organization",
                name=scope.network.name if scope.network is not None else scope.organizations[0].name,
                threshold=scope.threshold,
            ),
            domains=[
                schema.DomainLink(
                    code=domain.code,
                    title=str(domain.title),
                    url=request.build_absolute_uri(reverse("api:v1_dashboard", args=[domain.code])),
                )
                for domain in dashboards.DOMAINS
            ],
        )
    )


def _sections(result: dict[str, Any]) -> list[Any]:
    from circlekeeper.api import schema

    return [
        schema.ResultSection(
            title=str(section.title),
            description=str(section.description),
            n_text=str(section.n_text),
            tables=[
                schema.ResultTable(
                    caption=str(table.caption),
                    columns=[str(c) for c in table.columns],
                    rows=[(str(heading), [str(cell) for cell in cells]) for heading, cells in table.rows],
                )
                for table in section.tables
            ],
            notes=[str(note) for note in section.notes],
            refused=str(section.refused) if section.refused else None,
        )
        for section in dashboards.present(result)
    ]


@require_GET
def dashboard(request: HttpRequest, domain: str) -> HttpResponse:
    from circlekeeper.api import schema

    token = None
    try:
        token = _token(request)
        chosen = dashboards.DOMAINS_BY_CODE.get(domain)
        if chosen is None:
            raise Refused(_("There is no domain “%(domain)s”.") % {"domain": domain[:40]}, 404)
        scope = services.scope_of(token)
        organizations = list(scope.organizations) if scope.network is not None else None
        query = request.GET.copy()
        wanted = query.get("organization", "")
        if wanted and wanted not in {organization.slug for organization in scope.organizations}:
            raise Refused(
                _("There is no organization “%(slug)s” in what this token reads.") % {"slug": wanted[:40]},
                404,
            )
        if organizations is None:
            query.pop("organization", None)  # an organization's token: its own organization, or nothing
        form = DashboardFilterForm(query or None, organizations=organizations)
        if unknown := sorted(set(query) - set(form.fields)):
            raise Refused(
                _("These filters are not taken here: %(names)s.") % {"names": ", ".join(unknown)[:200]},
                400,
                {name[:40]: [_("Not a filter of this API.")] for name in unknown[:10]},
            )
        if form.is_bound and not form.is_valid():
            raise Refused(
                _("A filter is not valid."),
                400,
                {name: [str(message) for message in errors] for name, errors in form.errors.items()},
            )
        filters = form.filters() if form.is_bound else form_defaults()
        requested = request_computation(scope, chosen.code, filters)
    except Refused as refused:
        _audit(request, token, domain, Outcome.REFUSED)
        return _refusal(refused)
    _audit(request, token, chosen.code, Outcome.OK)
    computation = requested.computation
    if not requested.fresh:
        computation.refresh_from_db()
    if computation.status != ComputationStatus.DONE or computation.result is None:
        answer = _json(
            schema.Computing(
                status="computing", domain=chosen.code, progress=computation.progress, retry_after=RETRY_AFTER
            ),
            202,
        )
        answer["Retry-After"] = str(RETRY_AFTER)
        return answer
    return _json(
        schema.DomainResults(
            status="ready",
            domain=chosen.code,
            title=str(chosen.title),
            threshold=computation.result["threshold"],
            filters=computation.result["filters"],
            computed_at=computation.computed_at.isoformat() if computation.computed_at else "",
            sections=_sections(computation.result),
        )
    )


@require_GET
def openapi(request: HttpRequest) -> HttpResponse:
    from circlekeeper.api import schema

    return HttpResponse(json.dumps(schema.document(), ensure_ascii=False), content_type="application/json")


@require_GET
def docs(request: HttpRequest) -> HttpResponse:
    """The API's documentation, drawn on the server from the same document (no script, no CDN)."""
    from circlekeeper.api import schema

    document = schema.document()
    operations = [
        {"path": path, "method": method.upper(), **operation}
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    return render(
        request,
        "api/docs.html",
        {
            "document": document,
            "operations": operations,
            "base": request.build_absolute_uri(reverse("api:v1_index")),
            "schema_url": reverse("api:v1_schema"),
        },
    )
