"""The "Mailboxes polled over IMAP" section of the mail addresses page: add, edit, disable and
enable, test the connection, poll now; the password is never shown again; bad and hostile input
gets a clear error and changes nothing."""

import pytest

from tests.factories.core import verified_login
from tests.mailintake.conftest import mail, wire
from tests.mailintake.dovecot import PASSWORD
from vulndesk.mailintake.models import ImapMailbox
from vulndesk.reports.models import Report

pytestmark = pytest.mark.django_db(transaction=True)


def url(world, name: str, **kwargs) -> str:
    from django.urls import reverse

    return reverse(f"mailintake:{name}", kwargs={"organisation": world.organisation.slug, **kwargs})


def form_data(world, account, **values) -> dict:
    return {"name": "security@ at our provider", "address": str(world.address.pk), "product": "",
            "host": "127.0.0.1", "security": "none", "port": str(account.port), "username": account.username,
            "password": PASSWORD, "folder": "INBOX", "processed_folder": "", "trusted_certificate": "",
            "import_since": "", "poll_interval_minutes": "5", **values}


@pytest.fixture
def owner_client(client, mail_world):
    return verified_login(client, mail_world.owner.user)


@pytest.fixture
def mailbox(owner_client, mail_world, imap_account):
    response = owner_client.post(url(mail_world, "imap_add"), form_data(mail_world, imap_account))
    assert response.status_code == 302, response.content.decode()[:2000]
    return ImapMailbox.objects.get()


