"""Who is told about published advisories, and the record of every message sent.

- ``Subscriber``: an e-mail address subscribed to an organisation's advisories (``product``
  empty) or to one product's. The address is personal data: it is stored sealed with the
  organisation's data key (``organisations.sealing``), and uniqueness is kept on a keyed hash
  of it (``addresses.address_hash``), so the table alone reveals no address. Double opt-in:
  only a SHA-256 hash of the confirmation token is stored.
- ``Webhook``: a receiver URL of an organisation. URL and signing secrets are sealed; ``host``
  is kept in clear for the delivery log.
- ``Delivery``: one message to one target about one thing. The unique constraints make the
  fan-out idempotent: one row per (subscriber or webhook, advisory, revision, event), one per
  (report, event, occurrence) for reporter mails. Each attempt is logged in ``DeliveryAttempt``.
- ``FanOut``: marks a revision whose deliveries were created, so the sweep can tell a revision
  whose after-commit signal was lost from one already handled.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from vulndesk.advisories.models import Advisory
from vulndesk.organisations.models import Organisation
from vulndesk.organisations.sealing import SealedModel, SealedText
from vulndesk.products.models import Product
from vulndesk.reports.models import Report


class Event(models.TextChoices):
    """Event names, as sent in webhook payloads: stored values never change."""

    ADVISORY_PUBLISHED = "advisory.published", "Advisory published"
    ADVISORY_UPDATED = "advisory.updated", "Advisory updated"
    ADVISORY_WITHDRAWN = "advisory.withdrawn", "Advisory withdrawn"
    # Reporter mails (never sent to webhooks or subscribers).
    REPORT_ACCEPTED = "report.accepted", "Report accepted"
    REPORT_FIXED = "report.fixed", "Report fixed"
    REPORT_DUPLICATE = "report.duplicate", "Report closed as duplicate"
    REPORT_INVALID = "report.invalid", "Report closed as invalid"
    REPORT_OUT_OF_SCOPE = "report.out_of_scope", "Report closed as out of scope"
    REPORT_WONT_FIX = "report.wont_fix", "Report closed as won't fix"
    REPORT_DISCLOSED = "report.disclosed", "Report disclosed"
    REPORT_ADVISORY_SCHEDULED = "report.advisory_scheduled", "Advisory scheduled"
    REPORT_ADVISORY_PUBLISHED = "report.advisory_published", "Advisory published"
    REPORT_CREDITED = "report.credited", "Credit shown"


ADVISORY_EVENTS = (Event.ADVISORY_PUBLISHED, Event.ADVISORY_UPDATED, Event.ADVISORY_WITHDRAWN)


class Subscriber(SealedModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # HMAC-SHA256 of the normalised address under a key derived from the organisation's data key.
    address_hash = models.CharField(max_length=64)
    sealed_address = models.TextField(default="", blank=True)
    address = SealedText("sealed_address", "address")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    confirmation_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    sealed_columns = ("sealed_address",)

    class Meta:
        constraints = [
            # Partial indexes: a NULL product would make a plain unique constraint let an
            # organisation-wide subscription exist twice.
            models.UniqueConstraint(fields=["organisation", "address_hash"], condition=Q(product__isnull=True),
                                    name="subscriber_once_per_organisation"),
            models.UniqueConstraint(fields=["organisation", "product", "address_hash"],
                                    condition=Q(product__isnull=False), name="subscriber_once_per_product"),
        ]
        indexes = [models.Index(fields=["organisation", "status"], name="subscriber_by_status")]

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        # Bound to the address hash: an envelope moved to another subscriber's row fails.
        return f"subscriber:{self.organisation_id}:{self.address_hash}:{column}"


class Webhook(SealedModel):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # URL (may carry a receiver's token in its path), current and previous signing secret.
    sealed_config = models.TextField(default="")
    url = SealedText("sealed_config", "url")
    secret = SealedText("sealed_config", "secret")
    previous_secret = SealedText("sealed_config", "previous_secret")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    host = models.CharField(max_length=255)  # shown in the delivery log instead of the URL
    events = models.JSONField(default=list)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    sealed_columns = ("sealed_config",)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.host

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        return f"webhook:{self.organisation_id}:{self.public_id}:{column}"


class Delivery(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail subscriber"
        WEBHOOK = "webhook", "Webhook"
        REPORTER = "reporter", "Reporter e-mail"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Gave up"
        CANCELLED = "cancelled", "Cancelled"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    subscriber = models.ForeignKey(Subscriber, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="deliveries")
    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    advisory = models.ForeignKey(Advisory, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    revision = models.PositiveIntegerField(default=0)
    event = models.CharField(max_length=40, choices=Event.choices)
    # Reporter mails: which occurrence this is (a report can be accepted, reopened, accepted again).
    occurrence = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)  # HTTP or SMTP reply code
    last_error = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "advisory", "revision", "event"],
                                    condition=Q(subscriber__isnull=False), name="delivery_once_per_subscriber"),
            models.UniqueConstraint(fields=["webhook", "advisory", "revision", "event"],
                                    condition=Q(webhook__isnull=False), name="delivery_once_per_webhook"),
            models.UniqueConstraint(fields=["report", "event", "occurrence"],
                                    condition=Q(report__isnull=False), name="delivery_once_per_reporter_event"),
            models.CheckConstraint(
                condition=(Q(channel="email", subscriber__isnull=False, webhook__isnull=True, report__isnull=True)
                           | Q(channel="webhook", webhook__isnull=False, subscriber__isnull=True, report__isnull=True)
                           | Q(channel="reporter", report__isnull=False, subscriber__isnull=True,
                               webhook__isnull=True)),
                name="delivery_has_one_target"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["organisation", "created_at", "id"], name="delivery_log"),
        ]


class DeliveryAttempt(models.Model):
    """One try of one delivery, for the staff log. Never holds a receiver's response body."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=40)  # "sent" or an error kind (see deliveries.ERRORS)

    class Meta:
        ordering = ["delivery", "number"]


class FanOut(models.Model):
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="+")
    revision = models.PositiveIntegerField()
    event = models.CharField(max_length=40, choices=Event.choices)
    deliveries = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["advisory", "revision"], name="fan_out_once_per_revision")]
