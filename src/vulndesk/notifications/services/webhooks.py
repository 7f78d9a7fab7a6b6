"""An organisation's webhook endpoints.

Invariants: the URL passed the SSRF check (``egress.webhook_target``) when it was saved (and is
checked again at each delivery); the signing secret is generated here, returned once to the
caller to show, and otherwise only stored sealed; after a rotation the previous secret keeps
signing for ``NOTIFICATIONS_SECRET_OVERLAP_HOURS``. At most ``NOTIFICATIONS_WEBHOOKS_PER_ORGANISATION``
endpoints. Callers pass the acting Membership; owners and security managers only. Every change
is audited with the host, never the URL (it may carry a receiver's token) or the secret.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction

from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.notifications.addresses import one_line
from vulndesk.notifications.config import setting
from vulndesk.notifications.egress import Resolver, system_resolver, webhook_target
from vulndesk.notifications.models import ADVISORY_EVENTS, Delivery, Webhook
from vulndesk.notifications.signatures import webhook_secret_new
from vulndesk.organisations.models import SETTINGS_ROLES, Membership, Organisation


@dataclass(frozen=True)
class WebhookCreated:
    webhook: Webhook
    secret: str  # shown once


def _check(actor: Membership, organisation_id: int) -> None:
    if actor.organisation_id != organisation_id:
        raise NotFound
    if actor.role not in SETTINGS_ROLES:
        raise NotAllowed


def _audit(action: str, webhook: Webhook, actor: Membership, **data) -> None:
    audit_record(action=action, organisation_id=webhook.organisation_id, actor_id=actor.user_id,
                 actor_label=actor.user.display_name, target_type="webhook", target_id=webhook.pk,
                 data={"host": webhook.host, **data})


def _events(events) -> list[str]:
    chosen = [str(event) for event in events or []]
    if not chosen or any(event not in ADVISORY_EVENTS for event in chosen):
        raise DomainError(f"Choose one or more events of: {', '.join(ADVISORY_EVENTS)}.", field="events")
    return [event for event in ADVISORY_EVENTS if event in chosen]


@transaction.atomic
def webhook_create(*, organisation: Organisation, actor: Membership, url: str, events: list[str],
                   description: str = "", resolver: Resolver = system_resolver) -> WebhookCreated:
    _check(actor, organisation.pk)
    limit = setting("NOTIFICATIONS_WEBHOOKS_PER_ORGANISATION")
    Organisation.objects.select_for_update().filter(pk=organisation.pk).first()  # serialise the count
    if Webhook.objects.filter(organisation=organisation).count() >= limit:
        raise DomainError(f"An organisation can have at most {limit} webhooks.", field="url")
    events = _events(events)
    target = webhook_target(url.strip(), resolver=resolver)
    now = clock.now()
    secret = webhook_secret_new()
    webhook = Webhook(organisation=organisation, host=target.host, events=events,
                      description=one_line(description, 200), created_by_id=actor.user_id, created_at=now,
                      updated_at=now)
    webhook.url, webhook.secret, webhook.previous_secret = url.strip(), secret, ""
    webhook.save()
    _audit("webhook.create", webhook, actor, events=events)
    return WebhookCreated(webhook=webhook, secret=secret)


@transaction.atomic
def webhook_update(*, webhook: Webhook, actor: Membership, url: str, events: list[str], description: str = "",
                   is_active: bool = True, resolver: Resolver = system_resolver) -> Webhook:
    _check(actor, webhook.organisation_id)
    events = _events(events)
    target = webhook_target(url.strip(), resolver=resolver)
    webhook.url, webhook.host, webhook.events = url.strip(), target.host, events
    webhook.description, webhook.is_active, webhook.updated_at = one_line(description, 200), is_active, clock.now()
    webhook.save()
    if not is_active:
        Delivery.objects.filter(webhook=webhook, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.CANCELLED, claimed_until=None)
    _audit("webhook.update", webhook, actor, events=events, is_active=is_active)
    return webhook


@transaction.atomic
def webhook_secret_rotate(*, webhook: Webhook, actor: Membership) -> str:
    """A new secret, returned once. The old one still signs (as a second ``v1``) during the
    overlap, so receivers can switch without losing deliveries."""
    _check(actor, webhook.organisation_id)
    now = clock.now()
    secret = webhook_secret_new()
    webhook.previous_secret, webhook.secret = webhook.secret, secret
    webhook.previous_secret_expires_at = now + timedelta(hours=setting("NOTIFICATIONS_SECRET_OVERLAP_HOURS"))
    webhook.updated_at = now
    webhook.save()
    _audit("webhook.rotate_secret", webhook, actor)
    return secret


@transaction.atomic
def webhook_delete(*, webhook: Webhook, actor: Membership) -> None:
    """Delete the endpoint and its delivery log (the audit trail keeps that it existed)."""
    _check(actor, webhook.organisation_id)
    _audit("webhook.delete", webhook, actor)
    webhook.delete()
