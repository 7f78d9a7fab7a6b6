"""Confirmation dialogs and the recipient's embargo link, in real Chromium under the strict CSP.

``data-confirm`` is the one way a form asks before an irreversible action, for plain forms and
for htmx forms alike: dismissing the dialog must send nothing (htmx ignores a prevented submit
event, so this needs our script's help), accepting must send exactly one request and ask only
once. The embargo link opens on a page with a button (mail scanners open links too); only the
button shows the draft and counts as a view, and the POST works from a page that sends no
Referer (so browsers send ``Origin: null``) without any cookie."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from tests.factories.core import make_member, make_organisation, verified_login
from vulndesk.advisories.models import Advisory
from vulndesk.core import clock

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def frozen_now():
    clock.freeze(NOW)
    yield
    clock.freeze(None)


@pytest.fixture
def browser_problems(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"{msg.type}: {msg.text}")
            if (msg.type == "error" and "status of 404" not in msg.text) or "Content Security Policy" in msg.text
            else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    return problems


def _log_in(page: Page, base_url: str, user) -> None:
    """The session of a password + second-factor login, handed to the browser."""
    client = verified_login(Client(), user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base_url}])


def _posts(page: Page) -> list[str]:
    """Every POST the page makes, except the live Markdown preview (it posts as you type)."""
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url)
            if request.method == "POST" and not request.url.endswith("/preview/") else None)
    return sent


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_dismissed_confirmation_sends_nothing_and_an_accepted_one_sends_once(live_server, page: Page,
                                                                               browser_problems, settings):
    from tests.cve.conftest import API_KEY, CNA, CNA_USER, make_advisory
    from tests.fakes.cve_services import FakeCveServices
    from vulndesk.cve.services import cna_account_save, cve_id_reserve

    settings.CVE_SERVICES_BACKOFF_SECONDS = 0.001
    fake = FakeCveServices().start()
    try:
        fake.add_cna(CNA, user=CNA_USER, api_key=API_KEY, id_quota=5)
        organisation = make_organisation(time_zone="UTC", holiday_country="")
        owner = make_member(organisation, role="owner")
        cna_account_save(organisation=organisation, actor=owner, endpoint_url=fake.url, short_name=CNA,
                         username=CNA_USER, api_key=API_KEY)
        advisory = make_advisory(organisation, owner)
        cve_id = cve_id_reserve(advisory=advisory, actor=owner).cve_id
        _log_in(page, live_server.url, owner.user)
        dialogs: list[str] = []
        answer = {"accept": False}
        page.on("dialog", lambda d: (dialogs.append(d.message), d.accept() if answer["accept"] else d.dismiss()))
        sent = _posts(page)
        page.goto(f"{live_server.url}/o/{organisation.slug}/advisories/{advisory.identifier}/")

        # htmx form (hx-post + data-confirm), dismissed: no request leaves the browser.
        publish = page.get_by_role("button", name="Publish the CVE record")
        publish.click()
        page.wait_for_timeout(300)  # give a stray request time to show up
        assert dialogs == [f"Publish the CVE record of {cve_id}? It is public at once."]
        assert sent == [] and fake.calls("POST", "/cna") == []

        # Plain form with data-confirm, dismissed: no navigation, no request.
        page.locator("summary", has_text="Withdraw").click()
        page.get_by_label(re.compile("Why is it withdrawn")).fill("Not a vulnerability after all.")
        page.get_by_role("button", name="Withdraw", exact=True).click()
        page.wait_for_timeout(300)
        assert len(dialogs) == 2 and dialogs[1].startswith(f"Withdraw {advisory.identifier}?")
        assert sent == [] and Advisory.objects.get(pk=advisory.pk).state == "published"

        # Accepted: the htmx request goes out once, the panel swaps, and nobody asked twice.
        answer["accept"] = True
        publish.click()
        expect(page.locator("#cve-panel")).to_contain_text(f"The CVE record of {cve_id} is published.")
        assert len(dialogs) == 3
        assert [url for url in sent if url.endswith("/publish/")] == [
            f"{live_server.url}/o/{organisation.slug}/cve/advisories/{advisory.identifier}/publish/"]
        assert len(fake.calls("POST", "/cna")) == 1

        # Accepted on the plain form: the POST goes through as a normal submission.
        page.get_by_role("button", name="Withdraw", exact=True).click()
        expect(page.locator(".head-meta .state")).to_have_text("Withdrawn")
        assert len(dialogs) == 4 and Advisory.objects.get(pk=advisory.pk).state == "withdrawn"
        assert browser_problems == []
    finally:
        fake.stop()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_embargo_link_shows_a_button_first_and_the_draft_only_when_pressed(live_server, page: Page,
                                                                               browser_problems, smtp_sink,
                                                                               frozen_now):
    from vulndesk.advisories.services import advisory_create, advisory_update
    from vulndesk.prenotify.models import EmbargoView
    from vulndesk.prenotify.services import contact_add, prenotification_send

    organisation = make_organisation(time_zone="UTC", holiday_country="")
    owner = make_member(organisation, role="owner")
    advisory = advisory_create(organisation=organisation, actor=owner, title="Heap overflow in TIFF decoder")
    advisory_update(advisory=advisory, actor=owner, summary="DRAFT-SUMMARY-MARKER",
                    embargo_until=NOW + timedelta(days=7))
    contact = contact_add(organisation=organisation, actor=owner, name="Debian Security Team",
                          email="team@security.debian.example", kind="distribution")
    prenotification_send(advisory=advisory, actor=owner, contacts=[contact])
    body = smtp_sink.wait_for(1)[0]["message"].get_content()
    path = re.search(r"http://[^/\s]+(/embargo/[A-Za-z0-9_-]{43}/)", body).group(1)
    sent = _posts(page)

    page.goto(live_server.url + path)
    expect(page.get_by_role("button", name="Show the advisory")).to_be_visible()
    expect(page.get_by_text("DRAFT-SUMMARY-MARKER")).to_have_count(0)
    page.reload()
    assert EmbargoView.objects.count() == 0

    page.get_by_role("button", name="Show the advisory").click()
    expect(page.get_by_role("heading", name="Heap overflow in TIFF decoder")).to_be_visible()
    expect(page.get_by_text("DRAFT-SUMMARY-MARKER")).to_be_visible()
    assert sent == [live_server.url + path]
    assert EmbargoView.objects.count() == 1
    assert browser_problems == []


# --- one way to ask, in every template (no browser needed) ---------------------------------------

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "vulndesk"


def test_templates_ask_with_data_confirm_and_never_with_hx_confirm():
    """hx-confirm asks nothing when htmx is not loaded; data-confirm works for both kinds."""
    offenders = [str(path.relative_to(TEMPLATES)) for path in TEMPLATES.rglob("*.html")
                 if "hx-confirm" in path.read_text()]
    assert offenders == []


def test_every_danger_button_sits_in_a_form_that_asks_first():
    forms = re.compile(r"<form\b[^>]*>.*?</form>", re.S)
    missing = []
    for path in TEMPLATES.rglob("*.html"):
        for form in forms.findall(path.read_text()):
            if 'class="danger"' in form and "data-confirm=" not in form.split(">", 1)[0]:
                missing.append(f"{path.relative_to(TEMPLATES)}: {form[:80]}")
    assert missing == []
