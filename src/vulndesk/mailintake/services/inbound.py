"""Receiving: store a message durably, then process it from the store, once.

Invariants:

* **Stored before accepted.** ``inbound_store_batch`` writes the encrypted raw message (and,
  on the database task backend, its processing task) and commits durably; only then does the
  SMTP server answer "250". A crash before that commit answers nothing, and the sender's MTA
  retries. Several concurrent deliveries share one commit (group commit: one fsync for many).
* **Stored once.** The idempotency key (HMAC of Message-ID, From, Date, Subject and the body's
  hash) is unique per organisation: a re-delivered message is recognised, not stored again.
* **Processed once, whole.** ``inbound_process`` works in one transaction that takes the row's
  lock, checks the processed marker (``state == stored``), does everything (report, thread
  message, attachments, timeline, audit) and moves the state. A crash anywhere in between rolls
  all of it back, and the message is processed again later by the task's retry, the periodic
  sweep or ``vulndesk mail_process``; a second, concurrent run finds the marker moved and does
  nothing. Only attachment files written just before a crash may remain, unreferenced.
* **Nothing lost.** A message that cannot be read goes to quarantine with its raw bytes; one
  that fails to process ``MAX_ATTEMPTS`` times too. Machine mail (bounces, auto-replies, lists)
  is kept, marked, and never answered.

Callers: the SMTP server (``mailintake.server``), the IMAP poller (``services.imap``), and the
tasks. Logs name ids and states only, never addresses or text.
"""

import hashlib
import hmac
import logging
import traceback
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction

from vulndesk.attachments.inspection import safe_filename
from vulndesk.attachments.services import attachment_add
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.mailintake import mails
from vulndesk.mailintake.addresses import (
    message_id_hash,
    same_address,
)
from vulndesk.mailintake.models import (
    AcknowledgementState,
    InboundMessage,
    InboundState,
    ThreadMessageId,
)
from vulndesk.mailintake.parsing import MailAttachment, ParsedMail, Unparseable, clean_text, parse_mail
from vulndesk.mailintake.routing import Route
from vulndesk.mailintake.services.acknowledgements import (
    AcknowledgementJob,
    acknowledgement_deliver,
    acknowledgement_marks_write,
)
from vulndesk.mailintake.services.threads import (
    mail_domain,
    mail_thread_create,
    thread_from_and_reply_to,
    thread_ids_record,
)
from vulndesk.mailintake.storage import SealedRaw, raw_chunks, raw_discard, raw_seal
from vulndesk.organisations import keys
from vulndesk.pgp import inbound as pgp_inbound
from vulndesk.pgp import selectors as pgp_selectors
from vulndesk.pgp import services as pgp_services
from vulndesk.reports.models import Report, Source
from vulndesk.reports.services import MESSAGE_MAX_CHARS, report_create, reporter_message_post

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BATCH_RAW_BYTES = 4 * 1024 * 1024  # raw messages of a batch read in one query up to this size
ATTACHMENTS_PER_MESSAGE = 20
NO_TEXT = "(The e-mail had no text. See the attachments and the original e-mail.)"
TRUNCATED = "\n\n[… The text continues in the original e-mail, which staff can download.]"


# --- storing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    """One message as handed over by SMTP (or fetched over IMAP): raw bytes and envelope."""

    raw: bytes
    envelope_from: str  # "<>" for a bounce
    recipients: list[str]
    routes: list[Route]
    peer_ip: str = ""
    source: str = "smtp"
    imap_mailbox_id: int | None = None
    # Stored straight into quarantine with this reason, never processed (IMAP mail over the
    # size limit: only its header is kept, the message stays on the server).
    quarantine_reason: str = ""


@dataclass(frozen=True)
class StoredMessage:
    id: int
    created: bool  # False: the same message was stored before (a re-delivery or a re-fetch)


