"""security.txt (RFC 9116) for an organisation. Pure, apart from the hook registry.

Field rules kept here (RFC 9116 section 2.5): Contact at least once, in order of preference;
Expires exactly once, an RFC 3339 time; Preferred-Languages at most once; Canonical lists every
URI the file is served from, so a reader can tell a copy on another host is not authoritative.
Lines are ``Field: value``; comments start with "#".
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vulndesk.organisations.models import Organisation

# Hook for the e-mail intake work: a provider returns the https URL of the organisation's
# public OpenPGP key (RFC 9116 section 2.5.4 "Encryption"), or None when it has none.
# Register one in an AppConfig.ready(): ``ENCRYPTION_KEY_URL_PROVIDERS.append(pgp_key_url)``.
ENCRYPTION_KEY_URL_PROVIDERS: list[Callable[[Organisation], str | None]] = []


def encryption_key_urls(organisation: Organisation) -> list[str]:
    urls = []
    for provider in ENCRYPTION_KEY_URL_PROVIDERS:
        url = provider(organisation)
        if url and url not in urls:
            urls.append(url)
    return urls


def security_txt_expires(now: datetime) -> datetime:
    """The start of today (UTC) plus 365 days: a year ahead, never more than a year from now
    (RFC 9116 section 2.5.5 recommends less than a year, so a forgotten file goes stale
    loudly), and the same all day long, so caches and diffs stay quiet."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=365)


@dataclass(frozen=True)
class SecurityTxt:
    organisation_name: str
    contacts: list[str]  # URIs (https://, mailto:), most preferred first
    expires: datetime
    encryption: list[str]
    acknowledgments: list[str]
    preferred_languages: list[str]
    canonical: list[str]
    policy: list[str]


def _clean(value: str) -> str:
    # A field value is one line: nothing an organisation typed may start a field of its own.
    return "".join(c for c in value if c.isprintable() and c not in "\r\n\u2028\u2029").strip()


def security_txt_render(txt: SecurityTxt) -> str:
    lines = [f"# Security contact information for {_clean(txt.organisation_name)}.",
             "# Please report vulnerabilities privately; see Policy for what we promise and when.", ""]
    lines += [f"Contact: {_clean(uri)}" for uri in txt.contacts]
    lines.append(f"Expires: {txt.expires.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    lines += [f"Encryption: {_clean(uri)}" for uri in txt.encryption]
    lines += [f"Acknowledgments: {_clean(uri)}" for uri in txt.acknowledgments]
    if txt.preferred_languages:
        lines.append(f"Preferred-Languages: {', '.join(_clean(tag) for tag in txt.preferred_languages)}")
    lines += [f"Canonical: {_clean(uri)}" for uri in txt.canonical]
    lines += [f"Policy: {_clean(uri)}" for uri in txt.policy]
    return "\n".join(lines) + "\n"
