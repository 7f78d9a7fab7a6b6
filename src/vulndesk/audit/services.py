"""Writes to the audit trail. Only ``audit_record`` and ``audit_record_many`` append; nothing
updates or deletes.

Callers are services that already hold a transaction: the entry commits or rolls back with the
change it describes. Report *contents* never go into ``data``: ids, actions and field names only.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from vulndesk.audit.chain import GENESIS_HASH, entry_digest
from vulndesk.audit.models import AuditChainHead, AuditEntry
from vulndesk.core import clock


@dataclass(frozen=True)
class AuditRecord:
    """One entry to append (the arguments of ``audit_record``)."""

    action: str
    organisation_id: int | None = None
    actor_id: int | None = None
    actor_label: str = ""
    target_type: str = ""
    target_id: str | int = ""
    ip_address: str | None = None
    data: dict = field(default_factory=dict)
    at: datetime | None = None


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
    return audit_record_many([AuditRecord(
        action=action, organisation_id=organisation_id, actor_id=actor_id, actor_label=actor_label,
        target_type=target_type, target_id=target_id, ip_address=ip_address, data=data or {}, at=at,
    )])[0]


# savepoint=False: inside a caller's transaction a savepoint would cost two statements and buy
# nothing, since an audit failure must undo the caller's change anyway.
@transaction.atomic(savepoint=False)
def audit_record_many(records: list[AuditRecord]) -> list[AuditEntry]:
    """Append ``records`` in order, each chained to the one before: one read and one update of
    the chain head and one insert, however many entries (a batch of reports)."""
    if not records:
        return []
    # select_for_update: on PostgreSQL concurrent writers queue here, so entries chain in one line.
    head = next(iter(AuditChainHead.objects.select_for_update().filter(pk=1).values_list("entry_hash", flat=True)), None)
    if head is None:
        AuditChainHead.objects.create(pk=1, entry_hash=GENESIS_HASH, entry_id=0)
        head = GENESIS_HASH
    now = clock.now()
    entries, previous_hash = [], head
    for record in records:
        at, target_id = record.at or now, str(record.target_id)
        entry_hash = entry_digest(
            previous_hash=previous_hash,
            at=at,
            organisation_id=record.organisation_id,
            actor_id=record.actor_id,
            actor_label=record.actor_label,
            action=record.action,
            target_type=record.target_type,
            target_id=target_id,
            ip_address=record.ip_address,
            data=record.data,
        )
        entries.append(AuditEntry(
            at=at, organisation_id=record.organisation_id, actor_id=record.actor_id, actor_label=record.actor_label,
            action=record.action, target_type=record.target_type, target_id=target_id, ip_address=record.ip_address,
            data=record.data, previous_hash=previous_hash, entry_hash=entry_hash,
        ))
        previous_hash = entry_hash
    AuditEntry.objects.bulk_create(entries)
    AuditChainHead.objects.filter(pk=1).update(entry_hash=previous_hash, entry_id=entries[-1].pk)
    return entries
