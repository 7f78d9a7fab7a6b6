"""Pre-notification: downstream contacts (vendors, distributions, CERTs/CSIRTs) who learn of an
advisory before it is public, the private expiring links they get, and every view of them.

A link is a 256-bit token whose SHA-256 alone is stored (``tokens``); the recipient's name and
address are copied onto the pre-notification when it is sent, so the record of who was told
what survives edits to, or removal of, the contact.

Contacts' names, addresses and PGP notes, and the recipients copied from them, are sealed with
the organisation's data key (``organisations.sealing``): who is told about an embargoed
vulnerability is as sensitive as the vulnerability. An address is unique per organisation
through ``email_index``, a keyed hash of the lower-cased address (it tells which rows share an
address, never the address).
"""

import hashlib
import hmac
import uuid

from django.conf import settings
from django.db import models

from vulndesk.advisories.models import Advisory
from vulndesk.organisations import keys
from vulndesk.organisations.models import Organisation
from vulndesk.organisations.sealing import SealedModel, SealedText


class ContactKind(models.TextChoices):
    """Stored values appear in exports of the audit trail: never rename them."""

    VENDOR = "vendor", "Vendor"
    DISTRIBUTION = "distribution", "Distribution"
    CERT = "cert", "CERT / CSIRT"
    OTHER = "other", "Other"


def contact_email_index(*, organisation_id: int, email: str) -> str:
    """The keyed hash that keeps an address unique per organisation without storing it."""
    return hmac.new(keys.search_key(organisation_id), email.strip().lower().encode(), hashlib.sha256).hexdigest()


class DownstreamContact(SealedModel):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="downstream_contacts")
    # Names the row in the sealing's associated data (set before the first save, unlike the pk).
    seal_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sealed_contact = models.TextField(default="", blank=True)
    name = SealedText("sealed_contact", "name")  # at most 200 characters (services.py)
    email = SealedText("sealed_contact", "email")  # at most 254 characters
    # Free text for the team: a key fingerprint, where the key lives, how they like mail.
    pgp_note = SealedText("sealed_contact", "pgp_note")  # at most 10,000 characters
    email_index = models.CharField(max_length=64, default="", editable=False)
    kind = models.CharField(max_length=16, choices=ContactKind.choices)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    sealed_columns = ("sealed_contact",)
    derived_sealing_columns = ("email_index",)

    class Meta:
        ordering = ["id"]  # by name in Python (selectors): the names are sealed
        constraints = [
            models.UniqueConstraint(fields=["organisation", "email_index"], name="downstream_contact_email_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}> ({self.get_kind_display()})"

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        return f"downstream_contact:{self.organisation_id}:{self.seal_id}:{column}"

    def after_sealing(self, columns: set[str]) -> None:
        if "sealed_contact" in columns:
            self.email_index = contact_email_index(organisation_id=self.organisation_id, email=self.email)


class PreNotification(SealedModel):
    """One advisory shared with one recipient through one private link."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="prenotifications")
    contact = models.ForeignKey(DownstreamContact, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="prenotifications")
    # As sent: the contact may be edited or removed later. Sealed like the contact.
    sealed_recipient = models.TextField(default="", blank=True)
    recipient_name = SealedText("sealed_recipient", "name")
    recipient_email = SealedText("sealed_recipient", "email")
    recipient_kind = models.CharField(max_length=16, choices=ContactKind.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    # The link works until the earlier of this and the advisory's embargo date (links.py).
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # The mail server refused the mail: the link was revoked at once, nobody holds it.
    failed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["advisory", "created_at"], name="prenotification_advisory")]

    sealed_columns = ("sealed_recipient",)

    def __str__(self) -> str:
        return f"pre-notification {self.pk} of advisory {self.advisory_id}"

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        # The token hash is unique and set before the first save.
        return f"prenotification:{self.organisation_id}:{self.token_hash}:{column}"


class EmbargoView(models.Model):
    """One view of a private link that showed the draft."""

    prenotification = models.ForeignKey(PreNotification, on_delete=models.CASCADE, related_name="view_log")
    viewed_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)  # truncated

    class Meta:
        ordering = ["-viewed_at", "-id"]
        indexes = [models.Index(fields=["prenotification", "viewed_at"], name="embargo_view_log")]
