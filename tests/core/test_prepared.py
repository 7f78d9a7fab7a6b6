"""Prepared SELECTs (core.prepared) give exactly what their QuerySet gives, read the database on
every call, and take parameters only as parameters. The API-token lookup and the creator's
membership check use them, so revocation, expiry, removal and demotion must still act on the
very next request of a token that has already been used in this process."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories.core import make_member, make_organisation, make_product
from vulndesk.accounts.api_tokens import _token_by_hash, api_token_create, api_token_hash, api_token_revoke
from vulndesk.accounts.models import ApiToken
from vulndesk.core.prepared import PreparedSelect
from vulndesk.organisations.models import Membership
from vulndesk.organisations.services import membership_add, membership_remove, membership_role_change
from vulndesk.reports.models import Report


@pytest.fixture
def raw_token(owner, product, frozen_clock):
    _, raw = api_token_create(organisation=owner.organisation, product=product, permission="report:create",
                              name="CI", lifetime_days=30, created_by=owner.user)
    return raw


def create(client, organisation, product, raw):
    return client.post(f"/api/v1/organisations/{organisation.slug}/reports/",
                       json.dumps({"product": product.slug, "title": "Scanner finding", "description": "d"}),
                       content_type="application/json", HTTP_AUTHORIZATION=f"Token {raw}")


def fields_of(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


# --- the prepared token lookup is the QuerySet's result ------------------------------------------

def test_the_prepared_token_lookup_returns_what_the_queryset_returns(db, raw_token):
    expected = (ApiToken.objects.select_related("created_by", "organisation", "product__policy")
                .get(token_hash=api_token_hash(raw_token)))

    token = _token_by_hash.first(api_token_hash(raw_token))

    assert fields_of(token) == fields_of(expected)
    assert token.expires_at.tzinfo is not None and token.created_at == expected.created_at
    # The related rows came with the one SELECT, converted as the ORM converts them.
    with CaptureQueriesContext(connection) as captured:
        assert fields_of(token.created_by) == fields_of(expected.created_by)
        assert fields_of(token.organisation) == fields_of(expected.organisation)
        assert fields_of(token.product) == fields_of(expected.product)
        assert fields_of(token.product.policy) == fields_of(expected.product.policy)
    assert len(captured.captured_queries) == 0
    assert token._state.adding is False and token._state.db == "default"


def test_the_prepared_lookup_reads_the_database_every_time(db, owner, raw_token):
    token = _token_by_hash.first(api_token_hash(raw_token))
    api_token_revoke(token=token, actor=owner.user)

    assert _token_by_hash.first(api_token_hash(raw_token)).revoked_at is not None


@pytest.mark.parametrize("hostile", [
    "", "x" * 100_000, "' OR '1'='1", "'; DROP TABLE accounts_apitoken; --", "<script>alert(1)</script>",
    "../../etc/passwd", "\x00", "%", "_",
])
def test_hostile_values_are_parameters_not_sql(db, raw_token, hostile):
    from django.db import DataError, connection, transaction

    if "\x00" in hostile and connection.vendor == "postgresql":
        # PostgreSQL refuses NUL in text before running anything, as it does for the ORM's own
        # queries (the API hashes the raw token first, so no NUL ever reaches this lookup).
        with pytest.raises(DataError, match="NUL"), transaction.atomic():
            ApiToken.objects.filter(token_hash=hostile).first()
        with pytest.raises(DataError, match="NUL"), transaction.atomic():
            _token_by_hash.first(hostile)
    else:
        assert _token_by_hash.first(hostile) is None
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize("values", [(), (1,), (b"bytes",), (True,), ("a", "b")])
def test_values_of_the_wrong_kind_or_number_are_refused(db, values):
    with pytest.raises(TypeError):
        _token_by_hash.first(*values)


def test_a_prepared_select_with_ints_and_fixed_parameters_matches_exists(db, owner, organisation):
    other = make_organisation()
    may_manage = PreparedSelect(
        lambda organisation_id, user_id: Membership.objects.filter(
            organisation_id=organisation_id, user_id=user_id, role__in=["owner", "security_manager"]
        ).values("pk")[:1],
        (int, int),
    )

    assert may_manage.exists(organisation.pk, owner.user.pk) is True
    assert may_manage.exists(other.pk, owner.user.pk) is False
    assert may_manage.exists(organisation.pk, owner.user.pk + 1000) is False
    with pytest.raises(TypeError):
        may_manage.first(organisation.pk, owner.user.pk)  # values(): rows, not instances


def test_a_placeholder_that_does_not_reach_the_sql_as_a_parameter_is_an_error(db):
    ignores_its_value = PreparedSelect(lambda slug: Membership.objects.all()[:1], (str,))

    with pytest.raises(ValueError, match="placeholder"):
        ignores_its_value.exists("acme")


# --- nothing about a token or its creator is remembered between requests -------------------------

def test_demotion_and_promotion_take_effect_on_the_next_request_of_a_used_token(client, owner, organisation,
                                                                                   product, raw_token):
    keeper = make_member(organisation, role="owner")
    assert create(client, organisation, product, raw_token).status_code == 201

    membership_role_change(membership=owner, role="triager", actor=keeper)
    assert create(client, organisation, product, raw_token).status_code == 404

    membership_role_change(membership=owner, role="security_manager", actor=keeper)
    assert create(client, organisation, product, raw_token).status_code == 201
    assert Report.objects.filter(organisation=organisation).count() == 2


def test_removal_revocation_and_expiry_take_effect_on_the_next_request_of_a_used_token(
        client, owner, organisation, product, frozen_clock):
    keeper = make_member(organisation, role="owner")
    tokens = [api_token_create(organisation=organisation, product=product, permission="report:create", name="CI",
                               lifetime_days=1, created_by=owner.user) for _ in range(2)]
    (revoked, revoked_raw), (_, expiring_raw) = tokens
    for _, raw in tokens:
        assert create(client, organisation, product, raw).status_code == 201

    api_token_revoke(token=revoked, actor=owner.user)
    assert create(client, organisation, product, revoked_raw).status_code == 401
    frozen_clock.advance(days=1)
    assert create(client, organisation, product, expiring_raw).status_code == 401

    frozen_clock.advance(days=-1)
    assert create(client, organisation, product, expiring_raw).status_code == 201
    membership_remove(membership=owner, actor=keeper)
    assert create(client, organisation, product, expiring_raw).status_code == 404
    assert Report.objects.filter(organisation=organisation).count() == 3


def test_a_used_token_still_gets_404_in_another_organisation(client, owner, organisation, product, raw_token):
    other = make_organisation()
    make_product(other, slug=product.slug)
    membership_add(organisation=other, user=owner.user, role="owner")  # its creator may act there: the token may not
    assert create(client, organisation, product, raw_token).status_code == 201

    assert create(client, other, product, raw_token).status_code == 404
    assert not Report.objects.filter(organisation=other).exists()


def test_the_last_use_stamp_is_still_written_at_most_every_five_minutes(client, organisation, product, raw_token,
                                                                         frozen_clock):
    create(client, organisation, product, raw_token)
    first = ApiToken.objects.get().last_used_at
    frozen_clock.advance(minutes=4)
    create(client, organisation, product, raw_token)
    assert ApiToken.objects.get().last_used_at == first
    frozen_clock.advance(minutes=2)
    create(client, organisation, product, raw_token)
    assert ApiToken.objects.get().last_used_at == first + timedelta(minutes=6)
