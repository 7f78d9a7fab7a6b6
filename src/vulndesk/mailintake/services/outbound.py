"""Staff replies leave as e-mail, threaded with the reporter's mail.

``staff_reply_send`` runs from a task queued by the receiver of ``reports.services.
message_posted`` (sent after commit). It mails only what the reporter may see: messages staff
wrote to the reporter on a report that is reached by e-mail (it has a ``MailThread``); internal
notes and the reporter's own messages never leave. One ``OutboundMail`` row per message, claimed
with a conditional update before sending and marked after: two workers never both send, and a
crash between sending and marking re-sends at most once (from the sweep).

A reporter who gave a public key gets the reply encrypted to it and signed (``pgp.outbound``);
if that key cannot be used (it expired), the reply is not sent in clear but marked "not sent"
(``OutboundMail.reason`` says why).
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F

from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.mailintake import mails
from vulndesk.mailintake.addresses import InvalidAddress, address_normalise, message_id_hash
from vulndesk.mailintake.models import MailThread, OutboundMail, ThreadMessageId
from vulndesk.mailintake.services.acknowledgements import mail_send
from vulndesk.mailintake.services.threads import thread_from_and_reply_to, thread_ids_record
from vulndesk.pgp.outbound import ReporterKeyUnusable, report_mail_protect
from vulndesk.reports.models import Message

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 5
SENDING_STALE_AFTER = timedelta(minutes=10)


def _reply_is_mailed(message: Message) -> bool:
    return not message.is_internal and not message.is_from_reporter


def staff_reply_send(*, message_id: int) -> str:
    """Send one staff message to the reporter. Returns the OutboundMail state (or why not)."""
    message = (Message.objects.select_related("report__organisation", "report__product")
               .filter(pk=message_id).first())
    if message is None or not _reply_is_mailed(message):
        return "not mailed"
    thread = MailThread.objects.filter(report_id=message.report_id).first()
    if thread is None:
        return "no mail thread"
    report = message.report
    now = clock.now()
    with transaction.atomic():
        row, _ = OutboundMail.objects.get_or_create(
            message=message, defaults={"organisation_id": report.organisation_id, "report": report, "created_at": now})
        # The claim: only one worker moves pending/failed (or a stale "sending") to "sending".
        claimable = OutboundMail.objects.filter(pk=row.pk, attempts__lt=MAX_SEND_ATTEMPTS).filter(
            state__in=[OutboundMail.State.PENDING, OutboundMail.State.FAILED]
        ) | OutboundMail.objects.filter(pk=row.pk, state=OutboundMail.State.SENDING,
                                        claimed_at__lt=now - SENDING_STALE_AFTER)
        if not claimable.update(state=OutboundMail.State.SENDING, attempts=F("attempts") + 1, claimed_at=now):
            return OutboundMail.objects.filter(pk=row.pk).values_list("state", flat=True).first() or ""
    try:
        to = address_normalise(report.reporter_email)
    except InvalidAddress:
        OutboundMail.objects.filter(pk=row.pk).update(state=OutboundMail.State.SKIPPED,
                                                      reason="The reporter left no usable address.")
        return OutboundMail.State.SKIPPED
    sender, reply_to = thread_from_and_reply_to(report)
    domain = sender.rpartition("@")[2].rstrip(">") or "localhost"
    new_id = mails.new_message_id(domain)
    ids = list(ThreadMessageId.objects.filter(report_id=report.pk).order_by("created_at", "id"))
    received = [row_id.message_id for row_id in ids if row_id.direction == ThreadMessageId.Direction.RECEIVED]
    parent = received[-1] if received else (ids[-1].message_id if ids else "")
    # Recorded before sending, so the reporter's answer threads even if marking is lost.
    thread_ids_record(report=report, sent=[new_id])
    mail = mails.staff_reply_mail(
        report=report, to=to, from_address=sender, reply_to=reply_to, subject=thread.subject,
        headers=mails.threading_headers(message_id=new_id, parent=parent, references=[i.message_id for i in ids]),
        body=message.body,
    )
    try:
        mail = report_mail_protect(report=report, mail=mail, subject=mails.protected_subject(report.reference))
    except ReporterKeyUnusable as problem:
        OutboundMail.objects.filter(pk=row.pk).update(state=OutboundMail.State.SKIPPED, reason=problem.message[:200])
        logger.warning("staff message %s not mailed: the reporter's key is unusable", message.pk)
        return OutboundMail.State.SKIPPED
    try:
        mail_send(mail)
    except OSError as error:
        logger.warning("staff message %s not mailed (%s); will retry", message.pk, type(error).__name__)
        OutboundMail.objects.filter(pk=row.pk).update(state=OutboundMail.State.FAILED)
        return OutboundMail.State.FAILED
    with transaction.atomic():
        OutboundMail.objects.filter(pk=row.pk).update(state=OutboundMail.State.SENT, sent_at=clock.now(),
                                                      message_id_hash=message_id_hash(new_id))
        audit_record(action="mail.reply_send", organisation_id=report.organisation_id, actor_id=message.author_id,
                     actor_label="mail", target_type="report", target_id=report.pk, data={"message": message.pk})
    logger.info("staff message %s mailed for report %s", message.pk, report.pk)
    return OutboundMail.State.SENT


def outbound_pending_ids(*, now, limit: int = 200) -> list[int]:
    """Staff messages whose mail is due: pending or failed rows, stale claims, and recent
    messages on mail-thread reports that have no row at all (their signal was lost)."""
    retry = OutboundMail.objects.filter(attempts__lt=MAX_SEND_ATTEMPTS).filter(
        state__in=[OutboundMail.State.PENDING, OutboundMail.State.FAILED]
    ) | OutboundMail.objects.filter(state=OutboundMail.State.SENDING, claimed_at__lt=now - SENDING_STALE_AFTER)
    ids = list(retry.values_list("message_id", flat=True)[:limit])
    lost = (Message.objects.filter(report_id__in=MailThread.objects.values("report_id"), is_internal=False, is_from_reporter=False,
                                   created_at__gte=now - timedelta(days=2))
            .exclude(pk__in=OutboundMail.objects.values("message_id")).values_list("pk", flat=True)[:limit])
    return list(dict.fromkeys([*ids, *lost]))
