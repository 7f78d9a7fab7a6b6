"""POST /api/v1/organisations/<organisation>/reports/batch/: many reports of one product in one
request, all or none. Each report gets what a single create gives (number, SLA clocks,
acknowledgement, timeline, chained audit entry, search tokens, counters, tracking link);
a refused batch names each refused report by position and leaves nothing behind."""

import hashlib
import json

import pytest

from tests.factories.core import add_versions, make_member, make_organisation, make_product, verified_login
from vulndesk.accounts.api_tokens import api_token_create
from vulndesk.audit.models import AuditEntry
from vulndesk.audit.selectors import audit_chain_problems
from vulndesk.organisations.models import Role
from vulndesk.products.models import Product
from vulndesk.reports.api.serializers import BATCH_MAX_REPORTS
from vulndesk.reports.api.views import BATCH_MAX_BYTES
from vulndesk.reports.models import Report, ReportSearchToken, ReportStateCount, TimelineEvent

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def batch_url(organisation) -> str:
    return f"/api/v1/organisations/{organisation.slug}/reports/batch/"


def finding(n: int = 0, **fields) -> dict:
    return {"title": f"Reflected XSS in parameter q{n}", "description": f"Finding {n}: q is echoed unescaped."} | fields


def send(client, organisation, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(batch_url(organisation), data, content_type="application/json", **extra)


def nothing_filed(organisation) -> bool:
    organisation.refresh_from_db()
    return (not Report.objects.filter(organisation=organisation).exists() and organisation.last_report_number == 0
            and not ReportSearchToken.objects.exists() and not TimelineEvent.objects.exists()
            and not ReportStateCount.objects.filter(count__gt=0).exists()
            and not AuditEntry.objects.filter(action="report.create").exists())


@pytest.fixture
def api_client(staff_client, frozen_clock):
    return staff_client


def test_a_batch_files_every_report_with_everything_a_single_create_gives(api_client, organisation, product):
    add_versions(product, supported=("2.x",), unsupported=("1.x",))
    items = [finding(0, cvss_vector=CRITICAL, cwe_id=79, affected_versions="1.4"), finding(1, source="scanner"),
             finding(2, reporter_email="scanner@example.net")]

    response = send(api_client, organisation, {"product": product.slug, "reports": items})

    assert response.status_code == 201, response.content
    results = response.json()["results"]
    assert [r["number"] for r in results] == [1, 2, 3]
    reports = list(Report.objects.filter(organisation=organisation).order_by("number"))
    assert [r.title for r in reports] == [item["title"] for item in items]
    first = reports[0]
    assert (first.severity, first.cwe_id, first.is_unsupported_version) == ("critical", 79, True)
    assert reports[1].source == "scanner" and reports[2].reporter_email == "scanner@example.net"
    for report, result in zip(reports, results, strict=True):
        assert result["reference"] == report.reference and result["state"] == "acknowledged"
        assert report.acknowledged_at == report.received_at and report.assessment_due_at > report.received_at
        token = result["tracking_url"].rstrip("/").rsplit("/", 1)[-1]
        assert report.tracking_token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert list(TimelineEvent.objects.filter(report=report).values_list("kind", flat=True)) == [
            "received", "state_changed"]
        assert ReportSearchToken.objects.filter(report=report).exists()
    audit = AuditEntry.objects.filter(action="report.create").order_by("id")
    assert [int(e.target_id) for e in audit] == [r.pk for r in reports]
    assert audit_chain_problems() == []
    assert ReportStateCount.objects.get(product=product, state="acknowledged").count == 3
    organisation.refresh_from_db()
    assert organisation.last_report_number == 3


def test_each_tracking_link_of_a_batch_opens_its_own_report(api_client, organisation, product):
    results = send(api_client, organisation, {"product": product.slug, "reports": [finding(0), finding(1)]}).json()

    for result in results["results"]:
        page = api_client.get("/track/" + result["tracking_url"].split("/track/", 1)[1])
        assert page.status_code == 200
        assert result["reference"] in page.content.decode()


def test_numbers_continue_after_single_creates(api_client, organisation, product):
    api_client.post(f"/api/v1/organisations/{organisation.slug}/reports/",
                    json.dumps({"product": product.slug} | finding(9)), content_type="application/json")

    results = send(api_client, organisation, {"product": product.slug, "reports": [finding(0), finding(1)]}).json()

    assert [r["number"] for r in results["results"]] == [2, 3]


def test_a_full_batch_of_the_maximum_size_is_accepted(api_client, organisation, product):
    items = [finding(n) for n in range(BATCH_MAX_REPORTS)]

    response = send(api_client, organisation, {"product": product.slug, "reports": items})

    assert response.status_code == 201
    assert Report.objects.filter(organisation=organisation).count() == BATCH_MAX_REPORTS


# --- refused batches ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("make_body", "field", "words"),
    [
        (lambda p: {}, "product", "required"),
        (lambda p: {"product": p.slug}, "reports", "required"),
        (lambda p: {"reports": [finding()]}, "product", "required"),
        (lambda p: {"product": p.slug, "reports": []}, "reports", "may not be empty"),
        (lambda p: {"product": p.slug, "reports": "not a list"}, "reports", "Expected a list"),
        (lambda p: {"product": p.slug, "reports": finding()}, "reports", "Expected a list"),
        (lambda p: {"product": p.slug, "reports": [finding(n) for n in range(BATCH_MAX_REPORTS + 1)]}, "reports",
         f"no more than {BATCH_MAX_REPORTS}"),
        (lambda p: {"product": "<script>", "reports": [finding()]}, "product", "slug"),
    ],
    ids=["empty-body", "no-reports", "no-product", "empty-list", "string", "object", "too-many", "script-slug"],
)
def test_a_malformed_batch_is_400_naming_the_field_and_files_nothing(api_client, organisation, product, make_body,
                                                                      field, words):
    response = send(api_client, organisation, make_body(product))

    assert response.status_code == 400
    assert words in json.dumps(response.json()[field])
    assert nothing_filed(organisation)


