"""OpenPGP keys and what OpenPGP said about received mail. Fields only; writes go through
``pgp.services``.

* ``OrganisationPgpKey``: the organisation's key pairs. The public key, its fingerprint and
  user ID are public (they are published); the secret key and the passphrase protecting it are
  sealed with the organisation's data key. One key is active (published, signs, receives); older
  ones are retired but kept, so mail encrypted to them still opens.
* ``ReporterPgpKey``: a reporter's public key for one report, from the web form or their mail.
  It names the reporter (user IDs carry their address), so it is sealed.
* ``MessageSecurity``: for one received message, whether it was encrypted and opened, and
  whether its signature verified, and with which key (the signer's fingerprint is sealed, like
  everything else that identifies a sender).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from vulndesk.organisations.models import Organisation
from vulndesk.organisations.sealing import SealedModel, SealedText
from vulndesk.reports.models import Report


class OrganisationPgpKey(SealedModel):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    class Source(models.TextChoices):
        GENERATED = "generated", "Generated in vulndesk"
        IMPORTED = "imported", "Imported"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=64)  # upper-case hex, v4 (40) or v5 (64)
    key_ids = models.CharField(max_length=400)  # "primary subkey…": encrypted mail names its key by these
    user_id = models.CharField(max_length=300, blank=True)
    algorithm = models.CharField(max_length=60)
    public_key = models.TextField()  # armored, minimal export; published
    sealed_secret = models.TextField(default="")
    armored_secret = SealedText("sealed_secret", "armored_secret")
    passphrase = SealedText("sealed_secret", "passphrase")
    state = models.CharField(max_length=8, choices=State.choices, default=State.ACTIVE)
    source = models.CharField(max_length=10, choices=Source.choices)
    key_created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    added_at = models.DateTimeField()
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    retired_at = models.DateTimeField(null=True, blank=True)

    sealed_columns = ("sealed_secret",)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "fingerprint"], name="pgp_key_once_per_organisation"),
            # One published key: whoever reads security.txt finds exactly one.
            models.UniqueConstraint(fields=["organisation"], condition=Q(state="active"), name="pgp_one_active_key"),
        ]

    def __str__(self) -> str:
        return self.fingerprint

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        # The fingerprint is unique per organisation and known before the row has an id.
        return f"pgpkey:{self.organisation_id}:{self.fingerprint}:{column}"

    @property
    def fingerprint_groups(self) -> str:
        """The fingerprint as people compare it: groups of four."""
        return " ".join(self.fingerprint[i:i + 4] for i in range(0, len(self.fingerprint), 4))


class ReporterPgpKey(SealedModel):
    class Source(models.TextChoices):
        WEB = "web", "Given on the report form"
        MAIL = "mail", "Sent with their e-mail"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=4, choices=Source.choices)
    inbound = models.ForeignKey("mailintake.InboundMessage", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    salt = models.CharField(max_length=32)  # binds the sealed key to this row
    sealed_key = models.TextField(default="")
    armored = SealedText("sealed_key", "armored")
    fingerprint = SealedText("sealed_key", "fingerprint")
    user_ids = SealedText("sealed_key", "user_ids")  # one per line
    algorithm = models.CharField(max_length=60)
    expires_at = models.DateTimeField(null=True, blank=True)
    is_current = models.BooleanField(default=True)  # the key replies are encrypted to
    added_at = models.DateTimeField()

    sealed_columns = ("sealed_key",)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["report"], condition=Q(is_current=True), name="pgp_one_current_reporter_key"),
        ]
        indexes = [models.Index(fields=["report", "added_at"], name="pgp_reporter_keys_by_report")]

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        return f"reporterkey:{self.organisation_id}:{self.salt}:{column}"

    @property
    def first_user_id(self) -> str:
        return self.user_ids.split("\n", 1)[0]


class SignatureState(models.TextChoices):
    """Stored values appear in the audit log: never rename them."""

    NOT_SIGNED = "not_signed", "Not signed"
    VERIFIED = "verified", "Signed, verified"
    UNKNOWN_KEY = "unknown_key", "Signed, unknown key"
    BAD = "bad", "Bad signature"
    KEY_PROBLEM = "key_problem", "Signed with an expired or revoked key"
    ERROR = "error", "Signature could not be checked"


class MessageSecurity(SealedModel):
    class Format(models.TextChoices):
        NONE = "", "None"
        PGP_MIME = "pgp_mime", "PGP/MIME (RFC 3156)"
        INLINE = "inline", "Inline PGP"

    class KeySource(models.TextChoices):
        NONE = "", "—"
        ATTACHED = "attached", "sent with this e-mail"
        ON_FILE = "on_file", "given earlier for this report"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    inbound = models.OneToOneField("mailintake.InboundMessage", on_delete=models.CASCADE, related_name="+")
    format = models.CharField(max_length=8, choices=Format.choices, blank=True, default="")
    was_encrypted = models.BooleanField(default=False)
    was_decrypted = models.BooleanField(default=False)
    signature = models.CharField(max_length=12, choices=SignatureState.choices, default=SignatureState.NOT_SIGNED)
    key_source = models.CharField(max_length=8, choices=KeySource.choices, blank=True, default="")
    salt = models.CharField(max_length=32)
    sealed_signer = models.TextField(default="")
    signer_fingerprint = SealedText("sealed_signer", "fingerprint")
    signer_key_id = SealedText("sealed_signer", "key_id")
    keys_received = models.PositiveSmallIntegerField(default=0)  # public keys the sender attached
    reason = models.CharField(max_length=300, blank=True)  # our words only
    created_at = models.DateTimeField()

    sealed_columns = ("sealed_signer",)

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        return f"msgsecurity:{self.organisation_id}:{self.salt}:{column}"

    @property
    def is_openpgp(self) -> bool:
        return self.was_encrypted or self.signature != SignatureState.NOT_SIGNED
