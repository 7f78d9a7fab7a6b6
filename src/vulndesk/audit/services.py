"""Writes to the audit trail. Only ``audit_record`` and ``audit_record_many`` append; nothing
updates or deletes.

Callers are services that already hold a transaction: the entry commits or rolls back with the
change it describes. Report *contents* never go into ``data``: ids, actions and field names only.
"""

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from vulndesk.audit.chain import GENESIS_HASH, entry_digest
from vulndesk.audit.models import AuditChainHead, AuditEntry
from vulndesk.core import clock
from vulndesk.core.inserts import rows_insert
from vulndesk.core.statements import model_statement


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
    head = _head_read()
    if head is None:
        AuditChainHead.objects.create(pk=1, entry_hash=GENESIS_HASH, entry_id=0)
        head = GENESIS_HASH
    now = clock.now()
    entries, previous_hash = [], head
    for record in records:
        at, target_id = record.at or now, str(record.target_id)
        # The column is an IP address field: PostgreSQL's inet refuses anything else (SQLite
        # stored it as text), and a request without REMOTE_ADDR (a unix socket) brings "unknown".
        ip_address = _ip_or_none(record.ip_address)
        entry_hash = entry_digest(
            previous_hash=previous_hash,
            at=at,
            organisation_id=record.organisation_id,
            actor_id=record.actor_id,
            actor_label=record.actor_label,
            action=record.action,
            target_type=record.target_type,
            target_id=target_id,
            ip_address=ip_address,
            data=record.data,
        )
        entries.append(AuditEntry(
            at=at, organisation_id=record.organisation_id, actor_id=record.actor_id, actor_label=record.actor_label,
            action=record.action, target_type=record.target_type, target_id=target_id, ip_address=ip_address,
            data=record.data, previous_hash=previous_hash, entry_hash=entry_hash,
        ))
        previous_hash = entry_hash
    rows_insert(AuditEntry, entries)  # ids come back: the head names the last entry
    _head_write(previous_hash, entries[-1].pk)
    return entries


def _ip_or_none(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


# The chain head is read and written by every audited write (each report create), always the
# same two statements: formatted once (core/statements) instead of compiled by the ORM each time
# (~0.15 ms of a create).
def _head_sql() -> tuple[str, str]:
    # FOR UPDATE: on PostgreSQL concurrent writers queue here, so entries chain in one line
    # (SQLite has one writer at a time anyway).
    read = ("SELECT {entry_hash} FROM {table} WHERE {pk} = 1 FOR UPDATE" if connection.features.has_select_for_update
            else "SELECT {entry_hash} FROM {table} WHERE {pk} = 1")
    return (model_statement(AuditChainHead, read),
            model_statement(AuditChainHead, "UPDATE {table} SET {entry_hash} = %s, {entry_id} = %s WHERE {pk} = 1"))


def _head_read() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(_head_sql()[0])
        row = cursor.fetchone()
    return row[0] if row else None


def _head_write(entry_hash: str, entry_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_head_sql()[1], [entry_hash, entry_id])
