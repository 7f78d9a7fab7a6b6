"""A report by e-mail, through the real SMTP server on loopback, from intake to acknowledgement."""

import hashlib
import re
import smtplib
from email.message import EmailMessage

import pytest

from tests.factories.core import verified_login
from tests.mailintake.conftest import REPORTER, mail, png_bytes, sent_to, wire
from vulndesk.attachments.models import Attachment
from vulndesk.mailintake.models import AcknowledgementState, InboundMessage, InboundState
from vulndesk.reports.models import Report, Source

pytestmark = pytest.mark.django_db(transaction=True)


def only_report() -> Report:
    reports = list(Report.objects.select_related("organisation", "product"))
    assert len(reports) == 1
    return reports[0]


def test_a_plain_text_mail_becomes_a_report_and_the_reporter_gets_an_acknowledgement_at_once(
        mail_server, smtp_sink, client, mail_world):
    original = mail(message_id="<first-report@reporter.example>")
    mail_server.send(original)

    report = only_report()
    assert (report.source, report.title) == (Source.EMAIL, "SQL injection in /search")
    assert report.description == "The q parameter reaches SQL unescaped."
    assert (report.reporter_name, report.reporter_email) == ("Alice Reporter", REPORTER)
    assert report.product == mail_world.product and report.acknowledged_at is not None
    stored = InboundMessage.objects.get()
    assert (stored.state, stored.report, stored.acknowledgement) == (InboundState.REPORTED, report,
                                                                     AcknowledgementState.SENT)

    [ack] = sent_to(smtp_sink, REPORTER)  # already there when the SMTP transaction ended
    assert ack["Subject"] == f"Re: [{report.reference}] SQL injection in /search"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<first-report@reporter.example>"
    assert "<first-report@reporter.example>" in ack["References"]
    assert re.fullmatch(r"security\+r-[a-z2-7]{24}@acme\.test", ack["Reply-To"].addresses[0].addr_spec)
    assert "security@acme.test" in ack["From"]
    body = ack.get_content()
    assert report.reference in body and "within 48 hours" in body and "5 business days" in body
    assert "Critical" in body and "90 days" in body
    token = re.search(r"/track/([A-Za-z0-9_-]+)/", body).group(1)
    assert hashlib.sha256(token.encode()).hexdigest() == report.tracking_token_hash  # only the hash is kept
    page = client.get(f"/track/{token}/")
    assert page.status_code == 200 and "SQL injection in /search" in page.content.decode()


def test_an_html_only_mail_is_filed_as_safe_text_and_never_rendered(mail_server, client, mail_world):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = REPORTER, "security@acme.test", "XSS in comments"
    message["Message-ID"] = "<html-only@reporter.example>"
    message.set_content(
        "<html><head><style>p{color:red}</style><script>steal()</script></head><body>"
        "<p>Post <b>this</b> comment:</p><pre>&lt;svg onload=alert(1)&gt;</pre>"
        "<p>See <a href='https://reporter.example/poc'>my PoC</a>.</p></body></html>", subtype="html")
    mail_server.send(message)

    report = only_report()
    assert report.description == ("Post this comment:\n\n<svg onload=alert(1)>\n\n"
                                  "See my PoC <https://reporter.example/poc>.")
    assert "steal()" not in report.description and "color:red" not in report.description
    page = verified_login(client, mail_world.triager.user).get(f"/o/acme/reports/{report.number}/")
    assert "&lt;svg onload=alert(1)&gt;" in page.content.decode()
    assert "<svg onload" not in page.content.decode()


def test_a_multipart_mail_files_its_attachments_through_the_same_rules_as_web_uploads(
        mail_server, smtp_sink, mail_world):
    message = mail("Path traversal in export", "Repro and logs attached.")
    message.add_attachment(png_bytes(), maintype="image", subtype="png", filename="screenshot.png")
    message.add_attachment("GET /export?f=../../etc/passwd\n", filename="request.log")
    message.add_attachment(b"MZ\x90\x00" + b"\x00" * 64, maintype="application", subtype="octet-stream",
                           filename="exploit.exe")
    mail_server.send(message)

    report = only_report()
    assert sorted(a.kind for a in Attachment.objects.filter(report=report)) == ["png", "text"]
    assert all(a.is_from_reporter for a in Attachment.objects.filter(report=report))
    stored = InboundMessage.objects.get()
    assert stored.refused_attachments.startswith("exploit.exe: This file is a Windows executable")
    [ack] = sent_to(smtp_sink, REPORTER)
    assert "exploit.exe: This file is a Windows executable" in ack.get_content()


