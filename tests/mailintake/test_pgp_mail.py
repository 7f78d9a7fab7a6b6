"""OpenPGP mail end to end: the reporter's own gpg (tests.pgp.fixtures) writes PGP/MIME and
inline PGP mail, sends it with smtplib to the real intake server, and reads what vulndesk sends
back from the real SMTP sink, with its own key."""

import re

import pytest

from tests.factories.core import verified_login
from tests.mailintake.conftest import REPORTER, png_bytes, sent_to
from tests.pgp.fixtures import *  # noqa: F403 (fixtures)
from vulndesk.attachments.models import Attachment
from vulndesk.attachments.services import attachment_name
from vulndesk.mailintake.models import AcknowledgementState, InboundMessage, InboundState, OutboundMail
from vulndesk.pgp.models import MessageSecurity, ReporterPgpKey, SignatureState
from vulndesk.reports.models import Report

pytestmark = pytest.mark.django_db(transaction=True)
TEXT = "The q parameter of /search reaches SQL unescaped.\n\nPoC: GET /search?q=' OR 1=1--"


def only_report() -> Report:
    [report] = Report.objects.select_related("organisation", "product")
    return report


def security_of(message: InboundMessage) -> MessageSecurity:
    return MessageSecurity.objects.get(inbound=message)


def test_an_encrypted_and_signed_pgp_mime_report_is_decrypted_filed_and_answered_encrypted(
        mail_server, smtp_sink, mail_world, org_key, reporter, client):
    reporter.trust(org_key.public_key)
    entity = reporter.entity(TEXT, subject="SQL injection in /search", key=reporter.public_key, attachments=[
        ("../../etc/passwd.png", png_bytes(), "image/png"), ("request.log", b"GET /search?q=%27\n", "text/plain")])
    mail_server.send(reporter.pgp_mime_encrypted(entity, org_key.fingerprint, subject="...",
                                                 message_id="<enc-1@reporter.example>"))

    report = only_report()
    # The protected Subject replaces the "..." placeholder; the text is the decrypted one.
    assert report.title == "SQL injection in /search" and report.description == TEXT
    files = sorted(Attachment.objects.filter(report=report), key=lambda a: a.kind)
    assert [a.kind for a in files] == ["png", "text"]
    assert sorted(attachment_name(a) for a in files) == ["passwd.png", "request.log"]  # no directories
    stored = InboundMessage.objects.get()
    assert stored.state == InboundState.REPORTED and stored.acknowledgement == AcknowledgementState.SENT
    security = security_of(stored)
    assert (security.format, security.was_encrypted, security.was_decrypted) == ("pgp_mime", True, True)
    assert security.signature == SignatureState.VERIFIED and security.signer_fingerprint == reporter.fingerprint
    assert security.key_source == MessageSecurity.KeySource.ATTACHED and security.keys_received == 1
    [key] = ReporterPgpKey.objects.filter(report=report)
    assert key.is_current and key.fingerprint == reporter.fingerprint and key.source == "mail"

    # The acknowledgement: PGP/MIME, generic outer subject, threading outside, the reporter's key opens it,
    # and inside a multipart/signed that verifies with the organisation's key.
    [ack] = sent_to(smtp_sink, REPORTER)
    assert ack["Subject"] == f"Re: [{report.reference}] Your security report"
    assert ack["In-Reply-To"] == "<enc-1@reporter.example>" and ack["Auto-Submitted"] == "auto-replied"
    assert "tracking" not in ack.as_string() and "/track/" not in ack.as_string()
    entity, _ = reporter.open(ack)
    signed, verification = reporter.verify_signed_entity(entity)
    assert verification.valid and verification.pubkey_fingerprint == org_key.fingerprint
    text = signed.decode()
    assert "protected-headers" in text and "Subject: Re: [" in text and "SQL injection in /search" in text
    from email import message_from_bytes, policy

    body = message_from_bytes(signed, policy=policy.default).get_content()
    token = re.search(r"/track/([A-Za-z0-9_-]+)/", body).group(1)
    assert client.get(f"/track/{token}/").status_code == 200


