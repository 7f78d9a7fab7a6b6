"""E-mail subscriptions: subscribe with double opt-in, confirm, unsubscribe.

Invariants:
- One row per (organisation, product or none, address hash); the address itself is sealed.
- A row becomes ``confirmed`` only by a POST carrying the token mailed to that address; only the
  token's hash is stored, and a new confirmation mail replaces the token.
- The public answer never says whether an address is already subscribed (no oracle): callers
  show the same page whatever ``subscription_request`` did.
- Unsubscribing erases the address (only the keyed hash stays, so a later subscribe finds the
  row again) and cancels the subscriber's pending deliveries.
Callers: public views (any visitor) and tasks; nothing here trusts a request.
"""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse

from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotFound
from vulndesk.notifications import mails
from vulndesk.notifications.addresses import InvalidAddress, address_hash, address_normalise
from vulndesk.notifications.config import setting
from vulndesk.notifications.models import Delivery, Subscriber
from vulndesk.notifications.selectors import confirmable_subscribers
from vulndesk.notifications.tokens import (
    confirmation_token_hash,
    confirmation_token_new,
    prefix_matches,
    unsubscribe_token_read,
)
from vulndesk.organisations.models import Organisation
from vulndesk.products.models import Product

logger = logging.getLogger(__name__)


def _audit(action: str, subscriber: Subscriber) -> None:
    # The subscriber id only: the address is personal data and stays out of the audit trail.
    audit_record(action=action, organisation_id=subscriber.organisation_id, actor_label="subscriber",
                 target_type="subscriber", target_id=subscriber.pk)


def subscription_request(*, organisation: Organisation, product: Product | None, address: str) -> Subscriber | None:
    """Ask to subscribe ``address``. Queues a confirmation mail when the address is new, pending
    (and the last mail is older than the resend interval) or unsubscribed; does nothing for a
    confirmed one. Returns the row, or None when a concurrent request created it first."""
    if product is not None and product.organisation_id != organisation.pk:
        raise NotFound
    try:
        address = address_normalise(address)
    except InvalidAddress:
        raise DomainError("Enter a valid e-mail address.", field="email") from None
    now = clock.now()
    digest = address_hash(organisation_id=organisation.pk, address=address)
    resend_after = timedelta(minutes=setting("NOTIFICATIONS_CONFIRMATION_RESEND_MINUTES"))
    with transaction.atomic():
        row = (Subscriber.objects.select_for_update()
               .filter(organisation=organisation, product=product, address_hash=digest).first())
        if row is None:
            row = Subscriber(organisation=organisation, product=product, address_hash=digest, created_at=now)
            send = True
        elif row.status == Subscriber.Status.CONFIRMED:
            return row
        elif row.status == Subscriber.Status.UNSUBSCRIBED:
            send = True  # a new subscription, even if the last confirmation mail is recent
        else:
            send = row.confirmation_sent_at is None or row.confirmation_sent_at <= now - resend_after
        if row.status == Subscriber.Status.UNSUBSCRIBED:
            row.status, row.unsubscribed_at, row.confirmed_at = Subscriber.Status.PENDING, None, None
        row.address = address
        if send:
            # Reserved now, so a burst of requests queues one mail; the task makes the token.
            row.confirmation_sent_at = now
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            return None
        if send:
            from vulndesk.notifications.tasks import send_subscription_confirmation

            subscriber_id = row.pk
            transaction.on_commit(lambda: send_subscription_confirmation.enqueue(subscriber_id=subscriber_id))
    logger.info("subscription requested: subscriber %s, confirmation %s", row.pk, "queued" if send else "not resent")
    return row


def subscription_confirmation_send(*, subscriber_id: int) -> bool:
    """Make a fresh confirmation token, store its hash and mail the link. The token exists only
    in this function and the mail (never in the task queue, the log or the database)."""
    with transaction.atomic():
        # of=self: PostgreSQL cannot lock the nullable side (product) of an outer join.
        row = (Subscriber.objects.select_for_update(of=("self",)).select_related("organisation", "product")
               .filter(pk=subscriber_id, status=Subscriber.Status.PENDING).first())
        if row is None:
            return False
        token = confirmation_token_new()
        row.confirmation_token_hash = confirmation_token_hash(token)
        row.confirmation_sent_at = clock.now()
        row.save(update_fields=["confirmation_token_hash", "confirmation_sent_at"])
        url = mails.absolute(reverse("notifications:confirm", kwargs={"token": token}))
        # Sent inside the transaction: if the mail server refuses, no token hash is left behind.
        mails.confirmation_mail(
            to=row.address, organisation_name=row.organisation.name,
            product_name=row.product.name if row.product else "", confirm_url=url,
            valid_hours=setting("NOTIFICATIONS_CONFIRMATION_HOURS"),
        ).send()
    logger.info("confirmation mail sent to subscriber %s", subscriber_id)
    return True


def subscription_confirm(*, token: str) -> Subscriber:
    """Confirm the subscription the token was mailed for. Unknown, used and expired tokens are
    all ``NotFound``."""
    if not token or len(token) > 100:
        raise NotFound
    with transaction.atomic():
        row = confirmable_subscribers(token=token).select_for_update().first()
        if row is None:
            raise NotFound
        row.status, row.confirmed_at, row.confirmation_token_hash = Subscriber.Status.CONFIRMED, clock.now(), ""
        row.save(update_fields=["status", "confirmed_at", "confirmation_token_hash"])
        _audit("subscriber.confirm", row)
    logger.info("subscriber %s confirmed", row.pk)
    return row


def subscription_unsubscribe(*, token: str) -> Subscriber:
    """Unsubscribe (idempotent). Erases the address and cancels pending deliveries."""
    parsed = unsubscribe_token_read(token) if token and len(token) <= 200 else None
    if parsed is None:
        raise NotFound
    subscriber_id, prefix = parsed
    with transaction.atomic():
        row = Subscriber.objects.select_for_update().filter(pk=subscriber_id).first()
        if row is None or not prefix_matches(row.address_hash, prefix):
            raise NotFound
        if row.status != Subscriber.Status.UNSUBSCRIBED:
            row.status, row.unsubscribed_at, row.confirmation_token_hash = (
                Subscriber.Status.UNSUBSCRIBED, clock.now(), "")
            row.address = ""  # personal data no longer needed
            row.save()
            Delivery.objects.filter(subscriber=row, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.CANCELLED, claimed_until=None)
            _audit("subscriber.unsubscribe", row)
            logger.info("subscriber %s unsubscribed", row.pk)
    return row


def subscribers_purge_expired() -> int:
    """Forget requests never confirmed: the address of someone who did not ask for our mail
    must not stay. Rows with a delivery history (an earlier subscription) are kept as
    unsubscribed, without the address."""
    hours = setting("NOTIFICATIONS_CONFIRMATION_HOURS")
    expired = Subscriber.objects.filter(status=Subscriber.Status.PENDING,
                                        confirmation_sent_at__lt=clock.now() - timedelta(hours=hours))
    kept = 0
    with transaction.atomic():
        deleted, _ = expired.filter(deliveries__isnull=True).delete()
        for row in list(expired.select_for_update()[:500]):
            row.status, row.confirmation_token_hash, row.unsubscribed_at = (
                Subscriber.Status.UNSUBSCRIBED, "", clock.now())
            row.address = ""
            row.save()
            kept += 1
    return deleted + kept
