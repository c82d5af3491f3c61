"""The results API's answers as pydantic models, and its OpenAPI 3 document generated from them and from the
dashboards' filter form (issue 24 item 4).

pydantic is imported only here, and this module only when the API answers (results.py imports it inside its
views): a web worker that never serves the API does not load it (issue 10, the worker's memory).
"""

from __future__ import annotations

from typing import Any, Literal

from django import forms
from django.utils.translation import gettext as _
from pydantic import BaseModel, Field

from circlekeeper.evaluation import dashboards
from circlekeeper.evaluation.dashboard_forms import DashboardFilterForm

VERSION = "1.0.0"


class ScopeInfo(BaseModel):
    kind: Literal["organization", "network"]
    name: str
    threshold: int = Field(description="Counts below this number of people are never published.")


class DomainLink(BaseModel):
    code: str
    title: str
    url: str


class Index(BaseModel):
    scope: ScopeInfo
    domains: list[DomainLink]


class ResultTable(BaseModel):
    caption: str
    columns: list[str]
    rows: list[tuple[str, list[str]]] = Field(
        description="Each row: its heading, then its cells as the page shows them (a suppressed count as '<11')."
    )


class ResultSection(BaseModel):
    title: str
    description: str
    n_text: str = Field(description="How many people the section rests on, as the page says it.")
    tables: list[ResultTable]
    notes: list[str]
    refused: str | None = Field(description="Why the section could not be computed, or null.")


class DomainResults(BaseModel):
    status: Literal["ready"]
    domain: str
    title: str
    threshold: int
    filters: dict[str, str]
    computed_at: str
    sections: list[ResultSection]


class Computing(BaseModel):
    status: Literal["computing"]
    domain: str
    progress: int = Field(ge=0, le=100)
    retry_after: int = Field(description="Seconds to wait before asking again.")


class Error(BaseModel):
    error: str
    fields: dict[str, list[str]] = Field(default_factory=dict)


MODELS: tuple[type[BaseModel], ...] = (
    ScopeInfo,
    DomainLink,
    Index,
    ResultTable,
    ResultSection,
    DomainResults,
    Computing,
    Error,
)


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = schema
    return schemas


def _parameter(name: str, field: forms.Field) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if isinstance(field, forms.ChoiceField):
        schema["enum"] = [str(value) for value, _label in field.widget.choices]
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": str(field.label or name),
        "schema": schema,
    }


def _answer(model: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document: the paths, the answers' schemas, and the filters of the dashboards' form."""
    form = DashboardFilterForm(organizations=[])
    parameters = [_parameter(name, field) for name, field in form.fields.items()]
    for parameter in parameters:
        if parameter["name"] == "organization":
            # A network token's filter: the short name of one of its pooled organizations.
            parameter["schema"] = {"type": "string", "pattern": "^[a-z0-9-]*$"}
            parameter["description"] = _("One pooled organization's short name (a network's token only).")
    refusals = {
        "401": _answer("Error", _("No token was given.")),
        "403": _answer(
            "Error", _("The token is unknown, expired or revoked, or the call was not over HTTPS.")
        ),
        "429": _answer("Error", _("Too many calls with this token in a minute.")),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": _("Circlekeeper results API"),
            "version": VERSION,
            "description": _(
                "The evaluation dashboards' numbers after disclosure control, exactly as the pages publish "
                "them, for one organization or a network's pooled data. Read-only."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"token": []}],
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": _components(),
        },
        "paths": {
            "/": {
                "get": {
                    "operationId": "index",
                    "summary": _("What the token reads, and its domains"),
                    "responses": {"200": _answer("Index", _("The scope and its domains.")), **refusals},
                }
            },
            "/dashboards/{domain}/": {
                "get": {
                    "operationId": "dashboard",
                    "summary": _("One domain's results"),
                    "parameters": [
                        {
                            "name": "domain",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": [d.code for d in dashboards.DOMAINS]},
                        },
                        *parameters,
                    ],
                    "responses": {
                        "200": _answer("DomainResults", _("The results, as the dashboard shows them.")),
                        "202": _answer("Computing", _("Still being computed: ask again after retry_after.")),
                        "400": _answer("Error", _("A filter was not valid; fields says which and why.")),
                        "404": _answer("Error", _("No such domain.")),
                        **refusals,
                    },
                }
            },
        },
    }
