"""Mail to a reporter who gave a public key leaves as PGP/MIME (RFC 3156): signed by the
organisation's key, then encrypted (section 6.1) to the reporter's key and to the organisation's
own key, so the team can read its sent copy.

What stays outside the encryption: the envelope, From, To, Date, Reply-To, the threading headers
(Message-ID, In-Reply-To, References: the reporter's client threads on them and so do we), the
loop-protection headers (Auto-Submitted), and a Subject. Subjects travel in clear, so the outer
one is generic ("Re: [REF] Your security report"): the reference says which report without
saying what it is about. The real subject, From and To are repeated inside as protected headers
(draft-autocrypt-lamps-protected-headers), which current mail clients show instead.

Without an organisation key the mail is still encrypted to the reporter, unsigned: keeping the
reporter's report and tracking link private matters more than proving the sender.
"""

from email.encoders import encode_7or8bit
from email.mime.application import MIMEApplication

from django.core.mail import EmailMessage
from django.core.mail.message import SafeMIMEMultipart

from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.pgp import mime, operations, selectors
from vulndesk.reports.models import Report


class ReporterKeyUnusable(DomainError):
    """The reporter's key on file cannot be used now (expired, say); nothing was sent."""


class PgpMimeMail(EmailMessage):
    """An EmailMessage whose body is an already encrypted RFC 3156 entity. Django sets the outer
    headers as for any message; ``_create_message`` only swaps the text body for the
    multipart/encrypted structure."""

    def __init__(self, *, encrypted: str, **kwargs):
        super().__init__(**kwargs)
        self.encrypted = encrypted

    def _create_message(self, msg):
        outer = SafeMIMEMultipart(_subtype="encrypted", encoding=self.encoding, protocol="application/pgp-encrypted")
        outer.preamble = "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)"
        control = MIMEApplication("Version: 1\r\n", "pgp-encrypted", _encoder=encode_7or8bit)
        control["Content-Description"] = "PGP/MIME version identification"
        data = MIMEApplication(self.encrypted, "octet-stream", _encoder=encode_7or8bit, name="encrypted.asc")
        data["Content-Description"] = "OpenPGP encrypted message"
        data["Content-Disposition"] = 'inline; filename="encrypted.asc"'
        outer.attach(control)
        outer.attach(data)
        return outer


def report_mail_protect(*, report: Report, mail: EmailMessage, subject: str) -> EmailMessage:
    """``mail`` as is when the reporter gave no key; else its PGP/MIME version with the outer
    subject ``subject``. Raises ``ReporterKeyUnusable`` when the key on file cannot be used:
    the caller decides what may then go out in clear."""
    reporter_key = selectors.reporter_key_current(report=report)
    if reporter_key is None:
        return mail
    if reporter_key.expires_at is not None and reporter_key.expires_at <= clock.now():
        raise ReporterKeyUnusable(f"The reporter's key expired on {reporter_key.expires_at:%d %b %Y}.")
    protected = mime.protected_entity(body=mail.body, headers={
        "Subject": mail.subject, "From": mail.extra_headers.get("From", mail.from_email), "To": ", ".join(mail.to),
        "Reply-To": ", ".join(mail.reply_to)})
    try:
        signed = operations.sign_detached(report.organisation_id, protected)
        payload = mime.signed_entity(protected, *signed) if signed else protected
        recipients = [reporter_key.armored]
        organisation_key = selectors.organisation_key_active(organisation=report.organisation_id)
        if organisation_key is not None and not (organisation_key.expires_at and
                                                 organisation_key.expires_at <= clock.now()):
            recipients.append(organisation_key.public_key)  # the team can read its sent copy
        encrypted = operations.encrypt_to(payload, recipients)
    except operations.OperationFailed as error:
        raise ReporterKeyUnusable(f"The mail could not be encrypted to the reporter's key: {error}") from None
    return PgpMimeMail(encrypted=encrypted, subject=subject, from_email=mail.from_email, to=mail.to,
                       reply_to=mail.reply_to, headers=dict(mail.extra_headers), connection=mail.connection)
