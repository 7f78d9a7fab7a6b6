"""What one API create costs the database, held to a budget: with an API token, three reads
(token with its product and policy, the creator's membership, the product's version table)
and one write transaction; the rate limiter's counter is written once per lease, not per
request; a batch writes all its reports in one transaction of as many statements as one."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories.core import add_versions
from vulndesk.accounts.api_tokens import api_token_create
from vulndesk.reports.models import Report

pytestmark = pytest.mark.django_db(transaction=True)  # real BEGIN/COMMIT, not savepoints


@pytest.fixture
def token(frozen_clock, organisation, product, owner, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": (600, 60)}  # the default: leases of 6
    add_versions(product)
    _, raw = api_token_create(organisation=organisation, product=product, permission="report:create", name="CI",
                              lifetime_days=30, created_by=owner.user)
    return raw


def create(client, organisation, product, raw, n: int):
    return client.post(f"/api/v1/organisations/{organisation.slug}/reports/",
                       json.dumps({"product": product.slug, "title": f"Finding {n}", "description": "d",
                                   "affected_versions": "2.4.1"}),
                       content_type="application/json", HTTP_AUTHORIZATION=f"Token {raw}")


def statements(captured) -> list[str]:
    return [query["sql"].split()[0].upper() for query in captured.captured_queries]


def test_an_api_token_create_reads_three_times_and_writes_in_one_transaction(client, organisation, product, token):
    create(client, organisation, product, token, 0)  # takes the first rate-limit lease, stamps last use

    with CaptureQueriesContext(connection) as captured:
        response = create(client, organisation, product, token, 1)

    assert response.status_code == 201
    kinds = statements(captured)
    assert kinds.count("BEGIN") == 1 and kinds.count("COMMIT") == 1
    begin = kinds.index("BEGIN")
    assert kinds[:begin] == ["SELECT", "SELECT", "SELECT"]
    # number (UPDATE … RETURNING), report, timeline, tokens, state counter, audit head read,
    # audit entry, audit head update
    assert kinds[begin + 1:-1] == ["UPDATE", "INSERT", "INSERT", "INSERT", "UPDATE", "SELECT", "INSERT", "UPDATE"]


def test_the_rate_limit_counter_is_written_once_per_lease(client, organisation, product, token):
    with CaptureQueriesContext(connection) as captured:
        for n in range(12):
            assert create(client, organisation, product, token, n).status_code == 201

    transactions = statements(captured).count("BEGIN")
    assert transactions == 12 + 2  # one per create, and one lease of 6 permits per 6 requests
    assert Report.objects.count() == 12


def test_a_batch_writes_every_report_in_one_transaction(client, organisation, product, token):
    items = [{"title": f"Finding {n}", "description": "d", "affected_versions": "2.4.1"} for n in range(15)]
    create(client, organisation, product, token, 0)

    with CaptureQueriesContext(connection) as captured:
        response = client.post(f"/api/v1/organisations/{organisation.slug}/reports/batch/",
                               json.dumps({"product": product.slug, "reports": items}),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}")

    assert response.status_code == 201
    kinds = statements(captured)
    assert kinds.count("BEGIN") == 1
    begin = kinds.index("BEGIN")
    assert kinds[:begin] == ["SELECT", "SELECT", "SELECT"]  # the version table read once for all 15
    assert kinds[begin + 1:-1] == ["UPDATE", "INSERT", "INSERT", "INSERT", "UPDATE", "SELECT", "INSERT", "UPDATE"]
