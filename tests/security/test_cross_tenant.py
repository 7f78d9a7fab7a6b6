"""Tenant isolation (ASVS V8.2.2, V8.4.1, V16.3.2): a member of organisation BETA asks for every
staff URL of organisation ALPHA, with ALPHA's slug and with BETA's own slug but ALPHA's ids
(report numbers BETA does not have, attachment, membership, API token, release and
supported-version ids). The answer is 404, like a missing object; never ALPHA's data, and
ALPHA's rows are unchanged. Tracking tokens open exactly one report.

Every string of ALPHA's world contains its label (titles, texts, reporter, member e-mails,
organisation and product names, attachment bytes), so a body that contains the label in any
case has leaked something."""

import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories.core import verified_login
from tests.security.test_role_matrix import ROLES, ROWS, Row, World, build_world, fingerprint, send
from vulndesk.attachments.models import Attachment
from vulndesk.attachments.services import attachment_add
from vulndesk.organisations.models import Role
from vulndesk.reports.models import Message, Report

# ALPHA's label: a word no page of ours contains, so finding it anywhere means a leak.
ALPHA = "XYLOPHONE"


def body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def assert_nothing_of_alpha(response, alpha: World) -> None:
    content = body(response).lower()
    assert ALPHA.lower().encode() not in content, content[:300]
    assert alpha.secrets["api_token"].encode().lower() not in content


@pytest.fixture
def worlds(db):
    beta = build_world("BETA")  # reports #1 and #2
    alpha = build_world(ALPHA, filler_reports=3)  # BETA has reports #1-#3; ALPHA's own start at #4
    return alpha, beta


def alpha_ids(alpha: World, beta: World) -> dict:
    """URL arguments naming ALPHA's objects, for use under BETA's slug."""
    assert alpha.report.number not in set(Report.objects.filter(organisation=beta.organisation)
                                          .values_list("number", flat=True))
    return {
        "product": alpha.product.slug, "number": alpha.report.number, "attachment_id": alpha.attachment.pk,
        "membership_id": alpha.target.pk, "token_id": alpha.api_token.pk, "release_id": alpha.release.pk,
        "row_id": alpha.version_row.pk,
        # advisories, pre-notification, notifications and mail (identifiers carry ALPHA's prefix)
        "identifier": alpha.advisory.identifier, "format": "osv", "contact_id": alpha.contact.pk,
        "prenotification_id": alpha.prenotification.pk, "webhook_id": alpha.webhook.pk,
        "delivery_id": alpha.failed_delivery.pk, "message_id": alpha.mail["held"], "address_id": alpha.mail["address"],
        "mailbox_id": alpha.mail["mailbox"],
    }


URL_NAMES = sorted({row.name for row in ROWS})


def _kwargs_for(name: str, world: World, ids: dict | None = None) -> dict:
    row = next(row for row in ROWS if row.name == name)
    kwargs = row.kwargs(world)
    if ids is not None:
        kwargs = {key: ids[key] for key in kwargs}
    return kwargs


def _rows(name: str) -> list[Row]:
    return [row for row in ROWS if row.name == name]


def _methods_not_routed(name: str) -> set[str]:
    return {"GET", "POST"} - {row.method for row in _rows(name)}


def _request(client, name: str, method: str, url: str, world: World):
    """GET or POST; a POST carries the row's data (or, for a GET-only URL, some form data)."""
    row = next((row for row in _rows(name) if row.method == method), _rows(name)[0])
    data = row.data(world) if row.method == "POST" else {"body": "planted", "to": "closed"}
    post_row = Row(row.name, method, row.kwargs, api=row.api)
    return send(client, post_row, url, data)


# --- with ALPHA's slug: every URL, every role of BETA, GET and POST -----------------------------

@pytest.mark.parametrize("name", URL_NAMES)
def test_every_role_of_another_organisation_gets_404_for_every_url_of_this_one(client, worlds, name, caplog):
    alpha, beta = worlds
    before = fingerprint(alpha.organisation)
    url = reverse(name, kwargs={"organisation": alpha.organisation.slug} | _kwargs_for(name, alpha))
    is_api = _rows(name)[0].api

    for role in ROLES:
        verified_login(client, beta.members[role].user)
        for method in ("GET", "POST"):
            with caplog.at_level(logging.INFO, logger="vulndesk.access"):
                response = _request(client, name, method, url, alpha)
            # DRF answers a method the view lacks with 405 before any lookup: no data either way.
            expected = 405 if is_api and method in _methods_not_routed(name) else 404
            assert response.status_code == expected, (role, method, body(response)[:300])
            assert_nothing_of_alpha(response, alpha)

    assert fingerprint(alpha.organisation) == before
    # V16.3.2: each refused request leaves an access-log line naming the user, not the data.
    refused = [r for r in caplog.records if r.name == "vulndesk.access" and r.status == 404]
    assert {r.user_id for r in refused} >= {beta.members[Role.OWNER].user_id}


