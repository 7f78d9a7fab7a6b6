"""schemathesis against our own OpenAPI schema, in process (ASVS V2.2.1, V4.x): generated
requests to every reports operation, signed in with a JWT of an owner whose organisation has a
product and two reports, never get a 5xx, and every answer (status, content type, body) is one
the schema documents. Each operation runs twice: with generated path values and bodies, and
against report 1 with real product, vector and member values mapped in, so the success answers
are reached too. The token endpoints are checked for 5xx only: their 400/401/429 answers are not
in the schema yet.

Bounded for CI: 25 examples per operation, derandomized (the same examples every run), no
deadline. Run alone with

    .venv/bin/pytest -q -p no:cacheprovider tests/security/test_api_fuzz.py
"""

import contextlib
import json

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories.core import (
    PASSWORD,
    make_member,
    make_organisation,
    make_product,
    make_report,
    totp_code,
    totp_device_for,
)

MAX_EXAMPLES = 25
VECTORS = ["CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
REPORT_OPERATIONS = ["reports_list", "reports_create", "reports_batch_create", "reports_retrieve",
                     "reports_transition", "reports_severity", "reports_assign", "reports_timeline",
                     "reports_messages_list", "reports_messages_create"]
AUTH_OPERATIONS = ["auth_token_obtain", "auth_token_refresh", "auth_token_logout"]
OSV_OPERATIONS = ["osv_vulnerability", "osv_query", "osv_querybatch"]


@contextlib.contextmanager
def _connection_kept_open():
    """The WSGI application is called in the test's own transaction, so, as Django's test client
    does, it must not close the connection at the start and end of each request: on PostgreSQL
    that closes the test's connection in the middle of its transaction (an in-memory SQLite
    connection is never closed). The test client connects the signal again after each of its
    requests, hence a block around each use rather than a fixture."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(db):
    with _connection_kept_open():
        return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def signed_in(db, client):
    """An owner's JWT for an organisation with a product and two reports."""
    organisation = make_organisation()
    product = make_product(organisation, slug="web")
    owner = make_member(organisation, role="owner")
    developer = make_member(organisation, role="developer")
    make_report(product, title="SQL injection in search")
    make_report(product, title="Stored XSS in comments", cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    response = client.post("/api/v1/auth/token/", json.dumps({
        "email": owner.user.email, "password": PASSWORD, "otp": totp_code(totp_device_for(owner.user))}),
        content_type="application/json")
    assert response.status_code == 200, response.content
    return {"organisation": organisation.slug, "developer": developer.user_id,
            "headers": {"Authorization": f"Bearer {response.json()['access']}"}}


def test_the_schema_lists_every_reports_and_token_operation(api_schema):
    operation_ids = {result.ok().definition.raw["operationId"] for result in api_schema.get_all_operations()}
    assert operation_ids == set(REPORT_OPERATIONS) | set(AUTH_OPERATIONS) | set(OSV_OPERATIONS)


def _operation(schema, operation_id):
    return next(result.ok() for result in schema.get_all_operations()
                if result.ok().definition.raw["operationId"] == operation_id)


def _fuzz(operation, *, path_parameters=None, headers=None, checks=CHECKS, prepare=None):
    strategy = operation.as_strategy(path_parameters=path_parameters) if path_parameters else operation.as_strategy()

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case):
        if prepare is not None and isinstance(case.body, dict):
            prepare(case.body)
        case.call_and_validate(headers=headers, checks=checks)

    with _connection_kept_open():
        run()


@pytest.mark.parametrize("operation_id", REPORT_OPERATIONS)
def test_a_reports_operation_answers_only_documented_responses_and_never_5xx(api_schema, signed_in, operation_id):
    operation = _operation(api_schema, operation_id)
    _fuzz(operation, path_parameters={"organisation": signed_in["organisation"]}, headers=signed_in["headers"])


@pytest.mark.parametrize("operation_id", REPORT_OPERATIONS)
def test_a_reports_operation_on_an_existing_report_answers_only_documented_responses(api_schema, signed_in,
                                                                                    operation_id):
    operation = _operation(api_schema, operation_id)
    parameters = {"organisation": signed_in["organisation"]}
    if "{number}" in operation.path:
        parameters["number"] = 1

    def existing_objects(body):
        # Random slugs, vectors and ids mostly meet 404/400; name real ones so the success
        # answers (and their documented shapes) are reached too.
        for key, value in {"product": "web", "cvss_vector": VECTORS[len(body) % 2], "duplicate_of": 2,
                           "assignee": signed_in["developer"]}.items():
            if body.get(key) not in (None, ""):
                body[key] = value

    _fuzz(operation, path_parameters=parameters, headers=signed_in["headers"], prepare=existing_objects)


@pytest.mark.parametrize("operation_id", AUTH_OPERATIONS)
def test_a_token_operation_never_answers_5xx(api_schema, db, operation_id):
    _fuzz(_operation(api_schema, operation_id), checks=[not_a_server_error])


@pytest.mark.parametrize("operation_id", OSV_OPERATIONS)
def test_an_osv_operation_never_answers_5xx(api_schema, db, operation_id):
    _fuzz(_operation(api_schema, operation_id), checks=[not_a_server_error])
