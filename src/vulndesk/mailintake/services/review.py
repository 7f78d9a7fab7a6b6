"""Staff decisions on received mail: approve or reject a held message, convert a quarantined
one into a report by hand, open an encrypted one again once its key is there, and the audited
download of an original message.

Callers pass the acting ``Membership`` from ``organisations.access``; each service re-checks
the organisation and the role (triage roles act). Every decision is audited with ids only.
"""

import logging
from dataclasses import dataclass

from django.db import transaction

from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import Conflict, DomainError, NotAllowed, NotFound
from vulndesk.mailintake import mails
from vulndesk.mailintake.addresses import InvalidAddress, address_normalise, one_line
from vulndesk.mailintake.models import AcknowledgementState, InboundMessage, InboundState
from vulndesk.mailintake.parsing import Unparseable
from vulndesk.mailintake.services.acknowledgements import AcknowledgementJob, acknowledgement_send
from vulndesk.mailintake.services.inbound import attachments_add, bounded_text, inbound_parse, inbound_process
from vulndesk.mailintake.services.threads import mail_thread_create, thread_ids_record
from vulndesk.organisations.models import TRIAGE_ROLES, Membership
from vulndesk.pgp import selectors as pgp_selectors
from vulndesk.products.models import Product
from vulndesk.reports.models import Report, Source
from vulndesk.reports.services import MESSAGE_MAX_CHARS, report_create, reporter_message_post

logger = logging.getLogger(__name__)

CONVERTIBLE = {InboundState.QUARANTINED, InboundState.AUTOMATIC}


def _check(actor: Membership, message: InboundMessage) -> None:
    if actor.organisation_id != message.organisation_id:
        raise NotFound
    if actor.role not in TRIAGE_ROLES:
        raise NotAllowed


def _locked(message: InboundMessage) -> InboundMessage:
    # of=("self",): lock the message row only. Its address and report are nullable (outer) joins,
    # and PostgreSQL refuses FOR UPDATE on the nullable side of an outer join.
    return (InboundMessage.objects.select_for_update(of=("self",)).select_related("organisation", "address", "report")
            .get(pk=message.pk))


def _audit(message: InboundMessage, actor: Membership, action: str, **data) -> None:
    audit_record(action=action, organisation_id=message.organisation_id, actor_id=actor.user_id,
                 actor_label=actor.user.display_name, target_type="inbound_message", target_id=message.pk, data=data)


@transaction.atomic
def inbound_approve(*, message: InboundMessage, actor: Membership) -> InboundMessage:
    """Add a held message to the thread of the report it was sent to, as the reporter's."""
    _check(actor, message)
    message = _locked(message)
    if message.state != InboundState.HELD or message.report is None:
        raise Conflict("Only a held message can be approved.")
    # Read as processing reads it: an encrypted reply is opened, never posted as ciphertext.
    parsed = inbound_parse(message)
    if isinstance(parsed, Unparseable):
        raise DomainError(f"The message cannot be read: {parsed}")
    posted = reporter_message_post(report=message.report, body=bounded_text(parsed.text, MESSAGE_MAX_CHARS))
    message.refused_attachments = "\n".join(attachments_add(message.report, parsed.attachments))
    thread_ids_record(report=message.report, received=[parsed.message_id])
    message.state, message.reporter_message, message.decided_by = InboundState.APPROVED, posted, actor.user
    message.save()
    _audit(message, actor, "mail.approve", report=message.report_id)
    return message


@transaction.atomic
def inbound_reject(*, message: InboundMessage, actor: Membership) -> InboundMessage:
    """Keep a held message out of the thread. It stays stored, and visible in the held list's
    history, with its original."""
    _check(actor, message)
    message = _locked(message)
    if message.state != InboundState.HELD:
        raise Conflict("Only a held message can be rejected.")
    message.state, message.decided_by = InboundState.REJECTED, actor.user
    message.save(update_fields=["state", "decided_by"])
    _audit(message, actor, "mail.reject", report=message.report_id)
    return message


@dataclass(frozen=True)
class Conversion:
    report: Report
    acknowledgement_sent: bool


