"""The acknowledgement of a new report, sent after the report is committed.

When the reporter gave a public key (attached to their mail), the acknowledgement is encrypted
to it (``pgp.outbound``). The tracking link opens the report, so it never travels in clear when
the reporter meant to be private: a report that arrived encrypted without a key to answer to,
or whose key cannot be used, is acknowledged without the link (and says why); replies to the
acknowledgement still reach the report.

The tracking token exists only in the ``AcknowledgementJob`` in memory, for the one mail that
carries it (``report_create`` returns it once; only its hash is stored). If that mail cannot go
out, the sweep sends it again without the link (``acknowledgement_retry``): it still confirms
the reference and the promises, and replies still reach the report.
"""

import logging
import smtplib
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.urls import reverse

from vulndesk.core import clock
from vulndesk.mailintake import mails
from vulndesk.mailintake.addresses import InvalidAddress, address_normalise
from vulndesk.mailintake.models import AcknowledgementState, InboundMessage, ThreadMessageId
from vulndesk.mailintake.services.threads import mail_domain, thread_from_and_reply_to, thread_ids_record
from vulndesk.pgp.outbound import ReporterKeyUnusable, report_mail_protect
from vulndesk.reports.models import Report

logger = logging.getLogger(__name__)


@dataclass
class AcknowledgementJob:
    """What the acknowledgement needs after commit. The tracking token lives only here, in
    memory, for the one mail that carries it; it is never stored."""

    inbound_id: int
    report_id: int
    to: str
    reporter_name: str
    tracking_token: str | None
    message_id: str
    parent: str
    references: list[str]
    subject: str
    refused: list[str] = field(default_factory=list)
    from_address: str = ""  # computed with the thread when known, else looked up when sending
    reply_to: str = ""
    report: Report | None = None  # the report as filed, when the job is made in the same process
    notice: str = ""  # said instead of the tracking link, when the link is withheld


def acknowledgement_send(job: AcknowledgementJob) -> bool:
    """Send the acknowledgement of a new report, then mark it. Runs after commit: the report
    exists before anyone is told it does. Returns True when the mail went out."""
    state = acknowledgement_deliver(job)
    acknowledgement_mark(job.inbound_id, state)
    return state == AcknowledgementState.SENT


def acknowledgement_deliver(job: AcknowledgementJob) -> str:
    """Send the acknowledgement of a new report and return the state to mark it with (SENT or
    FAILED), without writing it: a batch writes the marks of several messages together
    (``acknowledgement_marks_write``), so sending costs no write transaction of its own."""
    report = job.report or Report.objects.select_related("organisation", "product__policy").get(pk=job.report_id)
    try:
        to = address_normalise(job.to)
    except InvalidAddress:
        return AcknowledgementState.FAILED
    sender, reply_to = (job.from_address, job.reply_to) if job.from_address else thread_from_and_reply_to(report)
    tracking_url = (settings.SITE_URL + reverse("intake:tracking", kwargs={"token": job.tracking_token})
                    if job.tracking_token else None)

    def build(link: str | None, notice: str):
        return mails.acknowledgement_mail(
            report=report, to=to, from_address=sender, reply_to=reply_to, subject=job.subject,
            headers=mails.threading_headers(message_id=job.message_id, parent=job.parent, references=job.references),
            reporter_name=job.reporter_name, tracking_url=link, refused=job.refused, notice=notice,
        )

    try:
        mail = report_mail_protect(report=report, mail=build(tracking_url, job.notice),
                                   subject=mails.protected_subject(report.reference))
    except ReporterKeyUnusable as problem:
        logger.warning("acknowledgement for inbound message %s: the reporter's key is unusable; sent without "
                       "the link", job.inbound_id)
        mail = build(None, f"{problem.message} So the private link to your report is not sent in clear: send us "
                           "your current public key by replying to this e-mail.")
    for attempt in range(2):
        try:
            mail_send(mail)
        except OSError as error:  # SMTPException is an OSError
            logger.warning("acknowledgement for inbound message %s not sent (attempt %s: %s)", job.inbound_id,
                           attempt + 1, type(error).__name__)
            continue
        return AcknowledgementState.SENT
    return AcknowledgementState.FAILED


_outbox = threading.local()
CONNECTION_REUSE_SECONDS = 20


def mail_send(mail) -> None:
    """Send over an SMTP connection kept open for a few seconds per thread: a worker answering
    a burst of reports does not dial the mail server for each. A connection the server dropped
    meanwhile is replaced once (nothing was sent on it)."""
    key = (settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT)
    cached = getattr(_outbox, "connection", None)
    if cached is not None and (cached[0] != key or time.monotonic() - cached[2] > CONNECTION_REUSE_SECONDS):
        _outbox.connection = None
        try:
            cached[1].close()
        except OSError:  # already gone
            pass
        cached = None
    for fresh in (cached is None, True):
        if fresh:
            connection = get_connection()
            connection.open()
            cached = _outbox.connection = (key, connection, time.monotonic())
        mail.connection = cached[1]
        try:
            mail.send()
            return
        except smtplib.SMTPServerDisconnected:
            _outbox.connection = None
            if fresh:
                raise


def acknowledgement_mark(inbound_id: int, state: str) -> None:
    acknowledgement_marks_write([(inbound_id, state)])


def acknowledgement_marks_write(marks: list[tuple[int, str]]) -> None:
    """Mark acknowledgements (inbound id, SENT or FAILED). In a transaction of its own unless
    the caller's: on SQLite that waits its turn in the write queue (``core.sqlite``) instead of
    meeting the busy handler's sleeps, as a bare autocommit UPDATE would."""
    if not marks:
        return
    now = clock.now()
    by_state: dict[str, list[int]] = {}
    for inbound_id, state in marks:
        by_state.setdefault(state, []).append(inbound_id)
    with transaction.atomic():
        for state, inbound_ids in by_state.items():
            InboundMessage.objects.filter(pk__in=inbound_ids).update(
                acknowledgement=state, acknowledged_at=now if state == AcknowledgementState.SENT else None)
    for inbound_id in by_state.get(AcknowledgementState.SENT, []):
        logger.info("acknowledgement sent for inbound message %s", inbound_id)


def acknowledgement_retry(*, inbound_id: int) -> bool:
    """A failed acknowledgement (or one a crash left pending), sent again without the tracking
    link (its token was never stored): it still confirms the reference and the promises, and
    replies still reach us."""
    message = (InboundMessage.objects.select_related("address")
               .filter(pk=inbound_id, report__isnull=False,
                       acknowledgement__in=[AcknowledgementState.FAILED, AcknowledgementState.PENDING]).first())
    if message is None:
        return False
    thread_ids = list(ThreadMessageId.objects.filter(report_id=message.report_id).order_by("created_at", "id"))
    job = AcknowledgementJob(
        inbound_id=message.pk, report_id=message.report_id, to=message.sender_address,
        reporter_name=message.sender_name, tracking_token=None,
        message_id=mails.new_message_id(mail_domain(message.address)), parent=message.message_id,
        references=[row.message_id for row in thread_ids if row.direction == ThreadMessageId.Direction.RECEIVED],
        subject=message.subject, refused=[line for line in message.refused_attachments.split("\n") if line],
    )
    thread_ids_record(report=message.report, sent=[job.message_id])
    return acknowledgement_send(job)