# --- with BETA's own slug and ALPHA's ids ----------------------------------------------------

# URLs that name an object. The others, under BETA's slug, are BETA's own pages (checked below).
NO_ID_NAMES = {"reports:queue", "reports:cvss_preview", "products:list", "products:create", "organisations:members",
               "organisations:member_add", "api_reports", "api_reports_batch",
               "advisories:list", "advisories:create", "advisories:preview", "cve:settings", "cve:settings_save",
               "cve:settings_check", "prenotify:contacts", "prenotify:contact_add", "notifications:overview",
               "notifications:webhook_create", "notifications:deliveries", "mailintake:inbox", "mailintake:addresses",
               "mailintake:address_add", "mailintake:imap_add", "pgp:settings", "pgp:generate", "pgp:import",
               "pgp:retire"}
ID_NAMES = [name for name in URL_NAMES if name not in NO_ID_NAMES]


# URLs with a child id under a parent (product or report): also tried with BETA's own parent.
CHILD_ID_NAMES = ["attachments:download", "products:api_token_revoke", "products:release_ship",
                  "products:version_remove"]
CASES = [(name, "all of its ids") for name in ID_NAMES] + [
    (name, "its own parent, the other's child id") for name in CHILD_ID_NAMES]


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_every_role_using_its_own_slug_with_this_organisations_ids_gets_404_or_its_403(
    client, worlds, name, variant
):
    alpha, beta = worlds
    before = fingerprint(alpha.organisation)
    ids = alpha_ids(alpha, beta)
    if variant != "all of its ids":  # BETA's own product or report, ALPHA's version row/release/token/attachment
        ids |= {"product": beta.product.slug, "number": beta.report.number}
    kwargs = {"organisation": beta.organisation.slug} | _kwargs_for(name, beta, ids)
    assert variant == "all of its ids" or {"attachment_id", "row_id", "release_id", "token_id"} & set(kwargs)
    url = reverse(name, kwargs=kwargs)

    for role in ROLES:
        verified_login(client, beta.members[role].user)
        for method in ("GET", "POST"):
            row = next((row for row in _rows(name) if row.method == method), None)
            response = _request(client, name, method, url, alpha)
            if row is None:  # a method the URL does not route: the role gate or require_*/DRF answers
                assert response.status_code in {403, 405}, (role, method)
            elif role in row.allowed:
                assert response.status_code == 404, (role, method, body(response)[:300])
            else:
                assert response.status_code == 403, (role, method)
            assert_nothing_of_alpha(response, alpha)

    assert fingerprint(alpha.organisation) == before


@pytest.mark.parametrize("name", sorted(NO_ID_NAMES))
def test_ones_own_pages_without_ids_show_nothing_of_another_organisation(client, worlds, name):
    alpha, beta = worlds
    before = fingerprint(alpha.organisation)
    verified_login(client, beta.members[Role.OWNER].user)

    for row in _rows(name):
        data = row.data(beta)
        if row.name in {"api_reports", "api_reports_batch"} and row.method == "POST":
            data = data | {"product": alpha.product.slug}  # ALPHA's product in BETA's URL
        response = send(client, row, row.url(beta), data)
        assert response.status_code == (404 if "product" in data and data["product"] == alpha.product.slug
                                        else row.ok), row.id
        assert_nothing_of_alpha(response, alpha)

    assert fingerprint(alpha.organisation) == before


@pytest.mark.parametrize("path", ["reports", "api"])
def test_queue_filters_naming_another_organisation_find_nothing_of_it(client, worlds, path):
    alpha, beta = worlds
    verified_login(client, beta.members[Role.OWNER].user)
    slug = beta.organisation.slug
    base = f"/o/{slug}/reports/" if path == "reports" else f"/api/v1/organisations/{slug}/reports/"

    for query in (f"?product={alpha.product.slug}&state=all", "?q=heap+overflow&state=all",
                  f"?q={alpha.organisation.reference_prefix}-{alpha.report.number}&state=all",
                  f"?organisation={alpha.organisation.slug}&state=all", f"?assignee={alpha.members['developer'].user_id}"):
        response = client.get(base + query)
        assert response.status_code == 200, query
        assert_nothing_of_alpha(response, alpha)


