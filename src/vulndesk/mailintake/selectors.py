"""Reads for the mail intake's staff pages. Every selector takes the acting member first and
filters on its organisation; product-scoped members see only mail routed to their products,
developers only mail of reports assigned to them (as for reports themselves)."""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from vulndesk.core.errors import NotFound
from vulndesk.mailintake.models import (
    ImapMailbox,
    InboundMessage,
    InboundState,
    IntakeAddress,
    MailThread,
    OutboundMail,
)
from vulndesk.organisations.models import Membership
from vulndesk.products.models import Product
from vulndesk.reports.models import Report

LIST_LIMIT = 200
VIEWS = {
    "attention": Q(state__in=[InboundState.HELD, InboundState.QUARANTINED, InboundState.STORED]),
    "held": Q(state=InboundState.HELD),
    "quarantined": Q(state=InboundState.QUARANTINED),
    "automatic": Q(state=InboundState.AUTOMATIC),
    "flagged": Q(is_flagged=True),
    "all": Q(),
}


def _visible(member: Membership) -> QuerySet[InboundMessage]:
    rows = InboundMessage.objects.filter(organisation_id=member.organisation_id)
    if member.product_scope is not None:
        rows = rows.filter(product_id__in=member.product_scope)
    if member.sees_only_assigned:
        rows = rows.filter(report__assignee_id=member.user_id)
    return rows


def inbound_messages_for_member(*, member: Membership, view: str = "attention") -> list[InboundMessage]:
    if view not in VIEWS:
        raise NotFound
    return list(_visible(member).filter(VIEWS[view]).select_related("report__organisation", "address")
                .defer("raw_blob").order_by("-received_at", "-id")[:LIST_LIMIT])


def inbound_counts(*, member: Membership) -> dict[str, int]:
    counts = _visible(member).aggregate(
        held=Count("id", filter=Q(state=InboundState.HELD)),
        quarantined=Count("id", filter=Q(state=InboundState.QUARANTINED)),
        flagged=Count("id", filter=Q(is_flagged=True)),
    )
    return counts


def inbound_message_for_member(*, member: Membership, message_id: int) -> InboundMessage:
    row = (_visible(member).select_related("organisation", "address", "report__organisation", "product",
                                           "decided_by", "reply_report")
           .filter(pk=message_id).first())
    if row is None:
        raise NotFound
    return row


def inbound_messages_for_report(*, report: Report) -> list[InboundMessage]:
    """``report`` must come from a scoped selector (reports.selectors.report_for_member)."""
    return list(InboundMessage.objects.filter(organisation_id=report.organisation_id)
                .filter(Q(report=report) | Q(reply_report=report)).defer("raw_blob")
                .select_related("decided_by").order_by("received_at", "id"))


def mail_thread_for_report(*, report: Report) -> MailThread | None:
    return MailThread.objects.filter(report=report, organisation_id=report.organisation_id) \
        .select_related("address").first()


@dataclass(frozen=True)
class MessageMailInfo:
    outbound_state: str  # staff message: its mail's state ("" when not mailed)
    inbound_id: int | None  # reporter message: the e-mail it came from
    outbound_reason: str = ""  # why it was not sent (skipped: no address, the reporter's key expired)


def mail_info_for_messages(*, report: Report, message_ids: list[int]) -> dict[int, MessageMailInfo]:
    outbound = {message_id: (state, reason) for message_id, state, reason in
                OutboundMail.objects.filter(report=report, message_id__in=message_ids)
                .values_list("message_id", "state", "reason")}
    inbound = dict(InboundMessage.objects.filter(organisation_id=report.organisation_id,
                                                 reporter_message_id__in=message_ids)
                   .values_list("reporter_message_id", "id"))
    return {message_id: MessageMailInfo(outbound.get(message_id, ("", ""))[0], inbound.get(message_id),
                                        outbound.get(message_id, ("", ""))[1])
            for message_id in message_ids}


def intake_addresses_for_member(*, member: Membership) -> list[IntakeAddress]:
    return list(IntakeAddress.objects.filter(organisation_id=member.organisation_id)
                .select_related("product").order_by("-is_active", "domain", "local_part"))


def intake_address_for_member(*, member: Membership, address_id: int) -> IntakeAddress:
    row = IntakeAddress.objects.filter(organisation_id=member.organisation_id, pk=address_id).first()
    if row is None:
        raise NotFound
    return row


def products_accepting_reports(*, member: Membership) -> QuerySet[Product]:
    products = Product.objects.filter(organisation_id=member.organisation_id, accepts_reports=True)
    if member.product_scope is not None:
        products = products.filter(pk__in=member.product_scope)
    return products.order_by("name")


def active_intake_addresses(*, member: Membership) -> QuerySet[IntakeAddress]:
    return IntakeAddress.objects.filter(organisation_id=member.organisation_id, is_active=True) \
        .order_by("domain", "local_part")


def imap_mailboxes_for_member(*, member: Membership) -> list[ImapMailbox]:
    """The organisation's polled mailboxes, with what the page shows (never the credentials)."""
    return list(ImapMailbox.objects.filter(organisation_id=member.organisation_id)
                .select_related("address", "product").defer("sealed_credentials", "trusted_certificate")
                .order_by("-is_enabled", "name", "id"))


def imap_mailbox_for_member(*, member: Membership, mailbox_id: int) -> ImapMailbox:
    row = (ImapMailbox.objects.filter(organisation_id=member.organisation_id, pk=mailbox_id)
           .select_related("address", "product").first())
    if row is None:
        raise NotFound
    return row
