"""Per-report reply addresses: ``security+r-<token>@<domain>``.

The token is an HMAC of a random per-thread salt under a key derived from the organisation's
search key (stable across data-key rotations), 120 bits in lower-case base32 (mail systems may
lower-case local parts). Only its SHA-256 is stored, for lookup; we recompute the token when we
write a mail, so a leaked database reveals no reply address.
"""

import base64
import hashlib
import hmac
import secrets

from vulndesk.organisations import keys

TOKEN_CHARS = 24


def reply_salt_new() -> str:
    return secrets.token_hex(16)


def reply_token(*, organisation_id: int, salt: str) -> str:
    key = hmac.new(keys.search_key(organisation_id), b"vulndesk mail reply address v1", hashlib.sha256).digest()
    digest = hmac.new(key, salt.encode(), hashlib.sha256).digest()[:15]
    return base64.b32encode(digest).decode().lower()


def reply_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
