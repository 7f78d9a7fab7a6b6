"""Mail to a reporter with a key, whatever sends it (the mail intake's acknowledgements and
replies, or any other mail about the report): PGP/MIME, readable by the reporter's own gpg."""

from datetime import timedelta

import pytest
from django.core.mail import EmailMessage

from tests.factories.core import make_report
from tests.pgp.fixtures import *  # noqa: F403 (fixtures)
from vulndesk.core import clock
from vulndesk.pgp.keys import public_key_inspect
from vulndesk.pgp.models import OrganisationPgpKey, ReporterPgpKey
from vulndesk.pgp.outbound import PgpMimeMail, ReporterKeyUnusable, report_mail_protect
from vulndesk.pgp.services import organisation_key_add, reporter_key_add

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"

pytestmark = pytest.mark.django_db


def plain_mail() -> EmailMessage:
    return EmailMessage(subject="Re: [ORG-1] Stored XSS in the preview", body="Your report is accepted: Critical.",
                        from_email="Team <security@org.example>", to=["alice@reporter.example"],
                        headers={"Message-ID": "<m1@org.example>", "In-Reply-To": "<r1@reporter.example>"})


@pytest.fixture
def web_report(product, reporter):
    """A report from the web form whose reporter pasted their key."""
    report = make_report(product, reporter_email="alice@reporter.example").report
    reporter_key_add(report=report, key=public_key_inspect(reporter.public_key), source=ReporterPgpKey.Source.WEB)
    return report


def received(mail: EmailMessage):
    """The mail as it goes over the wire, read back as a mail client would."""
    from email import message_from_bytes, policy

    return message_from_bytes(mail.message().as_bytes(), policy=policy.default)


def test_without_a_reporter_key_the_mail_goes_unchanged(product):
    report = make_report(product).report
    mail = plain_mail()
    assert report_mail_protect(report=report, mail=mail, subject="generic") is mail


def test_a_web_form_key_gets_a_signed_and_encrypted_mail_with_a_generic_subject(web_report, reporter, org_key_pair):
    organisation_key_add(organisation=web_report.organisation, key_pair=org_key_pair, actor=None,
                         source=OrganisationPgpKey.Source.GENERATED)
    reporter.trust(org_key_pair.public.armored)  # the reporter got it from security.txt
    protected = report_mail_protect(report=web_report, mail=plain_mail(), subject="Re: [ORG-1] Your security report")
    assert isinstance(protected, PgpMimeMail)
    wire = received(protected)
    assert wire["Subject"] == "Re: [ORG-1] Your security report" and "Critical" not in wire.as_string()
    assert wire["Message-ID"] == "<m1@org.example>" and wire["In-Reply-To"] == "<r1@reporter.example>"
    entity, _ = reporter.open(wire)
    signed, verification = reporter.verify_signed_entity(entity)
    assert verification.valid and verification.pubkey_fingerprint == org_key_pair.public.fingerprint
    assert b"Subject: Re: [ORG-1] Stored XSS in the preview" in signed and b"Critical" in signed


def test_without_an_organisation_key_the_mail_is_still_encrypted_to_the_reporter_unsigned(web_report, reporter):
    entity, result = reporter.open(received(report_mail_protect(report=web_report, mail=plain_mail(), subject="s")))
    assert b"multipart/signed" not in entity and b"accepted: Critical" in entity.replace(b"=\r\n", b"")
    assert not result.valid  # no signature inside


def test_an_expired_reporter_key_sends_nothing_and_says_why(web_report):
    ReporterPgpKey.objects.filter(report=web_report).update(expires_at=clock.now() - timedelta(days=1))
    with pytest.raises(ReporterKeyUnusable, match="expired"):
        report_mail_protect(report=web_report, mail=plain_mail(), subject="s")


def test_state_notices_to_a_web_reporter_with_a_key_go_out_encrypted(web_report, reporter, org_key_pair, triager,
                                                                      smtp_sink, django_capture_on_commit_callbacks):
    """The notifications app mails the reporter at state changes (through the reports signal);
    with a key from the web form those mails are PGP/MIME too, and nothing of the notice travels
    in clear."""
    from vulndesk.reports.services import report_transition

    organisation_key_add(organisation=web_report.organisation, key_pair=org_key_pair, actor=None,
                         source=OrganisationPgpKey.Source.GENERATED)
    reporter.trust(org_key_pair.public.armored)
    with django_capture_on_commit_callbacks(execute=True):
        report = report_transition(report=web_report, actor=triager, to="accepted", cvss_vector=CRITICAL)

    mails = [m["message"] for m in smtp_sink.messages if m["to"] == ["alice@reporter.example"]]
    [message] = mails
    assert message.get_content_type() == "multipart/encrypted"
    assert message["Subject"] == f"[{report.reference}] Your security report"
    assert "accepted" not in message.as_string().lower().replace("content-type", "")
    entity, _ = reporter.open(message)
    signed, verification = reporter.verify_signed_entity(entity)
    assert verification.valid and verification.pubkey_fingerprint == org_key_pair.public.fingerprint
    assert b"Your report was accepted" in signed


def test_a_state_notice_is_not_sent_in_clear_when_the_reporter_key_expired(web_report, triager, smtp_sink,
                                                                           django_capture_on_commit_callbacks):
    from vulndesk.notifications.models import Delivery
    from vulndesk.reports.services import report_transition

    ReporterPgpKey.objects.filter(report=web_report).update(expires_at=clock.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        report = report_transition(report=web_report, actor=triager, to="accepted", cvss_vector=CRITICAL)

    assert [m for m in smtp_sink.messages if m["to"] == ["alice@reporter.example"]] == []
    assert Delivery.objects.get(report=report).status == "cancelled"
