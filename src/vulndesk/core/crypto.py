"""AES-256-GCM envelope encryption (``cryptography``), the primitives behind encryption at rest.

Key hierarchy: a *key-encryption key* (KEK) from configuration wraps one *data key* (DEK) per
organisation and version (``organisations.keys``); DEKs encrypt report contents, messages and
attachments. The database alone therefore reveals no report text, and rotating the KEK only
re-wraps a handful of DEKs.

Every ciphertext carries a fresh random 96-bit nonce and is bound to its row by the associated
data (e.g. ``report:12:34``), so a ciphertext copied into another row fails to decrypt.

Configuration: ``VULNDESK_KEKS`` = ``id:base64key[,id:base64key…]``; the first is current, the
others only unwrap older DEKs during a rotation. Embedded mode generates one into the data
directory (file mode 0600) when none is configured.
"""

import base64
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NONCE_BYTES = 12


class DecryptionFailed(Exception):
    """Wrong key, tampered ciphertext or ciphertext moved to another row."""


def encrypt(key: bytes, plaintext: bytes, aad: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad.encode())


def decrypt(key: bytes, blob: bytes, aad: str) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad.encode())
    except (InvalidTag, ValueError):
        raise DecryptionFailed(f"cannot decrypt data bound to {aad.split(':')[0]}") from None


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@dataclass(frozen=True)
class KeyEncryptionKeys:
    current_id: str
    keys: dict[str, bytes]


def _parse_keks(text: str) -> KeyEncryptionKeys:
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        kek_id, _, encoded = item.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise ImproperlyConfigured(f"VULNDESK_KEKS: key {kek_id!r} is not valid base64") from None
        if len(key) != 32 or not kek_id.isalnum():
            raise ImproperlyConfigured("VULNDESK_KEKS: each entry is <alphanumeric id>:<base64 of 32 bytes>")
        keys[kek_id] = key
        order.append(kek_id)
    if not order:
        raise ImproperlyConfigured("VULNDESK_KEKS is empty")
    return KeyEncryptionKeys(current_id=order[0], keys=keys)


@lru_cache(maxsize=1)
def key_encryption_keys() -> KeyEncryptionKeys:
    configured = os.environ.get("VULNDESK_KEKS", "").strip()
    if configured:
        return _parse_keks(configured)
    if getattr(settings, "PRODUCTION", False):
        raise ImproperlyConfigured("VULNDESK_KEKS must be set in production (see README: encryption at rest)")
    key_file = settings.DATA_DIR / "kek"
    if not key_file.exists():
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("k1:" + base64.b64encode(secrets.token_bytes(32)).decode())
    return _parse_keks(key_file.read_text())


def wrap_data_key(data_key: bytes, aad: str) -> tuple[str, bytes]:
    keks = key_encryption_keys()
    return keks.current_id, encrypt(keks.keys[keks.current_id], data_key, aad)


def unwrap_data_key(kek_id: str, wrapped: bytes, aad: str) -> bytes:
    keks = key_encryption_keys()
    if kek_id not in keks.keys:
        raise ImproperlyConfigured(f"key-encryption key {kek_id!r} is not configured in VULNDESK_KEKS")
    return decrypt(keks.keys[kek_id], wrapped, aad)