@pytest.mark.parametrize(("charset", "subject", "body"), [
    ("iso-8859-1", "Contrôle d'accès contourné", "Sécurité: l'accès à /admin n'est pas vérifié. Ça marche « toujours »."),
    ("shift_jis", "ログイン画面の脆弱性", "パスワードリセットでトークンが再利用できます。"),
], ids=["iso-8859-1", "shift_jis"])
def test_non_utf8_bodies_and_rfc_2047_subjects_are_decoded_once(mail_server, charset, subject, body):
    from email.header import Header

    encoded_subject = Header(subject, charset).encode()
    assert encoded_subject.startswith("=?")
    raw = (f"From: {REPORTER}\r\nTo: security@acme.test\r\nSubject: {encoded_subject}\r\n"
           f"Message-ID: <{charset}@reporter.example>\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode()
    mail_server.send(raw + body.encode(charset) + b"\r\n")

    report = only_report()
    assert (report.title, report.description) == (subject, body)


def test_an_encoded_subject_is_decoded_once_and_percent_escapes_stay_literal(mail_server):
    raw = (f"From: {REPORTER}\r\nTo: security@acme.test\r\nMessage-ID: <twice@reporter.example>\r\n"
           "Subject: =?utf-8?q?Traversal_via_%252e%252e%252f_in_=C3=A9xport?=\r\n\r\nbody\r\n").encode()
    mail_server.send(raw)
    assert only_report().title == "Traversal via %252e%252e%252f in éxport"


def test_a_30_mb_message_is_refused_at_smtp_time_with_552_and_a_clear_reason(mail_server):
    line = b"A" * 998 + b"\r\n"
    raw = wire(mail("Huge dump", "x" * 100)) + line * (30 * 1024 * 1024 // len(line) + 1)
    assert len(raw) > 30 * 1024 * 1024
    # A client that declares the size (smtplib does) is refused at MAIL FROM ...
    with pytest.raises(smtplib.SMTPSenderRefused) as declared:
        mail_server.send(raw)
    assert declared.value.smtp_code == 552
    assert b"too big" in declared.value.smtp_error and b"25 MB" in declared.value.smtp_error
    # ... and one that does not, after DATA, without the server keeping the data.
    with mail_server.connect() as client:
        client.ehlo()
        assert client.mail(REPORTER)[0] == 250 and client.rcpt("security@acme.test")[0] == 250
        code, text = client.data(raw)
    assert code == 552 and b"too big" in text and b"25 MB" in text
    assert not InboundMessage.objects.exists() and not Report.objects.exists()


@pytest.mark.parametrize("recipient", [
    "nobody@acme.test", "security@other.test", "security+unknown-product@acme.test",
    "security+r-aaaaaaaaaaaaaaaaaaaaaaaa@acme.test", "security+r-short@acme.test",
])
def test_mail_to_an_address_nobody_configured_is_refused_at_rcpt_with_550(mail_server, recipient):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        mail_server.send(mail(to=recipient), to=recipient)
    assert refused.value.recipients[recipient][0] == 550
    assert not InboundMessage.objects.exists()


def test_mail_to_a_deactivated_address_is_refused(mail_server, mail_world):
    from vulndesk.mailintake.services import intake_address_deactivate

    intake_address_deactivate(actor=mail_world.owner, address=mail_world.address)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        mail_server.send(mail())


def test_a_product_sub_address_files_the_report_into_that_product(mail_server, mail_world):
    mail_server.send(mail(to="security+api@acme.test"), to="security+api@acme.test")
    assert only_report().product == mail_world.other_product


def test_the_same_message_delivered_twice_is_stored_once_and_filed_once(mail_server, smtp_sink):
    original = mail(message_id="<retried@reporter.example>")
    mail_server.send(original)
    mail_server.send(original)  # the MTA's retry after a lost "250"
    assert InboundMessage.objects.count() == 1 and Report.objects.count() == 1
    assert len(sent_to(smtp_sink, REPORTER)) == 1


def test_the_original_message_is_stored_encrypted_and_staff_download_it_unchanged(mail_server, client, mail_world):
    original = mail("Secret subject words", "A very distinctive proof of concept text.")
    mail_server.send(original)
    stored = InboundMessage.objects.get()
    assert b"distinctive" not in bytes(stored.raw_blob) and "Secret subject" not in stored.sealed_envelope

    response = verified_login(client, mail_world.triager.user).get(
        f"/o/acme/mail/messages/{stored.pk}/original/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == wire(original)


def test_a_message_larger_than_the_inline_limit_is_stored_in_the_encrypted_file_store(mail_server, settings):
    settings.MAIL_INTAKE_INLINE_MAX_BYTES = 1024
    original = mail("Large log", "line of log\n" * 2000)
    mail_server.send(original)
    stored = InboundMessage.objects.get()
    assert stored.raw_blob is None and len(stored.storage_key) == 32
    path = settings.ATTACHMENT_ROOT / stored.storage_key[:2] / stored.storage_key
    assert path.exists() and b"line of log" not in path.read_bytes()
    from vulndesk.mailintake.services import inbound_raw

    assert inbound_raw(stored) == wire(original)
    assert only_report().description.count("line of log") == 2000
