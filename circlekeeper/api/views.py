"""The REDCap-compatible API (`POST /api/redcap/`) and the page where an evaluator makes and revokes tokens.

The API reads only: it answers the calls PyCap and REDCapR make to read a project (version, project,
metadata, instrument, event, arm, formEventMapping, exportFieldNames, record) in JSON or CSV, from one
organization's de-identified evaluation data (api/redcap.py); everything else gets REDCap's error shape.
Every call is audited with the token and the content asked for, never the data.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from circlekeeper.accounts.access import staff_context
from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import Network, Organization, Role, User
from circlekeeper.accounts.reauth import require_recent_authentication
from circlekeeper.accounts.shredding_views import shredded_message
from circlekeeper.api import redcap, services
from circlekeeper.api.forms import TokenForm
from circlekeeper.api.models import ApiToken
from circlekeeper.evaluation.access import ROW_ROLES
from circlekeeper.evaluation.dataset import Scope
from circlekeeper.lib.audit import Outcome, record
from circlekeeper.lib.idempotency import remember_result
from circlekeeper.lib.keys import KeysDestroyed

# The REDCap version this API answers like (its API's parameters and answers as of that release).
REDCAP_VERSION = "14.0.0"
READ_CONTENTS = (
    "version",
    "project",
    "metadata",
    "instrument",
    "event",
    "arm",
    "formEventMapping",
    "exportFieldNames",
    "record",
)
WRITE_ACTIONS = ("import", "delete", "rename", "switch", "createFolder")


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def _error(message: str, status: int, answer_format: str) -> HttpResponse:
    """REDCap's error answer in the format asked for: {"error": ...}, "ERROR: ..." or <hash><error>."""
    if answer_format == "json":
        return HttpResponse(json.dumps({"error": message}), status=status, content_type="application/json")
    if answer_format == "csv":
        return HttpResponse(f"ERROR: {message}", status=status, content_type="text/csv; charset=utf-8")
    body = f'<?xml version="1.0" encoding="UTF-8" ?>\n<hash>\n  <error>{escape(message)}</error>\n</hash>'
    return HttpResponse(body, status=status, content_type="application/xml; charset=utf-8")


def _list(data: QueryDict, key: str) -> list[str]:
    """A list parameter as REDCap takes it: `key[0]`, `key[1]`, ... or `key` repeated or comma-separated."""
    values: list[str] = []
    indexed = sorted(
        (int(name[len(key) + 1 : -1]), name)
        for name in data
        if name.startswith(f"{key}[") and name.endswith("]") and name[len(key) + 1 : -1].isdigit()
    )
    values += [data.get(name, "") for _index, name in indexed]
    for raw in data.getlist(key):
        values += [part.strip() for part in raw.split(",") if part.strip()]
    return values


def _flag(data: QueryDict, key: str) -> bool:
    return data.get(key, "").strip().lower() in ("true", "1", "yes")


def _answer(rows: Any, header: list[str] | None, answer_format: str) -> HttpResponse:
    if answer_format == "csv":
        if header is None:
            header = list(rows[0]) if rows else []
        return HttpResponse(redcap.as_csv(header, rows), content_type="text/csv; charset=utf-8")
    return HttpResponse(json.dumps(rows, ensure_ascii=False), content_type="application/json; charset=utf-8")


def _project_info(project: redcap.Project, scope: Scope) -> dict[str, Any]:
    return {
        "project_id": project.project_id,
        "project_title": project.title,
        "creation_time": scope.evaluation.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "production_time": "",
        "in_production": 1,
        "project_language": "English",
        "purpose": 2,  # research
        "purpose_other": "",
        "project_notes": _("De-identified evaluation data from Circlekeeper (read-only)."),
        "custom_record_label": "",
        "secondary_unique_field": "",
        "is_longitudinal": 1 if project.events else 0,
        "has_repeating_instruments_or_events": 0,
        "surveys_enabled": 0,
        "scheduling_enabled": 0,
        "record_autonumbering_enabled": 0,
        "randomization_enabled": 0,
        "ddp_enabled": 0,
        "project_irb_number": "",
        "project_grant_number": "",
        "project_pi_firstname": "",
        "project_pi_lastname": "",
        "display_today_now_button": 0,
        "missing_data_codes": "",
        "external_modules": "",
        "bypass_branching_erase_field_prompt": 0,
    }


