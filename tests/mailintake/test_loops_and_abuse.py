"""Machine mail never files a report and is never answered; quarantine keeps what cannot be
read; rate limits and authentication failures, all through the real SMTP server."""

import smtplib
import time

import pytest

from tests.factories.core import verified_login
from tests.mailintake.conftest import REPORTER, mail, sent_to
from vulndesk.mailintake.models import AcknowledgementState, InboundMessage, InboundState
from vulndesk.reports.models import Report

pytestmark = pytest.mark.django_db(transaction=True)

DSN = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.reporter.example>\r\nTo: security@acme.test\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.reporter.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
    b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
    b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.reporter.example\r\n\r\n"
    b"Final-Recipient: rfc822; bob@reporter.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--B--\r\n"
)


@pytest.mark.parametrize(("headers", "envelope_from", "reason"), [
    ({"Auto-Submitted": "auto-replied"}, REPORTER, "Auto-Submitted"),
    ({"X-Autoreply": "yes"}, REPORTER, "X-Autoreply"),
    ({"X-Autorespond": "Out of office"}, REPORTER, "X-Autorespond"),
    ({"Precedence": "bulk"}, REPORTER, "Precedence: bulk"),
    ({"Precedence": "list", "List-Id": "<security.lists.example>"}, REPORTER, "Precedence: list"),
    ({"Return-Path": "<>"}, REPORTER, "Return-Path"),
    ({}, "<>", "Empty envelope sender"),
], ids=["auto-submitted", "x-autoreply", "x-autorespond", "precedence-bulk", "list", "return-path", "null-sender"])
def test_auto_replies_and_list_traffic_file_no_report_and_get_no_acknowledgement(
        mail_server, smtp_sink, headers, envelope_from, reason):
    message = mail("Out of office: SQL injection in /search", "I am away until Monday.",
                   **{name.replace("-", "_"): value for name, value in headers.items()})
    mail_server.send(message, mail_from=envelope_from.strip("<>") or "<>")

    stored = InboundMessage.objects.get()
    assert stored.state == InboundState.AUTOMATIC and reason in stored.reason
    assert not Report.objects.exists()
    assert smtp_sink.messages == []


def test_a_bounce_with_a_delivery_status_report_files_no_report_and_gets_no_acknowledgement(mail_server, smtp_sink):
    mail_server.send(DSN, mail_from="<>")
    stored = InboundMessage.objects.get()
    assert stored.state == InboundState.AUTOMATIC
    assert not Report.objects.exists() and smtp_sink.messages == []


def test_an_auto_reply_to_a_report_thread_is_not_added_to_the_thread(mail_server, smtp_sink):
    mail_server.send(mail(message_id="<original@reporter.example>"))
    [ack] = sent_to(smtp_sink, REPORTER)
    mail_server.send(mail("Automatic reply: received", "I am on holiday.", In_Reply_To=ack["Message-ID"],
                          Auto_Submitted="auto-replied"))
    report = Report.objects.get()
    assert not report.messages.exists()
    assert len(smtp_sink.messages) == 1  # no answer to the auto-reply either


MALFORMED = (
    f"From: {REPORTER}\r\nTo: security@acme.test\r\nSubject: Broken report\r\nMessage-ID: <broken@reporter.example>\r\n"
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="never-used"\r\n\r\n'
    "This body claims to be multipart but has no boundary line: RCE in the upload handler.\r\n"
).encode()


def test_a_malformed_mime_message_is_quarantined_and_staff_can_see_download_and_convert_it(
        mail_server, smtp_sink, client, mail_world):
    mail_server.send(MALFORMED)
    stored = InboundMessage.objects.get()
    assert stored.state == InboundState.QUARANTINED and "MIME structure is broken" in stored.reason
    assert not Report.objects.exists() and smtp_sink.messages == []

    staff = verified_login(client, mail_world.triager.user)
    listing = staff.get("/o/acme/mail/?view=quarantined").content.decode()
    assert f"/o/acme/mail/messages/{stored.pk}/" in listing
    page = staff.get(f"/o/acme/mail/messages/{stored.pk}/").content.decode()
    assert "Convert to a report" in page and "RCE in the upload handler" in page  # prefilled, escaped text
    original = staff.get(f"/o/acme/mail/messages/{stored.pk}/original/")
    assert b"".join(original.streaming_content) == MALFORMED

    response = staff.post(f"/o/acme/mail/messages/{stored.pk}/convert/", {
        "product": mail_world.product.pk, "title": "RCE in the upload handler",
        "description": "Read by hand from a broken e-mail.", "reporter_name": "Alice",
        "reporter_email": REPORTER, "send_acknowledgement": "on",
    })
    report = Report.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/o/acme/reports/{report.number}/"
    stored.refresh_from_db()
    assert (stored.state, stored.report) == (InboundState.CONVERTED, report)
    [ack] = sent_to(smtp_sink, REPORTER)
    assert report.reference in ack["Subject"] and "/track/" in ack.get_content()


