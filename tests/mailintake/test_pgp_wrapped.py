"""PGP/MIME wrapped in multipart/mixed (a mailing list's footer beside it, a mail program's
wrapper): opened as at the top, and what came beside it stays text of its own, below a line,
never covered by the signature status. End to end: the reporter's own gpg writes the mail by hand,
smtplib sends it to the real intake server. Also the hostile cases: parts side by side, wrapping
and nesting beyond the bounds, a decrypted part too large once decompressed, and outside text
that claims to be signed."""

import re

import pytest

from tests.mailintake.conftest import REPORTER, png_bytes, sent_to
from tests.pgp.fixtures import *  # noqa: F403 (fixtures)
from vulndesk.attachments.models import Attachment
from vulndesk.mailintake.models import InboundMessage, InboundState
from vulndesk.pgp import mime
from vulndesk.pgp.inbound import OUTSIDE_LINE
from vulndesk.pgp.models import MessageSecurity, ReporterPgpKey, SignatureState
from vulndesk.reports.models import Report

TEXT = "The q parameter of /search reaches SQL unescaped.\n\nPoC: GET /search?q=' OR 1=1--"
FOOTER = "_______________________________________________\nsecurity-announce mailing list\nhttps://lists.example/x"


def text_part(text: str) -> bytes:
    return (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + text.replace("\n", "\r\n").encode())


def mixed(*parts: bytes, boundary: str = "mix-b") -> bytes:
    """A multipart/mixed entity (no message headers) around ``parts``."""
    return (f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
            + b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
            + f"--{boundary}--\r\n".encode())


def message(reporter, entity: bytes, *, subject: str, message_id: str) -> bytes:
    return reporter.headers(subject, message_id=message_id).encode() + entity


def encrypted_entity(reporter, entity: bytes, recipient: str, *, sign: bool = True) -> bytes:
    """multipart/encrypted as the reporter's program writes it, without the message headers."""
    raw = reporter.pgp_mime_encrypted(entity, recipient, message_id="<x@r.example>", sign=sign)
    return raw[raw.index(b"Content-Type: multipart/encrypted"):]


def stored() -> InboundMessage:
    return InboundMessage.objects.order_by("pk").last()


def security_of(inbound: InboundMessage) -> MessageSecurity:
    return MessageSecurity.objects.get(inbound=inbound)


def protected_and_outside(description: str) -> tuple[str, str]:
    protected, line, outside = description.partition(f"\n\n{OUTSIDE_LINE}\n")
    assert line, "no line between the protected text and what came beside it"
    return protected, outside


pytestmark = pytest.mark.django_db(transaction=True)


# --- opened as at the top --------------------------------------------------------------------------

def test_a_signed_part_with_a_list_footer_is_verified_and_the_footer_kept_below_the_line(
        mail_server, mail_world, reporter, smtp_sink):
    signed = reporter.signed_entity(reporter.entity(TEXT, key=reporter.public_key))
    mail_server.send(message(reporter, mixed(signed, text_part(FOOTER)), subject="Signed via list",
                             message_id="<wrapped-sig@r.example>"))

    inbound = stored()
    assert inbound.state == InboundState.REPORTED
    report = Report.objects.get()
    protected, outside = protected_and_outside(report.description)
    assert protected == TEXT
    assert outside.startswith("[Not signed: the text below came outside the signed part") and outside.endswith(FOOTER)
    security = security_of(inbound)
    assert (security.format, security.signature) == ("pgp_mime", SignatureState.VERIFIED)
    assert security.signer_fingerprint == reporter.fingerprint
    assert "covers the protected part only" in security.reason
    assert "not covered by the signature" in inbound.notes
    # The signature and the key are OpenPGP plumbing, not files; the footer is no attachment either.
    assert not Attachment.objects.filter(report=report).exists()
    assert [key.fingerprint for key in ReporterPgpKey.objects.filter(report=report)] == [reporter.fingerprint]


def test_an_encrypted_part_wrapped_with_a_footer_is_decrypted_with_its_files(
        mail_server, mail_world, org_key, reporter, smtp_sink):
    reporter.trust(org_key.public_key)
    entity = reporter.entity(TEXT, subject="SQL injection in /search", key=reporter.public_key,
                             attachments=[("screenshot.png", png_bytes(), "image/png")])
    raw = message(reporter, mixed(encrypted_entity(reporter, entity, org_key.fingerprint), text_part(FOOTER)),
                  subject="...", message_id="<wrapped-enc@r.example>")
    mail_server.send(raw)

    inbound = stored()
    assert inbound.state == InboundState.REPORTED
    report = Report.objects.get()
    assert report.title == "SQL injection in /search"  # the protected Subject, as at the top
    protected, outside = protected_and_outside(report.description)
    assert protected == TEXT
    assert outside.startswith("[Not encrypted: the text below came outside the encrypted part")
    assert outside.endswith(FOOTER)
    assert [a.kind for a in Attachment.objects.filter(report=report)] == ["png"]
    security = security_of(inbound)
    assert (security.was_encrypted, security.was_decrypted, security.signature) == (True, True,
                                                                                   SignatureState.VERIFIED)
    assert security.reason.startswith("Decrypted with the organisation's key.")
    # The reporter gets the acknowledgement encrypted, as for any encrypted report.
    [ack] = sent_to(smtp_sink, REPORTER)
    assert ack.get_content_type() == "multipart/encrypted"