def _respond(content: str, data: QueryDict, answer_format: str, scope: Scope) -> HttpResponse:
    rows: list[dict[str, Any]]
    if content == "version":
        return HttpResponse(REDCAP_VERSION, content_type="text/plain; charset=utf-8")
    project = redcap.build(scope)
    if content == "project":
        info = _project_info(project, scope)
        return _answer([info] if answer_format == "csv" else info, None, answer_format)
    if content == "metadata":
        fields, forms = _list(data, "fields"), _list(data, "forms")
        known = {row["field_name"] for row in project.metadata}
        if bad := [name for name in fields if name not in known]:
            raise ApiError(str(redcap._unknown("fields", bad)))
        rows = [
            row
            for row in project.metadata
            if (not fields and not forms) or row["field_name"] in fields or row["form_name"] in forms
        ]
        return _answer(rows, redcap.API_COLUMNS, answer_format)
    if content == "instrument":
        rows = [{"instrument_name": form.name, "instrument_label": form.label} for form in project.forms]
        return _answer(rows, ["instrument_name", "instrument_label"], answer_format)
    if content in ("event", "arm", "formEventMapping") and not project.events:
        raise ApiError(_("You cannot export events, arms or form-event mappings: the project has no events."))
    if content == "arm":
        arms = sorted({redcap.arm_of(event) for event in project.events})
        rows = [{"arm_num": arm, "name": f"Arm {arm}"} for arm in arms]
        return _answer(rows, ["arm_num", "name"], answer_format)
    if content == "event":
        rows = [
            {
                "event_name": name.removesuffix(f"_arm_{redcap.arm_of(name)}"),
                "arm_num": redcap.arm_of(name),
                "unique_event_name": name,
                "custom_event_label": "",
                "event_id": number,
                "days_offset": 0,
                "offset_min": 0,
                "offset_max": 0,
            }
            for number, name in enumerate(project.events, start=1)
        ]
        return _answer(rows, list(rows[0]), answer_format)
    if content == "formEventMapping":
        rows = [
            {"arm_num": redcap.arm_of(event), "unique_event_name": event, "form": form.name}
            for event in project.events
            for form in project.forms
            if (form.name, event) in project.form_events
        ]
        return _answer(rows, ["arm_num", "unique_event_name", "form"], answer_format)
    if content == "exportFieldNames":
        rows = redcap.export_field_names(project, data.get("field", ""))
        if data.get("field") and not rows:
            raise ApiError(str(redcap._unknown("field", [data.get("field", "")])))
        return _answer(rows, ["original_field_name", "choice_value", "export_field_name"], answer_format)
    # content == "record"
    if data.get("type", "flat") != "flat":
        raise ApiError(_("Only flat records are exported (type=flat)."))
    try:
        header, rows = redcap.select_records(
            project,
            fields=_list(data, "fields"),
            forms=_list(data, "forms"),
            events=_list(data, "events"),
            records=_list(data, "records"),
            labels=data.get("rawOrLabel", "raw") == "label",
            checkbox_labels=_flag(data, "exportCheckboxLabel"),
        )
    except redcap.BadParameter as refused:
        raise ApiError(str(refused)) from refused
    return _answer(rows, header, answer_format)


def _audit_call(request: HttpRequest, token: ApiToken | None, content: str, outcome: str) -> None:
    record(
        request,
        action=Action.API_CALL,
        object_type="api_token",
        object_id=f"{token.pk if token else '-'}:{content[:40]}",
        outcome=outcome,
        organization_id=token.organization_id if token else None,
        actor=token.user if token else None,
        roles=(ROW_ROLES if token.organization_id else (Role.NETWORK_ADMIN,)) if token else (),
    )


