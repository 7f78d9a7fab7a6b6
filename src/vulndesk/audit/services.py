"""Writes to the audit trail. Only ``audit_record`` appends; nothing updates or deletes.

Callers are services that already hold a transaction: the entry commits or rolls back with the
change it describes. Report *contents* never go into ``data``: ids, actions and field names only.
"""

from datetime import datetime

from django.db import transaction

from vulndesk.audit.chain import GENESIS_HASH, entry_digest
from vulndesk.audit.models import AuditChainHead, AuditEntry
from vulndesk.core import clock


@transaction.atomic
def audit_record(
    *,
    action: str,
    organisation_id: int | None = None,
    actor_id: int | None = None,
    actor_label: str = "",
    target_type: str = "",
    target_id: str | int = "",
    ip_address: str | None = None,
    data: dict | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    at = at or clock.now()
    data = data or {}
    target_id = str(target_id)
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = AuditChainHead.objects.create(pk=1, entry_hash=GENESIS_HASH, entry_id=0)
    entry_hash = entry_digest(
        previous_hash=head.entry_hash,
        at=at,
        organisation_id=organisation_id,
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip_address=ip_address,
        data=data,
    )
    entry = AuditEntry.objects.create(
        at=at,
        organisation_id=organisation_id,
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip_address=ip_address,
        data=data,
        previous_hash=head.entry_hash,
        entry_hash=entry_hash,
    )
    AuditChainHead.objects.filter(pk=1).update(entry_hash=entry_hash, entry_id=entry.pk)
    return entry
