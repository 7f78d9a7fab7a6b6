"""The OpenPGP settings page: generate, import, replace and retire the organisation's key, as an
owner would in the browser's absence (plain form posts); bad input gets a clear 422."""

import pytest
from django.utils.html import escape

from tests.factories.core import make_member, verified_login
from tests.pgp.fixtures import *  # noqa: F403 (fixtures)
from tests.pgp.fixtures import odd_key
from vulndesk.audit.models import AuditEntry
from vulndesk.pgp.models import OrganisationPgpKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, owner):
    return verified_login(client, owner.user)


def url(organisation, action: str = "") -> str:
    return f"/o/{organisation.slug}/pgp/" + (f"{action}/" if action else "")


def keys_of(organisation) -> list[OrganisationPgpKey]:
    return list(OrganisationPgpKey.objects.filter(organisation=organisation).order_by("pk"))


def test_without_a_key_the_page_says_what_to_do_and_proposes_the_security_address(owner_client, organisation):
    organisation.security_contact_email = "psirt@org.example"
    organisation.save()
    page = owner_client.get(url(organisation))
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    body = page.content.decode()
    assert "No key yet" in body and 'value="psirt@org.example"' in body
    assert f'value="{escape(organisation.name)} security team"' in body


def test_an_owner_generates_a_key_then_replaces_it_and_the_first_is_retired_not_lost(owner_client, organisation):
    response = owner_client.post(url(organisation, "generate"),
                                 {"name": "Org security team", "email": "security@org.example", "years": "1"})
    assert response.status_code == 302
    [first] = keys_of(organisation)
    assert first.state == "active" and first.source == "generated" and first.user_id.endswith("<security@org.example>")
    assert "PRIVATE KEY BLOCK" not in first.sealed_secret and first.passphrase not in first.sealed_secret
    page = owner_client.get(url(organisation)).content.decode()
    assert first.fingerprint_groups in page and "ed25519 + cv25519" in page

    owner_client.post(url(organisation, "generate"), {"name": "Org security team", "years": "2"})
    first.refresh_from_db()
    second = keys_of(organisation)[1]
    assert (first.state, second.state) == ("retired", "active") and first.retired_at is not None
    page = owner_client.get(url(organisation)).content.decode()
    assert "Retired keys" in page and first.fingerprint_groups in page
    actions = list(AuditEntry.objects.filter(organisation_id=organisation.pk, action__startswith="pgp.")
                   .values_list("action", flat=True))
    assert actions.count("pgp.key_generated") == 2 and "pgp.key_retire" in actions


def test_an_owner_imports_a_key_and_retires_it(owner_client, organisation, org_key_pair):
    response = owner_client.post(url(organisation, "import"), {"secret_key": org_key_pair.armored_secret,
                                                               "passphrase": org_key_pair.passphrase})
    assert response.status_code == 302, response.content.decode()[:2000]
    [key] = keys_of(organisation)
    assert key.fingerprint == org_key_pair.public.fingerprint and key.source == "imported"
    assert key.passphrase != org_key_pair.passphrase  # re-protected for storage

    again = owner_client.post(url(organisation, "import"), {"secret_key": org_key_pair.armored_secret,
                                                            "passphrase": org_key_pair.passphrase})
    assert again.status_code == 422 and "already stored" in again.content.decode()

    assert owner_client.post(url(organisation, "retire")).status_code == 302
    key.refresh_from_db()
    assert key.state == "retired"
    follow = owner_client.post(url(organisation, "retire"), follow=True)
    assert "no active key to retire" in follow.content.decode()


@pytest.mark.parametrize(("data", "expected"), [
    ({}, "This field is required"),
    ({"secret_key": "<script>alert(1)</script>"}, "not an ASCII-armored OpenPGP secret key"),
    ({"secret_key": "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nQUFB\n-----END PGP PRIVATE KEY BLOCK-----"},
     "could not be imported"),
    ({"secret_key": "x" * 300_000}, "at most 262144 characters"),
], ids=["empty", "markup", "garbage-armor", "oversized"])
def test_bad_imports_are_422_with_the_reason_and_store_nothing(owner_client, organisation, data, expected):
    response = owner_client.post(url(organisation, "import"), data | {"passphrase": "typed secret"})
    assert response.status_code == 422
    body = response.content.decode()
    assert escape(expected) in body and "<script>alert(1)</script>" not in body
    assert "typed secret" not in body  # the passphrase is never echoed
    assert not keys_of(organisation)


def test_importing_a_public_key_says_to_import_the_secret_key(owner_client, organisation, reporter):
    response = owner_client.post(url(organisation, "import"), {"secret_key": reporter.public_key})
    assert response.status_code == 422 and "This is a public key" in response.content.decode()


@pytest.mark.parametrize(("data", "expected"), [
    ({"name": "", "years": "2"}, "This field is required"),
    ({"name": "Team <evil@example.org>", "years": "2"}, "Leave out &lt; and &gt;"),
    ({"name": "Team\nName-Email: x@y.z", "years": "2"}, "control characters"),
    ({"name": "Org team", "years": "99"}, "Select a valid choice"),
    ({"name": "Org team", "email": "not-an-address", "years": "2"}, "Enter a valid email address"),
    ({"name": "x" * 101, "years": "2"}, "at most 100 characters"),
], ids=["empty", "angle-brackets", "line-break", "years", "email", "oversized"])
def test_bad_generate_input_is_422(owner_client, organisation, data, expected):
    response = owner_client.post(url(organisation, "generate"), data)
    assert response.status_code == 422 and expected in response.content.decode()
    assert not keys_of(organisation)


def test_an_imported_key_whose_user_id_carries_markup_is_shown_escaped(owner_client, organisation):
    response = owner_client.post(url(organisation, "import"), {"secret_key": odd_key("script_uid_secret")})
    assert response.status_code == 302
    page = owner_client.get(url(organisation)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; team &lt;xss@acme.test&gt;" in page
    assert "<script>alert(1)" not in page


@pytest.mark.parametrize("role", ["triager", "developer", "viewer"])
def test_other_roles_may_not_see_or_change_the_key(client, organisation, role):
    member = make_member(organisation, role=role)
    verified_login(client, member.user)
    assert client.get(url(organisation)).status_code == 403
    assert client.post(url(organisation, "generate"), {"name": "Org team", "years": "1"}).status_code == 403
    assert not keys_of(organisation)