def test_a_part_two_levels_down_behind_blank_text_is_opened_and_nothing_outside_means_no_line(
        mail_server, mail_world, org_key, reporter, smtp_sink):
    reporter.trust(org_key.public_key)
    inner = mixed(text_part("\n"), encrypted_entity(reporter, reporter.entity(TEXT), org_key.fingerprint),
                  boundary="inner-b")
    mail_server.send(message(reporter, mixed(inner, text_part("  \n")), subject="Deep enough",
                             message_id="<two-levels@r.example>"))

    report = Report.objects.get()
    assert report.description == TEXT and OUTSIDE_LINE not in report.description
    assert security_of(stored()).was_decrypted


def test_text_a_list_puts_before_the_signed_part_also_goes_below_the_line(mail_server, mail_world, reporter,
                                                                           smtp_sink):
    header = "This message was distributed by the list. All posts are signed and verified by us."
    signed = reporter.signed_entity(reporter.entity(TEXT, key=reporter.public_key))
    mail_server.send(message(reporter, mixed(text_part(header), signed, text_part(FOOTER)),
                             subject="Header and footer", message_id="<header@r.example>"))

    protected, outside = protected_and_outside(Report.objects.get().description)
    assert protected == TEXT
    assert header in outside and FOOTER in outside and outside.index(header) < outside.index(FOOTER)


# --- hostile ----------------------------------------------------------------------------------------

def test_outside_text_claiming_to_be_signed_is_not_verified_nor_opened_and_its_key_is_not_taken(
        mail_server, mail_world, reporter, stranger, smtp_sink):
    forged = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nThe reporter agrees the bounty goes to "
              "IBAN XX00 0000.\n-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----")
    # A real clear-signed block too, by someone else, with that someone's key alongside.
    genuine_other = stranger.clearsign("Signed by Mallory: ignore the report above.\n")
    outside = (f"[Verified: this whole message is signed by {REPORTER}]\n\n{forged}\n\n{genuine_other}\n\n"
               f"{stranger.public_key}")
    signed = reporter.signed_entity(reporter.entity(TEXT, key=reporter.public_key))
    mail_server.send(message(reporter, mixed(signed, text_part(outside)), subject="Claims",
                             message_id="<claims@r.example>"))

    inbound = stored()
    report = Report.objects.get()
    protected, below = protected_and_outside(report.description)
    assert protected == TEXT
    # Everything outside stays literal text below the line: nothing of it was opened or replaced.
    assert "-----BEGIN PGP SIGNED MESSAGE-----" in below and "IBAN XX00" in below
    assert "-----BEGIN PGP SIGNATURE-----" in below and "Signed by Mallory" in below
    assert "-----BEGIN PGP PUBLIC KEY BLOCK-----" in below
    security = security_of(inbound)
    assert security.signature == SignatureState.VERIFIED and security.signer_fingerprint == reporter.fingerprint
    assert security.keys_received == 1
    assert [key.fingerprint for key in ReporterPgpKey.objects.filter(report=report)] == [reporter.fingerprint]


def test_a_tampered_signed_part_is_bad_whatever_the_outside_says(mail_server, mail_world, reporter, smtp_sink):
    signed = reporter.signed_entity(reporter.entity(TEXT, key=reporter.public_key), tamper=True)
    mail_server.send(message(reporter, mixed(signed, text_part("Signature verified OK by the list.")),
                             subject="Tampered", message_id="<tampered@r.example>"))

    assert security_of(stored()).signature == SignatureState.BAD


def test_a_wrapped_encrypted_part_the_organisation_cannot_open_is_quarantined_with_the_reason(
        mail_server, mail_world, org_key, reporter, other_key_pair, smtp_sink):
    recipient = reporter.trust(other_key_pair.public.armored)
    raw = message(reporter, mixed(encrypted_entity(reporter, reporter.entity(TEXT), recipient), text_part(FOOTER)),
                  subject="Wrong key", message_id="<wrong-key@r.example>")
    mail_server.send(raw)

    inbound = stored()
    assert inbound.state == InboundState.QUARANTINED and not Report.objects.exists()
    assert "not one of this organisation's keys" in inbound.reason
    security = security_of(inbound)
    assert security.was_encrypted and not security.was_decrypted
    assert sent_to(smtp_sink, REPORTER) == []


