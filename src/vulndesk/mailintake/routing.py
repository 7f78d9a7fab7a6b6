"""Which organisation, product or report an envelope recipient reaches (reads only).

Asked at SMTP ``RCPT`` time, so that mail to an address nobody configured is refused with a
550 there and then, never accepted and dropped. A recipient is, in this order: a report's
reply address (``<base>+r-<token>@``), a product sub-address (``<base>+<product-slug>@``, if the
base address allows tags) or the base address itself.
"""

from dataclasses import dataclass

from vulndesk.mailintake.addresses import REPLY_TAG_PREFIX, recipient_parts
from vulndesk.mailintake.models import IntakeAddress, MailThread
from vulndesk.mailintake.tokens import TOKEN_CHARS, reply_token_hash
from vulndesk.products.models import Product


@dataclass(frozen=True)
class Route:
    organisation_id: int
    address_id: int
    product_id: int
    reply_report_id: int | None = None


def route_for_recipient(address: str) -> Route | None:
    parts = recipient_parts(address)
    if parts is None:
        return None
    intake = (IntakeAddress.objects.filter(local_part=parts.local, domain=parts.domain, is_active=True)
              .only("id", "organisation_id", "product_id", "accepts_product_tags").first())
    if intake is None:
        return None
    if not parts.tag:
        return Route(organisation_id=intake.organisation_id, address_id=intake.pk, product_id=intake.product_id)
    if parts.tag.startswith(REPLY_TAG_PREFIX):
        token = parts.tag.removeprefix(REPLY_TAG_PREFIX)
        if len(token) != TOKEN_CHARS:
            return None
        thread = (MailThread.objects.filter(reply_token_hash=reply_token_hash(token),
                                            organisation_id=intake.organisation_id)
                  .select_related("report").only("report_id", "report__product_id").first())
        if thread is None:
            return None
        return Route(organisation_id=intake.organisation_id, address_id=intake.pk,
                     product_id=thread.report.product_id, reply_report_id=thread.report_id)
    if not intake.accepts_product_tags:
        return None
    product_id = (Product.objects.filter(organisation_id=intake.organisation_id, slug=parts.tag, accepts_reports=True)
                  .values_list("id", flat=True).first())
    if product_id is None:
        return None
    return Route(organisation_id=intake.organisation_id, address_id=intake.pk, product_id=product_id)
