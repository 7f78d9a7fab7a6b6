"""The append-only, hash-chained audit trail.

Each entry stores the SHA-256 of its own canonical content plus the previous entry's hash, so
editing or deleting any row breaks every hash after it (``vulndesk audit verify`` finds it).
"""

from django.db import models


class AuditEntry(models.Model):
    at = models.DateTimeField()
    # Plain ids, not foreign keys: the trail must outlive the users and organisations it names.
    organisation_id = models.BigIntegerField(null=True, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=50, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["organisation_id", "id"], name="audit_org_id")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type}:{self.target_id}"


class AuditChainHead(models.Model):
    """One row that holds the newest hash; writers lock it so entries chain in one line even
    on PostgreSQL, where concurrent transactions would otherwise read the same predecessor."""

    entry_hash = models.CharField(max_length=64)
    entry_id = models.BigIntegerField(default=0)
