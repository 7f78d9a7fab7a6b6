"""The link rules (prenotify/links.py, prenotify/tokens.py): pure, no database."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from vulndesk.advisories.models import Advisory
from vulndesk.core.errors import DomainError
from vulndesk.prenotify.links import LinkStatus, effective_expiry, link_expiry, link_status
from vulndesk.prenotify.tokens import embargo_token_hash, embargo_token_new, embargo_token_well_formed

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EMBARGO = NOW + timedelta(days=7)


def status(*, revoked_at=None, expires_at=EMBARGO, embargo_until=EMBARGO, public=False, now=NOW):
    return link_status(revoked_at=revoked_at, expires_at=expires_at, embargo_until=embargo_until,
                       advisory_is_public=public, now=now)


def test_a_link_is_open_before_it_expires():
    assert status(now=EMBARGO - timedelta(seconds=1)) == LinkStatus.ACTIVE


def test_a_link_is_closed_from_the_moment_it_expires():
    assert status(now=EMBARGO) == LinkStatus.EXPIRED


def test_a_link_with_an_earlier_expiry_closes_before_the_embargo():
    assert status(expires_at=NOW + timedelta(days=1), now=NOW + timedelta(days=2)) == LinkStatus.EXPIRED


def test_an_embargo_moved_earlier_closes_the_link_with_it():
    assert effective_expiry(expires_at=EMBARGO, embargo_until=NOW + timedelta(hours=1)) == NOW + timedelta(hours=1)
    assert status(embargo_until=NOW + timedelta(hours=1), now=NOW + timedelta(hours=2)) == LinkStatus.EXPIRED


def test_an_embargo_moved_later_does_not_stretch_the_link():
    later = EMBARGO + timedelta(days=30)
    assert effective_expiry(expires_at=EMBARGO, embargo_until=later) == EMBARGO
    assert status(embargo_until=later, now=EMBARGO) == LinkStatus.EXPIRED


def test_a_removed_embargo_date_leaves_the_links_own_expiry():
    assert effective_expiry(expires_at=EMBARGO, embargo_until=None) == EMBARGO


def test_a_revoked_link_is_revoked_whatever_else_holds():
    assert status(revoked_at=NOW, public=True) == LinkStatus.REVOKED


def test_a_public_advisory_closes_the_link_even_after_its_expiry():
    # The usual case: the embargo passes, the scheduler publishes, then the recipient clicks.
    assert status(public=True, now=EMBARGO + timedelta(days=1)) == LinkStatus.PUBLIC


def _advisory(**fields) -> Advisory:
    return Advisory(**({"identifier": "ACME-2026-0001", "state": "draft", "embargo_until": EMBARGO} | fields))


def test_a_new_link_expires_at_the_embargo_unless_an_earlier_time_is_chosen():
    assert link_expiry(advisory=_advisory(), expires_at=None, now=NOW) == EMBARGO
    assert link_expiry(advisory=_advisory(), expires_at=NOW + timedelta(hours=3), now=NOW) == NOW + timedelta(hours=3)


@pytest.mark.parametrize(("fields", "expires_at", "field"), [
    ({"embargo_until": None}, None, "embargo_until"),
    ({"embargo_until": NOW - timedelta(minutes=1)}, None, "embargo_until"),
    ({}, EMBARGO + timedelta(minutes=1), "expires_at"),
    ({}, NOW, "expires_at"),
    ({"state": "published", "is_public": True}, None, "state"),
    ({"state": "withdrawn", "is_public": True}, None, "state"),
], ids=["no-embargo", "embargo-passed", "after-embargo", "not-in-future", "published", "withdrawn"])
def test_a_new_link_is_refused_when(fields, expires_at, field):
    with pytest.raises(DomainError) as error:
        link_expiry(advisory=_advisory(**fields), expires_at=expires_at, now=NOW)
    assert error.value.field == field


def test_a_new_token_carries_256_bits_and_only_its_sha256_is_the_key():
    token = embargo_token_new()
    assert len(token) == 43 and embargo_token_well_formed(token)
    assert embargo_token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len({embargo_token_new() for _ in range(100)}) == 100


@pytest.mark.parametrize("token", [
    "", "short", "a" * 42, "a" * 44, "a" * 10_000, "a" * 42 + "/", "a" * 42 + "%", "a" * 42 + "é",
    "a" * 42 + "\x00", "../" + "a" * 40, None,
])
def test_a_token_of_any_other_shape_is_refused_before_a_lookup(token):
    assert not embargo_token_well_formed(token)
