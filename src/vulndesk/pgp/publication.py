"""Where the organisation's public key is published, and the Web Key Directory rules.

* ``/advisories/<organisation>/pgp-key.txt``: the armored key, under the public site's URL
  scheme; security.txt's ``Encryption:`` field points here (RFC 9116 section 2.5.4).
* WKD, direct method (draft-koch-openpgp-webkey-service section 3.1): a mail client looking up
  ``security@example.org`` fetches ``https://example.org/.well-known/openpgpkey/hu/<hash>?l=security``,
  where ``<hash>`` is the z-base-32 encoded SHA-1 of the lower-cased local part. vulndesk answers
  for the organisation the host name serves (as for ``/.well-known/security.txt``), with the
  binary key, when the key has a user ID with that address on that domain.
"""

import base64
import hashlib
import re

from django.conf import settings
from django.urls import reverse

from vulndesk.organisations.models import Organisation
from vulndesk.pgp import selectors

_ZBASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "ybndrfg8ejkmcpqxot1uwisza345h769")
_ADDRESS = re.compile(r"<([^<>@\s]+)@([^<>@\s]+)>\s*$")


def public_key_url(organisation: Organisation) -> str | None:
    """The absolute URL of the organisation's published key, or None without an active key."""
    if selectors.organisation_key_active(organisation=organisation) is None:
        return None
    path = reverse("pgp:public_key", kwargs={"organisation": organisation.slug})
    return settings.SITE_URL.rstrip("/") + path


def wkd_hash(local_part: str) -> str:
    """z-base-32 of SHA-1 of the lower-cased local part (the draft's section 3.1)."""
    digest = hashlib.sha1(local_part.lower().encode("utf-8"), usedforsecurity=False).digest()
    return base64.b32encode(digest).decode().rstrip("=").translate(_ZBASE32)


def wkd_addresses(user_id: str) -> tuple[str, str] | None:
    """(local part, domain) of the address in a user ID such as ``Team <security@example.org>``."""
    found = _ADDRESS.search(user_id or "")
    return (found.group(1), found.group(2).lower().rstrip(".")) if found else None


def wkd_matches(*, user_id: str, hostname: str, hashed_local_part: str) -> bool:
    address = wkd_addresses(user_id)
    return address is not None and address[1] == hostname.lower() and wkd_hash(address[0]) == hashed_local_part


def binary_key(armored: str) -> bytes:
    """The binary (unarmored) key WKD serves: the base64 body of the armor, without its CRC line."""
    lines = armored.strip().splitlines()
    body = [line for line in lines[1:-1] if line and not line.startswith("=") and ":" not in line]
    return base64.b64decode("".join(body))
