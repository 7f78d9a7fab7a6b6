"""Addresses, Message-IDs and header text as the mail intake reads and writes them. Pure.

Intake addresses are ``<local>@<domain>`` with optional RFC 5233 sub-addressing:
``security+<product-slug>@…`` files into one product, ``security+r-<token>@…`` is the reply
address of one report. Everything that goes into an outgoing header passes ``one_line`` (no
line breaks or other control characters, ASVS V1.3.11); Django's ``EmailMessage`` refuses any
header that still contains one.
"""

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

ADDRESS_MAX_CHARS = 254  # RFC 5321 path limit
REPLY_TAG_PREFIX = "r-"
# A Message-ID as RFC 5322 section 3.6.4 writes it: "<" id-left "@" id-right ">". Bounded, so a
# hostile References header cannot make us store or echo kilobytes.
_MESSAGE_ID = re.compile(r"<([^<>\s@]{1,200}@[^<>\s@]{1,200})>")
MESSAGE_IDS_MAX = 30
_LOCAL_PART = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")


class InvalidAddress(ValueError):
    pass


@dataclass(frozen=True)
class RecipientParts:
    local: str  # lower case, without the +tag
    tag: str  # the sub-address after "+", lower case, "" when none
    domain: str  # lower case


def recipient_parts(address: str) -> RecipientParts | None:
    """Split an envelope recipient into base local part, tag and domain, or None if it is not
    an address we could ever hold (quoted local parts, IP literals, over-long)."""
    address = (address or "").strip().lower()
    if not address or len(address) > ADDRESS_MAX_CHARS or address.count("@") != 1:
        return None
    local, domain = address.split("@")
    base, _, tag = local.partition("+")
    if not _LOCAL_PART.match(base) or not _DOMAIN.match(domain):
        return None
    if tag and not re.fullmatch(r"[a-z0-9._-]{1,80}", tag):
        return None
    return RecipientParts(local=base, tag=tag, domain=domain)


def local_part_check(value: str) -> str:
    value = (value or "").strip().lower()
    if not _LOCAL_PART.match(value):
        raise InvalidAddress("Use letters, digits, dots, dashes or underscores (no '+'), e.g. security.")
    return value


def domain_check(value: str) -> str:
    value = (value or "").strip().lower().rstrip(".")
    if not _DOMAIN.match(value):
        raise InvalidAddress("Give a domain name such as example.org.")
    return value


def address_normalise(text: str) -> str:
    """A reporter's address as we store and answer it, or ``InvalidAddress``: no display name,
    no control, separator or space characters, a valid address, domain in lower case."""
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


def same_address(first: str, second: str) -> bool:
    # Local parts are case-sensitive in theory and case-insensitive at every provider in
    # practice; a reporter writing from "Alice@" and "alice@" is one person.
    return bool(first) and bool(second) and first.strip().casefold() == second.strip().casefold()


def one_line(text: str, limit: int = 200) -> str:
    """Text safe for a header or a title: no control, format (bidi) or line/paragraph separator
    characters, no lone surrogates, whitespace collapsed, bounded."""
    cleaned = "".join(" " if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp", "Cs"} else char
                      for char in text or "")
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def message_ids(text: str) -> list[str]:
    """The Message-IDs in a Message-ID, In-Reply-To or References header value, in order,
    de-duplicated, at most ``MESSAGE_IDS_MAX`` (the most recent ones)."""
    found = list(dict.fromkeys(f"<{match}>" for match in _MESSAGE_ID.findall(text or "")))
    return found[-MESSAGE_IDS_MAX:]


def message_id_hash(message_id: str) -> str:
    """Lookup key of a Message-ID (the id itself is stored sealed)."""
    return hashlib.sha256(message_id.strip().encode("utf-8", "surrogatepass")).hexdigest()


def reply_address(*, local: str, domain: str, token: str) -> str:
    return f"{local}+{REPLY_TAG_PREFIX}{token}@{domain}"
