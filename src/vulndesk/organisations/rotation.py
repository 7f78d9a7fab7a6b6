"""Data-key rotation without downtime.

1. A new DEK version is added; from then on new envelopes use it (other processes notice
   within ``keys.CURRENT_VERSION_TTL_SECONDS``).
2. Every row still sealed with an older version is re-sealed, in small transactions, while the
   site keeps serving: both versions decrypt throughout.
3. After a settle time (so no process still writes with an old version) a final pass runs, and
   the old versions are retired. Retired keys stay stored, so nothing can become unreadable.
"""

import time
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from vulndesk.audit.services import audit_record
from vulndesk.organisations import keys
from vulndesk.organisations.models import OrganisationKey
from vulndesk.organisations.sealing import ROTATION_HOOKS, SEALED_MODELS


@dataclass
class RotationResult:
    organisation_id: int
    new_version: int
    retired_versions: list[int] = field(default_factory=list)
    resealed: int = 0


def _stale(model, organisation_id: int, current: int):
    stale = Q()
    for column in model.sealed_columns:
        stale |= Q(**{f"{column}__startswith": keys.ENVELOPE_PREFIX}) & ~Q(
            **{f"{column}__startswith": f"{keys.ENVELOPE_PREFIX}{current}."})
    return model.objects.filter(organisation_id=organisation_id).filter(stale)


def reseal_pass(*, organisation_id: int, batch_size: int = 500, progress=None) -> int:
    """Re-seal every row of the organisation not on the current version. Returns the count."""
    current = keys.current_key_version(organisation_id)
    count = 0
    for model in SEALED_MODELS:
        last_id = 0
        while True:
            with transaction.atomic():
                batch = list(_stale(model, organisation_id, current).filter(pk__gt=last_id).order_by("pk")[:batch_size])
                for row in batch:
                    row.reseal_all()
                    row.save(update_fields=[])
                    last_id = row.pk
            if not batch:
                break
            count += len(batch)
            if progress:
                progress(f"{model.__name__}: {count} re-encrypted")
    for hook in ROTATION_HOOKS:
        count += hook(organisation_id, current)
    return count


def organisation_keys_rotate(*, organisation_id: int, settle_seconds: float = keys.CURRENT_VERSION_TTL_SECONDS,
                             batch_size: int = 500, progress=None, actor_label: str = "cli") -> RotationResult:
    old_versions = list(OrganisationKey.objects.filter(organisation_id=organisation_id, retired_at__isnull=True)
                        .values_list("version", flat=True))
    new_key = keys.organisation_key_create(organisation_id=organisation_id)
    result = RotationResult(organisation_id=organisation_id, new_version=new_key.version)
    result.resealed += reseal_pass(organisation_id=organisation_id, batch_size=batch_size, progress=progress)
    if settle_seconds:
        time.sleep(settle_seconds)  # let every process pick up the new version
    result.resealed += reseal_pass(organisation_id=organisation_id, batch_size=batch_size, progress=progress)
    for version in old_versions:
        keys.organisation_key_retire(organisation_id=organisation_id, version=version)
        result.retired_versions.append(version)
    audit_record(action="keys.rotate", organisation_id=organisation_id, actor_label=actor_label,
                 target_type="organisation", target_id=organisation_id,
                 data={"new_version": new_key.version, "retired": result.retired_versions, "resealed": result.resealed})
    return result
