"""Checking keys people give us, and making and importing the organisation's key pair, against
the real gpg. Every refusal says what is wrong and what to do."""

import pytest

from tests.pgp.fixtures import *  # noqa: F403 (fixtures)
from tests.pgp.fixtures import odd_key
from vulndesk.pgp import keyring
from vulndesk.pgp.keys import KeyRefused, key_pair_generate, public_key_inspect, secret_key_import


def refusal(function, *args, **kwargs) -> str:
    with pytest.raises(KeyRefused) as refused:
        function(*args, **kwargs)
    return refused.value.message


def test_a_reporters_public_key_is_checked_and_kept_minimal(reporter):
    key = public_key_inspect("\n  " + reporter.public_key + "\n")
    assert key.fingerprint == reporter.fingerprint
    assert key.user_ids == ["Alice Reporter <alice@reporter.example>"]
    assert key.algorithm == "ed25519 + cv25519" and key.expires_at is None and len(key.key_ids) == 2
    assert key.armored.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")


@pytest.mark.parametrize(("text", "expected"), [
    ("", "not an ASCII-armored OpenPGP public key"),
    ("   \n\t", "not an ASCII-armored OpenPGP public key"),
    ("hello, this is my key: 0x1234", "not an ASCII-armored OpenPGP public key"),
    ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n<script>alert(1)</script>\n-----END PGP PUBLIC KEY BLOCK-----",
     "could not be read as an OpenPGP public key"),
    ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "QUFB" * 20_000 + "\n-----END PGP PUBLIC KEY BLOCK-----",
     "too long (at most 64 KiB)"),
    ("'; DROP TABLE pgp_reporterpgpkey;--", "not an ASCII-armored"),
    ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n../../../../etc/passwd\n-----END PGP PUBLIC KEY BLOCK-----",
     "could not be read"),
], ids=["empty", "blank", "prose", "garbage-armor", "oversized", "sql", "traversal"])
def test_garbage_where_a_public_key_should_be_is_refused_with_a_reason(text, expected):
    assert expected in refusal(public_key_inspect, text)


def test_keys_that_cannot_be_used_are_refused_with_what_to_do(reporter, stranger):
    assert "expired on 31 Dec 2020" in refusal(public_key_inspect, odd_key("expired"))
    assert "cannot encrypt" in refusal(public_key_inspect, odd_key("sign_only"))
    assert "RSA with 1024 bits, which is too weak" in refusal(public_key_inspect, odd_key("rsa1024"))
    assert "Never send it to anyone" in refusal(public_key_inspect, odd_key("expired_secret"))
    assert "exactly one" in refusal(public_key_inspect, reporter.public_key + "\n" + stranger.public_key)


def test_a_user_id_with_markup_is_kept_as_text(reporter):
    key = public_key_inspect(odd_key("script_uid"))
    assert key.user_ids == ["<script>alert(1)</script> <xss@reporter.example>"]


def test_refused_and_accepted_checks_leave_no_work_home_behind(reporter):
    public_key_inspect(reporter.public_key)
    refusal(public_key_inspect, odd_key("sign_only"))
    assert not list((keyring.home_root() / "w").glob("*"))


def test_a_generated_key_pair_is_ed25519_cv25519_protected_and_expires(org_key_pair):
    public = org_key_pair.public
    assert public.algorithm == "ed25519 + cv25519"
    assert public.user_id == "Acme security team <security@acme.test>"
    assert 729 <= (public.expires_at - public.created_at).days <= 731
    assert "PRIVATE KEY BLOCK" in org_key_pair.armored_secret and len(org_key_pair.passphrase) >= 43
    # The export is protected: without the passphrase it does not open.
    assert "passphrase does not open" in refusal(secret_key_import, text=org_key_pair.armored_secret, passphrase="")


def test_a_generated_name_cannot_inject_gpg_parameters():
    pair = key_pair_generate(name="Evil\nName-Email: attacker@evil.example\n%commit", email="", years=1)
    assert pair.public.user_ids == ["Evil Name-Email: attacker@evil.example %commit"]


def test_an_imported_secret_key_gets_a_fresh_random_passphrase(org_key_pair):
    imported = secret_key_import(text=org_key_pair.armored_secret, passphrase=org_key_pair.passphrase)
    assert imported.public.fingerprint == org_key_pair.public.fingerprint
    assert imported.passphrase != org_key_pair.passphrase
    assert "passphrase does not open" in refusal(secret_key_import, text=imported.armored_secret,
                                                 passphrase=org_key_pair.passphrase)
    assert secret_key_import(text=imported.armored_secret, passphrase=imported.passphrase).public.fingerprint \
        == org_key_pair.public.fingerprint


@pytest.mark.parametrize(("text", "passphrase", "expected"), [
    ("", "", "not an ASCII-armored OpenPGP secret key"),
    ("<script>alert(1)</script>", "", "not an ASCII-armored OpenPGP secret key"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----", "",
     "could not be imported"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + "QUFB" * 70_000 + "\n-----END PGP PRIVATE KEY BLOCK-----", "",
     "too long (at most 256 KiB)"),
], ids=["empty", "markup", "garbage-armor", "oversized"])
def test_garbage_where_a_secret_key_should_be_is_refused(text, passphrase, expected):
    assert expected in refusal(secret_key_import, text=text, passphrase=passphrase)


def test_a_public_key_or_an_expired_secret_key_is_not_accepted_as_the_organisations(org_key_pair):
    assert "This is a public key" in refusal(secret_key_import, text=org_key_pair.public.armored)
    assert "expired on 31 Dec 2020" in refusal(secret_key_import, text=odd_key("expired_secret"))
    assert "passphrase does not open" in refusal(secret_key_import, text=org_key_pair.armored_secret,
                                                 passphrase="wrong")
