"""The rules for an IMAP mailbox's settings (host, TLS, folders, credentials, certificate, route)
and the TLS connections they lead to, against the test dovecot with its self-signed certificate."""

from datetime import date, timedelta

import pytest

from tests.factories.core import make_member, make_organisation, make_product
from tests.mailintake.conftest import mail, wire
from tests.mailintake.dovecot import PASSWORD
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.mailintake import imap
from vulndesk.mailintake.models import ImapMailbox
from vulndesk.mailintake.services import (
    MailboxSettings,
    imap_mailbox_add,
    imap_mailbox_check,
    imap_mailbox_poll,
    imap_mailbox_update,
    intake_address_add,
)
from vulndesk.organisations import keys
from vulndesk.organisations.rotation import reseal_pass
from vulndesk.reports.models import Report


def settings_for(world, **values) -> MailboxSettings:
    return MailboxSettings(**{"name": "Provider", "host": "imap.example.org", "port": 993, "security": "tls",
                              "username": "security@acme.test", "password": "app-password-1",
                              "address": world.address, **values})


# --- pure rules ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", [
    "", " ", "../../etc/passwd", "<script>alert(1)</script>", "imap.example.org'; DROP TABLE mailintake_imapmailbox;--",
    "imap.example.org/inbox", "imaps://imap.example.org", "user@imap.example.org", "imap.example.org:993",
    "imap example.org", "a" * 254, ("a" * 64) + ".example.org", "-imap.example.org", "2130706433", "0x7f.1",
    "imap.example.org\r\nA1 LOGOUT", "169.254.169.254", "[fe80::1]", "0.0.0.0", "224.0.0.1", "::ffff:169.254.169.254",
])
def test_a_host_that_is_not_a_plain_host_name_or_usable_address_is_refused(host):
    with pytest.raises(imap.InvalidImapSetting) as refused:
        imap.host_clean(host)
    assert refused.value.field == "host"