def test_staff_reply_to_a_reporter_with_a_key_goes_out_encrypted_to_them_and_to_the_organisation(
        mail_server, smtp_sink, mail_world, org_key, org_key_pair, reporter, message_posted):
    from vulndesk.reports.services import message_post

    reporter.trust(org_key.public_key)
    entity = reporter.entity(TEXT, key=reporter.public_key)
    mail_server.send(reporter.pgp_mime_encrypted(entity, org_key.fingerprint, subject="Encrypted report",
                                                 message_id="<enc-2@reporter.example>"))
    report = only_report()
    posted = message_post(report=report, actor=mail_world.triager, body="Confirmed. Fix lands in 2.4.3.",
                          is_internal=False)
    message_posted.send(sender=None, message_id=posted.pk, report_id=report.pk)

    assert OutboundMail.objects.get(message=posted).state == OutboundMail.State.SENT
    reply = sent_to(smtp_sink, REPORTER)[-1]
    assert reply["Subject"] == f"Re: [{report.reference}] Your security report" and "2.4.3" not in reply.as_string()
    entity, decryption = reporter.open(reply)
    signed, verification = reporter.verify_signed_entity(entity)
    assert verification.valid and verification.pubkey_fingerprint == org_key.fingerprint
    assert b"Confirmed. Fix lands in 2.4.3." in signed
    # The organisation's own key opens the sent copy as well (two recipients).
    recipients = {line.split()[2] for line in decryption.stderr.splitlines() if line.startswith("[GNUPG:] ENC_TO")}
    assert len(recipients) == 2 and set(org_key.key_ids.split()) & recipients


def test_a_pgp_mime_signed_report_verifies_with_the_attached_key_and_a_tampered_one_is_bad(
        mail_server, mail_world, reporter, smtp_sink):
    entity = reporter.entity(TEXT, key=reporter.public_key)
    mail_server.send(reporter.pgp_mime_signed(entity, subject="Signed report", message_id="<sig-1@r.example>"))
    mail_server.send(reporter.pgp_mime_signed(entity, subject="Tampered report", message_id="<sig-2@r.example>",
                                              tamper=True))

    good, bad = InboundMessage.objects.order_by("pk")
    assert security_of(good).signature == SignatureState.VERIFIED
    assert security_of(good).signer_fingerprint == reporter.fingerprint
    assert security_of(bad).signature == SignatureState.BAD and security_of(bad).signer_key_id
    reports = {r.title: r for r in Report.objects.all()}
    assert reports["Signed report"].description == TEXT  # the signature part is not text, nor an attachment
    assert not Attachment.objects.filter(report=reports["Signed report"]).exists()


def test_a_signed_reply_is_checked_against_the_key_the_reporter_gave_before(
        mail_server, mail_world, org_key, reporter, stranger, smtp_sink):
    first = reporter.entity(TEXT, key=reporter.public_key)
    mail_server.send(reporter.pgp_mime_signed(first, subject="Report", message_id="<r-1@r.example>"))
    report = only_report()
    ack = sent_to(smtp_sink, REPORTER)[-1]
    reply_to = ack["Reply-To"].addresses[0].addr_spec

    # No key attached this time: the key on file verifies it.
    reply = reporter.pgp_mime_signed(reporter.entity("More details."), subject="Re: Report",
                                     message_id="<r-2@r.example>")
    mail_server.send(reply.replace(b"To: security@acme.test", f"To: {reply_to}".encode()), to=reply_to)
    second = InboundMessage.objects.order_by("pk").last()
    assert second.state == InboundState.APPENDED and second.report == report
    assert security_of(second).signature == SignatureState.VERIFIED
    assert security_of(second).key_source == MessageSecurity.KeySource.ON_FILE

    # Someone else's key (sent along, not signed with the key on file) does not replace it.
    forged = stranger.pgp_mime_signed(stranger.entity("Use my key now.", key=stranger.public_key),
                                      subject="Re: Report", message_id="<r-3@r.example>")
    forged = forged.replace(b"Mallory", b"Alice").replace(b"To: security@acme.test", f"To: {reply_to}".encode())
    mail_server.send(forged, to=reply_to)
    third = InboundMessage.objects.order_by("pk").last()
    assert third.state == InboundState.APPENDED
    assert "not signed with the key on file" in third.notes
    assert ReporterPgpKey.objects.get(report=report, is_current=True).fingerprint == reporter.fingerprint


