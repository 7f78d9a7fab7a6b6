"""Pre-notification: downstream contacts (vendors, distributions, CERTs/CSIRTs) who learn of an
advisory before it is public, the private expiring links they get, and every view of them.

A link is a 256-bit token whose SHA-256 alone is stored (``tokens``); the recipient's name and
address are copied onto the pre-notification when it is sent, so the record of who was told
what survives edits to, or removal of, the contact.
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from vulndesk.advisories.models import Advisory
from vulndesk.organisations.models import Organisation


class ContactKind(models.TextChoices):
    """Stored values appear in exports of the audit trail: never rename them."""

    VENDOR = "vendor", "Vendor"
    DISTRIBUTION = "distribution", "Distribution"
    CERT = "cert", "CERT / CSIRT"
    OTHER = "other", "Other"


class DownstreamContact(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="downstream_contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(max_length=254)
    kind = models.CharField(max_length=16, choices=ContactKind.choices)
    # Free text for the team: a key fingerprint, where the key lives, how they like mail.
    pgp_note = models.TextField(blank=True, max_length=10_000)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), models.F("organisation"), name="downstream_contact_email_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}> ({self.get_kind_display()})"


class PreNotification(models.Model):
    """One advisory shared with one recipient through one private link."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="prenotifications")
    contact = models.ForeignKey(DownstreamContact, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="prenotifications")
    # As sent: the contact may be edited or removed later.
    recipient_name = models.CharField(max_length=200)
    recipient_email = models.EmailField(max_length=254)
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

    def __str__(self) -> str:
        return f"pre-notification {self.pk} of advisory {self.advisory_id}"


class EmbargoView(models.Model):
    """One view of a private link that showed the draft."""

    prenotification = models.ForeignKey(PreNotification, on_delete=models.CASCADE, related_name="view_log")
    viewed_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)  # truncated

    class Meta:
        ordering = ["-viewed_at", "-id"]
        indexes = [models.Index(fields=["prenotification", "viewed_at"], name="embargo_view_log")]