def test_a_sender_over_its_rate_limit_gets_451_and_stays_free_to_retry_later(mail_server, settings, frozen_clock):
    settings.MAIL_INTAKE_RATE_LIMITS = {"mail_sender": (2, 3600), "mail_ip": (100, 3600)}
    for n in range(2):
        mail_server.send(mail(f"Report {n}", f"body {n}"))
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        mail_server.send(mail("Report 3", "body 3"))
    assert refused.value.smtp_code == 451 and b"try again later" in refused.value.smtp_error
    mail_server.send(mail("From someone else", "body", sender="bob@other.example"), mail_from="bob@other.example")
    frozen_clock.advance(hours=1)
    mail_server.send(mail("Report 3", "body 3"))
    assert Report.objects.count() == 4


def test_an_address_over_its_rate_limit_gets_421_and_the_connection_is_closed(mail_server, settings, frozen_clock):
    settings.MAIL_INTAKE_RATE_LIMITS = {"mail_sender": (100, 3600), "mail_ip": (2, 3600)}
    for n in range(2):
        mail_server.send(mail(f"Report {n}", f"body {n}", sender=f"s{n}@x.example"), mail_from=f"s{n}@x.example")
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        mail_server.send(mail("Third", "body", sender="s3@x.example"), mail_from="s3@x.example")
    assert refused.value.smtp_code == 421
    assert Report.objects.count() == 2


def test_a_relay_in_front_of_the_server_is_not_limited_per_address(mail_server, settings, frozen_clock):
    settings.MAIL_INTAKE_RATE_LIMITS = {"mail_sender": (100, 3600), "mail_ip": (1, 3600)}
    settings.MAIL_INTAKE_TRUSTED_RELAYS = ["127.0.0.1"]
    for n in range(3):
        mail_server.send(mail(f"Report {n}", f"body {n}", sender=f"s{n}@x.example"), mail_from=f"s{n}@x.example")
    assert Report.objects.count() == 3


def test_spf_or_dkim_failure_flags_the_report_for_staff_and_never_drops_it(mail_server, smtp_sink, client,
                                                                         mail_world):
    mail_server.send(mail(Authentication_Results="mx.acme.test; spf=fail smtp.mailfrom=reporter.example; "
                                                 "dkim=fail header.d=reporter.example"))
    stored = InboundMessage.objects.get()
    report = Report.objects.get()  # filed all the same
    assert stored.is_flagged and stored.flag_reason == "Authentication failed: dkim=fail, spf=fail"
    # The From line may be forged: no mail goes to it until a person has looked.
    assert stored.acknowledgement == AcknowledgementState.WITHHELD and smtp_sink.messages == []
    assert report.acknowledged_at is None
    staff = verified_login(client, mail_world.triager.user)
    assert "Authentication failed: dkim=fail, spf=fail" in staff.get("/o/acme/mail/?view=flagged").content.decode()
    assert "Authentication failed" in staff.get(f"/o/acme/mail/reports/{report.number}/").content.decode()


def test_more_sessions_than_the_limit_are_told_to_come_back_with_421(mail_world, smtp_sink, settings):
    from vulndesk.mailintake.server import MailServer

    settings.MAIL_INTAKE_MAX_SESSIONS = 1
    server = MailServer(host="127.0.0.1", port=0).start()
    deadline = time.monotonic() + 5
    while server.controller.sessions.active and time.monotonic() < deadline:  # the start-up probe's session
        time.sleep(0.01)
    try:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as first:
            assert first.noop()[0] == 250
            with pytest.raises(smtplib.SMTPConnectError) as second:
                smtplib.SMTP("127.0.0.1", server.port, timeout=10)
            assert second.value.smtp_code == 421
    finally:
        server.stop()