def test_a_report_cannot_be_assigned_to_a_member_of_another_organisation(client, worlds):
    alpha, beta = worlds
    verified_login(client, beta.members[Role.OWNER].user)
    outsider = alpha.members[Role.TRIAGER].user_id
    slug = beta.organisation.slug

    html = client.post(f"/o/{slug}/reports/{beta.report.number}/assign/", {"assignee": str(outsider)})
    api = client.post(f"/api/v1/organisations/{slug}/reports/{beta.report.number}/assignee/",
                      json.dumps({"assignee": outsider}), content_type="application/json")

    assert (html.status_code, api.status_code) == (422, 400)
    assert_nothing_of_alpha(html, alpha)
    assert_nothing_of_alpha(api, alpha)
    assert Report.objects.get(pk=beta.report.pk).assignee_id == beta.members[Role.DEVELOPER].user_id


def test_a_member_cannot_be_scoped_to_another_organisations_product(client, worlds):
    alpha, beta = worlds
    verified_login(client, beta.members[Role.OWNER].user)

    client.post(reverse("organisations:member_products", kwargs={
        "organisation": beta.organisation.slug, "membership_id": beta.target.pk}),
        {f"p{beta.target.pk}-products": [str(alpha.product.pk)]})

    beta.target.refresh_from_db()
    assert list(beta.target.products.all()) == []


def test_an_api_token_of_another_organisation_gets_404_and_creates_nothing(client, worlds):
    alpha, beta = worlds
    before = fingerprint(alpha.organisation)
    auth = {"HTTP_AUTHORIZATION": f"Token {beta.secrets['api_token']}"}
    report = {"product": alpha.product.slug, "title": "planted", "description": "planted"}

    # A create-only token is a CI uploader: under its own slug, reading is refused by role first.
    for slug, read_status in ((alpha.organisation.slug, 404), (beta.organisation.slug, 403)):
        base = f"/api/v1/organisations/{slug}/reports/"
        created = client.post(base, json.dumps(report), content_type="application/json", **auth)
        read = client.get(f"{base}{alpha.report.number}/", **auth)
        assert (created.status_code, read.status_code) == (404, read_status), slug
        assert_nothing_of_alpha(created, alpha)
        assert_nothing_of_alpha(read, alpha)

    assert fingerprint(alpha.organisation) == before


# --- tracking tokens: one token, one report -----------------------------------------------------

def test_a_tracking_token_cannot_download_another_reports_attachments(client, worlds):
    alpha, beta = worlds
    alpha_other_attachment = attachment_add(report=alpha.other_report, from_reporter=True,
                                            upload=SimpleUploadedFile("other.txt", b"XYLOPHONE-SECRET-OTHER-FILE\n"))
    cases = [
        (alpha.tracking_token, beta.attachment.pk),  # ALPHA's token, BETA's attachment
        (beta.tracking_token, alpha.attachment.pk),  # and the other way round
        (alpha.tracking_token, alpha_other_attachment.pk),  # same organisation, another report
    ]

    for token, attachment_id in cases:
        response = client.get(reverse("attachments:tracking_download",
                                      kwargs={"token": token, "attachment_id": attachment_id}))
        assert response.status_code == 404
    own = client.get(reverse("attachments:tracking_download",
                             kwargs={"token": alpha.tracking_token, "attachment_id": alpha.attachment.pk}))
    assert body(own) == (alpha.secrets["attachment"] + "\n").encode()


def test_a_tracking_page_shows_its_own_report_only(client, worlds):
    alpha, beta = worlds

    page = client.get(reverse("intake:tracking", kwargs={"token": beta.tracking_token}))

    assert page.status_code == 200
    assert beta.report.reference.encode() in page.content
    assert_nothing_of_alpha(page, alpha)


def test_a_reporter_message_and_upload_through_one_token_land_on_that_report_only(client, worlds):
    alpha, beta = worlds
    before = fingerprint(alpha.organisation)

    client.post(reverse("intake:tracking_message", kwargs={"token": beta.tracking_token}), {"body": "more detail"})
    client.post(reverse("attachments:tracking_upload", kwargs={"token": beta.tracking_token}),
                {"attachments": SimpleUploadedFile("more.txt", b"more\n")})

    assert fingerprint(alpha.organisation) == before
    assert Message.objects.filter(report=beta.report).count() == 1
    assert Attachment.objects.filter(report=beta.report).count() == 2
