"""Per-organisation data keys and the sealed envelope every encrypted column uses.

Envelope text: ``v1.<key version>.<base64(nonce + AES-GCM ciphertext)>``. The version says
which DEK to use, so rows encrypted before a rotation stay readable while it runs (no
downtime); ``organisation_keys_rotate`` adds a version, callers re-seal rows in batches, and
``organisation_key_retire`` drops an old version once nothing uses it.

Unwrapped DEKs are cached per process; the current version is re-read every minute, so a
rotation done by another process is picked up without a restart.
"""

import base64
import hashlib
import hmac
import time

from django.db import IntegrityError, transaction
from django.db.models import Max

from vulndesk.core import clock, crypto
from vulndesk.organisations.models import OrganisationKey

_data_keys: dict[tuple[int, int], bytes] = {}
_current_versions: dict[int, tuple[int, float]] = {}
_search_keys: dict[int, bytes] = {}
CURRENT_VERSION_TTL_SECONDS = 60
ENVELOPE_PREFIX = "v1."


def _wrap_aad(organisation_id: int, version: int) -> str:
    return f"dek:{organisation_id}:{version}"


def organisation_key_create(*, organisation_id: int) -> OrganisationKey:
    """Add the next DEK version for an organisation (the first at creation, more on rotation)."""
    with transaction.atomic():
        latest = OrganisationKey.objects.filter(organisation_id=organisation_id).aggregate(v=Max("version"))["v"] or 0
        version = latest + 1
        kek_id, wrapped = crypto.wrap_data_key(crypto.new_data_key(), _wrap_aad(organisation_id, version))
        try:
            with transaction.atomic():
                key = OrganisationKey.objects.create(organisation_id=organisation_id, version=version, kek_id=kek_id,
                                                     wrapped_key=wrapped, created_at=clock.now())
        except IntegrityError:  # created concurrently: use that one
            key = OrganisationKey.objects.get(organisation_id=organisation_id, version=version)
    _current_versions.pop(organisation_id, None)
    return key


def _data_key(organisation_id: int, version: int) -> bytes:
    cached = _data_keys.get((organisation_id, version))
    if cached is not None:
        return cached
    row = OrganisationKey.objects.filter(organisation_id=organisation_id, version=version).first()
    if row is None:
        raise crypto.DecryptionFailed(f"no data key version {version} for organisation {organisation_id}")
    key = crypto.unwrap_data_key(row.kek_id, bytes(row.wrapped_key), _wrap_aad(organisation_id, version))
    _data_keys[(organisation_id, version)] = key
    return key


def data_key(organisation_id: int, version: int) -> bytes:
    """The raw DEK of one version, for callers that encrypt streams (attachments)."""
    return _data_key(organisation_id, version)


def current_key_version(organisation_id: int) -> int:
    cached = _current_versions.get(organisation_id)
    if cached is not None and time.monotonic() - cached[1] < CURRENT_VERSION_TTL_SECONDS:
        return cached[0]
    version = (
        OrganisationKey.objects.filter(organisation_id=organisation_id, retired_at__isnull=True)
        .aggregate(v=Max("version"))["v"]
    )
    if version is None:
        version = organisation_key_create(organisation_id=organisation_id).version
    _current_versions[organisation_id] = (version, time.monotonic())
    return version


def seal(*, organisation_id: int, aad: str, plaintext: bytes) -> str:
    version = current_key_version(organisation_id)
    blob = crypto.encrypt(_data_key(organisation_id, version), plaintext, aad)
    return f"{ENVELOPE_PREFIX}{version}.{base64.b64encode(blob).decode()}"


def envelope_version(text: str) -> int:
    if not text.startswith(ENVELOPE_PREFIX):
        raise crypto.DecryptionFailed("not a sealed envelope")
    return int(text.split(".", 2)[1])


def unseal(*, organisation_id: int, aad: str, text: str) -> bytes:
    version = envelope_version(text)
    blob = base64.b64decode(text.split(".", 2)[2])
    return crypto.decrypt(_data_key(organisation_id, version), blob, aad)


def search_key(organisation_id: int) -> bytes:
    """A key for the blind search index, derived from the organisation's first DEK so that it
    stays stable across DEK rotations (re-indexing is then never needed)."""
    cached = _search_keys.get(organisation_id)
    if cached is not None:
        return cached
    first = OrganisationKey.objects.filter(organisation_id=organisation_id).order_by("version").values_list(
        "version", flat=True).first()
    if first is None:
        first = current_key_version(organisation_id)
    key = hmac.new(_data_key(organisation_id, first), b"vulndesk search index v1", hashlib.sha256).digest()
    _search_keys[organisation_id] = key
    return key


def kek_rewrap_all() -> int:
    """Re-wrap every DEK under the current KEK (after adding a new one to VULNDESK_KEKS)."""
    keks = crypto.key_encryption_keys()
    count = 0
    for row in OrganisationKey.objects.exclude(kek_id=keks.current_id).iterator():
        aad = _wrap_aad(row.organisation_id, row.version)
        data_key = crypto.unwrap_data_key(row.kek_id, bytes(row.wrapped_key), aad)
        row.kek_id, row.wrapped_key = crypto.wrap_data_key(data_key, aad)
        row.save(update_fields=["kek_id", "wrapped_key"])
        count += 1
    return count


def organisation_key_retire(*, organisation_id: int, version: int) -> None:
    OrganisationKey.objects.filter(organisation_id=organisation_id, version=version).update(retired_at=clock.now())
    _current_versions.pop(organisation_id, None)


def forget_cached_keys() -> None:
    """Drop the process caches (tests; after a rotation in this process)."""
    _data_keys.clear()
    _current_versions.clear()
    _search_keys.clear()
