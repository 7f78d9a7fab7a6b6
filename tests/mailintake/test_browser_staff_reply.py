"""In a real browser: staff answer an e-mailed report from the report page, and the reporter's
mail client (the SMTP sink) receives the answer threaded under their own message."""

import pytest
from playwright.sync_api import Page, expect

from tests.factories.core import PASSWORD, totp_code, totp_device_for
from tests.mailintake.conftest import REPORTER, mail, sent_to
from vulndesk.reports.models import Message, Report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_answer_an_emailed_report_in_the_browser_and_the_reporter_receives_it_threaded(
        live_server, page: Page, mail_server, smtp_sink, mail_world, message_posted):
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    mail_server.send(mail("Stored XSS in profile", "The name field is not escaped.\n\n-- \nAlice",
                          message_id="<root@reporter.example>"))
    [acknowledgement] = sent_to(smtp_sink, REPORTER)
    report = Report.objects.get()

    device = totp_device_for(mail_world.triager.user)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail address").fill(mail_world.triager.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()

    page.goto(f"{live_server.url}/o/acme/reports/{report.number}/")
    expect(page.get_by_role("heading", name="Stored XSS in profile")).to_be_visible()
    page.get_by_label("Message", exact=True).fill("Thanks, reproduced. Which browser did you use?")
    page.get_by_role("button", name="Post").click()
    expect(page.locator(".thread")).to_contain_text("Which browser did you use?")
    posted = Message.objects.filter(report=report).latest("id")
    message_posted.send(sender=Message, message_id=posted.pk, report_id=report.pk)  # what message_post sends

    [_, answer] = sent_to(smtp_sink, REPORTER)
    assert answer["Subject"] == f"Re: [{report.reference}] Stored XSS in profile"
    assert answer["In-Reply-To"] == "<root@reporter.example>"
    assert answer["References"].split() == ["<root@reporter.example>", acknowledgement["Message-ID"]]
    assert answer["Reply-To"] == acknowledgement["Reply-To"]
    assert answer.get_content().startswith("Thanks, reproduced. Which browser did you use?")

    page.goto(f"{live_server.url}/o/acme/mail/reports/{report.number}/")
    expect(page.get_by_role("heading", name=f"Mail of {report.reference}")).to_be_visible()
    expect(page.locator(".thread")).to_contain_text("e-mail: sent")
    assert problems == []