def page(client, world) -> str:
    response = client.get(url(world, "addresses"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_addresses_page_explains_polling_and_offers_to_add_a_mailbox(owner_client, mail_world):
    body = page(owner_client, mail_world)
    assert "Mailboxes polled over IMAP" in body and "No mailbox is polled." in body
    assert url(mail_world, "imap_add") in body
    form = owner_client.get(url(mail_world, "imap_add"))
    assert form.status_code == 200 and form["Cache-Control"] == "no-store"
    text = form.content.decode()
    for label in ("Counts as mail to", "IMAP server", "Security", "Trust this certificate", "Move imported mail to"):
        assert label in text


def test_a_mailbox_is_added_listed_and_its_password_never_shown_again(owner_client, mail_world, mailbox):
    assert (mailbox.host, mailbox.security, mailbox.address, mailbox.poll_interval_seconds) == (
        "127.0.0.1", "none", mail_world.address, 300)
    assert mailbox.password == PASSWORD and PASSWORD not in mailbox.sealed_credentials
    body = page(owner_client, mail_world)
    assert "security@ at our provider" in body and "not polled yet" in body and "security@acme.test" in body
    edit = owner_client.get(url(mail_world, "imap_edit", mailbox_id=mailbox.pk)).content.decode()
    assert mailbox.username in edit and PASSWORD not in edit and "Leave empty to keep the stored one" in edit
    assert PASSWORD not in body


def test_test_connection_reports_what_waits_and_poll_now_imports_it(owner_client, mail_world, mailbox, imap_account,
                                                                    smtp_sink):
    imap_account.append(wire(mail("Found by the poll")))

    checked = owner_client.post(url(mail_world, "imap_check", mailbox_id=mailbox.pk), follow=True)

    assert "1 message waits to be imported" in checked.content.decode()
    assert not Report.objects.exists()  # a check changes nothing
    polled = owner_client.post(url(mail_world, "imap_poll", mailbox_id=mailbox.pk), follow=True)
    body = polled.content.decode()
    assert "is being polled" in body and "OK, 1 new" in body
    assert Report.objects.get().title == "Found by the poll"


def test_a_failing_connection_is_explained_and_shown_as_the_last_result(owner_client, mail_world, imap_account):
    owner_client.post(url(mail_world, "imap_add"), form_data(mail_world, imap_account, password="wrong-password"))
    mailbox = ImapMailbox.objects.get()

    checked = owner_client.post(url(mail_world, "imap_check", mailbox_id=mailbox.pk), follow=True).content.decode()
    assert "The server refused the user name or password." in checked
    polled = owner_client.post(url(mail_world, "imap_poll", mailbox_id=mailbox.pk), follow=True).content.decode()
    assert "failed</span> The server refused the user name or password." in polled
    assert "wrong-password" not in polled


def test_disable_stops_polling_and_enable_resumes_it(owner_client, mail_world, mailbox):
    response = owner_client.post(url(mail_world, "imap_disable", mailbox_id=mailbox.pk), follow=True)
    assert "is no longer polled" in response.content.decode()
    mailbox.refresh_from_db()
    assert not mailbox.is_enabled
    refused = owner_client.post(url(mail_world, "imap_poll", mailbox_id=mailbox.pk), follow=True).content.decode()
    assert "This mailbox is disabled: enable it first." in refused
    owner_client.post(url(mail_world, "imap_enable", mailbox_id=mailbox.pk))
    mailbox.refresh_from_db()
    assert mailbox.is_enabled


def test_editing_keeps_the_password_unless_it_would_go_to_another_server(owner_client, mail_world, mailbox,
                                                                         imap_account):
    edit = url(mail_world, "imap_edit", mailbox_id=mailbox.pk)
    kept = owner_client.post(edit, form_data(mail_world, imap_account, password="", name="Renamed", folder="Reports"))
    assert kept.status_code == 302
    mailbox = ImapMailbox.objects.get()
    assert (mailbox.name, mailbox.folder, mailbox.password) == ("Renamed", "Reports", PASSWORD)

    moved = owner_client.post(edit, form_data(mail_world, imap_account, password="", host="localhost"))

    assert moved.status_code == 422
    assert "Type the password again" in moved.content.decode()
    assert ImapMailbox.objects.get().host == "127.0.0.1"


def test_an_empty_form_gets_an_error_per_field_and_creates_nothing(owner_client, mail_world):
    response = owner_client.post(url(mail_world, "imap_add"), {})
    assert response.status_code == 422
    body = response.content.decode()
    assert body.count('class="errorlist"') >= 5 and 'role="alert"' in body
    assert not ImapMailbox.objects.exists()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("host", "../../etc/passwd", "Give only the host name"),
    ("host", "<script>alert('x')</script>", "Give only the host name"),
    ("host", "imap.example.org'; DROP TABLE mailintake_imapmailbox;--", "Give only the host name"),
    ("host", "169.254.169.254", "cannot be an IMAP server"),
    ("host", "imap.example.org", "choose TLS or STARTTLS"),  # with security none
    ("folder", "INBOX\r\nA1 DELETE INBOX", "without control characters"),
    ("processed_folder", "../../<script>*", "without control characters"),
    ("username", "alice\r\nA1 LOGOUT", "no line breaks"),
    ("password", "secret\nA1 LOGOUT", "no line breaks"),
    ("trusted_certificate", "<script>alert(1)</script>", "PEM form"),
    ("name", "\u202e\u2028", "Give the mailbox a name"),
    ("port", "143; DROP TABLE", "Enter a whole number"),
    ("security", "ssl3", "Select a valid choice"),
    ("import_since", "1' OR '1'='1", "Enter a valid date"),
    ("address", "999999", "Select a valid choice"),
])
def test_hostile_and_malformed_values_are_refused_with_a_clear_message(owner_client, mail_world, imap_account,
                                                                        field, value, message):
    response = owner_client.post(url(mail_world, "imap_add"), form_data(mail_world, imap_account, **{field: value}))

    assert response.status_code == 422
    body = response.content.decode()
    assert message in body.replace("&#x27;", "'")
    assert "<script>alert" not in body
    assert not ImapMailbox.objects.exists()


@pytest.mark.parametrize(("field", "size"), [
    ("name", 101), ("host", 254), ("username", 255), ("password", 513), ("folder", 201), ("processed_folder", 201),
    ("trusted_certificate", 20_001), ("poll_interval_minutes", None),
])
def test_oversized_values_are_refused(owner_client, mail_world, imap_account, field, size):
    value = "9999999" if size is None else "a" * size
    response = owner_client.post(url(mail_world, "imap_add"), form_data(mail_world, imap_account, **{field: value}))
    assert response.status_code == 422
    assert not ImapMailbox.objects.exists()


def test_a_member_without_a_settings_role_sees_the_mailboxes_but_no_actions(client, mail_world, mailbox):
    verified_login(client, mail_world.triager.user)
    body = page(client, mail_world)
    assert "security@ at our provider" in body
    assert url(mail_world, "imap_poll", mailbox_id=mailbox.pk) not in body
    assert client.post(url(mail_world, "imap_poll", mailbox_id=mailbox.pk)).status_code == 403


def test_the_addresses_page_does_not_query_per_mailbox(owner_client, mail_world, imap_account,
                                                       django_assert_max_num_queries):
    for n in range(5):
        owner_client.post(url(mail_world, "imap_add"), form_data(mail_world, imap_account, name=f"Box {n}"))
    assert ImapMailbox.objects.count() == 5
    with django_assert_max_num_queries(15):
        page(owner_client, mail_world)
