"""The security@ mailbox: intake addresses, every message received, mail threads of reports and
the mails we sent into them, and the IMAP mailboxes polled for organisations that keep their mail
provider. Fields only; every write goes through ``mailintake.services``.

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
    source = models.CharField(max_length=8, default="smtp")  # smtp | imap
    # The mailbox an IMAP-polled message was fetched from (None for SMTP).
    imap_mailbox = models.ForeignKey("ImapMailbox", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
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


class ImapSecurity(models.TextChoices):
    """How the connection to the IMAP server is protected. Stored values never change."""

    TLS = "tls", "TLS from the start (usually port 993)"
    STARTTLS = "starttls", "STARTTLS (usually port 143)"
    NONE = "none", "None: only to this machine (loopback)"


class ImapPollResult(models.TextChoices):
    NEVER = "", "Not polled yet"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


class ImapMailbox(SealedModel):
    """A mailbox at the organisation's own mail provider, polled over IMAP: every new message in
    ``folder`` is stored like a message delivered by SMTP to ``address`` (or, without an
    address, filed into ``product``), then marked on the server: with the keyword
    ``$VulndeskImported``, and moved to ``processed_folder`` when one is set.

    The user name and password are sealed with the organisation's data key, bound to this row.
    ``lease_*`` is the poller's lock (a row lease with an expiry, as SQLite has no row locks):
    two pollers of one mailbox never run together, and a dead poller's lease is taken over."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    # Where a polled message counts as delivered: an intake address (its product, its reply and
    # product sub-addresses), or, for an organisation with no address of its own, a product.
    address = models.ForeignKey(IntakeAddress, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField()
    security = models.CharField(max_length=8, choices=ImapSecurity.choices, default=ImapSecurity.TLS)
    # PEM certificate(s) to trust instead of the system's CAs (a self-signed or internal server).
    trusted_certificate = models.TextField(blank=True)
    folder = models.CharField(max_length=200, default="INBOX")
    processed_folder = models.CharField(max_length=200, blank=True)  # "" = keep the mail in place
    import_since = models.DateField(null=True, blank=True)  # older mail in the folder is left alone
    # Random, set once: binds the sealed credentials to this row before it has an id.
    credentials_nonce = models.CharField(max_length=32)
    sealed_credentials = models.TextField(default="", blank=True)
    username = SealedText("sealed_credentials", "username")
    password = SealedText("sealed_credentials", "password")
    is_enabled = models.BooleanField(default=True)
    poll_interval_seconds = models.PositiveIntegerField(default=300)

    # The last poll, in our own words only (no server text, no secrets).
    last_poll_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_result = models.CharField(max_length=8, choices=ImapPollResult.choices, blank=True, default="")
    last_error = models.CharField(max_length=300, blank=True)
    last_imported = models.PositiveIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    imported_total = models.PositiveBigIntegerField(default=0)
    too_large_total = models.PositiveIntegerField(default=0)

    lease_token = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    sealed_columns = ("sealed_credentials",)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(address__isnull=False, product__isnull=True)
                | models.Q(address__isnull=True, product__isnull=False),
                name="imap_mailbox_one_route"),
        ]

    def __str__(self) -> str:
        return self.name

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        return f"imapmailbox:{self.organisation_id}:{self.credentials_nonce}:{column}"

    @property
    def moves_mail(self) -> bool:
        return bool(self.processed_folder)

    @property
    def poll_interval_minutes(self) -> int:
        return self.poll_interval_seconds // 60