def test_inline_pgp_encrypted_and_clearsigned_text_is_opened(mail_server, mail_world, org_key, reporter):
    reporter.trust(org_key.public_key)
    armored = reporter.encrypt(TEXT.encode(), org_key.fingerprint, sign=True).strip()
    mail_server.send(reporter.inline(f"Hello team,\n\n{armored}\n-- \nAlice", subject="Inline report",
                                     message_id="<inline-1@r.example>"))
    report = only_report()
    assert report.description == f"Hello team,\n\n{TEXT}\n-- \nAlice"
    security = security_of(InboundMessage.objects.get())
    assert (security.format, security.was_encrypted, security.was_decrypted) == ("inline", True, True)
    # Signed by a key nobody gave us: gpg names the key, vulndesk says it is unknown.
    assert security.signature == SignatureState.UNKNOWN_KEY and security.signer_key_id

    Report.objects.all().delete()
    mail_server.send(reporter.inline(reporter.clearsign("Clear-signed details.\n") + "\n" + reporter.public_key,
                                     subject="Clearsigned", message_id="<inline-2@r.example>"))
    clearsigned = InboundMessage.objects.order_by("pk").last()
    assert security_of(clearsigned).signature == SignatureState.VERIFIED
    assert Report.objects.get().description.startswith("Clear-signed details.")


@pytest.mark.parametrize("case", ["no organisation key", "another key", "garbage armor"])
def test_encrypted_mail_the_organisation_cannot_open_is_quarantined_with_the_reason_and_kept(
        mail_server, mail_world, reporter, smtp_sink, other_key_pair, org_key_pair, case, client):
    from vulndesk.pgp.models import OrganisationPgpKey
    from vulndesk.pgp.services import organisation_key_add

    recipient = reporter.trust(other_key_pair.public.armored)
    if case != "no organisation key":
        organisation_key_add(organisation=mail_world.organisation, key_pair=org_key_pair, actor=mail_world.owner,
                             source=OrganisationPgpKey.Source.GENERATED)
    raw = reporter.pgp_mime_encrypted(reporter.entity(TEXT), recipient, message_id="<lost@r.example>")
    if case == "garbage armor":
        raw = re.sub(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----",
                     b"-----BEGIN PGP MESSAGE-----\r\n\r\n<script>alert(1)</script>AAAA\r\n-----END PGP MESSAGE-----",
                     raw, flags=re.S)
    mail_server.send(raw)

    stored = InboundMessage.objects.get()
    assert stored.state == InboundState.QUARANTINED and not Report.objects.exists()
    expected = {"no organisation key": "has no OpenPGP key", "another key": "not one of this organisation's keys",
                "garbage armor": "not an OpenPGP message"}[case]
    assert expected in stored.reason
    security = security_of(stored)
    assert security.was_encrypted and not security.was_decrypted
    assert sent_to(smtp_sink, REPORTER) == []  # nothing is answered that nobody could read
    page = verified_login(client, mail_world.triager.user).get(f"/o/acme/mail/messages/{stored.pk}/")
    assert "encrypted, not decrypted" in page.content.decode() and "<script>alert" not in page.content.decode()
    original = client.get(f"/o/acme/mail/messages/{stored.pk}/original/")
    assert b"".join(original.streaming_content) == raw  # the raw message is kept, unchanged


