"""Where the organisation's key is published: a text file beside its security.txt, named in
security.txt's Encryption field, and the Web Key Directory for mail programs."""

import gnupg
import pytest

from tests.factories.core import make_organisation, make_product
from tests.pgp.fixtures import *  # noqa: F403 (fixtures)
from vulndesk.pgp.models import OrganisationPgpKey
from vulndesk.pgp.publication import wkd_hash
from vulndesk.pgp.services import organisation_key_add, organisation_key_retire

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(db, settings):
    settings.ALLOWED_HOSTS = ["testserver", "acme.test", "other.test"]
    settings.SITE_URL = "https://vulndesk.acme.test"
    organisation = make_organisation(name="Acme", slug="acme", security_contact_email="security@acme.test")
    make_product(organisation, name="Acme Web", slug="web")
    return organisation


@pytest.fixture
def published(acme, org_key_pair):
    return organisation_key_add(organisation=acme, key_pair=org_key_pair, actor=None,
                                source=OrganisationPgpKey.Source.GENERATED)


def test_the_public_key_is_served_as_text_beside_security_txt(client, published, org_key_pair):
    response = client.get("/advisories/acme/pgp-key.txt")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == org_key_pair.public.armored
    assert "PRIVATE" not in response.content.decode()


def test_no_key_a_retired_key_or_an_unknown_organisation_is_a_404(client, acme, published):
    assert client.get("/advisories/nobody/pgp-key.txt").status_code == 404
    organisation_key_retire(organisation=acme, actor=None)
    assert client.get("/advisories/acme/pgp-key.txt").status_code == 404
    assert "Encryption:" not in client.get("/.well-known/security.txt", secure=True).content.decode()


def test_security_txt_names_the_published_key_in_its_encryption_field(client, acme, published):
    before = client.get("/.well-known/security.txt", secure=True).content.decode()
    assert "Encryption: https://vulndesk.acme.test/advisories/acme/pgp-key.txt\n" in before
    other = make_organisation(slug="other-org", security_contact_email="x@other.test")
    make_product(other)
    assert "Encryption:" not in client.get("/advisories/other-org/security.txt", secure=True).content.decode()


def test_the_wkd_hash_matches_the_drafts_example():
    # draft-koch-openpgp-webkey-service, section 3.1: "Joe.Doe@Example.ORG".
    assert wkd_hash("Joe.Doe") == "iy9q119eutrkn8s1mk4r39qejnbu3n5q"


def test_a_mail_program_finds_the_key_through_the_web_key_directory(client, published, reporter, tmp_path):
    url = f"/.well-known/openpgpkey/hu/{wkd_hash('security')}?l=security"
    response = client.get(url, HTTP_HOST="acme.test", secure=True)
    assert response.status_code == 200 and response["Content-Type"] == "application/octet-stream"
    assert response["Access-Control-Allow-Origin"] == "*"
    home = tmp_path / "client"
    home.mkdir(mode=0o700)
    imported = gnupg.GPG(gnupghome=str(home), options=["--no-autostart"]).import_keys(response.content)  # binary
    assert imported.fingerprints == [published.fingerprint]
    assert client.get("/.well-known/openpgpkey/policy", HTTP_HOST="acme.test", secure=True).status_code == 200


@pytest.mark.parametrize(("path", "host"), [
    (f"/.well-known/openpgpkey/hu/{wkd_hash('someone-else')}", "acme.test"),
    (f"/.well-known/openpgpkey/hu/{wkd_hash('security')}", "other.test"),  # the address is not on this domain
    ("/.well-known/openpgpkey/hu/..%2f..%2fetc%2fpasswd", "acme.test"),
    ("/.well-known/openpgpkey/hu/<script>", "acme.test"),
])
def test_the_directory_answers_nothing_for_other_addresses_or_hosts(client, published, path, host):
    assert client.get(path, HTTP_HOST=host, secure=True).status_code == 404


def test_without_a_key_the_directory_has_no_policy(client, acme):
    assert client.get("/.well-known/openpgpkey/policy", HTTP_HOST="acme.test", secure=True).status_code == 404
