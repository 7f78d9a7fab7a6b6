"""The organisation keyrings on disk: a private cache of the database, rebuilt when it is missing
or stale, one per organisation."""

import shutil

import pytest

from tests.factories.core import make_organisation
from tests.pgp.fixtures import *  # noqa: F403 (fixtures)
from vulndesk.pgp import keyring, operations
from vulndesk.pgp.models import OrganisationPgpKey
from vulndesk.pgp.services import organisation_key_add

pytestmark = pytest.mark.django_db


def with_key(organisation, pair):
    return organisation_key_add(organisation=organisation, key_pair=pair, actor=None,
                                source=OrganisationPgpKey.Source.GENERATED)


def test_the_home_is_private_and_holds_the_key_only_under_its_random_passphrase(org_key_pair, reporter):
    organisation = make_organisation()
    key = with_key(organisation, org_key_pair)
    signed = operations.sign_detached(organisation.pk, b"hello\r\n")
    assert signed is not None and signed[1] == "pgp-sha256"
    home = keyring.home_root() / str(organisation.pk)
    assert home.stat().st_mode & 0o777 == 0o700
    # gpg-agent's store: every secret part protected ("P"), none in clear.
    listing = keyring.gpg_run(home, ["--list-secret-keys", "--with-keygrip", "--with-colons"]).output.decode()
    assert key.fingerprint in listing
    stored = [path.read_bytes() for path in (home / "private-keys-v1.d").glob("*.key")]
    assert len(stored) == 2  # the ed25519 primary key and the cv25519 subkey
    assert all(b"(protected-private-key" in content and b"(private-key" not in content for content in stored)


def test_a_stale_or_deleted_home_is_rebuilt_from_the_database(org_key_pair, other_key_pair):
    organisation = make_organisation()
    with_key(organisation, org_key_pair)
    operations.sign_detached(organisation.pk, b"x")
    home = keyring.home_root() / str(organisation.pk)
    marker = (home / keyring.MARKER).read_text()

    with_key(organisation, other_key_pair)  # another process added a key: the marker no longer matches
    signature, _ = operations.sign_detached(organisation.pk, b"x")
    assert (home / keyring.MARKER).read_text() != marker

    keyring.agent_stop(home)
    shutil.rmtree(home)
    assert operations.sign_detached(organisation.pk, b"x") is not None
    assert (home / keyring.MARKER).exists()


def test_one_organisations_key_never_opens_another_organisations_mail(org_key_pair, reporter):
    alpha, beta = make_organisation(), make_organisation()
    alpha_key = with_key(alpha, org_key_pair)
    armored = reporter.encrypt(b"for alpha only", reporter.trust(alpha_key.public_key), sign=False).encode()
    assert operations.open_packets(operations.unwrap(alpha.pk, armored), operations.CandidateKeys()).plaintext \
        == b"for alpha only"
    with pytest.raises(operations.Undecryptable, match="no OpenPGP key"):
        operations.unwrap(beta.pk, armored)


@pytest.mark.django_db(transaction=True)
def test_concurrent_operations_on_a_fresh_home_build_it_once_and_all_succeed(org_key_pair, caplog):
    import threading

    from django.db import connection

    organisation = make_organisation()
    with_key(organisation, org_key_pair)
    home = keyring.home_root() / str(organisation.pk)
    keyring.agent_stop(home)
    shutil.rmtree(home, ignore_errors=True)  # ids repeat across test databases: start from nothing
    results, errors = [], []

    def sign():
        try:
            results.append(operations.sign_detached(organisation.pk, b"concurrent\r\n"))
        except Exception as error:  # reported below; a thread must not die silently
            errors.append(error)
        finally:
            connection.close()

    with caplog.at_level("INFO", logger="vulndesk.pgp.keyring"):
        threads = [threading.Thread(target=sign) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == [] and len(results) == 4 and all(result is not None for result in results)
    assert sum("rebuilt" in record.message for record in caplog.records) == 1


def test_data_key_rotation_reseals_the_stored_keys_and_they_still_open(org_key_pair, reporter):
    from vulndesk.organisations.keys import envelope_version
    from vulndesk.organisations.rotation import organisation_keys_rotate

    organisation = make_organisation()
    key = with_key(organisation, org_key_pair)
    before = envelope_version(key.sealed_secret)
    result = organisation_keys_rotate(organisation_id=organisation.pk, settle_seconds=0)
    key.refresh_from_db()
    assert envelope_version(key.sealed_secret) == result.new_version > before
    home = keyring.home_root() / str(organisation.pk)
    keyring.agent_stop(home)
    shutil.rmtree(home, ignore_errors=True)  # rebuilt from the re-sealed rows
    armored = reporter.encrypt(b"after rotation", reporter.trust(key.public_key), sign=False).encode()
    assert operations.open_packets(operations.unwrap(organisation.pk, armored),
                                   operations.CandidateKeys()).plaintext == b"after rotation"
