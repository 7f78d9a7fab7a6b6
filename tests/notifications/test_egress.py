"""The SSRF guard for webhook URLs (ASVS V1.3.6): a table of refusals, DNS answers through an
injected resolver (never real DNS, never a mock of our code), and what is allowed."""

import logging

import pytest

from vulndesk.core.egress import address_refusal
from vulndesk.notifications.egress import UnsafeWebhookURL, webhook_target

PUBLIC = "93.184.215.14"


def resolver_for(*answers):
    """A resolver that answers every name with ``answers`` and records the questions."""
    asked = []

    def resolve(host, port):
        asked.append((host, port))
        return list(answers)

    resolve.asked = asked
    return resolve


def no_dns(host, port):
    raise AssertionError(f"{host} must not be resolved")


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook",
    "https://[::1]/hook",
    "https://2130706433/hook",  # 127.0.0.1 as one decimal number
    "https://0x7f.1/hook",  # 127.0.0.1 in inet_aton's hex short form
    "https://0177.0.0.1/hook",  # octal
    "https://127.1/hook",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://[::ffff:10.0.0.1]/hook",  # IPv4-mapped private
    "https://[::ffff:127.0.0.1]/hook",
    "https://[64:ff9b::7f00:1]/hook",  # NAT64 form of 127.0.0.1 (is_global says True on 3.11.7)
    "https://[2002:7f00:1::]/hook",  # 6to4 form of 127.0.0.1
    "https://[::127.0.0.1]/hook",  # IPv4-compatible
    "https://[fd00:ec2::254]/hook",  # AWS IPv6 metadata, unique local
    "https://[fe80::1]/hook",
    "https://10.0.0.5/hook",
    "https://172.16.3.4/hook",
    "https://192.168.1.1/hook",
    "https://100.100.100.200/hook",  # shared address space (Alibaba metadata)
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://255.255.255.255/hook",
])
def test_non_public_addresses_are_refused(url):
    with pytest.raises(UnsafeWebhookURL):
        webhook_target(url, resolver=no_dns, allow_loopback=False)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://hooks.example.com/hook", "https"),
    ("ftp://hooks.example.com/hook", "https"),
    ("https://user:pass@hooks.example.com/hook", "user name or password"),
    ("https://hooks.example.com@10.0.0.5/hook", "user name or password"),
    ("https://hooks.example.com:22/hook", "port 443 or 8443"),
    ("https://hooks.example.com:8080/hook", "port 443 or 8443"),
    ("https://hooks.example.com:99999/hook", "not a valid URL"),
    ("https://intranet/hook", "fully qualified"),
    ("https://localhost/hook", "fully qualified"),
    ("https://api.localhost/hook", "localhost"),
    ("https://hooks.example.com/a b", "spaces"),
    ("https://hooks.example.com/\r\nX-Injected: 1", "spaces"),
    ("https://hööks.example.com/", "non-ASCII"),
    ("https://hooks.example.com/#frag", "fragment"),
    ("https://[fe80::1%25eth0]/hook", "Scoped"),
    ("https:///hook", "no host"),
    ("https://" + "a" * 2000 + ".example.com/", "at most"),
    ("", "https URL"),
])
def test_malformed_or_disallowed_urls_are_refused_with_a_reason(url, reason):
    with pytest.raises(UnsafeWebhookURL, match=reason):
        webhook_target(url, resolver=resolver_for(PUBLIC), allow_loopback=False)


def test_a_name_that_resolves_to_a_private_address_is_refused():
    resolver = resolver_for("10.0.0.5")
    with pytest.raises(UnsafeWebhookURL, match="10.0.0.5"):
        webhook_target("https://hooks.example.com/hook", resolver=resolver, allow_loopback=False)
    assert resolver.asked == [("hooks.example.com", 443)]


def test_a_name_with_one_public_and_one_private_answer_is_refused():
    with pytest.raises(UnsafeWebhookURL):
        webhook_target("https://hooks.example.com/", resolver=resolver_for(PUBLIC, "fd00::1"), allow_loopback=False)


