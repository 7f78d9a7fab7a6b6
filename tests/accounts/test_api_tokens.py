"""Personal API tokens for CI (ASVS V8.2.2, V11.4.1, V7.4.2): one organisation, one product, one
permission, an expiry. The raw token is shown once and never stored; it acts with the least role
its permission needs, only on its product, and only while its creator may still make tokens."""

import hashlib
import json
import re

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session

from tests.factories.core import make_member, make_organisation, make_product, make_report, verified_login
from vulndesk.accounts.api_tokens import api_token_create, api_token_revoke
from vulndesk.accounts.models import ApiToken
from vulndesk.audit.models import AuditEntry
from vulndesk.organisations.services import membership_remove, membership_role_change
from vulndesk.reports.models import Report

RAW_TOKEN = re.compile(r"vd_[A-Za-z0-9_-]{43}")


def reports_url(organisation, suffix: str = "") -> str:
    return f"/api/v1/organisations/{organisation.slug}/reports/{suffix}"


def settings_url(organisation, product, suffix: str = "") -> str:
    return f"/o/{organisation.slug}/products/{product.slug}/{suffix}"


def with_token(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {raw}"}


def create_report(client, organisation, product, raw):
    return client.post(reports_url(organisation), json.dumps({
        "product": product.slug, "title": "Dependency scan: outdated TLS library",
        "description": "Found by the nightly scan.",
    }), content_type="application/json", **with_token(raw))


def rows_containing(text: str) -> list[str]:
    """Every stored row (sessions decoded) whose values contain ``text``."""
    hits = []
    for model in apps.get_models():
        for row in model._base_manager.values():
            if model is Session:
                row["session_data"] = Session(**row).get_decoded()
            if text in repr(row):
                hits.append(f"{model._meta.label}: {row}")
    return hits


@pytest.fixture
def other_product(organisation):
    return make_product(organisation)


def token_for(owner, product, permission, *, lifetime_days=30) -> str:
    _, raw = api_token_create(organisation=owner.organisation, product=product, permission=permission,
                              name="GitHub Actions", lifetime_days=lifetime_days, created_by=owner.user)
    return raw


@pytest.fixture
def create_token(owner, product, frozen_clock):
    return token_for(owner, product, ApiToken.Permission.REPORT_CREATE)


@pytest.fixture
def read_token(owner, product, frozen_clock):
    return token_for(owner, product, ApiToken.Permission.REPORT_READ)


# --- creating a token on the product settings page -----------------------------------------

def test_an_owner_creates_a_token_that_is_shown_once_and_stored_only_as_a_hash(client, owner, organisation, product,
                                                                                frozen_clock):
    verified_login(client, owner.user)

    response = client.post(settings_url(organisation, product, "api-tokens/"),
                           {"name": "GitHub Actions", "permission": "report:create", "lifetime_days": "90"})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = RAW_TOKEN.findall(response.content.decode())
    assert len(set(raw)) == 1
    raw = raw[0]
    token = ApiToken.objects.get()
    assert (token.product, token.permission, token.created_by) == (product, "report:create", owner.user)
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert rows_containing(raw) == []
    assert raw not in client.get(settings_url(organisation, product)).content.decode()


def test_creating_a_token_is_audited_without_the_token(client, owner, organisation, product, frozen_clock):
    verified_login(client, owner.user)
    response = client.post(settings_url(organisation, product, "api-tokens/"),
                           {"name": "CI", "permission": "report:read", "lifetime_days": "7"})
    raw = RAW_TOKEN.search(response.content.decode()).group(0)

    entry = AuditEntry.objects.get(action="api_token.create")
    assert (entry.organisation_id, entry.actor_id) == (organisation.pk, owner.user.pk)
    assert entry.data == {"product": product.pk, "permission": "report:read", "lifetime_days": 7}
    assert raw not in repr(AuditEntry.objects.values().get(pk=entry.pk))


def test_a_triager_cannot_create_tokens(staff_client, organisation, product, frozen_clock):
    response = staff_client.post(settings_url(organisation, product, "api-tokens/"),
                                 {"name": "CI", "permission": "report:read", "lifetime_days": "7"})

    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_a_token_cannot_outlive_a_year(client, owner, organisation, product, frozen_clock):
    verified_login(client, owner.user)

    response = client.post(settings_url(organisation, product, "api-tokens/"),
                           {"name": "CI", "permission": "report:read", "lifetime_days": "3650"})

    assert response.status_code == 422
    assert not ApiToken.objects.exists()


# --- report:create ------------------------------------------------------------------------

def test_a_create_token_posts_a_report_for_its_product(client, organisation, product, create_token):
    response = create_report(client, organisation, product, create_token)

    assert response.status_code == 201, response.content
    report = Report.objects.get(organisation=organisation, number=response.json()["number"])
    assert report.product == product


def test_a_create_token_cannot_list_or_read_reports(client, organisation, product, create_token):
    number = create_report(client, organisation, product, create_token).json()["number"]

    listing = client.get(reports_url(organisation), **with_token(create_token))
    detail = client.get(reports_url(organisation, f"{number}/"), **with_token(create_token))

    assert listing.status_code == detail.status_code == 403
    assert "results" not in listing.json() and "title" not in detail.json()


def test_a_create_token_cannot_create_for_another_product_of_the_organisation(client, organisation, other_product,
                                                                             create_token):
    response = create_report(client, organisation, other_product, create_token)

    assert response.status_code == 404
    assert not Report.objects.filter(organisation=organisation).exists()


def test_a_create_token_cannot_triage(client, organisation, product, create_token):
    number = create_report(client, organisation, product, create_token).json()["number"]

    response = client.post(reports_url(organisation, f"{number}/transition/"), json.dumps({"to": "rejected"}),
                           content_type="application/json", **with_token(create_token))

    assert response.status_code == 403


# --- report:read --------------------------------------------------------------------------

def test_a_read_token_lists_and_reads_only_its_products_reports(client, organisation, product, other_product,
                                                                read_token):
    mine = make_report(product).report
    theirs = make_report(other_product).report

    listing = client.get(reports_url(organisation) + "?state=all", **with_token(read_token))

    assert listing.status_code == 200
    assert [row["number"] for row in listing.json()["results"]] == [mine.number]
    assert client.get(reports_url(organisation, f"{mine.number}/"), **with_token(read_token)).status_code == 200
    hidden = client.get(reports_url(organisation, f"{theirs.number}/"), **with_token(read_token))
    assert hidden.status_code == 404
    assert "title" not in hidden.json()
    for suffix in ("timeline/", "messages/"):
        assert client.get(reports_url(organisation, f"{theirs.number}/{suffix}"),
                          **with_token(read_token)).status_code == 404


def test_a_read_token_cannot_create_reports(client, organisation, product, read_token):
    response = create_report(client, organisation, product, read_token)

    assert response.status_code == 403
    assert not Report.objects.filter(organisation=organisation).exists()


def test_a_token_gets_404_in_another_organisation(client, product, read_token, create_token):
    elsewhere = make_organisation()
    foreign_product = make_product(elsewhere)
    make_report(foreign_product)

    assert client.get(reports_url(elsewhere), **with_token(read_token)).status_code == 404
    assert client.get(reports_url(elsewhere, "1/"), **with_token(read_token)).status_code == 404
    assert create_report(client, elsewhere, foreign_product, create_token).status_code == 404
    assert Report.objects.filter(organisation=elsewhere).count() == 1


# --- tokens that no longer work -----------------------------------------------------------

def test_an_expired_token_gets_401(client, owner, organisation, product, frozen_clock):
    raw = token_for(owner, product, ApiToken.Permission.REPORT_READ, lifetime_days=1)
    assert client.get(reports_url(organisation), **with_token(raw)).status_code == 200

    frozen_clock.advance(days=1)

    assert client.get(reports_url(organisation), **with_token(raw)).status_code == 401


def test_a_revoked_token_gets_401(client, owner, organisation, product, read_token):
    api_token_revoke(token=ApiToken.objects.get(), actor=owner.user)

    assert client.get(reports_url(organisation), **with_token(read_token)).status_code == 401


@pytest.mark.parametrize("header", [
    "Token vd_" + "A" * 43,  # well-formed, but no such token
    "Token abc",  # not a vulndesk token
    "Token vd_" + "A" * 200,  # far too long
    "Token vd_{read}x",  # a real token with one character added
    "Token {read_upper}",  # case matters
    "Bearer {read}",  # the right secret under the wrong scheme
])
def test_malformed_or_unknown_tokens_get_401(client, organisation, read_token, header):
    header = header.format(read=read_token[3:], read_upper=read_token.upper())

    response = client.get(reports_url(organisation), HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert "results" not in response.json()


def test_a_token_stops_working_when_its_creator_is_demoted_to_triager(client, owner, organisation, read_token):
    keeper = make_member(organisation, role="owner")
    membership_role_change(membership=owner, role="triager", actor=keeper)

    response = client.get(reports_url(organisation), **with_token(read_token))

    assert response.status_code == 404
    assert "results" not in response.json()


def test_a_token_stops_working_when_its_creator_is_removed(client, owner, organisation, product, create_token):
    keeper = make_member(organisation, role="owner")
    membership_remove(membership=owner, actor=keeper)

    assert create_report(client, organisation, product, create_token).status_code == 404
    assert not Report.objects.filter(organisation=organisation).exists()


def test_a_token_stops_working_when_its_creator_is_deactivated(client, owner, organisation, read_token):
    owner.user.is_active = False
    owner.user.save(update_fields=["is_active"])

    assert client.get(reports_url(organisation), **with_token(read_token)).status_code == 401


def test_revoking_through_the_settings_page_is_audited_and_takes_effect(client, owner, organisation, product,
                                                                         read_token):
    token = ApiToken.objects.get()
    verified_login(client, owner.user)

    response = client.post(settings_url(organisation, product, f"api-tokens/{token.pk}/revoke/"))

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    entry = AuditEntry.objects.get(action="api_token.revoke")
    assert (entry.organisation_id, entry.actor_id, entry.target_type, entry.target_id) == (
        organisation.pk, owner.user.pk, "api_token", str(token.pk))
    client.logout()
    assert client.get(reports_url(organisation), **with_token(read_token)).status_code == 401


def test_a_token_of_another_organisation_cannot_be_revoked_through_this_one(client, owner, product, frozen_clock):
    elsewhere = make_organisation()
    foreign_owner = make_member(elsewhere, role="owner")
    foreign = token_for(foreign_owner, make_product(elsewhere), ApiToken.Permission.REPORT_READ)
    foreign_token = ApiToken.objects.get(token_hash=hashlib.sha256(foreign.encode()).hexdigest())
    verified_login(client, owner.user)

    response = client.post(settings_url(owner.organisation, product, f"api-tokens/{foreign_token.pk}/revoke/"))

    assert response.status_code == 404
    foreign_token.refresh_from_db()
    assert foreign_token.revoked_at is None
