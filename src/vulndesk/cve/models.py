"""CVE IDs through CVE Services: each organisation's CNA account, and the CVE ID of each advisory.

``CnaAccount`` holds how vulndesk reaches CVE Services for one organisation (endpoint, CNA short
name, user); the API key is sealed with the organisation's data key (``organisations.keys``)
and bound to this row by the associated data, so the table never holds it in clear and an
envelope copied elsewhere does not decrypt. ``CveAssignment`` remembers where an advisory's
CVE ID came from (reserved by us, or assigned by another CNA) and how far its record got, so the
advisory page can show what to do next without asking CVE Services.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models

from vulndesk.advisories.models import Advisory
from vulndesk.organisations.models import Organisation
from vulndesk.organisations.sealing import SealedModel, SealedText


class CnaAccount(SealedModel):
    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="cna_account")
    # The API base, ending in "/", e.g. https://cveawg.mitre.org/api/ (https; http only on loopback).
    endpoint_url = models.CharField(max_length=300)
    short_name = models.CharField(max_length=32)  # the CNA's short name at CVE Services
    username = models.EmailField(max_length=254)  # the CVE Services user (an e-mail address)
    sealed_credentials = models.TextField(default="", blank=True)
    api_key = SealedText("sealed_credentials", "api_key")
    is_enabled = models.BooleanField(default=True)
    remaining_quota = models.PositiveIntegerField(null=True, blank=True)  # as last reported by CVE Services
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    sealed_columns = ("sealed_credentials",)

    def __str__(self) -> str:
        return f"CNA {self.short_name}"

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        # One account per organisation: the organisation id names the row.
        return f"cna_account:{self.organisation_id}:{column}"

    @property
    def has_api_key(self) -> bool:
        """Whether a key is stored; answered without decrypting it."""
        return bool(self.sealed_credentials)


# A reservation claim older than this belongs to a request that died mid-way; it may be taken over.
STALE_CLAIM = timedelta(minutes=10)


class CveAssignmentState(models.TextChoices):
    """Stored values appear in the audit log: never rename them."""

    RESERVING = "reserving", "Reservation in progress"
    # A reservation request went out, its answer was lost, and CVE Services could not be asked
    # what happened. The next reserve asks first, before sending anything (services.py).
    UNCONFIRMED = "unconfirmed", "Reservation not confirmed"
    RESERVED = "reserved", "Reserved"
    PUBLISHED = "published", "Record published"
    REJECTED = "rejected", "Rejected"  # at CVE Services, after the advisory was withdrawn
    ELSEWHERE = "elsewhere", "Assigned by another CNA"


class RecordFollowState(models.TextChoices):
    """Whether the CVE record still has to follow a change of its advisory (``cve.follow``)."""

    IN_STEP = "", "In step"
    PENDING = "pending", "Queued"
    FAILED = "failed", "Failed"


class RecordFollowAction(models.TextChoices):
    UPDATE = "update", "Update the record"
    REJECT = "reject", "Reject the CVE ID"


class CveAssignment(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    advisory = models.OneToOneField(Advisory, on_delete=models.CASCADE, related_name="cve_assignment")
    cve_id = models.CharField(max_length=20, blank=True)  # empty only while RESERVING
    state = models.CharField(max_length=16, choices=CveAssignmentState.choices)
    claimed_at = models.DateTimeField()  # when this row was created or re-claimed
    reserved_at = models.DateTimeField(null=True, blank=True)
    # The last reservation request: when it went out, and the IDs our CVE Services user already
    # held in the window before it. An ID that appears in the window after a lost answer, and is
    # none of these, is the one that request reserved.
    reserve_attempted_at = models.DateTimeField(null=True, blank=True)
    reserve_seen_ids = models.JSONField(default=list, blank=True)
    record_published_at = models.DateTimeField(null=True, blank=True)
    record_updated_at = models.DateTimeField(null=True, blank=True)
    # The CNA container last accepted by CVE Services (public data only).
    last_container = models.JSONField(null=True, blank=True)
    record_rejected_at = models.DateTimeField(null=True, blank=True)
    # The advisory revision the record was last built from.
    record_revision = models.PositiveIntegerField(null=True, blank=True)
    # Keeping the record in step with the advisory (cve/follow.py): what is still to be done,
    # for which revision, how often it was tried, when it is tried next, and the last error.
    follow_state = models.CharField(max_length=16, choices=RecordFollowState.choices, default="", blank=True)
    follow_action = models.CharField(max_length=16, choices=RecordFollowAction.choices, blank=True)
    follow_revision = models.PositiveIntegerField(null=True, blank=True)
    follow_attempts = models.PositiveSmallIntegerField(default=0)
    follow_due_at = models.DateTimeField(null=True, blank=True)
    follow_error = models.CharField(max_length=1000, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        indexes = [models.Index(fields=["organisation", "cve_id"], name="cve_assignment_by_id"),
                   models.Index(fields=["follow_state", "follow_due_at"], name="cve_assignment_follow_due")]

    def __str__(self) -> str:
        return self.cve_id or "(reserving)"

    @property
    def is_ours(self) -> bool:
        return self.state in {CveAssignmentState.RESERVED, CveAssignmentState.PUBLISHED, CveAssignmentState.REJECTED}
