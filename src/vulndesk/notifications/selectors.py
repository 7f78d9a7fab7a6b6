"""Reads for notifications.

Staff selectors take the acting member first and filter on their organisation (and on their
product scope for reporter rows). Public selectors resolve a slug or a token and answer
"unknown" and "not yours" with the same ``NotFound``. Nothing here decrypts an address: staff
see counts of subscribers, never their addresses.
"""

from datetime import timedelta

from django.db.models import Count, Q, QuerySet

from vulndesk.core import clock
from vulndesk.core.errors import NotFound
from vulndesk.notifications.config import setting
from vulndesk.notifications.models import Delivery, Subscriber, Webhook
from vulndesk.notifications.tokens import confirmation_token_hash, prefix_matches, unsubscribe_token_read
from vulndesk.organisations.models import Membership, Organisation
from vulndesk.products.models import Product

DELIVERY_LOG_LIMIT = 200


# --- public ----------------------------------------------------------------------------------

def organisation_for_subscription(*, organisation_slug: str) -> Organisation:
    organisation = Organisation.objects.filter(slug=organisation_slug).first()
    if organisation is None:
        raise NotFound
    return organisation


def product_for_subscription(*, organisation_slug: str, product_slug: str) -> Product:
    product = (Product.objects.select_related("organisation")
               .filter(organisation__slug=organisation_slug, slug=product_slug).first())
    if product is None:
        raise NotFound
    return product


def confirmable_subscribers(*, token: str) -> QuerySet[Subscriber]:
    """The pending subscription this confirmation token was mailed for, if still valid."""
    hours = setting("NOTIFICATIONS_CONFIRMATION_HOURS")
    return Subscriber.objects.filter(
        confirmation_token_hash=confirmation_token_hash(token), status=Subscriber.Status.PENDING,
        confirmation_sent_at__gt=clock.now() - timedelta(hours=hours),
    )


def subscriber_for_confirmation_token(*, token: str) -> Subscriber:
    row = (confirmable_subscribers(token=token).select_related("organisation", "product").first()
           if token and len(token) <= 100 else None)
    if row is None:
        raise NotFound
    return row


def subscriber_for_unsubscribe_token(*, token: str) -> Subscriber:
    parsed = unsubscribe_token_read(token) if token and len(token) <= 200 else None
    row = None
    if parsed is not None:
        row = Subscriber.objects.select_related("organisation", "product").filter(pk=parsed[0]).first()
    if row is None or not prefix_matches(row.address_hash, parsed[1]):
        raise NotFound
    return row


# --- staff -----------------------------------------------------------------------------------

def subscriber_counts(*, member: Membership) -> list[dict]:
    """Per scope (organisation-wide, then each product): confirmed and pending counts."""
    rows = (Subscriber.objects.filter(organisation_id=member.organisation_id)
            .values("product__name")
            .annotate(confirmed=Count("pk", filter=Q(status=Subscriber.Status.CONFIRMED)),
                      pending=Count("pk", filter=Q(status=Subscriber.Status.PENDING)))
            .order_by("product__name"))
    return [{"scope": row["product__name"] or "All advisories", "confirmed": row["confirmed"],
             "pending": row["pending"]} for row in rows if row["confirmed"] or row["pending"]]


def webhooks_for_member(*, member: Membership) -> list[Webhook]:
    return list(Webhook.objects.filter(organisation_id=member.organisation_id).order_by("created_at", "pk"))


def webhook_for_member(*, member: Membership, webhook_id: int) -> Webhook:
    webhook = Webhook.objects.filter(organisation_id=member.organisation_id, pk=webhook_id).first()
    if webhook is None:
        raise NotFound
    return webhook


def _deliveries(member: Membership):
    rows = Delivery.objects.filter(organisation_id=member.organisation_id)
    if member.product_scope is not None:
        # A product-scoped member sees reporter mails only for their products' reports.
        rows = rows.exclude(Q(channel=Delivery.Channel.REPORTER) & ~Q(report__product_id__in=member.product_scope))
    return rows


def deliveries_for_member(*, member: Membership, status: str = "", webhook: Webhook | None = None,
                          limit: int = DELIVERY_LOG_LIMIT) -> list[Delivery]:
    rows = _deliveries(member).select_related("advisory", "webhook", "report__organisation")
    if status:
        rows = rows.filter(status=status)
    if webhook is not None:
        rows = rows.filter(webhook=webhook)
    return list(rows.order_by("-created_at", "-pk")[:limit])


def delivery_for_member(*, member: Membership, delivery_id: int) -> Delivery:
    delivery = (_deliveries(member).select_related("advisory", "webhook", "report__organisation")
                .prefetch_related("attempt_log").filter(pk=delivery_id).first())
    if delivery is None:
        raise NotFound
    return delivery
