"""In a real browser, under the real CSP: an owner generates the organisation's key, sees it
published, and retires it after confirming."""

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
from tests.pgp.fixtures import *  # noqa: F403 (fixtures)
from vulndesk.pgp.models import OrganisationPgpKey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_generates_and_retires_the_key_in_the_browser(live_server, page: Page, tmp_path):
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    organisation = make_organisation(name="Acme", slug="acme", security_contact_email="security@acme.test")
    make_product(organisation)
    owner = make_member(organisation, role="owner")
    device = totp_device_for(owner.user)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail address").fill(owner.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()

    page.goto(f"{live_server.url}/o/acme/reports/")
    page.get_by_role("link", name="OpenPGP").click()
    expect(page.get_by_role("heading", name="OpenPGP key")).to_be_visible()
    expect(page.get_by_label("E-mail address on the key")).to_have_value("security@acme.test")
    page.get_by_role("button", name="Generate").click()

    key = OrganisationPgpKey.objects.get()
    expect(page.locator(".flash")).to_contain_text(key.fingerprint_groups)
    expect(page.locator("dl.facts")).to_contain_text("ed25519 + cv25519")
    page.screenshot(path=str(tmp_path / "pgp-settings.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the public key").click()
    assert download.value.path().read_text() == key.public_key

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retire this key").click()
    expect(page.locator(".flash")).to_contain_text("retired")
    expect(page.get_by_role("heading", name="Retired keys")).to_be_visible()
    key.refresh_from_db()
    assert key.state == "retired"
    assert problems == []