def test_one_bad_report_refuses_the_whole_batch_and_names_it_by_position(api_client, organisation, product):
    items = [finding(0), finding(1, title=""), finding(2), finding(3, description="x\x00y", cwe_id=0)]

    response = send(api_client, organisation, {"product": product.slug, "reports": items})

    assert response.status_code == 400
    errors = response.json()["reports"]
    assert set(errors) == {"1", "3"}
    assert set(errors["1"]) == {"title"} and set(errors["3"]) == {"description", "cwe_id"}
    assert nothing_filed(organisation)


def test_a_rule_broken_in_the_service_names_the_report_too(api_client, organisation, product):
    items = [finding(0), finding(1, cvss_vector="CVSS:3.1/AV:N"), finding(2, description="   ")]

    response = send(api_client, organisation, {"product": product.slug, "reports": items})

    assert response.status_code == 400
    errors = response.json()["reports"]
    assert set(errors) == {"1", "2"}
    assert "cvss_vector" in errors["1"] and "description" in errors["2"]
    assert nothing_filed(organisation)


@pytest.mark.parametrize("body", ["{", "[1, 2", '{"product": "x", "reports": [', "\x00", "null", "42", "[]"])
def test_a_body_that_is_not_a_batch_object_is_400(api_client, organisation, product, body):
    response = send(api_client, organisation, body)

    assert response.status_code == 400
    assert nothing_filed(organisation)


@pytest.mark.parametrize("item", [None, "a string", 7, ["list"], {"title": ["t"], "description": {"x": 1}}])
def test_a_report_that_is_not_an_object_of_text_fields_is_refused(api_client, organisation, product, item):
    response = send(api_client, organisation, {"product": product.slug, "reports": [finding(0), item]})

    assert response.status_code == 400
    assert set(response.json()["reports"]) == {"1"}
    assert nothing_filed(organisation)


def test_an_oversized_body_is_413_before_it_is_read(api_client, organisation, product):
    body = json.dumps({"product": product.slug, "reports": [finding(0, description="x" * 90_000)] * 95})
    assert len(body) > BATCH_MAX_BYTES

    response = send(api_client, organisation, body)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert nothing_filed(organisation)


def test_a_report_over_a_field_limit_is_refused_by_its_field(api_client, organisation, product):
    items = [finding(0, title="t" * 201), finding(1, description="d" * 100_001)]

    response = send(api_client, organisation, {"product": product.slug, "reports": items})

    assert response.status_code == 400
    assert response.json()["reports"] == {"0": {"title": [response.json()["reports"]["0"]["title"][0]]},
                                          "1": {"description": [response.json()["reports"]["1"]["description"][0]]}}
    assert nothing_filed(organisation)