@pytest.mark.parametrize("where", ["wrapped", "top level", "inline"])
def test_a_decrypted_part_too_large_once_decompressed_is_quarantined_not_filed_cut(
        mail_server, mail_world, org_key, reporter, smtp_sink, settings, where):
    # gpg stops at --max-output yet reports the decryption okay: a cut plaintext must not be filed.
    settings.PGP_MAX_OUTPUT_BYTES = 256 * 1024
    reporter.trust(org_key.public_key)
    bomb = reporter.entity("A" * (4 * 1024 * 1024))  # compresses to a few kilobytes
    if where == "inline":
        armored = reporter.encrypt(b"B" * (4 * 1024 * 1024), org_key.fingerprint).strip()
        raw = reporter.inline(f"Hello,\n\n{armored}\n", subject="Bomb", message_id="<bomb@r.example>")
    else:
        entity = encrypted_entity(reporter, bomb, org_key.fingerprint)
        raw = message(reporter, mixed(entity, text_part(FOOTER)) if where == "wrapped" else entity,
                      subject="Bomb", message_id="<bomb@r.example>")
    assert len(raw) < 64 * 1024
    mail_server.send(raw)

    inbound = stored()
    assert inbound.state == InboundState.QUARANTINED and not Report.objects.exists()
    assert "larger than allowed once decompressed" in inbound.reason
    assert not security_of(inbound).was_decrypted


def test_several_pgp_mime_parts_side_by_side_are_quarantined(mail_server, mail_world, org_key, reporter,
                                                             smtp_sink):
    reporter.trust(org_key.public_key)
    first = reporter.signed_entity(reporter.entity(TEXT))
    second = encrypted_entity(reporter, reporter.entity("Another text"), org_key.fingerprint)
    mail_server.send(message(reporter, mixed(first, second), subject="Two", message_id="<two@r.example>"))

    inbound = stored()
    assert inbound.state == InboundState.QUARANTINED and "several PGP/MIME parts side by side" in inbound.reason
    assert not Report.objects.exists()


def test_an_encrypted_part_wrapped_deeper_than_looked_at_is_quarantined_not_filed(
        mail_server, mail_world, org_key, reporter, smtp_sink):
    reporter.trust(org_key.public_key)
    entity = encrypted_entity(reporter, reporter.entity(TEXT), org_key.fingerprint)
    for level in range(mime.MAX_WRAPPING + 1):
        entity = mixed(entity, boundary=f"level-{level}")
    mail_server.send(message(reporter, entity, subject="Too deep", message_id="<too-deep@r.example>"))

    inbound = stored()
    assert inbound.state == InboundState.QUARANTINED and not Report.objects.exists()
    assert f"more than {mime.MAX_WRAPPING} levels of multipart/mixed" in inbound.reason


@pytest.mark.parametrize("depth", [40, 3000])
def test_deeply_nested_multiparts_are_quarantined_with_a_clear_reason(mail_server, mail_world, reporter, smtp_sink,
                                                                     depth):
    entity = reporter.signed_entity(reporter.entity(TEXT))
    for level in range(depth):
        entity = mixed(entity, boundary=f"d{level}")
    mail_server.send(message(reporter, entity, subject="Nested", message_id=f"<nested-{depth}@r.example>"))

    inbound = stored()
    assert inbound.state == InboundState.QUARANTINED and not Report.objects.exists()
    assert re.search(r"nested more than \d+ levels deep", inbound.reason)


# --- the pure part: finding the wrapped part ------------------------------------------------------------

def test_finding_a_wrapped_part_returns_the_parts_beside_it_in_order():
    pgp = (b'Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary="s"\r\n\r\n'
           b"--s\r\n\r\nx\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--s--\r\n")
    raw = b"From: a@r.example\r\nSubject: s\r\n" + mixed(text_part("before"), pgp, text_part("after"))
    found = mime.wrapped_pgp_mime(raw)
    assert (found.kind, found.depth, found.entity) == (mime.SIGNED, 1, pgp)
    assert [part.split(b"\r\n\r\n", 1)[1] for part in found.outside] == [b"before", b"after"]
    rebuilt = mime.outside_message(raw, found.outside)
    assert rebuilt.startswith(b"From: a@r.example\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed")
    assert b"pgp-signature" not in rebuilt


@pytest.mark.parametrize("raw", [
    b"From: a@r.example\r\n\r\nplain text",
    b"From: a@r.example\r\n" + mixed(text_part("just text"), text_part("more")),
    b"From: a@r.example\r\n" + mixed(text_part("text first"), mixed(text_part("deeper text"), boundary="z")),
    b'From: a@r.example\r\nContent-Type: multipart/mixed; boundary="q"\r\n\r\n--q\r\nno closing boundary',
    b'From: a@r.example\r\nContent-Type: multipart/alternative; boundary="q"\r\n\r\n--q\r\n\r\nx\r\n--q--\r\n',
])
def test_messages_without_a_wrapped_pgp_mime_part_are_left_to_the_mail_parser(raw):
    assert mime.wrapped_pgp_mime(raw) is None
