"""The shape rules for what goes into CVE Services' URL and headers, and for CVE IDs. Pure."""

import pytest

from vulndesk.cve.rules import (
    InvalidCnaSetting,
    InvalidCveId,
    api_key_clean,
    cve_id_clean,
    endpoint_url_clean,
    short_name_clean,
)


@pytest.mark.parametrize(("value", "expected"), [
    ("https://cveawg.mitre.org/api/", "https://cveawg.mitre.org/api/"),
    ("https://cveawg-test.mitre.org/api", "https://cveawg-test.mitre.org/api/"),  # cvelib joins paths onto a "/"
    ("  HTTPS://CVEAWG.MITRE.ORG/api/ ", "https://cveawg.mitre.org/api/"),
    ("http://127.0.0.1:8123/api/", "http://127.0.0.1:8123/api/"),
    ("http://[::1]:8123/api/", "http://[::1]:8123/api/"),
    ("http://localhost:8123/api", "http://localhost:8123/api/"),
])
def test_endpoint_urls_that_are_accepted(value, expected):
    assert endpoint_url_clean(value) == expected


@pytest.mark.parametrize("value", [
    "http://cveawg.mitre.org/api/",            # plain http to a remote host
    "http://10.0.0.5/api/",                    # private, not loopback
    "http://127.0.0.1.evil.example/api/",      # looks like loopback, is a name
    "ftp://cveawg.mitre.org/api/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "https://user:secret@cveawg.mitre.org/api/",
    "https://cveawg.mitre.org/api/?key=1",
    "https://cveawg.mitre.org/api/#x",
    "https://cveawg.mitre.org/api/\r\nX-Injected: 1",
    "https://cveawg.mitre.org:0/api/",
    "https://cveawg.mitre.org:99999/api/",
    "cveawg.mitre.org/api/",
    "",
    "https://" + "a" * 300 + ".example/",
])
def test_endpoint_urls_that_are_refused(value):
    with pytest.raises(InvalidCnaSetting) as raised:
        endpoint_url_clean(value)
    assert raised.value.field == "endpoint_url"


@pytest.mark.parametrize("value", ["acme", "GitHub_M", "@huntrdev", "redhat", "a-b.c"])
def test_short_names_as_cve_services_has_them(value):
    assert short_name_clean(value) == value


@pytest.mark.parametrize("value", ["a", "acme/../org", "acme?x=1", "acme corp", "ac\r\nme", "ü-cna", "x" * 33, ""])
def test_short_names_that_would_change_the_url_or_a_header_are_refused(value):
    with pytest.raises(InvalidCnaSetting):
        short_name_clean(value)


@pytest.mark.parametrize("value", ["short", "has space inside", "line\nbreak", "tab\tkey-value", "ключ-ключ-ключ"])
def test_api_keys_with_spaces_control_characters_or_non_ascii_are_refused(value):
    with pytest.raises(InvalidCnaSetting):
        api_key_clean(value)


def test_a_printable_api_key_is_kept_exactly():
    assert api_key_clean("a8F!k2-@~Zq9") == "a8F!k2-@~Zq9"


@pytest.mark.parametrize(("value", "expected"), [
    ("CVE-2026-0001", "CVE-2026-0001"),
    ("CVE-2026-12345", "CVE-2026-12345"),
    ("cve-2014-9999", "CVE-2014-9999"),
    (" CVE-1999-0001 ", "CVE-1999-0001"),
    ("CVE-2027-1000000", "CVE-2027-1000000"),  # next year is allowed (reserved in December)
])
def test_cve_ids_that_are_accepted(value, expected):
    assert cve_id_clean(value, current_year=2026) == expected


@pytest.mark.parametrize("value", [
    "CVE-2026-123", "CVE-2026-01234", "CVE-2028-1234", "CVE-1998-1234", "CVE-2026-1234X", "XCVE-2026-1234",
    "CVE-2026-１２３４", "CVE-٢٠٢٦-1234", "CVE_2026_1234", "CVE-2026-\n1234", "CVE-2026-1234\x00",
    "CVE-2026-1234<img src=x onerror=alert(1)>", "CVE-2026-999999999999", None,
])
def test_cve_ids_that_are_refused(value):
    with pytest.raises(InvalidCveId) as raised:
        cve_id_clean(value, current_year=2026)
    assert raised.value.field == "cve_id"