@pytest.mark.parametrize(("host", "cleaned"), [
    ("imap.example.org", "imap.example.org"), (" IMAP.Example.ORG. ", "imap.example.org"),
    ("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("localhost", "localhost"), ("10.1.2.3", "10.1.2.3"),
    ("mail-01.eu.example.org", "mail-01.eu.example.org"),
])
def test_host_names_and_addresses_are_kept_in_one_form(host, cleaned):
    assert imap.host_clean(host) == cleaned


@pytest.mark.parametrize("host", ["imap.example.org", "10.0.0.5", "localhost.example.org", "127.0.0.1.nip.io"])
def test_no_tls_is_refused_for_anything_but_loopback(host):
    with pytest.raises(imap.InvalidImapSetting, match="choose TLS or STARTTLS") as refused:
        imap.security_check(host=imap.host_clean(host), security="none")
    assert refused.value.field == "security"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1"])
def test_no_tls_is_allowed_to_loopback(host):
    imap.security_check(host=host, security="none")


@pytest.mark.parametrize(("field", "value"), [
    ("username", ""), ("username", "a\r\nA1 DELETE INBOX"), ("username", "x" * 255), ("username", "tab\there"),
    ("password", ""), ("password", "pass\nA1 LOGOUT"), ("password", "x" * 513), ("password", "nul\x00"),
    ("password", "line\u2028separator"),
])
def test_credentials_with_control_characters_or_out_of_bounds_are_refused(field, value):
    with pytest.raises(imap.InvalidImapSetting) as refused:
        imap.credential_clean(value, field=field, max_chars=254 if field == "username" else 512)
    assert refused.value.field == field


@pytest.mark.parametrize("folder", ["", "INBOX\r\nA1 DELETE INBOX", "*", "Security/%", "x" * 201, "a\x00b"])
def test_folder_names_with_control_characters_wildcards_or_too_long_are_refused(folder):
    with pytest.raises(imap.InvalidImapSetting):
        imap.folder_clean(folder)


@pytest.mark.parametrize("pem", [
    "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
    "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----", "-----BEGIN CERTIFICATE-----" + "A" * 20_000,
])
def test_a_certificate_that_cannot_be_read_or_is_a_private_key_is_refused(pem):
    with pytest.raises(imap.InvalidImapSetting) as refused:
        imap.certificate_clean(pem)
    assert refused.value.field == "trusted_certificate"


def test_polls_back_off_after_failures_up_to_an_hour():
    from datetime import UTC, datetime

    last = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    waits = [imap.poll_due_at(last_poll_at=last, interval_seconds=300, consecutive_failures=n) - last
             for n in range(6)]
    assert [w.total_seconds() for w in waits] == [300, 600, 1200, 2400, 3600, 3600]
    assert imap.poll_due_at(last_poll_at=None, interval_seconds=300, consecutive_failures=3) is None
    daily = imap.poll_due_at(last_poll_at=last, interval_seconds=86400, consecutive_failures=4)
    assert daily - last == timedelta(days=1)  # never more than the interval when it exceeds an hour


def test_imap_dates_use_english_months_whatever_the_locale():
    assert imap.imap_date(date(2026, 2, 1)) == "1-Feb-2026"


# --- the services: who may, and what is stored ------------------------------------------------------

uses_db = pytest.mark.django_db(transaction=True)


@uses_db
def test_credentials_are_stored_sealed_and_only_a_settings_role_may_add_a_mailbox(mail_world):
    mailbox = imap_mailbox_add(actor=mail_world.owner, values=settings_for(mail_world))

    row = ImapMailbox.objects.get()
    assert "app-password-1" not in row.sealed_credentials and "security@acme.test" not in row.sealed_credentials
    assert (row.username, row.password) == ("security@acme.test", "app-password-1")
    with pytest.raises(NotAllowed):
        imap_mailbox_add(actor=mail_world.triager, values=settings_for(mail_world, name="Other"))
    other = make_organisation(name="Other", slug="other", reference_prefix="OTH")
    with pytest.raises(NotFound):
        imap_mailbox_update(actor=make_member(other, role="owner"), mailbox=mailbox, values=settings_for(mail_world))
    from vulndesk.audit.models import AuditEntry

    entry = AuditEntry.objects.get(action="mail.imap_add")
    assert "app-password" not in str(entry.data) and "security@acme.test" not in str(entry.data)


@uses_db
def test_key_rotation_reseals_the_credentials(mail_world):
    imap_mailbox_add(actor=mail_world.owner, values=settings_for(mail_world))
    before = ImapMailbox.objects.get().sealed_credentials
    keys.organisation_key_create(organisation_id=mail_world.organisation.pk)
    keys.forget_cached_keys()

    assert reseal_pass(organisation_id=mail_world.organisation.pk) >= 1

    row = ImapMailbox.objects.get()
    assert row.sealed_credentials != before and row.password == "app-password-1"


@uses_db
@pytest.mark.parametrize(("values", "field"), [
    ({"security": "none"}, "security"),
    ({"host": "<script>x</script>"}, "host"),
    ({"port": 0}, "port"),
    ({"port": 70000}, "port"),
    ({"name": "   "}, "name"),
    ({"folder": "INBOX", "processed_folder": "inbox"}, "processed_folder"),
    ({"poll_interval_seconds": 30}, "poll_interval_seconds"),
    ({"import_since": date(2999, 1, 1)}, "import_since"),
    ({"address": None}, "address"),
    ({"password": ""}, "password"),
])
def test_settings_that_break_a_rule_are_refused_with_the_field_named(mail_world, values, field):
    with pytest.raises(DomainError) as refused:
        imap_mailbox_add(actor=mail_world.owner, values=settings_for(mail_world, **values))
    assert refused.value.field == field
    assert not ImapMailbox.objects.exists()


@uses_db
def test_the_route_must_be_one_active_address_or_one_product_of_this_organisation(mail_world):
    other = make_organisation(name="Other", slug="other", reference_prefix="OTH")
    other_product = make_product(other, name="Other app", slug="app")
    other_address = intake_address_add(actor=make_member(other, role="owner"), local_part="security",
                                       domain="other.test", product=other_product)
    for values in ({"address": other_address}, {"address": None, "product": other_product},
                   {"product": mail_world.product}):
        with pytest.raises(DomainError):
            imap_mailbox_add(actor=mail_world.owner, values=settings_for(mail_world, **values))
    assert not ImapMailbox.objects.exists()


@uses_db
def test_changing_where_the_password_goes_requires_typing_it_again(mail_world):
    mailbox = imap_mailbox_add(actor=mail_world.owner, values=settings_for(mail_world))
    for change in ({"host": "imap.attacker.example"}, {"port": 9993}, {"username": "other@acme.test"},
                   {"security": "starttls"}):
        with pytest.raises(DomainError, match="Type the password again") as refused:
            imap_mailbox_update(actor=mail_world.owner, mailbox=mailbox,
                                values=settings_for(mail_world, password="", **change))
        assert refused.value.field == "password"
    mailbox.refresh_from_db()
    assert mailbox.host == "imap.example.org"
    # Other changes keep the stored password.
    imap_mailbox_update(actor=mail_world.owner, mailbox=mailbox,
                        values=settings_for(mail_world, password="", name="Renamed", folder="Security"))
    mailbox = ImapMailbox.objects.get()
    assert (mailbox.name, mailbox.folder, mailbox.password) == ("Renamed", "Security", "app-password-1")


# --- TLS against the test dovecot ---------------------------------------------------------------------

def tls_mailbox(world, account, **values):
    return imap_mailbox_add(actor=world.owner, values=MailboxSettings(**{
        "name": "TLS", "host": "localhost", "port": account.tls_port, "security": "tls",
        "username": account.username, "password": PASSWORD, "address": world.address, **values}))


@uses_db
def test_tls_from_the_start_with_the_servers_own_certificate_trusted(mail_world, smtp_sink, imap_account):
    imap_account.append(wire(mail("Over TLS")))
    mailbox = tls_mailbox(mail_world, imap_account, trusted_certificate=imap_account.server.certificate_pem)

    assert imap_mailbox_check(actor=mail_world.owner, mailbox=mailbox).waiting == 1
    assert imap_mailbox_poll(mailbox_id=mailbox.pk).imported == 1
    assert Report.objects.get().title == "Over TLS"


@uses_db
def test_starttls_with_the_servers_own_certificate_trusted(mail_world, smtp_sink, imap_account):
    imap_account.append(wire(mail("Over STARTTLS")))
    mailbox = tls_mailbox(mail_world, imap_account, security="starttls", port=imap_account.port,
                          trusted_certificate=imap_account.server.certificate_pem)

    assert imap_mailbox_poll(mailbox_id=mailbox.pk).imported == 1


@uses_db
def test_a_self_signed_certificate_not_trusted_is_refused_with_the_reason(mail_world, imap_account):
    imap_account.append(wire(mail()))
    mailbox = tls_mailbox(mail_world, imap_account)

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert outcome.state == "failed"
    assert outcome.error.startswith("The server's certificate is not trusted (self-signed certificate)")
    with pytest.raises(DomainError, match="not trusted"):
        imap_mailbox_check(actor=mail_world.owner, mailbox=mailbox)
    assert not Report.objects.exists()


@uses_db
def test_a_trusted_certificate_that_is_not_the_servers_is_refused(mail_world, imap_account):
    import tempfile
    from pathlib import Path

    from tests.mailintake.dovecot import self_signed_certificate

    *_, unrelated = self_signed_certificate(Path(tempfile.mkdtemp()))
    mailbox = tls_mailbox(mail_world, imap_account, trusted_certificate=unrelated)

    assert "not trusted" in imap_mailbox_poll(mailbox_id=mailbox.pk).error


@uses_db
def test_tls_to_a_plain_port_fails_clearly(mail_world, imap_account, settings):
    settings.MAIL_INTAKE_IMAP_TIMEOUT = 3
    mailbox = tls_mailbox(mail_world, imap_account, port=imap_account.port,
                          trusted_certificate=imap_account.server.certificate_pem)

    error = imap_mailbox_poll(mailbox_id=mailbox.pk).error

    assert error.startswith("The TLS handshake failed") or error.startswith("The server did not answer in time")


@uses_db
def test_a_password_with_non_ascii_characters_is_sent_as_utf8(mail_world, imap_account):
    mailbox = tls_mailbox(mail_world, imap_account, password="pässwörd-ünïcode",
                          trusted_certificate=imap_account.server.certificate_pem)
    # The test dovecot takes one password for everyone: a wrong one, but it must arrive intact
    # (AUTHENTICATE PLAIN, not imaplib's ASCII-only LOGIN, which would fail before sending).
    assert imap_mailbox_poll(mailbox_id=mailbox.pk).error == "The server refused the user name or password."
