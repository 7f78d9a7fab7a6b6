"""Webhook signatures: ``X-Vulndesk-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``.

The MAC covers ``f"{t}.{body}"``, so a receiver that rejects old ``t`` (we suggest five
minutes) also rejects replays. During a secret rotation the header carries one ``v1`` per valid
secret (new first); a receiver accepts the request if any of them matches its secret.
Secrets are 256 random bits (``secrets.token_urlsafe(32)``) with a ``whsec_`` prefix, so that
secret scanners recognise a leaked one.
"""

import hashlib
import hmac
import secrets

HEADER = "X-Vulndesk-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a recognisable prefix, not a secret)


def webhook_secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(*, secrets_in_use: list[str], timestamp: int, body: bytes) -> str:
    macs = [f"v1={signature(secret=secret, timestamp=timestamp, body=body)}" for secret in secrets_in_use if secret]
    return ",".join([f"t={timestamp}", *macs])
