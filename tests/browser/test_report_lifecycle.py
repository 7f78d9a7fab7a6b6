"""The core path in a real browser: a reporter files a report, a triager accepts it with a CVSS
vector (the htmx preview scores it on the server), and the reporter sees the new state. Every
page runs under the strict CSP, so any inline script or style shows up as a console error."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories.core import (
    PASSWORD,
    make_member,
    make_organisation,
    make_product,
    totp_code,
    totp_device_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


@pytest.fixture
def console_problems(page: Page) -> list[str]:
    """Console errors and CSP violations of every page the test visits."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"{msg.type}: {msg.text}")
            if msg.type == "error" or "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    return problems


def _file_report(page: Page, base_url: str, organisation, product, *, title: str) -> str:
    page.goto(f"{base_url}/p/{organisation.slug}/{product.slug}/report/")
    page.get_by_label("Summary").fill(title)
    page.get_by_label("Affected version").fill("2.4.1")
    page.get_by_label("What did you find?").fill("The q parameter is concatenated into SQL.")
    page.get_by_label("Steps to reproduce").fill("1. GET /search?q=' OR 1=1 --")
    page.get_by_label("Your e-mail").fill("finder@example.net")
    page.get_by_role("button", name="Send report").click()
    expect(page).to_have_url(re.compile(r"/track/[^/]+/$"))
    return page.url


def _totp_for_secret(secret_text: str) -> str:
    """What an authenticator app shows for the key printed on the enrolment page."""
    import base64

    from django_otp.oath import totp

    secret = secret_text.replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return str(totp(key)).zfill(6)


def _password_step(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_reporter_files_a_report_and_sees_the_triagers_acceptance(live_server, page: Page, console_problems):
    organisation = make_organisation(reference_prefix="ACME")
    product = make_product(organisation, name="Acme Shop")
    triager = make_member(organisation, role="triager", email="tria@example.org")

    tracking_url = _file_report(page, live_server.url, organisation, product, title="SQL injection in search")
    expect(page.get_by_role("heading", name=re.compile(r"your report ACME-1 was received"))).to_be_visible()
    expect(page.get_by_label("Your private tracking link")).to_have_value(tracking_url)
    expect(page.get_by_text("Acknowledged", exact=True).first).to_be_visible()

    # First login: password, then the mandatory two-factor enrolment, then the recovery codes.
    _password_step(page, live_server.url, triager.user.email)
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    page.get_by_label("Code from your app").fill(_totp_for_secret(page.locator("#totp-secret").inner_text()))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()
    assert len(page.locator("#recovery-codes").inner_text().split()) == 10
    page.get_by_role("link", name="I saved them — continue").click()
    expect(page.get_by_role("heading", name="Triage queue")).to_be_visible()

    page.get_by_role("link", name="SQL injection in search").click()
    expect(page.get_by_role("heading", name="SQL injection in search")).to_be_visible()
    page.get_by_label("CVSS vector", exact=True).fill(VECTOR)
    expect(page.locator("#accept-cvss-preview")).to_contain_text("Critical 9.8")
    page.get_by_role("button", name="Accept", exact=True).click()

    head = page.locator(".head-meta")
    expect(head.locator(".state")).to_have_text("Accepted")
    expect(head).to_contain_text("Critical 9.8")
    expect(page.get_by_role("status")).to_contain_text("ACME-1 is now accepted.")

    page.goto(tracking_url)
    expect(page.locator(".badge.state")).to_have_text("Accepted")
    expect(page.locator(".timeline")).to_contain_text("Now accepted")

    assert console_problems == []


def test_hostile_report_title_is_shown_as_text_and_never_runs(live_server, page: Page, console_problems):
    organisation = make_organisation()
    product = make_product(organisation)
    triager = make_member(organisation)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    hostile = '<img src=x onerror="window.pwned=1;alert(1)"><script>window.pwned=2</script>'

    # Rendered on the reporter's tracking page, then in the staff queue and on the report page.
    _file_report(page, live_server.url, organisation, product, title=hostile)
    expect(page.get_by_role("heading", name=hostile)).to_be_visible()

    device = totp_device_for(triager.user)
    _password_step(page, live_server.url, triager.user.email)
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("link", name=hostile)).to_be_visible()
    page.get_by_role("link", name=hostile).click()
    expect(page.get_by_role("heading", name=hostile)).to_be_visible()

    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("main img").count() == 0
    assert dialogs == []
    assert console_problems == []