def inbound_convert(*, message: InboundMessage, actor: Membership, product: Product, title: str, description: str,
                    reporter_name: str = "", reporter_email: str = "",
                    send_acknowledgement: bool = False) -> Conversion:
    """File a quarantined (or machine-marked) message as a report, with what a person read in
    it. With an address and ``send_acknowledgement``, the reporter gets the same acknowledgement
    (tracking link included) as for a message filed automatically."""
    _check(actor, message)
    if product.organisation_id != message.organisation_id:
        raise NotFound
    address = ""
    if reporter_email.strip():
        try:
            address = address_normalise(reporter_email)
        except InvalidAddress:
            raise DomainError("Give a valid e-mail address, or none.", field="reporter_email") from None
    job = None
    with transaction.atomic():
        message = _locked(message)
        if message.state not in CONVERTIBLE:
            raise Conflict("Only a quarantined or machine-marked message can be converted.")
        acknowledge = bool(address) and send_acknowledgement
        created = report_create(product=product, title=one_line(title, 200), description=description,
                                reporter_name=one_line(reporter_name, 200), reporter_email=address,
                                source=Source.EMAIL, actor=actor, acknowledge=acknowledge)
        report = created.report
        if address:
            mail_thread_create(report=report, address=message.address, subject=title)
        message.state, message.report, message.decided_by = InboundState.CONVERTED, report, actor.user
        message.processed_at = message.processed_at or clock.now()
        if acknowledge:
            message.acknowledgement = AcknowledgementState.PENDING
            domain = message.address.domain if message.address is not None else "localhost"
            job = AcknowledgementJob(
                inbound_id=message.pk, report_id=report.pk, to=address, reporter_name=one_line(reporter_name, 200),
                tracking_token=created.tracking_token, message_id=mails.new_message_id(domain), parent="",
                references=[], subject=title,
            )
            thread_ids_record(report=report, sent=[job.message_id])
        message.save()
        _audit(message, actor, "mail.convert", report=report.pk, acknowledgement=acknowledge)
    sent = acknowledgement_send(job) if job is not None else False
    return Conversion(report=report, acknowledgement_sent=sent)


def inbound_openpgp_quarantined(message: InboundMessage) -> bool:
    """Quarantined because OpenPGP could not open it (no key yet, another key, damaged armor):
    the quarantine reason is the one OpenPGP recorded for the message. Quarantined for anything
    else (unreadable MIME, failed processing, not filed), opening it again would change nothing."""
    if message.state != InboundState.QUARANTINED or not message.reason:
        return False  # decided without a query for everything else the message pages show
    return pgp_selectors.is_undecrypted_quarantined(organisation_id=message.organisation_id, inbound_id=message.pk)


@dataclass(frozen=True)
class Reopening:
    message: InboundMessage  # as processing left it
    opened: bool  # False: in quarantine again (with the new reason), or processing failed this time


def inbound_reopen(*, message: InboundMessage, actor: Membership) -> Reopening:
    """Process an encrypted message quarantined as unreadable again, from the store, exactly as
    on arrival (``inbound_process``: decrypted, filed or appended, acknowledged), e.g. after the
    key it was encrypted to was imported.

    The message is put back to "stored" under the row's lock, and processing claims it with
    its own marker (``state == stored``): a second press, or a worker of the periodic sweep,
    finds the marker moved and files nothing twice. Should this process die between the two
    steps, the sweep processes the stored message, as any other."""
    _check(actor, message)
    with transaction.atomic():
        message = _locked(message)
        if message.state == InboundState.STORED:
            raise Conflict("This message is being processed right now. Reload the page in a moment.")
        if message.state != InboundState.QUARANTINED:
            raise Conflict(f"Only a quarantined message can be opened again; this one is "
                           f"\u201c{message.get_state_display().lower()}\u201d.")
        if not inbound_openpgp_quarantined(message):
            raise Conflict("Only a message quarantined because it could not be decrypted can be opened again. "
                           "Convert this one by hand.")
        # The quarantine reason goes with the quarantine: processing records a new one if the
        # message is quarantined again (the old one stays in the audit trail and the OpenPGP verdict).
        message.state, message.decided_by, message.reason = InboundState.STORED, actor.user, ""
        message.save(update_fields=["state", "decided_by", "reason"])
        _audit(message, actor, "mail.reopen")
    state = inbound_process(message_id=message.pk)
    logger.info("inbound message %s opened again: %s", message.pk, state)
    message = (InboundMessage.objects.select_related("organisation", "address", "report")
               .get(pk=message.pk))
    return Reopening(message=message, opened=message.state not in {InboundState.QUARANTINED, InboundState.STORED})


def inbound_download_record(*, message: InboundMessage, actor: Membership, ip_address: str | None) -> None:
    """Reading an original message (the reporter's identity, unpublished details) is audited."""
    _check(actor, message)
    audit_record(action="mail.download", organisation_id=message.organisation_id, actor_id=actor.user_id,
                 actor_label=actor.user.display_name, target_type="inbound_message", target_id=message.pk,
                 ip_address=ip_address)
