"""In a real browser, under the strict CSP: an owner adds a mailbox at "their provider" (the test
dovecot, over TLS with its own certificate trusted), tests the connection, polls it, and sees
the report filed and the result on the page."""

import os

import pytest
from playwright.sync_api import Page, expect

from tests.factories.core import PASSWORD, totp_code, totp_device_for
from tests.mailintake.conftest import REPORTER, mail, sent_to, wire
from tests.mailintake.dovecot import PASSWORD as IMAP_PASSWORD
from vulndesk.mailintake.models import ImapMailbox
from vulndesk.reports.models import Report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_adds_a_mailbox_checks_it_and_polls_it_in_the_browser(
        live_server, page: Page, mail_world, smtp_sink, imap_account):
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    imap_account.append(wire(mail("Path traversal in /download", "../../etc/passwd is served.")))
    device = totp_device_for(mail_world.owner.user)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail address").fill(mail_world.owner.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()

    page.goto(f"{live_server.url}/o/acme/mail/addresses/")
    expect(page.get_by_role("heading", name="Mailboxes polled over IMAP")).to_be_visible()
    page.get_by_role("link", name="Add a mailbox").click()
    page.get_by_label("Name", exact=True).fill("security@ at our provider")
    page.get_by_label("Counts as mail to").select_option(label="security@acme.test")
    page.get_by_label("IMAP server").fill("localhost")
    page.get_by_label("Port", exact=True).fill(str(imap_account.tls_port))
    page.get_by_label("Trust this certificate (optional)").fill(imap_account.server.certificate_pem)
    page.get_by_label("User name").fill(imap_account.username)
    page.get_by_label("Password", exact=True).fill(IMAP_PASSWORD)
    if os.environ.get("VULNDESK_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["VULNDESK_SCREENSHOTS"], "imap-form.png"), full_page=True)
    page.get_by_role("button", name="Add the mailbox").click()

    expect(page.locator(".flash-list")).to_contain_text("saved")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".flash-list")).to_contain_text("1 message waits to be imported")
    page.get_by_role("button", name="Poll now").click()
    expect(page.locator("#imap-mailboxes").locator("..")).to_contain_text("OK, 1 new")
    if os.environ.get("VULNDESK_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["VULNDESK_SCREENSHOTS"], "imap-addresses.png"), full_page=True)

    assert Report.objects.get().title == "Path traversal in /download"
    assert len(sent_to(smtp_sink, REPORTER)) == 1
    assert ImapMailbox.objects.get().security == "tls"
    assert IMAP_PASSWORD not in page.content()
    assert problems == []
