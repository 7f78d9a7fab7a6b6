"""Pure hashing rules for the audit chain."""

import hashlib
import json
from datetime import datetime

GENESIS_HASH = "0" * 64


def entry_digest(
    *,
    previous_hash: str,
    at: datetime,
    organisation_id: int | None,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target_type: str,
    target_id: str,
    ip_address: str | None,
    data: dict,
) -> str:
    """SHA-256 over a canonical JSON of every field, chained to ``previous_hash``."""
    canonical = json.dumps(
        [
            previous_hash,
            at.isoformat(timespec="microseconds"),
            organisation_id,
            actor_id,
            actor_label,
            action,
            target_type,
            target_id,
            ip_address,
            data,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
