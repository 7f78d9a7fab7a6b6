"""The IMAP poller is not a server-side request forgery tool (ASVS V1.3.6): an organisation's
owner chooses the host, the vulndesk server connects, so only public addresses are reached unless
the operator allowed a network (``MAIL_INTAKE_IMAP_ALLOWED_NETWORKS``). Checked when the mailbox
is saved (form), and again at every connection (test connection, poll), where the socket goes to
the checked address and TLS still verifies the configured name.

The test settings allow loopback for the test dovecot; these tests empty the list to see the
refusal. A listening socket on loopback proves that a refused session connects nowhere. The
resolver is a parameter, so a name's answers (mixed, rebinding) are chosen without DNS."""

import select
import socket
from contextlib import contextmanager

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.factories.core import verified_login
from tests.mailintake.conftest import mail, wire
from tests.mailintake.dovecot import PASSWORD
from vulndesk.core.errors import DomainError
from vulndesk.mailintake import imap
from vulndesk.mailintake.imap import ImapProblem, ImapSession, ImapTarget
from vulndesk.mailintake.models import ImapMailbox, ImapPollResult
from vulndesk.mailintake.services import (
    MailboxSettings,
    imap_mailbox_add,
    imap_mailbox_check,
    imap_mailbox_poll,
)
from vulndesk.reports.models import Report

PUBLIC = "93.184.216.34"
NO_ALLOWANCE = ()


def answers(*addresses):
    def resolver(host, port):
        return list(addresses)
    return resolver


def no_dns(host, port):
    raise AssertionError("a literal address must not be resolved")


