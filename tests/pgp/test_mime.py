"""PGP/MIME byte handling and gpg status lines: pure, no gpg, no database."""

import pytest

from vulndesk.pgp import mime
from vulndesk.pgp.models import SignatureState
from vulndesk.pgp.operations import signature_from_status

SIGNED = (b"From: a@b.example\r\nSubject: s\r\nContent-Type: multipart/signed; micalg=pgp-sha256;\r\n"
          b' protocol="application/pgp-signature"; boundary="XX"\r\n\r\npreamble\r\n--XX\r\n'
          b"Content-Type: text/plain\r\n\r\nline one  \r\n--XX is not a delimiter here\r\n\r\n--XX\r\n"
          b"Content-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\nAA\r\n"
          b"-----END PGP SIGNATURE-----\r\n--XX--\r\nepilogue\r\n")


def test_the_signed_part_is_cut_out_byte_for_byte_without_the_line_break_before_the_delimiter():
    assert mime.pgp_mime_kind(SIGNED) == mime.SIGNED
    signed, signature = mime.signed_data(SIGNED)
    assert signed == b"Content-Type: text/plain\r\n\r\nline one  \r\n--XX is not a delimiter here\r\n"
    assert signature.startswith(b"-----BEGIN PGP SIGNATURE-----")


def test_lf_only_mail_is_canonicalised_to_crlf_for_checking():
    lf = SIGNED.replace(b"\r\n", b"\n")
    signed, _ = mime.signed_data(lf)
    assert mime.canonical(signed) == b"Content-Type: text/plain\r\n\r\nline one  \r\n--XX is not a delimiter here\r\n"


@pytest.mark.parametrize(("raw", "error"), [
    (SIGNED.replace(b"--XX--", b"--YY--"), "no closing boundary"),
    (SIGNED.replace(b'; boundary="XX"', b""), "no boundary"),
    (SIGNED.replace(b"application/pgp-signature\r\n\r\n-----", b"text/plain\r\n\r\n-----"),
     "not application/pgp-signature"),
])
def test_broken_pgp_mime_says_what_is_wrong(raw, error):
    with pytest.raises(mime.MimeBroken, match=error):
        mime.signed_data(raw)


def test_only_the_rfc_3156_protocols_count_as_pgp_mime():
    assert mime.pgp_mime_kind(SIGNED.replace(b"application/pgp-signature\"", b"application/pkcs7-signature\"")) is None
    encrypted = b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary=b\r\n\r\n'
    assert mime.pgp_mime_kind(encrypted) == mime.ENCRYPTED
    assert mime.pgp_mime_kind(b"Subject: plain\r\n\r\nhello") is None
    assert mime.pgp_mime_kind(b"\x00\xff garbage") is None


def test_the_rebuilt_message_keeps_outer_headers_and_takes_the_protected_subject_and_inner_content():
    outer = (b"From: Alice <a@b.example>\r\nSubject: ...\r\nMessage-ID: <m@b>\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/encrypted;\r\n protocol=\"application/pgp-encrypted\"; boundary=b\r\n\r\nbody")
    inner = (b'Content-Type: text/plain; charset=utf-8; protected-headers="v1"\r\nSubject: Real subject\r\n'
             b"From: Mallory <m@evil.example>\r\n\r\nsecret text\n")
    rebuilt = mime.rebuild(outer, inner)
    assert rebuilt.startswith(b"From: Alice <a@b.example>\r\nMessage-ID: <m@b>\r\nSubject: Real subject\r\n")
    assert b"multipart/encrypted" not in rebuilt and b"Mallory" not in rebuilt
    assert rebuilt.endswith(b"\r\n\r\nsecret text\r\n")
    # Bare text (no header block) is read as UTF-8 text, not as headers.
    assert b"Content-Type: text/plain; charset=utf-8\r\n\r\nJust text: with a colon" in mime.rebuild(
        outer, b"Just text: with a colon\n\nmore")


def test_the_fast_test_finds_armor_and_pgp_content_types_only():
    assert mime.may_carry_openpgp(b"x\r\n-----BEGIN PGP MESSAGE-----\r\n")
    assert mime.may_carry_openpgp(b"Content-Type: Application/PGP-Keys")
    assert not mime.may_carry_openpgp(b"Subject: PGP is great\r\n\r\nno armor here")


STATUS = {
    "good": [["NEWSIG"], ["GOODSIG", "AAAA", "Alice"], ["VALIDSIG", "SUB", "2026", "1", "0", "4", "0", "22", "8", "00",
                                                         "PRIMARYFPR"]],
    "bad": [["NEWSIG"], ["BADSIG", "BBBB", "Alice"]],
    "unknown": [["NEWSIG"], ["ERRSIG", "CCCC", "22", "8", "00", "1", "9", "FPRC"], ["NO_PUBKEY", "CCCC"]],
    "expired": [["NEWSIG"], ["EXPKEYSIG", "DDDD", "Old"], ["VALIDSIG", "X"]],
    "none": [["PLAINTEXT", "62"]],
}


@pytest.mark.parametrize(("case", "state", "fingerprint", "key_id"), [
    ("good", SignatureState.VERIFIED, "PRIMARYFPR", "AAAA"),
    ("bad", SignatureState.BAD, "", "BBBB"),
    ("unknown", SignatureState.UNKNOWN_KEY, "FPRC", "CCCC"),
    ("expired", SignatureState.KEY_PROBLEM, "X", "DDDD"),
    ("none", SignatureState.NOT_SIGNED, "", ""),
])
def test_gpg_status_lines_give_the_verdict(case, state, fingerprint, key_id):
    check = signature_from_status(STATUS[case])
    assert (check.state, check.fingerprint, check.key_id) == (state, fingerprint, key_id)


def test_with_two_signatures_the_worse_one_counts():
    assert signature_from_status(STATUS["good"] + STATUS["bad"]).state == SignatureState.BAD
    assert signature_from_status(STATUS["unknown"] + STATUS["good"]).state == SignatureState.UNKNOWN_KEY