@csrf_exempt  # a token, never a cookie, authenticates these calls
@transaction.non_atomic_requests  # reads; the audit event and the throttle open their own transactions
def redcap_api(request: HttpRequest) -> HttpResponse:
    data = request.POST
    content = data.get("content", "")
    answer_format = (data.get("returnFormat") or data.get("format") or "xml").lower()
    if answer_format not in ("json", "csv", "xml"):
        answer_format = "xml"
    token: ApiToken | None = None
    try:
        if request.method != "POST":
            raise ApiError(_("The API takes POST requests only."), status=405)
        if not request.is_secure() and not settings.CIRCLEKEEPER_API_PLAIN_HTTP:
            raise ApiError(_("The API answers over HTTPS only."), status=403)
        try:
            token = services.authenticate(data.get("token", ""))
            services.count_call(token)
        except services.TokenRefused as refused:
            raise ApiError(refused.message, status=refused.status) from refused
        if token.organization is None:
            raise ApiError(
                _(
                    "A network's token reads its pooled results only, at /api/v1/: REDCap records are for one organization."
                )
            )
        if data.get("action", "export") in WRITE_ACTIONS or "data" in data:
            raise ApiError(
                _("This API is read-only: nothing can be imported, changed or deleted."), status=403
            )
        if content not in READ_CONTENTS:
            raise ApiError(
                _("This API is read-only and answers only these contents: %(contents)s.")
                % {"contents": ", ".join(READ_CONTENTS)}
            )
        body_format = (data.get("format") or "xml").lower()
        if content != "version" and body_format not in ("json", "csv"):
            raise ApiError(_("Choose format=json or format=csv."))
        response = _respond(content, data, body_format, services.scope_of(token))
    except ApiError as refused:
        _audit_call(request, token, content, Outcome.REFUSED)
        return _error(refused.message, refused.status, answer_format)
    except KeysDestroyed as shredded:
        # The organization was shredded: 410 Gone in REDCap's error shape, never a 500.
        _audit_call(request, token, content, Outcome.REFUSED)
        return _error(shredded_message(shredded.destroyed_at), 410, answer_format)
    _audit_call(request, token, content, Outcome.OK)
    response["Cache-Control"] = "no-store, private"
    return response


def _holder(request: HttpRequest) -> tuple[User, list[tuple[str, str]]]:
    """The signed-in person and the scopes they may hold tokens for (403 when none): their active
    organization's evaluation if they are its evaluator, and each network they are an admin of."""
    context = staff_context(request)
    if context is None:
        raise PermissionDenied
    scopes = []
    if context.organization is not None and context.has_role(*ROW_ROLES):
        scopes.append((f"organization:{context.organization.pk}", context.organization.name))
    scopes += [(f"network:{network.pk}", network.name) for network in context.admin_of_networks]
    if not scopes:
        raise PermissionDenied
    return context.user, scopes


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    user, scopes = _holder(request)
    form = TokenForm(request.POST or None, scopes=scopes)
    created: str | None = None
    status = 200
    if request.method == "POST":
        needed = require_recent_authentication(request, next_url=reverse("api:tokens"))
        if needed is not None:
            return needed
        if form.is_valid():
            kind, _sep, pk = form.cleaned_data["scope"].partition(":")
            where: dict[str, Any] = (
                {"organization": Organization.objects.get(pk=pk)}
                if kind == "organization"
                else {"network": Network.objects.get(pk=pk)}
            )
            token, created = services.create_token(
                user, name=form.cleaned_data["name"], days=form.cleaned_data["days"], **where
            )
            audit(request, action=Action.API_TOKEN_CREATE, object_type="api_token", object_id=token.pk)
            # Shown once, in this answer only; a repeat of the form goes to the token's row, and no second is made.
            remember_result(request, f"{reverse('api:tokens')}#token-{token.pk}")
            form = TokenForm(scopes=scopes)
        else:
            status = 400
    listed = ApiToken.objects.filter(user=user).select_related("organization", "network")
    return render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "created": created,
            "tokens": listed,
            "now": timezone.now(),
            "redcap_url": request.build_absolute_uri(reverse("redcap_api")),
            "aggregates_url": request.build_absolute_uri(reverse("api:v1_index")),
            "docs_url": reverse("api:v1_docs"),
        },
        status=status,
    )


@login_required
@require_POST
def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    user, _scopes = _holder(request)
    token = get_object_or_404(ApiToken, pk=token_id, user=user)
    services.revoke(token)
    audit(request, action=Action.API_TOKEN_REVOKE, object_type="api_token", object_id=token.pk)
    return redirect("api:tokens")
