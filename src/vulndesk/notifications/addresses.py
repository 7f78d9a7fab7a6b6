"""E-mail addresses of subscribers and reporters: checking, the keyed hash, safe header text.

The hash keeps "one subscription per address" without storing the address in clear: an
HMAC-SHA256 under a key derived from the organisation's search key (itself derived from its
first data key, so it survives key rotation). Per organisation, so the same person's rows in
two organisations cannot be linked, and useless without the key-encryption key.
"""

import hashlib
import hmac
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from vulndesk.organisations import keys

ADDRESS_MAX_CHARS = 254  # RFC 5321 path limit


class InvalidAddress(ValueError):
    pass


def address_normalise(text: str) -> str:
    """The address as we store and send it, or ``InvalidAddress``. No display names, no line
    breaks or other control characters (SMTP header injection, ASVS V1.3.11)."""
    address = (text or "").strip()
    if not address or len(address) > ADDRESS_MAX_CHARS:
        raise InvalidAddress("empty or too long")
    if any(unicodedata.category(char)[0] in {"C", "Z"} for char in address):
        raise InvalidAddress("control, separator or space characters")
    try:
        validate_email(address)
    except ValidationError:
        raise InvalidAddress("not an e-mail address") from None
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def address_hash(*, organisation_id: int, address: str) -> str:
    key = hmac.new(keys.search_key(organisation_id), b"vulndesk subscriber address v1", hashlib.sha256).digest()
    # Case-folded as a whole: providers treat local parts case-insensitively in practice, and
    # one person typing their address twice in different case must not get two mails.
    return hmac.new(key, address.casefold().encode(), hashlib.sha256).hexdigest()


def one_line(text: str, limit: int = 200) -> str:
    """Text safe for a mail header or subject: no control, format (bidi) or line/paragraph
    separator characters, whitespace collapsed, bounded."""
    cleaned = "".join(" " if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} else char for char in text or "")
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