def test_a_report_encrypted_without_the_senders_key_is_acknowledged_without_the_link(
        mail_server, mail_world, org_key, reporter, smtp_sink):
    reporter.trust(org_key.public_key)
    mail_server.send(reporter.pgp_mime_encrypted(reporter.entity(TEXT), org_key.fingerprint, sign=False,
                                                 subject="Encrypted, no key", message_id="<nokey@r.example>"))
    report = only_report()
    assert report.description == TEXT
    [ack] = sent_to(smtp_sink, REPORTER)
    body = ack.get_content()
    assert "/track/" not in body and "without your public key" in body
    assert security_of(InboundMessage.objects.get()).signature == SignatureState.NOT_SIGNED


def test_the_staff_mail_pages_show_what_the_signature_said(mail_server, mail_world, org_key, reporter, client):
    reporter.trust(org_key.public_key)
    mail_server.send(reporter.pgp_mime_encrypted(reporter.entity(TEXT, key=reporter.public_key), org_key.fingerprint,
                                                 subject="Shown", message_id="<shown@r.example>"))
    report, stored = only_report(), InboundMessage.objects.get()
    verified_login(client, mail_world.triager.user)
    grouped = " ".join(reporter.fingerprint[i:i + 4] for i in range(0, 40, 4))
    for url in (f"/o/acme/mail/messages/{stored.pk}/", f"/o/acme/mail/reports/{report.number}/"):
        page = client.get(url).content.decode()
        assert "encrypted, decrypted" in page and "signed, verified" in page and grouped in page, url


def test_a_reply_is_not_sent_in_clear_when_the_reporters_key_has_expired_since(
        mail_server, smtp_sink, mail_world, org_key, reporter, message_posted, client):
    from datetime import timedelta

    from vulndesk.core import clock
    from vulndesk.reports.services import message_post

    reporter.trust(org_key.public_key)
    mail_server.send(reporter.pgp_mime_encrypted(reporter.entity(TEXT, key=reporter.public_key), org_key.fingerprint,
                                                 subject="Report", message_id="<exp@r.example>"))
    report = only_report()
    ReporterPgpKey.objects.filter(report=report).update(expires_at=clock.now() - timedelta(days=1))
    before = len(smtp_sink.messages)
    posted = message_post(report=report, actor=mail_world.triager, body="Secret fix details.", is_internal=False)
    message_posted.send(sender=None, message_id=posted.pk, report_id=report.pk)

    row = OutboundMail.objects.get(message=posted)
    assert row.state == OutboundMail.State.SKIPPED and "expired" in row.reason
    assert len(smtp_sink.messages) == before
    # Staff see why on the report's mail page.
    staff = verified_login(client, mail_world.triager.user)
    page = staff.get(f"/o/acme/mail/reports/{report.number}/").content.decode()
    assert "e-mail: skipped (The reporter&#x27;s key expired on" in page


def test_an_encrypted_reply_held_for_review_is_approved_as_its_decrypted_text(
        mail_server, mail_world, org_key, reporter, stranger, smtp_sink):
    from vulndesk.mailintake.services import inbound_approve

    mail_server.send(reporter.pgp_mime_signed(reporter.entity(TEXT, key=reporter.public_key), subject="Report",
                                              message_id="<h-1@r.example>"))
    report = only_report()
    reply_to = sent_to(smtp_sink, REPORTER)[-1]["Reply-To"].addresses[0].addr_spec
    stranger.trust(org_key.public_key)
    encrypted = stranger.pgp_mime_encrypted(stranger.entity("A colleague's addendum: port 8443 too."),
                                            org_key.fingerprint, message_id="<h-2@other.example>",
                                            sender="Mallory <mallory@evil.example>", to=reply_to)
    mail_server.send(encrypted, mail_from="mallory@evil.example", to=reply_to)
    held = InboundMessage.objects.get(state=InboundState.HELD)

    inbound_approve(message=held, actor=mail_world.triager)
    assert [m.body for m in report.messages.all()] == ["A colleague's addendum: port 8443 too."]