def idempotency_key(*, organisation_id: int, raw: bytes) -> str:
    """Same message, same key: Message-ID, From, Date and Subject as written, and the body's
    hash (line endings normalised, as SMTP and IMAP deliver them differently). Keyed with the
    organisation's search key, so the column confirms nothing about content to a reader."""
    end = raw.find(b"\r\n\r\n")
    end, skip = (end, 4) if end >= 0 else (raw.find(b"\n\n"), 2)
    end = end if end >= 0 else len(raw)
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw[: min(end, 256 * 1024)] + b"\r\n\r\n")
    parts = [" ".join(str(headers.get(name, "")).split()) for name in ("Message-ID", "From", "Date", "Subject")]
    parts.append(_body_hash(memoryview(raw)[end + skip:]))
    key = hmac.new(keys.search_key(organisation_id), b"vulndesk inbound message v1", hashlib.sha256).digest()
    return hmac.new(key, "\n".join(parts).encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def _body_hash(body: memoryview, chunk: int = 1024 * 1024) -> str:
    """SHA-256 of the body with CRLF read as LF, a megabyte at a time (no copy of a large
    message; a CR at a chunk's end waits for the next chunk)."""
    digest, carry = hashlib.sha256(), b""
    for start in range(0, len(body), chunk):
        piece = carry + bytes(body[start:start + chunk])
        carry = b"\r" if piece.endswith(b"\r") else b""
        digest.update((piece[:-1] if carry else piece).replace(b"\r\n", b"\n"))
    digest.update(carry)
    return digest.hexdigest()


def _routes_by_organisation(routes: list[Route]) -> list[Route]:
    """One stored copy per organisation (each is encrypted under its own key). A reply address
    wins over a product address, which wins over the base address."""
    chosen: dict[int, Route] = {}
    for route in routes:
        current = chosen.get(route.organisation_id)
        if current is None or (route.reply_report_id and not current.reply_report_id):
            chosen[route.organisation_id] = route
    return list(chosen.values())


def _durable_commits() -> None:
    # WAL with synchronous=NORMAL (the site's setting) may lose the last commits on power loss;
    # a stored message must not be, so this connection syncs the WAL at every commit.
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=FULL")


def inbound_store_batch(deliveries: list[Delivery]) -> list[list[int]]:
    """Store each delivery (one row per organisation it reaches) in one durable transaction.
    Returns, per delivery, the ids of its rows (existing ones for a re-delivery)."""
    return [[stored.id for stored in rows] for rows in inbound_store_deliveries(deliveries)]


def inbound_store_deliveries(deliveries: list[Delivery]) -> list[list[StoredMessage]]:
    """``inbound_store_batch``, telling new rows from messages stored before."""
    now = clock.now()
    prepared: list[tuple[int, Delivery, Route, str, SealedRaw]] = []
    try:
        for index, delivery in enumerate(deliveries):
            for route in _routes_by_organisation(delivery.routes):
                key = idempotency_key(organisation_id=route.organisation_id, raw=delivery.raw)
                sealed = raw_seal(organisation_id=route.organisation_id, raw=delivery.raw)
                prepared.append((index, delivery, route, key, sealed))
        _durable_commits()
        results: list[list[StoredMessage]] = [[] for _ in deliveries]
        new_ids: list[int] = []
        with transaction.atomic():
            for index, delivery, route, key, sealed in prepared:
                row_id, created = _store_one(delivery, route, key, sealed, now)
                results[index].append(StoredMessage(row_id, created))
                if not created:
                    raw_discard(sealed)
                elif not delivery.quarantine_reason:
                    new_ids.append(row_id)
            _processing_enqueue(new_ids)
    except Exception:
        for *_, sealed in prepared:
            raw_discard(sealed)
        raise
    return results


def _store_one(delivery: Delivery, route: Route, key: str, sealed: SealedRaw, now) -> tuple[int, bool]:
    existing = (InboundMessage.objects.filter(organisation_id=route.organisation_id, idempotency_key=key)
                .values_list("id", flat=True).first())
    if existing is not None:
        return existing, False
    row = InboundMessage(
        organisation_id=route.organisation_id, address_id=route.address_id, product_id=route.product_id,
        reply_report_id=route.reply_report_id, source=delivery.source, imap_mailbox_id=delivery.imap_mailbox_id,
        idempotency_key=key, size=len(delivery.raw), sha256=hashlib.sha256(delivery.raw).hexdigest(),
        key_version=sealed.key_version, raw_blob=sealed.blob, storage_key=sealed.storage_key, raw_nonce=sealed.nonce,
        received_at=now,
    )
    if delivery.quarantine_reason:
        row.state, row.processed_at, row.reason = InboundState.QUARANTINED, now, delivery.quarantine_reason[:300]
    row.envelope_from = delivery.envelope_from
    row.recipients = ", ".join(delivery.recipients)[:2000]
    row.peer_ip = delivery.peer_ip
    try:
        # The row is the record of receipt; what is done with it is audited when processed
        # (here, for what is quarantined on receipt).
        with transaction.atomic():
            row.save(force_insert=True)
            if delivery.quarantine_reason:
                _audit(row, "mail.quarantine", reason="too_large", source=delivery.source)
    except IntegrityError:  # stored concurrently by another server process
        existing = (InboundMessage.objects.filter(organisation_id=route.organisation_id, idempotency_key=key)
                    .values_list("id", flat=True).first())
        if existing is None:
            raise
        return existing, False
    return row.pk, True


def _processing_enqueue(message_ids: list[int]) -> None:
    """Queue processing of freshly stored messages. On a queue that runs tasks in place (tests,
    the immediate backend) that happens after commit; on the database backend the task row
    commits together with the message rows, so a crash cannot separate them."""
    if not message_ids:
        return
    from django_tasks.backends.immediate import ImmediateBackend

    from vulndesk.mailintake.tasks import process_inbound_messages

    def enqueue():
        try:
            process_inbound_messages.enqueue(message_ids=message_ids)
        except Exception:  # the periodic sweep processes whatever stayed stored
            logger.exception("inbound messages %s: processing not queued; the sweep will", message_ids)

    # One task per stored batch: the queue's own cost (a row, a claim, a result) is paid once
    # for all the messages that arrived together; each message still has its own transaction.
    if isinstance(process_inbound_messages.get_backend(), ImmediateBackend):
        transaction.on_commit(enqueue)
    else:
        process_inbound_messages.enqueue(message_ids=message_ids)


def inbound_raw(message: InboundMessage) -> bytes:
    return bytes(inbound_raw_buffer(message))


def inbound_raw_buffer(message: InboundMessage) -> bytearray:
    """The raw message in one growing buffer: no list of chunks beside a joined copy, so a
    message near the size limit costs its size once, not twice."""
    buffer = bytearray()
    for chunk in inbound_raw_chunks(message):
        buffer += chunk
    return buffer


def inbound_raw_chunks(message: InboundMessage):
    return raw_chunks(organisation_id=message.organisation_id, key_version=message.key_version,
                      nonce=message.raw_nonce, blob=message.raw_blob, storage_key=message.storage_key)


# --- processing -------------------------------------------------------------------------------

@dataclass
class Outcome:
    state: str
    acknowledgement: AcknowledgementJob | None = None


def inbound_process(*, message_id: int) -> str:
    """Process one stored message (idempotent; safe to run twice or concurrently). Returns the
    message's state afterwards, or "failed" when this attempt failed and was rolled back."""
    return inbound_process_batch([message_id])[0]


def inbound_process_batch(message_ids: list[int]) -> list[str]:
    """Process stored messages one after the other, each in its own transaction as
    ``inbound_process`` does, and acknowledge each as soon as its report is committed (over
    the one SMTP connection ``mail_send`` keeps open). Returns the states in order.

    Only the acknowledgement marks are gathered: the marks of the mails sent so far are
    written inside the next message's processing transaction, and the last ones in one
    transaction at the end, instead of one write transaction per acknowledgement. A crash
    between a send and its mark leaves the mark PENDING, which the sweep answers again
    without the link, as it did when each mark had its own transaction."""
    states = []
    marks: list[tuple[int, str]] = []
    # What processing reads of each message, in one query for the batch. The raw messages too
    # when they are small together; otherwise each is read (and dropped) on its turn, so memory
    # follows the size limit, not the batch.
    stored = {message.pk: message for message in (
        InboundMessage.objects.select_related("organisation", "product__policy", "address").defer("raw_blob")
        .filter(pk__in=message_ids, state=InboundState.STORED))}
    inline = [pk for pk, message in stored.items() if not message.storage_key]
    if inline and sum(stored[pk].size for pk in inline) <= BATCH_RAW_BYTES:
        for pk, blob in InboundMessage.objects.filter(pk__in=inline).values_list("pk", "raw_blob"):
            stored[pk].raw_blob = blob
    for message_id in message_ids:
        state, job, marks_written = _process_one(message_id, stored.get(message_id), marks)
        if marks_written:
            marks = []
        if job is not None:
            marks.append((job.inbound_id, _acknowledge(job)))
        if state not in {"done", "failed"}:
            logger.info("inbound message %s processed: %s", message_id, state)
        states.append(state)
    acknowledgement_marks_write(marks)
    return states


def _process_one(message_id: int, message: InboundMessage | None,
                 marks: list[tuple[int, str]]) -> tuple[str, AcknowledgementJob | None, bool]:
    """One message (as read unlocked, None when it was not stored) in one transaction, which
    also writes ``marks`` (earlier acknowledgements). Returns the state, the acknowledgement to
    send, and whether ``marks`` were committed."""
    try:
        if message is None:
            return "done", None, False
        # Decrypting and parsing need no lock (the raw message never changes): done first, so
        # the write transaction (on SQLite, the database's one write lock) is held only for
        # the writes themselves.
        try:
            parsed = _parse(message)
        finally:
            message.__dict__.pop("raw_blob", None)  # deferred again: the parsed mail is all that is needed
        with transaction.atomic():
            acknowledgement_marks_write(marks)
            # The processed marker, checked under the write lock: a concurrent run that got
            # there first moved it, and this one does nothing. Only processing changes a
            # stored message, so the row as read above is still the row.
            still_stored = (InboundMessage.objects.select_for_update()
                            .filter(pk=message_id, state=InboundState.STORED).exists())
            outcome = _process(message, parsed) if still_stored else Outcome(state="done")
        return outcome.state, outcome.acknowledgement, True
    except Exception as error:
        frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
        # Class and place only: an exception's text may quote the message (file names...).
        logger.error("inbound message %s: processing failed (%s at %s:%s)", message_id, type(error).__name__,
                     frame.filename.rsplit("/", 1)[-1] if frame else "?", frame.lineno if frame else "?")
        _processing_failed(message_id)
        return "failed", None, False


def _acknowledge(job: AcknowledgementJob) -> str:
    """Send one acknowledgement after its report committed; the state to mark it with."""
    try:
        return acknowledgement_deliver(job)
    except Exception as error:  # the report is filed; the sweep retries the acknowledgement
        logger.error("acknowledgement for inbound message %s failed (%s)", job.inbound_id, type(error).__name__)
        return AcknowledgementState.FAILED


def _processing_failed(message_id: int) -> None:
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update().filter(pk=message_id, state=InboundState.STORED).first()
        if message is None:
            return
        message.attempts += 1
        if message.attempts >= MAX_ATTEMPTS:
            message.state, message.processed_at = InboundState.QUARANTINED, clock.now()
            message.reason = f"Processing failed {message.attempts} times; kept here for a person to handle."
            _audit(message, "mail.quarantine", reason="processing_failed")
        message.save(update_fields=["attempts", "state", "processed_at", "reason"])


def _audit(message: InboundMessage, action: str, *, actor=None, **data) -> None:
    audit_record(action=action, organisation_id=message.organisation_id, actor_id=actor.user_id if actor else None,
                 actor_label=actor.user.display_name if actor else "mail", target_type="inbound_message",
                 target_id=message.pk, data=data)


class Unopened(Unparseable):
    """Encrypted (or PGP/MIME-broken) mail that could not be opened: quarantined with the reason,
    and with what OpenPGP found, so staff see which key it was encrypted to."""

    def __init__(self, reason: str, openpgp, outer: ParsedMail | None = None):
        super().__init__(reason)
        self.openpgp = openpgp
        self.outer = outer  # the readable outer headers: who sent it, so staff can ask for a key


def inbound_parse(message: InboundMessage) -> ParsedMail | Unparseable:
    """The stored message as processing reads it: OpenPGP opened, keys and signatures checked.
    Staff decisions that re-read a message (approving a held reply) should read it this way."""
    return _parse(message)


def _parse(message: InboundMessage) -> ParsedMail | Unparseable:
    raw = inbound_raw_buffer(message)
    try:
        parsed = parse_mail(raw, envelope_from=message.envelope_from)
    except Unparseable as error:
        return error
    if not pgp_inbound.may_carry_openpgp(raw):  # the common case costs one scan of the bytes
        return parsed
    return _parse_openpgp(message, bytes(raw), parsed)


def _parse_openpgp(message: InboundMessage, raw: bytes, parsed: ParsedMail) -> ParsedMail | Unparseable:
    """Open what OpenPGP protects (``pgp.inbound``) before anything is filed. A reply's signature
    is checked against the keys the reporter gave for its report, found from the outer headers."""
    report = _thread_report(message, parsed)
    on_file = pgp_selectors.reporter_keys_armored(report=report) if report is not None else []
    try:
        parsed, security = pgp_inbound.mail_read(
            organisation_id=message.organisation_id, raw=raw, parsed=parsed, on_file_keys=on_file,
            parse=lambda opened: parse_mail(opened, envelope_from=message.envelope_from))
    except pgp_inbound.UnreadableMail as error:
        return Unopened(str(error), error.security, outer=parsed)
    except Unparseable as error:  # the decrypted message itself is broken
        return error
    parsed.text = clean_text(parsed.text)
    parsed.openpgp = security
    return parsed


def _process(message: InboundMessage, parsed: ParsedMail | Unparseable) -> Outcome:
    now = clock.now()
    security = getattr(parsed, "openpgp", None)
    if security is not None:
        pgp_services.message_security_record(organisation_id=message.organisation_id, inbound_id=message.pk,
                                             security=security)
    if isinstance(parsed, Unopened) and parsed.outer is not None:
        _envelope_from(message, parsed.outer)
    if isinstance(parsed, Unparseable):
        return _finish(message, InboundState.QUARANTINED, now, reason=str(parsed)[:300])
    _envelope_from(message, parsed)
    message.message_id = parsed.message_id
    if parsed.notes:
        message.notes = " ".join(parsed.notes)[:1000]
    if parsed.authentication_failures:
        # The spam hook: flagged for staff, never dropped (RFC 8601 results of the receiving MTA).
        message.is_flagged = True
        message.flag_reason = ("Authentication failed: " + ", ".join(parsed.authentication_failures))[:200]
    if parsed.automatic_reason:
        return _finish(message, InboundState.AUTOMATIC, now, reason=parsed.automatic_reason[:300])
    report = _thread_report(message, parsed)
    if report is not None:
        return _reply(message, parsed, report, now)
    return _new_report(message, parsed, now)


def _envelope_from(message: InboundMessage, parsed: ParsedMail) -> None:
    message.subject = parsed.subject
    message.sender_address, message.sender_name = parsed.sender_address, parsed.sender_name


def _finish(message: InboundMessage, state: str, now, *, reason: str = "", report: Report | None = None,
            acknowledgement: AcknowledgementJob | None = None, **audit_data) -> Outcome:
    message.state, message.processed_at, message.reason = state, now, reason
    if report is not None:
        message.report = report
    # Never the raw blob: it does not change, and may be a quarter of a megabyte.
    message.save(update_fields=["state", "processed_at", "reason", "report", "reporter_message", "notes",
                                "is_flagged", "flag_reason", "acknowledgement"])
    if state not in {InboundState.REPORTED, InboundState.APPENDED}:
        # Filed and appended mail is audited by reports.services (report.create with source
        # "email", report.reporter_message); the other outcomes are decisions of ours.
        _audit(message, "mail.process", state=state, flagged=message.is_flagged, **audit_data)
    return Outcome(state=state, acknowledgement=acknowledgement)


def _thread_report(message: InboundMessage, parsed: ParsedMail) -> Report | None:
    """The report this mail answers: by its reply address, else by the Message-IDs it refers
    to (ours or the reporter's earlier ones)."""
    reports = Report.objects.select_related("organisation", "product__policy")
    if message.reply_report_id:
        return reports.filter(pk=message.reply_report_id, organisation_id=message.organisation_id).first()
    if not parsed.references:
        return None
    hashes = [message_id_hash(reference) for reference in parsed.references]
    report_id = (ThreadMessageId.objects.filter(organisation_id=message.organisation_id, message_id_hash__in=hashes)
                 .order_by("-created_at", "-id").values_list("report_id", flat=True).first())
    return reports.filter(pk=report_id).first() if report_id else None


def bounded_text(text: str, limit: int) -> str:
    if not text.strip():
        return NO_TEXT
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def _reply(message: InboundMessage, parsed: ParsedMail, report: Report, now) -> Outcome:
    if not same_address(parsed.sender_address, report.reporter_email):
        # Someone else wrote to this report's address or thread: a person decides.
        return _finish(message, InboundState.HELD, now, report=report,
                       reason=f"The sender is not the reporter of {report.reference}.")
    try:
        posted = reporter_message_post(report=report, body=bounded_text(parsed.text, MESSAGE_MAX_CHARS))
    except DomainError as error:
        return _finish(message, InboundState.HELD, now, report=report,
                       reason=f"Not added automatically: {error.message}"[:300])
    message.reporter_message = posted
    message.refused_attachments = "\n".join(attachments_add(report, parsed.attachments))
    thread_ids_record(report=report, received=[parsed.message_id])
    _reporter_keys_keep(message, parsed, report)
    return _finish(message, InboundState.APPENDED, now, report=report)


ENCRYPTED_WITHOUT_KEY = (
    "Your report arrived encrypted, but without your public key, so this answer cannot be encrypted and the "
    "private link to your report is left out. Reply to this e-mail with your public key attached (and encrypted "
    "to ours, if you like): replies are added to your report, and our answers are then encrypted to your key.")


def _encrypted_without_key(parsed: ParsedMail, report: Report) -> bool:
    return (parsed.openpgp is not None and parsed.openpgp.was_encrypted
            and pgp_selectors.reporter_key_current(report=report) is None)


def _reporter_keys_keep(message: InboundMessage, parsed: ParsedMail, report: Report) -> None:
    """Public keys the reporter sent: replies are encrypted to them (``pgp.services``)."""
    if parsed.openpgp is None:
        return
    note = pgp_services.reporter_keys_from_mail(report=report, inbound_id=message.pk, security=parsed.openpgp)
    if note:
        message.notes = " ".join(part for part in (message.notes, note) if part)[:1000]


def attachments_add(report: Report, attachments: list[MailAttachment]) -> list[str]:
    """Attach each file through the web upload rules; returns "name: reason" for the refused."""
    refused = []
    for number, attachment in enumerate(attachments):
        name = safe_filename(attachment.name)
        if number >= ATTACHMENTS_PER_MESSAGE:
            refused.append(f"{name}: at most {ATTACHMENTS_PER_MESSAGE} attachments are taken from one e-mail.")
            continue
        try:
            attachment_add(report=report, upload=SimpleUploadedFile(name, attachment.content), from_reporter=True)
        except DomainError as error:
            refused.append(error.message if error.message.startswith(name) else f"{name}: {error.message}")
    return refused


def _new_report(message: InboundMessage, parsed: ParsedMail, now) -> Outcome:
    product = message.product
    if product is None:
        return _finish(message, InboundState.QUARANTINED, now, reason="The address no longer leads to a product.")
    can_acknowledge = bool(parsed.sender_address) and not message.is_flagged
    try:
        created = report_create(
            product=product, title=parsed.subject[: settings.REPORT_TITLE_MAX_CHARS] or "(no subject)",
            description=bounded_text(parsed.text, settings.REPORT_TEXT_MAX_CHARS),
            reporter_name=parsed.sender_name, reporter_email=parsed.sender_address, source=Source.EMAIL,
            acknowledge=can_acknowledge,
        )
    except DomainError as error:
        return _finish(message, InboundState.QUARANTINED, now, reason=f"Not filed: {error.message}"[:300])
    report = created.report
    refused = attachments_add(report, parsed.attachments)
    message.refused_attachments = "\n".join(refused)
    thread = mail_thread_create(report=report, address=message.address, subject=parsed.subject)
    _reporter_keys_keep(message, parsed, report)  # before the acknowledgement, which is encrypted to it
    job = None
    if can_acknowledge:
        message.acknowledgement = AcknowledgementState.PENDING
        sender, reply_to = thread_from_and_reply_to(report, thread=thread)
        job = AcknowledgementJob(
            inbound_id=message.pk, report_id=report.pk, to=parsed.sender_address, reporter_name=parsed.sender_name,
            tracking_token=created.tracking_token, message_id=mails.new_message_id(mail_domain(message.address)),
            parent=parsed.message_id, references=parsed.references, subject=parsed.subject, refused=refused,
            from_address=sender, reply_to=reply_to, report=report,
        )
        if _encrypted_without_key(parsed, report):
            # The link opens a report its reporter took care to encrypt: not in a clear-text mail.
            job.tracking_token, job.notice = None, ENCRYPTED_WITHOUT_KEY
    # The acknowledgement's id is recorded now, with the report: a reply to it threads even if
    # the mark after sending is lost.
    thread_ids_record(report=report, received=[parsed.message_id], sent=[job.message_id] if job else [])
    if job is None:
        message.acknowledgement = AcknowledgementState.WITHHELD
        message.reason = ("No acknowledgement: the sender's authentication failed, so the From address may be "
                          "forged." if message.is_flagged else "No acknowledgement: no usable sender address.")
    return _finish(message, InboundState.REPORTED, now, report=report, reason=message.reason,
                   acknowledgement=job, report_id=report.pk)
