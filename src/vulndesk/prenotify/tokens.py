"""Embargo link tokens: 256 bits from ``secrets``, URL-safe, and only their SHA-256 is stored
(the same scheme as reporters' tracking links, reports/tokens.py), so a leaked database opens
no embargoed draft. The lookup is by hash through a unique index, so timing reveals at most a
prefix of a hash, never of a token."""

import re

from vulndesk.reports.tokens import tracking_token_hash, tracking_token_new

# token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def embargo_token_new() -> str:
    return tracking_token_new()


def embargo_token_hash(token: str) -> str:
    return tracking_token_hash(token)


def embargo_token_well_formed(token: str) -> bool:
    """Anything else is refused before the database is asked."""
    return isinstance(token, str) and bool(_SHAPE.fullmatch(token))