def test_a_name_that_does_not_resolve_is_refused():
    def fails(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(UnsafeWebhookURL, match="cannot be resolved"):
        webhook_target("https://nowhere.example.com/", resolver=fails, allow_loopback=False)
    with pytest.raises(UnsafeWebhookURL, match="cannot be resolved"):
        webhook_target("https://nowhere.example.com/", resolver=resolver_for(), allow_loopback=False)


def test_a_rebinding_name_is_refused_at_the_second_check():
    answers = iter([[PUBLIC], ["127.0.0.1"]])

    def rebinding(host, port):
        return next(answers)

    first = webhook_target("https://hooks.example.com/hook", resolver=rebinding, allow_loopback=False)
    assert first.addresses == (PUBLIC,)
    with pytest.raises(UnsafeWebhookURL, match="127.0.0.1"):
        webhook_target("https://hooks.example.com/hook", resolver=rebinding, allow_loopback=False)


def test_a_public_name_gives_the_checked_addresses_to_connect_to_and_the_name_for_tls():
    target = webhook_target("https://Hooks.Example.com:8443/v1/hook?x=1", resolver=resolver_for(PUBLIC, PUBLIC,
                                                                                                 "2606:4700::1111"),
                            allow_loopback=False)
    assert target.host == "hooks.example.com"
    assert target.port == 8443
    assert target.path == "/v1/hook?x=1"
    assert target.addresses == (PUBLIC, "2606:4700::1111")
    assert target.host_header == "hooks.example.com:8443"


def test_public_address_literals_are_allowed_only_in_their_canonical_form():
    assert webhook_target(f"https://{PUBLIC}/", resolver=no_dns, allow_loopback=False).addresses == (PUBLIC,)
    with pytest.raises(UnsafeWebhookURL, match="four decimal numbers"):
        webhook_target("https://134744072/", resolver=no_dns, allow_loopback=False)  # 8.8.8.8


def test_the_loopback_setting_opens_loopback_only_and_only_when_asked():
    assert webhook_target("https://127.0.0.1:8123/", resolver=no_dns, allow_loopback=True).port == 8123
    with pytest.raises(UnsafeWebhookURL):
        webhook_target("https://10.0.0.5:8123/", resolver=no_dns, allow_loopback=True)
    with pytest.raises(UnsafeWebhookURL):
        webhook_target("https://169.254.169.254/", resolver=no_dns, allow_loopback=True)
    with pytest.raises(UnsafeWebhookURL):
        webhook_target(f"https://{PUBLIC}:8123/", resolver=no_dns, allow_loopback=True)  # public: port rule holds


def test_the_loopback_setting_is_off_by_default(settings):
    assert not hasattr(settings, "NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_FOR_TESTS")
    with pytest.raises(UnsafeWebhookURL):
        webhook_target("https://127.0.0.1/", resolver=no_dns)


@pytest.mark.parametrize(("address", "allowed"), [
    (PUBLIC, True), ("2606:4700::1111", True), ("::ffff:93.184.215.14", True),
    ("64:ff9b::5db8:d70e", False), ("2002:5db8:d70e::1", False), ("2001:0::1", False),
    ("198.18.0.1", False), ("192.0.0.9", False), ("not-an-address", False),
])
def test_address_rules(address, allowed):
    assert (address_refusal(address) is None) is allowed


def test_each_refusal_is_logged_as_a_security_event_without_the_url(caplog):
    with caplog.at_level(logging.WARNING, logger="vulndesk.notifications.egress"):
        with pytest.raises(UnsafeWebhookURL):
            webhook_target("https://169.254.169.254/token=s3cr3t", resolver=no_dns, allow_loopback=False)
    [record] = caplog.records
    assert record.security_event == "ssrf_refused"
    assert "s3cr3t" not in record.getMessage()
