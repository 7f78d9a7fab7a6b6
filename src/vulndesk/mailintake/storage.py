"""The raw messages, encrypted at rest with the organisation's data key.

Small messages (up to ``MAIL_INTAKE_INLINE_MAX_BYTES``) are one AES-GCM blob in the database
row; larger ones go to the attachments' chunked store (one MiB records, memory flat whatever
the size). Both are bound to their row by the associated data ``inbound:<org>:<nonce>``, so a
blob moved to another row or organisation does not decrypt.

Durability: a file is fsynced, renamed into place, and its directory fsynced before the row
that points to it is written; the row itself commits with ``PRAGMA synchronous=FULL`` on
SQLite (see ``services.inbound_store_batch``). Only then does SMTP answer "250".
"""

import io
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from vulndesk.attachments import storage as chunked
from vulndesk.core import crypto
from vulndesk.organisations import keys

INLINE_MAX_BYTES = 256 * 1024


def inline_max_bytes() -> int:
    return getattr(settings, "MAIL_INTAKE_INLINE_MAX_BYTES", INLINE_MAX_BYTES)


@dataclass(frozen=True)
class SealedRaw:
    nonce: str
    key_version: int
    blob: bytes | None  # inline ciphertext, or None when stored as a file
    storage_key: str  # "" when inline


def raw_aad(organisation_id: int, nonce: str) -> str:
    return f"inbound:{organisation_id}:{nonce}"


def raw_seal(*, organisation_id: int, raw: bytes) -> SealedRaw:
    """Encrypt ``raw`` for a new row: inline, or to a durable file for a large message."""
    nonce = secrets.token_hex(16)
    version = keys.current_key_version(organisation_id)
    key = keys.data_key(organisation_id, version)
    if len(raw) <= inline_max_bytes():
        return SealedRaw(nonce=nonce, key_version=version, blob=crypto.encrypt(key, raw, raw_aad(organisation_id, nonce)),
                         storage_key="")
    storage_key = chunked.new_storage_key()
    chunked.write_encrypted(storage_key=storage_key, source=io.BytesIO(raw), key=key,
                            aad=raw_aad(organisation_id, nonce))
    _fsync_directory(storage_key)
    return SealedRaw(nonce=nonce, key_version=version, blob=None, storage_key=storage_key)


def _fsync_directory(storage_key: str) -> None:
    # The file itself was fsynced before its rename; the rename is durable only once the
    # directory entry is (attachments.storage lays files out as <root>/<key[:2]>/<key>).
    directory = Path(settings.ATTACHMENT_ROOT) / storage_key[:2]
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def raw_discard(sealed: SealedRaw) -> None:
    """Remove the file of a row that was never written (a failed or duplicate store)."""
    if sealed.storage_key:
        chunked.delete(sealed.storage_key)


def raw_chunks(*, organisation_id: int, key_version: int, nonce: str, blob: bytes | None,
               storage_key: str) -> Iterator[bytes]:
    key = keys.data_key(organisation_id, key_version)
    if not storage_key:
        yield crypto.decrypt(key, bytes(blob or b""), raw_aad(organisation_id, nonce))
        return
    yield from chunked.read_decrypted(storage_key=storage_key, key=key, aad=raw_aad(organisation_id, nonce))
