"""The two secrets in subscription links.

- Confirmation (double opt-in): 256 random bits, mailed once; only the SHA-256 hash is
  stored, so a database leak confirms nobody. A new confirmation mail makes a new token.
- Unsubscribe: every notification mail carries a link (and RFC 8058 headers), so the token
  must be re-creatable for each mail without storing it: a ``django.core.signing`` value with
  its own salt (ASVS V9.2.1), binding the subscriber id to a prefix of the address hash, so a
  reused id cannot be unsubscribed with an old link. It never expires: an unsubscribe link
  in an old mail must keep working.
"""

import hashlib
import hmac
import secrets

from django.core import signing

UNSUBSCRIBE_SALT = "vulndesk.notifications.unsubscribe"


def confirmation_token_new() -> str:
    return secrets.token_urlsafe(32)


def confirmation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def unsubscribe_token(*, subscriber_id: int, address_hash: str) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(f"{subscriber_id}.{address_hash[:16]}")


def unsubscribe_token_read(token: str) -> tuple[int, str] | None:
    """(subscriber id, address hash prefix), or None for anything not signed by us."""
    try:
        value = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    subscriber_id, _, prefix = value.partition(".")
    if not subscriber_id.isdigit() or len(prefix) != 16:
        return None
    return int(subscriber_id), prefix


def prefix_matches(address_hash: str, prefix: str) -> bool:
    return hmac.compare_digest(address_hash[:16], prefix)
