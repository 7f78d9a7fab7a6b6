"""The security@ mailbox: intake addresses, every message received, mail threads of reports and
the mails we sent into them. Fields only; every write goes through ``mailintake.services``.

What the sender wrote or revealed (envelope, From, Subject, Message-IDs) is sealed with the
organisation's data key (``organisations.sealing``); the raw message is encrypted in its own
blob or file (``mailintake.storage``). Plain columns hold ids, states, sizes, hashes and our
own words (reasons, flags), which staff lists can show without decrypting anything.
"""

from django.db import models

from vulndesk.organisations.models import Organisation
from vulndesk.organisations.sealing import SealedModel, SealedText
from vulndesk.products.models import Product
from vulndesk.reports.models import Message, Report


class IntakeAddress(models.Model):
    """``<local_part>@<domain>``: mail to it files reports into ``product``. Sub-addresses reach
    other products (``security+<product-slug>@``) and reports' reply addresses
    (``security+r-<token>@``)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    local_part = models.CharField(max_length=64)
    domain = models.CharField(max_length=253)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    accepts_product_tags = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["domain", "local_part"]
        constraints = [
            models.UniqueConstraint(fields=["local_part", "domain"], name="intake_address_unique"),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain}"


class InboundState(models.TextChoices):
    STORED = "stored", "Stored, not yet processed"
    REPORTED = "reported", "Filed as a new report"
    APPENDED = "appended", "Added to a report's thread"
    HELD = "held", "Held for review"
    APPROVED = "approved", "Approved into the thread"
    REJECTED = "rejected", "Rejected"
    QUARANTINED = "quarantined", "Quarantined (could not be read)"
    CONVERTED = "converted", "Converted to a report by hand"
    AUTOMATIC = "automatic", "Machine mail (not answered)"


class AcknowledgementState(models.TextChoices):
    NONE = "", "Not applicable"
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Could not be sent"
    WITHHELD = "withheld", "Withheld"


class InboundMessage(SealedModel):
    """One received message for one organisation, stored before the SMTP transaction was
    accepted. ``state`` is the processed marker: only ``stored`` rows are processed, in one
    transaction that also moves the state, so a message is imported whole and once."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    address = models.ForeignKey(IntakeAddress, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Set when the recipient was a report's reply address.
    reply_report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=8, default="smtp")  # smtp | imap (later)
    # HMAC of (Message-ID, From, Date, Subject, body hash): the same message delivered twice
    # (an MTA retry after a lost "250", an IMAP re-fetch) is stored once.
    idempotency_key = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=InboundState.choices, default=InboundState.STORED)
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reporter_message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    # The raw message: inline (encrypted blob) up to MAIL_INTAKE_INLINE_MAX_BYTES, else an
    # encrypted chunked file in the attachments store.
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    key_version = models.PositiveIntegerField()
    raw_blob = models.BinaryField(null=True, blank=True)
    storage_key = models.CharField(max_length=32, blank=True)
    raw_nonce = models.CharField(max_length=32)  # binds the ciphertext to this row (AAD)

    sealed_envelope = models.TextField(default="")
    envelope_from = SealedText("sealed_envelope", "envelope_from")
    recipients = SealedText("sealed_envelope", "recipients")
    peer_ip = SealedText("sealed_envelope", "peer_ip")
    sender_address = SealedText("sealed_envelope", "sender_address")
    sender_name = SealedText("sealed_envelope", "sender_name")
    subject = SealedText("sealed_envelope", "subject")
    message_id = SealedText("sealed_envelope", "message_id")
    # Attachments refused by the upload rules, with the reason: "name: reason" lines.
    refused_attachments = SealedText("sealed_envelope", "refused_attachments")

    # Our own words only (no message content): why it was quarantined, held or not answered.
    reason = models.CharField(max_length=300, blank=True)
    notes = models.CharField(max_length=1000, blank=True)
    is_flagged = models.BooleanField(default=False)
    flag_reason = models.CharField(max_length=200, blank=True)
    acknowledgement = models.CharField(max_length=10, choices=AcknowledgementState.choices, blank=True, default="")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    sealed_columns = ("sealed_envelope",)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "idempotency_key"], name="inbound_message_once"),
        ]
        indexes = [
            models.Index(fields=["organisation", "state", "received_at"], name="inbound_by_state"),
            models.Index(fields=["organisation", "is_flagged", "received_at"], name="inbound_flagged"),
            models.Index(fields=["state", "received_at"], name="inbound_sweep"),
            models.Index(fields=["report", "received_at"], name="inbound_by_report"),
        ]

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        return f"inbound:{self.organisation_id}:{self.raw_nonce}:{column}"

    @property
    def is_stored_inline(self) -> bool:
        return not self.storage_key


class MailThread(SealedModel):
    """A report that is reached by e-mail: where its mail comes from and goes to. The reply
    token is not stored; it is recomputed from the organisation's key and ``reply_salt``, and
    only its hash is kept for lookup (so a database dump does not reveal reply addresses)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    report = models.OneToOneField(Report, on_delete=models.CASCADE, related_name="+")
    address = models.ForeignKey(IntakeAddress, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reply_salt = models.CharField(max_length=32)
    reply_token_hash = models.CharField(max_length=64, unique=True)
    sealed_thread = models.TextField(default="")
    subject = SealedText("sealed_thread", "subject")
    created_at = models.DateTimeField()

    sealed_columns = ("sealed_thread",)

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        return f"mailthread:{self.organisation_id}:{self.reply_salt}:{column}"


class ThreadMessageId(SealedModel):
    """A Message-ID that belongs to a report's thread, received or sent by us. Replies are
    matched by the hash of the ids in their In-Reply-To and References headers."""

    class Direction(models.TextChoices):
        RECEIVED = "received", "Received"
        SENT = "sent", "Sent"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="+")
    message_id_hash = models.CharField(max_length=64)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    sealed_value = models.TextField(default="")
    message_id = SealedText("sealed_value", "message_id")
    created_at = models.DateTimeField()

    sealed_columns = ("sealed_value",)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "message_id_hash"], name="thread_message_id_once"),
        ]
        indexes = [models.Index(fields=["report", "created_at"], name="thread_ids_by_report")]

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        return f"threadid:{self.organisation_id}:{self.message_id_hash}:{column}"


class OutboundMail(models.Model):
    """A staff message sent to the reporter by e-mail. One row per message (the unique
    constraint), created before sending and marked after, so a retry sends at most once more."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Not sent"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="+")
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    reason = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    message_id_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "created_at"], name="outbound_mail_sweep")]
