"""The public pages in a real browser under the strict CSP: hostile advisory text runs nothing,
no page scrolls sideways on a phone, and a reader can search and page through the index."""

import pytest
from playwright.sync_api import Page, expect

from tests.factories.core import make_member, make_organisation, make_product
from tests.public.conftest import advisory_published

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = """<script>window.pwned = 1</script>

<img src=x onerror="window.pwned = 2">

[click](javascript:window.pwned=3)

| a | b |
|---|---|
""" + "| " + "x" * 400 + " | y |\n"


@pytest.fixture
def console_problems(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"{msg.type}: {msg.text}")
            if msg.type == "error" or "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    return problems


def test_public_pages_run_nothing_hostile_and_fit_a_phone(page: Page, live_server, console_problems):
    organisation = make_organisation(slug="acme", security_contact_email="security@acme.example")
    product = make_product(organisation, slug="web", name="Acme Web")
    owner = make_member(organisation, role="owner")
    advisory = advisory_published(organisation, owner, product, title='Hostile "><svg onload=window.pwned=4>',
                                  details=HOSTILE, workarounds=HOSTILE, severity="high")
    advisory_published(organisation, owner, product, title="SQL injection in search", severity="critical")
    page.set_viewport_size({"width": 390, "height": 800})
    for path in (f"/advisories/acme/{advisory.identifier}/", "/advisories/acme/", "/products/acme/web/",
                 "/products/acme/"):
        page.goto(live_server.url + path)
        assert page.evaluate("window.pwned") is None, path
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    page.goto(f"{live_server.url}/advisories/acme/")
    page.get_by_label("Search titles").fill("sql")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.advisory-table tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="SQL injection in search")).to_be_visible()
    assert console_problems == []
