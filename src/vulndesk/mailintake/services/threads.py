"""Mail threads of reports: the reply address, the Message-IDs that belong to a thread, and
who mail about a report comes from. Called inside the callers' transactions."""

from django.conf import settings

from vulndesk.core import clock
from vulndesk.mailintake import mails
from vulndesk.mailintake.addresses import message_id_hash, reply_address
from vulndesk.mailintake.models import IntakeAddress, MailThread, ThreadMessageId
from vulndesk.mailintake.tokens import reply_salt_new, reply_token, reply_token_hash
from vulndesk.reports.models import Report


def thread_ids_record(*, report: Report, received: list[str] = (), sent: list[str] = ()) -> None:
    """Remember Message-IDs of the report's thread (ours and the reporter's) for matching
    replies. An id already in a thread (a copy sent to two of our addresses) keeps its report."""
    now = clock.now()
    rows = []
    for direction, values in ((ThreadMessageId.Direction.RECEIVED, received), (ThreadMessageId.Direction.SENT, sent)):
        for value in dict.fromkeys(v for v in values if v):
            row = ThreadMessageId(organisation_id=report.organisation_id, report=report,
                                  message_id_hash=message_id_hash(value), direction=direction, created_at=now)
            row.message_id = value
            row.seal_pending()
            rows.append(row)
    ThreadMessageId.objects.bulk_create(rows, ignore_conflicts=True)


def mail_thread_create(*, report: Report, address: IntakeAddress | None, subject: str) -> MailThread:
    salt = reply_salt_new()
    thread = MailThread(organisation_id=report.organisation_id, report=report, address=address, reply_salt=salt,
                        reply_token_hash=reply_token_hash(reply_token(organisation_id=report.organisation_id,
                                                                      salt=salt)),
                        created_at=clock.now())
    thread.subject = mails.thread_subject(subject)
    thread.save()
    return thread


def mail_domain(address: IntakeAddress | None) -> str:
    return address.domain if address is not None else "localhost"


def thread_from_and_reply_to(report: Report, *, thread: MailThread | None = None) -> tuple[str, str]:
    """(From, Reply-To) for mail about ``report``: the intake address it came in on, and its
    reply address (recomputed from the organisation's key)."""
    if thread is None:
        thread = MailThread.objects.select_related("address").filter(report=report).first()
    address = thread.address if thread is not None else None
    if address is None:
        address = IntakeAddress.objects.filter(organisation_id=report.organisation_id, is_active=True).first()
    if address is None:
        return settings.DEFAULT_FROM_EMAIL, ""
    sender = mails.from_header(report.organisation.name, address.address)
    if thread is None:
        return sender, ""
    token = reply_token(organisation_id=report.organisation_id, salt=thread.reply_salt)
    return sender, reply_address(local=address.local_part, domain=address.domain, token=token)
