"""Pure checks for what we send to CVE Services or store as a CVE ID. No database, no network.

The endpoint, short name, user and key end up in a URL path or in HTTP headers (cvelib joins
``org/<short name>`` onto the endpoint without escaping), so each is held to a strict shape
here rather than trusted to be escaped later.
"""

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from vulndesk.core.errors import DomainError

KNOWN_ENDPOINTS = {
    "https://cveawg.mitre.org/api/": "production",
    "https://cveawg-test.mitre.org/api/": "test",
    "https://cveawg-dev.mitre.org/api/": "development",
}
# Short names seen at CVE Services: letters, digits, "_", "-", "." and a leading "@" (e.g. @huntrdev).
_SHORT_NAME = re.compile(r"@?[A-Za-z0-9][A-Za-z0-9_.-]{1,31}", re.ASCII)
_API_KEY = re.compile(r"[\x21-\x7e]{8,200}", re.ASCII)  # printable ASCII, no spaces or control characters
# CVE-YYYY-NNNN: four digits, or more without a leading zero (CVE ID syntax since 2014).
_CVE_ID = re.compile(r"CVE-(?P<year>[0-9]{4})-(?P<number>[0-9]{4}|[1-9][0-9]{4,10})", re.ASCII)
FIRST_CVE_YEAR = 1999


class InvalidCnaSetting(DomainError):
    code = "invalid_cna_setting"


class InvalidCveId(DomainError):
    code = "invalid_cve_id"


def endpoint_url_clean(value: str) -> str:
    """The CVE Services API base as cvelib needs it (ending in "/"). https only, except http to a
    loopback address, which is how tests reach their local CVE Services."""
    text = (value or "").strip()
    if not text or len(text) > 300 or any(c.isspace() or ord(c) < 0x20 for c in text):
        raise InvalidCnaSetting("Give the CVE Services API address, e.g. https://cveawg.mitre.org/api/.",
                                field="endpoint_url")
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        if parts.port == 0:  # .port raises ValueError on a malformed port
            raise ValueError("port 0")
    except ValueError:
        raise InvalidCnaSetting("That is not a valid address.", field="endpoint_url") from None
    if parts.scheme not in {"https", "http"} or not host:
        raise InvalidCnaSetting("The address must start with https://.", field="endpoint_url")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise InvalidCnaSetting("The address may not contain credentials, a query or a fragment; the API key "
                                "has its own field.", field="endpoint_url")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidCnaSetting("CVE Services must be reached over https (plain http only to a loopback "
                                "address, for testing).", field="endpoint_url")
    netloc = parts.netloc.lower()
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def short_name_clean(value: str) -> str:
    text = (value or "").strip()
    if not _SHORT_NAME.fullmatch(text):
        raise InvalidCnaSetting("The CNA short name is 2-32 letters, digits, '_', '-' or '.', as CVE Services "
                                "shows it (e.g. acme or @acme_psirt).", field="short_name")
    return text


def api_key_clean(value: str) -> str:
    text = value or ""
    if not _API_KEY.fullmatch(text):
        raise InvalidCnaSetting("The API key is 8-200 printable characters without spaces, as CVE Services "
                                "issued it.", field="api_key")
    return text


def cve_id_clean(value: str, *, current_year: int) -> str:
    """A CVE ID typed by a person (``CVE-2026-12345``), normalised to upper case, or InvalidCveId.
    ASCII digits only: other scripts' digits, spaces inside, markup or trailing text are refused."""
    text = (value or "").strip()
    if len(text) > 20:
        raise InvalidCveId("A CVE ID looks like CVE-2026-12345.", field="cve_id")
    candidate = "CVE-" + text[4:] if text[:4].upper() == "CVE-" else text
    match = _CVE_ID.fullmatch(candidate)
    if match is None:
        raise InvalidCveId("A CVE ID looks like CVE-2026-12345: CVE, the year and at least four digits "
                           "(more than four without a leading zero).", field="cve_id")
    year = int(match["year"])
    if not FIRST_CVE_YEAR <= year <= current_year + 1:
        raise InvalidCveId(f"{year} is not a year CVE IDs are assigned for ({FIRST_CVE_YEAR}-{current_year + 1}).",
                           field="cve_id")
    return candidate
