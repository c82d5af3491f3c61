"""schemathesis runs every operation of the results API's own OpenAPI document against the app, with a token:
no server error, and every answer matches the schema (issue 24 item 4)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings

from circlekeeper.api import services
from circlekeeper.testing import make_network, make_organization, make_user

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
schema.config.base_url = "/api/v1"

IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def token(transactional_db, settings):
    settings.CIRCLEKEEPER_API_PLAIN_HTTP = True
    settings.TASKS = IMMEDIATE
    network = make_network(name="Schema Network", slug="schema-network")
    organization = make_organization(network=network, name="Schema Org", slug="schema-org", case_prefix="SCH")
    evaluator = make_user("eve@schema.example", organization=organization, roles=("evaluator",))
    return services.create_token(evaluator, organization=organization, name="schemathesis")[1]


SEEN: set[int] = set()


@schema.parametrize()
@settings(max_examples=15, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case, token):
    # A transactional database, so that results computed on commit (the immediate task backend) are ready
    # for the next call: both the 202 "computing" and the 200 results answers are checked against the schema.
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
    SEEN.add(response.status_code)


def test_the_run_saw_ready_results_and_refusals():
    assert {200, 400, 404} <= SEEN, SEEN  # 202 (still computing): test_results_api.py
