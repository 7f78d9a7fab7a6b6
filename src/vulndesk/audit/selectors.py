"""Reads of the audit trail, including the chain check behind ``vulndesk audit verify``."""

from dataclasses import dataclass

from vulndesk.audit.chain import GENESIS_HASH, entry_digest
from vulndesk.audit.models import AuditChainHead, AuditEntry


@dataclass(frozen=True)
class ChainProblem:
    entry_id: int | None
    problem: str


def audit_chain_problems(*, batch_size: int = 2000) -> list[ChainProblem]:
    """Walk the whole chain in id order, in batches (memory stays flat), and list every break:
    a row whose content no longer matches its hash (edited), or whose ``previous_hash`` is not
    the hash of the row before it (a row deleted or inserted)."""
    problems: list[ChainProblem] = []
    previous_hash, last_id = GENESIS_HASH, 0
    while True:
        batch = list(AuditEntry.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            break
        for entry in batch:
            if entry.previous_hash != previous_hash:
                problems.append(ChainProblem(entry.pk, "does not follow the entry before it (a row was deleted or inserted)"))
            expected = entry_digest(
                previous_hash=entry.previous_hash,
                at=entry.at,
                organisation_id=entry.organisation_id,
                actor_id=entry.actor_id,
                actor_label=entry.actor_label,
                action=entry.action,
                target_type=entry.target_type,
                target_id=entry.target_id,
                ip_address=entry.ip_address,
                data=entry.data,
            )
            if expected != entry.entry_hash:
                problems.append(ChainProblem(entry.pk, "content does not match its hash (the row was edited)"))
            previous_hash, last_id = entry.entry_hash, entry.pk
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and head.entry_hash != previous_hash:
        problems.append(ChainProblem(None, "the newest entries were deleted (chain head does not match the last row)"))
    return problems
