"""Disclosure in a real browser: a triager drafts an advisory from an accepted report,
schedules it under embargo, the embargo passes (the clock moves), the scheduled publisher runs,
and the advisory is on the public page and in the feed; the reporter's tracking page then shows
"disclosed" with their credit. Nothing shows publicly before the embargo."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.factories.core import (
    PASSWORD,
    make_member,
    make_organisation,
    make_product,
    make_report,
    totp_code,
    totp_device_for,
)
from vulndesk.advisories.services import advisories_publish_due
from vulndesk.core import clock
from vulndesk.reports.services import report_transition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def moving_clock():
    clock.freeze(NOW)
    yield
    clock.freeze(None)


def test_an_advisory_scheduled_under_embargo_appears_publicly_only_after_it(live_server, page: Page, moving_clock):
    problems: list[str] = []
    # The deliberate 404 of the embargoed URL is expected; any other console error is not.
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and "status of 404" not in msg.text else None)
    organisation = make_organisation(reference_prefix="ACME", time_zone="UTC", holiday_country="")
    product = make_product(organisation, name="Acme Shop", slug="shop")
    triager = make_member(organisation, role="triager", email="tria@example.org")
    created = make_report(product, title="SQL injection in search", reporter_handle="finder42")
    report_transition(report=created.report, actor=triager, to="accepted",
                      cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    report_transition(report=created.report, actor=triager, to="fixing")
    report_transition(report=created.report, actor=triager, to="fixed")

    device = totp_device_for(triager.user)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail address").fill(triager.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()

    # Draft from the report page.
    page.goto(f"{live_server.url}/o/{organisation.slug}/reports/{created.report.number}/")
    page.get_by_role("link", name="Draft advisory").click()
    page.get_by_label("Title", exact=True).fill("SQL injection in product search")
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", name="SQL injection in product search")).to_be_visible()
    identifier = re.search(r"ACME-\d{4}-\d{4}", page.locator(".report-head .ref").inner_text()).group(0)

    page.get_by_label("Summary").fill("Unsanitised search terms reach the SQL query.")
    page.get_by_label("Embargo until").fill("2026-11-30T12:00")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    row = page.locator("table.affected-table tbody tr").first
    row.get_by_label(re.compile("Ecosystem")).select_option("PyPI")
    row.get_by_label(re.compile("Package")).fill("acme-shop")
    row.get_by_label(re.compile("Fixed")).fill("2.4.2")
    page.get_by_role("button", name="Save affected versions").click()
    expect(page.get_by_text("1 affected package saved.")).to_be_visible()
    page.get_by_role("button", name="Send to review").click()
    expect(page.locator(".head-meta .state")).to_have_text("In review")
    page.get_by_role("button", name="Schedule for the embargo date").click()
    expect(page.locator(".head-meta .state")).to_have_text("Scheduled")

    public_url = f"{live_server.url}/advisories/{organisation.slug}/{identifier}/"
    feed_url = f"{live_server.url}/feeds/{organisation.slug}.atom"
    # Before the embargo: nothing public, not even by the exact URL.
    assert page.goto(public_url).status == 404
    assert identifier not in page.request.get(feed_url).text()

    # The embargo passes; the scheduled publisher runs as the periodic task would.
    clock.freeze(datetime(2026, 11, 30, 12, 0, tzinfo=UTC) + timedelta(minutes=1))
    assert advisories_publish_due() == [identifier]

    page.goto(public_url)
    expect(page.get_by_role("heading", name="SQL injection in product search")).to_be_visible()
    expect(page.get_by_text("finder42").first).to_be_visible()
    assert identifier in page.request.get(feed_url).text()

    page.goto(f"{live_server.url}/track/{created.tracking_token}/")
    expect(page.locator(".badge.state")).to_have_text("Disclosed")
    expect(page.get_by_text("You are credited as")).to_contain_text("finder42")
    assert problems == []