@contextmanager
def listening_on_loopback():
    """A TCP socket listening on 127.0.0.1; ``connected()`` says whether anyone connected (the
    kernel completes the handshake into the backlog, so no accept() is needed to see it)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)

    def connected() -> bool:
        readable, _, _ = select.select([server], [], [], 0.2)
        return bool(readable)

    try:
        yield server.getsockname()[1], connected
    finally:
        server.close()


# --- the rule, address by address ----------------------------------------------------------------

@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "169.254.169.254", "10.0.0.1", "172.16.5.4",
    "192.168.1.1", "100.64.0.1", "0.0.0.0", "::", "224.0.0.1", "240.0.0.1", "255.255.255.255", "fd00::1",
    "fe80::1", "ff02::1", "64:ff9b::7f00:1", "2002:7f00:1::", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "198.18.0.1", "192.0.2.1",
])
def test_an_internal_or_special_address_is_refused_without_an_allowance(host):
    with pytest.raises(imap.ImapDestinationRefused) as refused:
        imap.destination_addresses(host, 993, allowed=NO_ALLOWANCE, resolver=no_dns)
    assert refused.value.field == "host"
    assert "not on the public internet" in refused.value.message
    assert "MAIL_INTAKE_IMAP_ALLOWED_NETWORKS" in refused.value.message


def test_a_public_address_is_connected_to_as_it_is():
    assert imap.destination_addresses(PUBLIC, 993, allowed=NO_ALLOWANCE, resolver=no_dns) == (PUBLIC,)
    assert imap.destination_addresses("2606:4700::1111", 993, allowed=NO_ALLOWANCE,
                                      resolver=no_dns) == ("2606:4700::1111",)


def test_localhost_is_refused_as_the_system_resolves_it():
    with pytest.raises(imap.ImapDestinationRefused, match="localhost resolves to an address that"):
        imap.destination_addresses("localhost", 993, allowed=NO_ALLOWANCE)


@pytest.mark.parametrize("resolved", [
    ["127.0.0.1"], ["10.0.0.5"], ["169.254.169.254"], ["::1"], ["fd12:3456::1"], ["::ffff:127.0.0.1"],
    [PUBLIC, "10.0.0.5"], ["10.0.0.5", PUBLIC], [PUBLIC, "fe80::1%eth0"],
])
def test_a_name_is_refused_when_any_of_its_addresses_is_internal(resolved):
    with pytest.raises(imap.ImapDestinationRefused) as refused:
        imap.destination_addresses("imap.example.org", 993, allowed=NO_ALLOWANCE, resolver=answers(*resolved))
    # The staff message names the host, not what it resolved to (no map of internal DNS).
    assert "imap.example.org resolves to an address that" in refused.value.message
    assert not any(address in refused.value.message for address in resolved)


def test_a_name_with_public_addresses_only_gives_them_in_order_without_duplicates():
    resolver = answers(PUBLIC, "2606:4700::1111", PUBLIC)
    assert imap.destination_addresses("imap.example.org", 993, allowed=NO_ALLOWANCE, resolver=resolver) == (
        PUBLIC, "2606:4700::1111")


def test_a_name_that_resolves_to_nothing_is_a_dns_failure():
    with pytest.raises(socket.gaierror):
        imap.destination_addresses("imap.example.org", 993, allowed=NO_ALLOWANCE, resolver=answers())


def test_an_allowed_network_admits_its_addresses_only():
    allowed = imap.allowed_networks(["10.20.0.0/16", "fd00:5::/64"])
    resolver = answers("10.20.3.4")
    assert imap.destination_addresses("mail.corp.example", 993, allowed=allowed, resolver=resolver) == ("10.20.3.4",)
    assert imap.destination_addresses("::ffff:10.20.3.4", 993, allowed=allowed, resolver=no_dns) == ("10.20.3.4",)
    assert imap.destination_addresses("fd00:5::9", 993, allowed=allowed, resolver=no_dns) == ("fd00:5::9",)
    for outside in ("10.21.0.1", "127.0.0.1", "169.254.169.254", "fd00:6::1"):
        with pytest.raises(imap.ImapDestinationRefused):
            imap.destination_addresses(outside, 993, allowed=allowed, resolver=no_dns)


def test_even_an_allowance_of_everything_never_admits_unspecified_or_multicast_addresses():
    allowed = imap.allowed_networks(["0.0.0.0/0", "::/0"])
    assert imap.destination_addresses("127.0.0.1", 993, allowed=allowed, resolver=no_dns) == ("127.0.0.1",)
    for never in ("0.0.0.0", "::", "224.0.0.1", "ff02::1"):
        with pytest.raises(imap.ImapDestinationRefused):
            imap.destination_addresses(never, 993, allowed=allowed, resolver=no_dns)


@pytest.mark.parametrize("entry", [
    "10.0.0.1/8", "not-a-network", "<script>alert(1)</script>", "../../etc/passwd", "10.0.0.0/33", "",
    "10.0.0.0/8; DROP TABLE x", "x" * 5000,
])
def test_a_malformed_allowance_is_a_configuration_error_naming_the_setting(entry):
    with pytest.raises(ImproperlyConfigured, match="MAIL_INTAKE_IMAP_ALLOWED_NETWORKS"):
        imap.allowed_networks([entry])


def test_the_allowance_reads_lists_single_addresses_and_comma_separated_text():
    assert [str(n) for n in imap.allowed_networks("10.0.5.0/24, 192.168.1.25,fd00:1::/64")] == [
        "10.0.5.0/24", "192.168.1.25/32", "fd00:1::/64"]
    assert imap.allowed_networks([]) == ()


@pytest.mark.parametrize("port", [0, -1, 65536, 70000, True, "993", None, 993.0, "993; DROP TABLE x"])
def test_ports_outside_the_range_or_not_whole_numbers_are_refused(port):
    with pytest.raises(imap.InvalidImapSetting) as refused:
        imap.port_check(port)
    assert refused.value.field == "port"


@pytest.mark.parametrize("port", [1, 143, 585, 993, 9993, 65535])
def test_any_port_in_range_is_allowed_as_the_address_decides(port):
    assert imap.port_check(port) == port


def test_without_tls_every_address_must_be_loopback_even_inside_an_allowed_network():
    allowed = imap.allowed_networks(["10.0.0.0/8", "127.0.0.0/8"])
    assert imap.destination_check(host="localhost", port=143, security="none", allowed=allowed,
                                  resolver=answers("127.0.0.1")) == ("127.0.0.1",)
    # "localhost" that resolves elsewhere (a poisoned hosts file, a search domain) is not loopback.
    with pytest.raises(imap.InvalidImapSetting, match="Without TLS only a server on this machine") as refused:
        imap.destination_check(host="localhost", port=143, security="none", allowed=allowed,
                               resolver=answers("10.0.0.5"))
    assert refused.value.field == "security"
    assert imap.destination_check(host="10.0.0.5", port=993, security="tls", allowed=allowed,
                                  resolver=no_dns) == ("10.0.0.5",)


def test_a_host_with_an_ipv6_zone_is_refused():
    for host in ("fe80::1%eth0", "::1%lo", "[::1%25lo]"):
        with pytest.raises(imap.InvalidImapSetting):
            imap.host_clean(host)


# --- the session: refused before any connection, rebinding included -------------------------------

def target(host: str, port: int, security: str = "starttls", **values) -> ImapTarget:
    return ImapTarget(host=host, port=port, security=security, username="u", password="p", timeout=3, **values)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::ffff:127.0.0.1"])
def test_a_session_to_loopback_without_the_allowance_connects_nowhere(settings, host):
    settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = []
    with listening_on_loopback() as (port, connected):
        with pytest.raises(ImapProblem) as refused:
            ImapSession(target(host, port, security="none"), max_bytes=1024).open()
        assert refused.value.kind == "destination"
        assert not connected()


def test_dns_rebinding_between_the_form_and_the_connection_is_refused_at_the_connection(settings):
    settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = []
    calls = []

    def rebinding(host, port):
        calls.append(host)
        return [PUBLIC] if len(calls) == 1 else ["127.0.0.1"]

    with listening_on_loopback() as (port, connected):
        # When saved, the name answered a public address...
        assert imap.destination_check(host="imap.rebind.example", port=port, security="tls",
                                      resolver=rebinding) == (PUBLIC,)
        # ...when connecting, loopback: this answer is the one checked, and refused.
        with pytest.raises(ImapProblem, match="resolves to an address that is not on the public internet"):
            ImapSession(target("imap.rebind.example", port, security="tls"), max_bytes=1024,
                        resolver=rebinding).open()
        assert not connected()
    assert calls == ["imap.rebind.example", "imap.rebind.example"]


def test_the_session_connects_to_the_checked_address_and_tls_verifies_the_configured_name(imap_account):
    """The name is resolved by our resolver only (the system cannot resolve it): reaching the
    test dovecot proves the socket went to the checked address; the certificate (for localhost
    and 127.0.0.1) then fails for the configured name, proving SNI and the check use the name."""
    certificate = imap_account.server.certificate_pem
    pinned = answers("127.0.0.1")
    with pytest.raises(ImapProblem, match="certificate is not trusted") as refused:
        ImapSession(target("imap.pinned.example", imap_account.server.tls_port, security="tls",
                           trusted_certificate=certificate), max_bytes=1024, resolver=pinned).open()
    assert "Hostname mismatch" in refused.value.message or "IP address mismatch" in refused.value.message
    # The same address under a name the certificate covers: connected and logged in.
    good = ImapTarget(host="localhost", port=imap_account.server.tls_port, security="tls",
                      username=imap_account.username, password=PASSWORD, trusted_certificate=certificate, timeout=5)
    with ImapSession(good, max_bytes=1024, resolver=pinned) as session:
        assert session.waiting_count() == 0


def test_without_tls_a_name_other_than_localhost_is_refused_even_when_it_resolves_to_loopback():
    with listening_on_loopback() as (port, connected):
        with pytest.raises(ImapProblem, match="choose TLS or STARTTLS"):
            ImapSession(target("imap.pinned.example", port, security="none"), max_bytes=1024,
                        resolver=answers("127.0.0.1")).open()
        assert not connected()


def test_a_malformed_allowance_stops_the_session_with_words_for_staff(settings):
    settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = ["10.0.0.1/8"]
    with pytest.raises(ImapProblem, match="administrator must correct MAIL_INTAKE_IMAP_ALLOWED_NETWORKS"):
        ImapSession(target(PUBLIC, 993, security="tls"), max_bytes=1024).open()


def test_a_refused_session_is_logged_as_a_security_event(settings, caplog):
    settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = []
    with pytest.raises(ImapProblem):
        ImapSession(target("10.0.0.1", 993, security="tls"), max_bytes=1024).open()
    record = next(r for r in caplog.records if r.name == "vulndesk.mailintake.imap")
    assert record.security_event == "ssrf_refused" and "10.0.0.0/8" in record.getMessage()


# --- the services and pages: form, test connection, poll status -------------------------------------

uses_db = pytest.mark.django_db(transaction=True)


def settings_for(world, **values) -> MailboxSettings:
    return MailboxSettings(**{"name": "Provider", "host": "imap.example.org", "port": 993, "security": "tls",
                              "username": "security@acme.test", "password": "app-password-1",
                              "address": world.address, **values})


@uses_db
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254", "::1", "[::1]",
                                  "::ffff:127.0.0.1", "10.0.0.1", "fd00::1", "100.64.0.1"])
def test_saving_a_mailbox_on_an_internal_host_is_refused_on_the_host_field(mail_world, settings, host):
    settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = []
    with pytest.raises(DomainError) as refused:
        imap_mailbox_add(actor=mail_world.owner, values=settings_for(mail_world, host=host))
    assert refused.value.field == "host"
    assert not ImapMailbox.objects.exists()


@uses_db
def test_a_name_that_does_not_resolve_now_is_saved_and_the_poll_says_so(mail_world, settings):
    settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = []
    mailbox = imap_mailbox_add(actor=mail_world.owner, values=settings_for(mail_world, host="imap.invalid"))
    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)
    assert (outcome.state, outcome.error) == ("failed", "The host name could not be found (DNS).")


@uses_db
def test_the_form_shows_the_refusal_on_the_host_and_saves_nothing(client, mail_world, settings, imap_account):
    from django.urls import reverse

    settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = []
    verified_login(client, mail_world.owner.user)
    add = reverse("mailintake:imap_add", kwargs={"organisation": mail_world.organisation.slug})
    data = {"name": "Internal", "address": str(mail_world.address.pk), "product": "", "host": "169.254.169.254",
            "security": "tls", "port": "993", "username": "u", "password": "p", "folder": "INBOX",
            "processed_folder": "", "trusted_certificate": "", "import_since": "", "poll_interval_minutes": "5"}
    for host in ("169.254.169.254", "127.0.0.1", "localhost", "[::1]", "10.0.0.1"):
        response = client.post(add, {**data, "host": host})
        assert response.status_code == 422
        body = response.content.decode()
        assert "not on the public internet" in body or "cannot be an IMAP server" in body
    for port in ("0", "70000", "-5", "abc", "", "99999999999999999999", "<script>"):
        assert client.post(add, {**data, "host": "imap.example.org", "port": port}).status_code == 422
    assert not ImapMailbox.objects.exists()


@uses_db
def test_test_connection_and_poll_refuse_a_host_no_longer_allowed_and_connect_nowhere(client, mail_world, settings,
                                                                                      smtp_sink):
    from django.urls import reverse

    with listening_on_loopback() as (port, connected):
        # Saved while the operator allowed loopback (the test settings do)...
        mailbox = imap_mailbox_add(actor=mail_world.owner, values=settings_for(
            mail_world, host="127.0.0.1", port=port, security="none"))
        # ...then the allowance is withdrawn: every connection checks again.
        settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = []

        with pytest.raises(DomainError, match="not on the public internet"):
            imap_mailbox_check(actor=mail_world.owner, mailbox=mailbox)
        verified_login(client, mail_world.owner.user)
        kwargs = {"organisation": mail_world.organisation.slug}
        checked = client.post(reverse("mailintake:imap_check", kwargs={**kwargs, "mailbox_id": mailbox.pk}),
                              follow=True).content.decode()
        assert "not on the public internet" in checked

        outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)
        assert outcome.state == "failed" and "not on the public internet" in outcome.error
        mailbox.refresh_from_db()
        assert mailbox.last_result == ImapPollResult.FAILED and "not on the public internet" in mailbox.last_error
        assert "not on the public internet" in client.get(reverse("mailintake:addresses", kwargs=kwargs)
                                                          ).content.decode()
        assert not connected()


@uses_db
def test_an_allowed_network_lets_the_operators_own_server_be_polled(mail_world, settings, smtp_sink, imap_account):
    settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    imap_account.append(wire(mail("From the internal server")))
    mailbox = imap_mailbox_add(actor=mail_world.owner, values=settings_for(
        mail_world, host="127.0.0.1", port=imap_account.port, security="none", username=imap_account.username,
        password=PASSWORD))

    assert imap_mailbox_check(actor=mail_world.owner, mailbox=mailbox).waiting == 1
    assert imap_mailbox_poll(mailbox_id=mailbox.pk).imported == 1
    assert Report.objects.get().title == "From the internal server"


@uses_db
def test_a_malformed_allowance_refuses_saving_with_words_for_staff(mail_world, settings):
    settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = ["10.0.0.0/8", "<script>"]
    with pytest.raises(DomainError, match="administrator must correct") as refused:
        imap_mailbox_add(actor=mail_world.owner, values=settings_for(mail_world, host="10.1.2.3"))
    assert refused.value.field == "host"
    assert not ImapMailbox.objects.exists()


@pytest.mark.parametrize("value, errors", [
    ([], []),
    (["10.0.5.0/24", "fd00:5::/64"], []),
    (["10.0.5.1/24"], ["mailintake.E001"]),  # host bits set: a typo, not silently widened
    (["<script>"], ["mailintake.E001"]),
])
def test_a_bad_allowed_networks_setting_is_named_when_vulndesk_starts(settings, value, errors):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from vulndesk.mailintake.checks import imap_allowed_networks_check

    settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = value
    assert [error.id for error in imap_allowed_networks_check()] == errors
    if errors:
        with pytest.raises(SystemCheckError, match="MAIL_INTAKE_IMAP_ALLOWED_NETWORKS"):
            call_command("check")