def test_hostile_text_is_stored_as_typed_and_never_interpreted(api_client, organisation, product):
    hostile = [
        finding(0, title="<script>alert(1)</script>", description="<img src=x onerror=alert(1)>"),
        finding(1, title="'; DROP TABLE reports_report; --", description="1' OR '1'='1"),
        finding(2, title="../../etc/passwd", description="..\\..\\windows\\win.ini", affected_versions="../1.0"),
        finding(3, title="{{ 7*7 }} ${7*7}", description="%s%s%n"),
    ]

    response = send(api_client, organisation, {"product": product.slug, "reports": hostile})

    assert response.status_code == 201
    stored = {r.number: (r.title, r.description) for r in Report.objects.filter(organisation=organisation)}
    assert stored == {n + 1: (item["title"], item["description"]) for n, item in enumerate(hostile)}
    assert "<script>" not in response.content.decode()  # the batch answer carries no report text


def test_a_product_that_does_not_accept_reports_refuses_the_batch(api_client, organisation, product):
    Product.objects.filter(pk=product.pk).update(accepts_reports=False)

    response = send(api_client, organisation, {"product": product.slug, "reports": [finding(0)]})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "product"
    assert nothing_filed(organisation)


@pytest.mark.parametrize("slug", ["no-such-product", "../../etc", "x' OR '1'='1"])
def test_an_unknown_product_is_404(api_client, organisation, product, slug):
    response = send(api_client, organisation, {"product": slug, "reports": [finding(0)]})

    assert response.status_code in {400, 404}  # a slug with quotes is not a slug: 400 before the lookup
    assert nothing_filed(organisation)


# --- who may send one -------------------------------------------------------------------------

def test_another_organisations_product_is_404_and_files_nothing_anywhere(client, db, frozen_clock):
    alpha, beta = make_organisation(), make_organisation()
    alpha_product = make_product(alpha)
    verified_login(client, make_member(beta, Role.OWNER).user)

    response = send(client, beta, {"product": alpha_product.slug, "reports": [finding(0)]})
    other = send(client, alpha, {"product": alpha_product.slug, "reports": [finding(0)]})

    assert (response.status_code, other.status_code) == (404, 404)
    assert nothing_filed(alpha) and nothing_filed(beta)


def test_a_create_token_files_a_batch_for_its_product_only(client, frozen_clock, organisation, product, owner):
    other = make_product(organisation)
    _, raw = api_token_create(organisation=organisation, product=product, permission="report:create", name="CI",
                              lifetime_days=30, created_by=owner.user)
    auth = {"HTTP_AUTHORIZATION": f"Token {raw}"}

    ours = send(client, organisation, {"product": product.slug, "reports": [finding(0), finding(1)]}, **auth)
    theirs = send(client, organisation, {"product": other.slug, "reports": [finding(2)]}, **auth)

    assert (ours.status_code, theirs.status_code) == (201, 404)
    assert Report.objects.filter(organisation=organisation, product=product).count() == 2
    assert not Report.objects.filter(product=other).exists()


def test_a_read_token_and_a_viewer_are_refused(client, frozen_clock, organisation, product, owner):
    _, raw = api_token_create(organisation=organisation, product=product, permission="report:read", name="CI",
                              lifetime_days=30, created_by=owner.user)
    body = {"product": product.slug, "reports": [finding(0)]}

    by_token = send(client, organisation, body, HTTP_AUTHORIZATION=f"Token {raw}")
    verified_login(client, make_member(organisation, Role.VIEWER).user)
    by_viewer = send(client, organisation, body)

    assert (by_token.status_code, by_viewer.status_code) == (403, 403)
    assert nothing_filed(organisation)


def test_a_batch_counts_as_one_request_against_the_api_rate_limit(api_client, organisation, product, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": (2, 60)}
    body = {"product": product.slug, "reports": [finding(n) for n in range(10)]}

    answers = [send(api_client, organisation, body).status_code for _ in range(3)]

    assert answers == [201, 201, 429]
    assert Report.objects.filter(organisation=organisation).count() == 20


def test_the_batch_operation_is_in_the_openapi_schema(client, db):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/organisations/{organisation}/reports/batch/"]["post"]

    assert operation["operationId"] == "reports_batch_create"
    assert {"201", "400", "401", "403", "404", "413", "429"} <= set(operation["responses"])
