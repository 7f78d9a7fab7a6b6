"""Encrypted, chunked file storage outside the web root (``ATTACHMENT_ROOT``).

Each file is a series of records ``<4-byte length><nonce + AES-GCM(chunk)>``, one per MiB,
with associated data ``<aad>:<index>:<last?>``: chunks cannot be reordered, swapped between
files, or the file truncated without decryption failing. Memory stays at one chunk whatever
the file size.
"""

import os
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from vulndesk.core import crypto

CHUNK = 1024 * 1024
_LENGTH = struct.Struct(">I")


def new_storage_key() -> str:
    return secrets.token_hex(16)  # 128 bits, our name, never the uploader's


def _path(storage_key: str) -> Path:
    if len(storage_key) != 32 or not all(c in "0123456789abcdef" for c in storage_key):
        raise ValueError("bad storage key")
    return Path(settings.ATTACHMENT_ROOT) / storage_key[:2] / storage_key


def write_encrypted(*, storage_key: str, source, key: bytes, aad: str) -> None:
    path = _path(storage_key)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".partial")
    source.seek(0)
    with open(temporary, "wb") as out:
        index, chunk = 0, source.read(CHUNK)
        while True:
            following = source.read(CHUNK) if chunk else b""
            last = not following
            blob = crypto.encrypt(key, chunk, f"{aad}:{index}:{int(last)}")
            out.write(_LENGTH.pack(len(blob)) + blob)
            if last:
                break
            index, chunk = index + 1, following
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)  # atomic: a crash leaves no half file under the real name


def read_decrypted(*, storage_key: str, key: bytes, aad: str) -> Iterator[bytes]:
    with open(_path(storage_key), "rb") as handle:
        index = 0
        while header := handle.read(_LENGTH.size):
            (length,) = _LENGTH.unpack(header)
            blob = handle.read(length)
            at_end = handle.peek(1)[:1] == b"" if hasattr(handle, "peek") else False
            yield crypto.decrypt(key, blob, f"{aad}:{index}:{int(at_end)}")
            index += 1


def delete(storage_key: str) -> None:
    _path(storage_key).unlink(missing_ok=True)
