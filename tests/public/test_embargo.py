"""The embargo holds on every public route at once: before the embargo time nothing of a
draft, in-review or scheduled advisory is visible (index, page, search, feeds, product pages),
and once the periodic task has published it, everything is. Staff edits after publication stay
invisible until the next revision is published."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from tests.factories.core import make_organisation, make_product
from tests.public.conftest import advisory_draft, advisory_published, advisory_scheduled
from vulndesk.advisories.services import advisory_transition, advisory_update
from vulndesk.advisories.states import AdvisoryState

MARKER = "ZEBRAQUOKKA"  # appears in the title, summary and details of the embargoed advisory


def public_urls(organisation, product, identifier):
    org = {"organisation": organisation.slug}
    both = org | {"product": product.slug}
    return {
        "index": reverse("public:advisories", kwargs=org),
        # Searched in lower case: the page echoes the term, the marker is checked in upper case.
        "search": reverse("public:advisories", kwargs=org) + f"?q={MARKER.lower()[:8]}",
        "search_by_identifier": reverse("public:advisories", kwargs=org) + f"?q={identifier.lower()}",
        "severity": reverse("public:advisories", kwargs=org) + "?severity=critical",
        "product_filter": reverse("public:advisories", kwargs=org) + f"?product={product.slug}",
        "product_index": reverse("public:product_advisories", kwargs=both),
        "product_page": reverse("public:product", kwargs=both),
        "feed": reverse("public:feed", kwargs=org),
        "product_feed": reverse("public:product_feed", kwargs=both),
        "security_md": reverse("public:product_security_md", kwargs=both),
        "security_txt": reverse("public:organisation_security_txt", kwargs=org),
        "products": reverse("public:products", kwargs=org),
    }


def advisory_url(organisation, identifier):
    return reverse("public:advisory", kwargs={"organisation": organisation.slug, "identifier": identifier})


def without_per_response_tokens(response) -> str:
    # The CSP nonce and the CSRF token differ on every response, whatever the page.
    body = re.sub(r'nonce="[^"]*"', "", response.content.decode())
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", body)


def crawl(client, urls):
    bodies = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, name
        bodies[name] = response.content.decode()
    return bodies


@pytest.fixture
def world(frozen_clock, organisation, triager):
    product = make_product(organisation)
    return organisation, product, triager


def test_nothing_of_an_unpublished_advisory_is_visible_in_any_state_before_the_embargo(
        client, world, frozen_clock, publish_due):
    organisation, product, triager = world
    advisory = advisory_draft(organisation, triager, product, title=f"{MARKER} RCE", summary=f"{MARKER} summary",
                              details=f"{MARKER} details", severity="critical", cve_id="CVE-2026-99999",
                              embargo_until=frozen_clock.now + timedelta(days=2))
    urls = public_urls(organisation, product, advisory.identifier)

    def assert_invisible():
        for name, body in crawl(client, urls).items():
            assert MARKER not in body, name
            assert advisory.identifier not in body, name
            assert "CVE-2026-99999" not in body, name
        assert client.get(advisory_url(organisation, advisory.identifier)).status_code == 404

    assert_invisible()  # draft
    advisory_transition(advisory=advisory, actor=triager, to=AdvisoryState.IN_REVIEW)
    assert_invisible()
    advisory_transition(advisory=advisory, actor=triager, to=AdvisoryState.SCHEDULED)
    assert_invisible()
    frozen_clock.advance(days=2, seconds=-1)  # one second before the embargo ends
    assert publish_due() == []
    assert_invisible()

    frozen_clock.advance(seconds=1)
    assert publish_due() == [advisory.identifier]
    bodies = crawl(client, urls)
    for name in ("index", "search", "search_by_identifier", "severity", "product_filter", "product_index",
                 "product_page", "feed", "product_feed"):
        assert MARKER in bodies[name], name
    page = client.get(advisory_url(organisation, advisory.identifier))
    assert page.status_code == 200
    body = page.content.decode()
    assert f"{MARKER} RCE" in body and f"{MARKER} summary" in body and f"{MARKER} details" in body
    assert "CVE-2026-99999" in body


def test_a_guessed_url_of_an_embargoed_advisory_answers_exactly_like_a_missing_one(client, world, frozen_clock):
    organisation, product, triager = world
    advisory = advisory_scheduled(organisation, triager, product, now=frozen_clock.now, title=MARKER)
    unpublished = client.get(advisory_url(organisation, advisory.identifier))
    missing = client.get(advisory_url(organisation, f"{organisation.reference_prefix}-2026-9999"))
    assert unpublished.status_code == missing.status_code == 404
    assert without_per_response_tokens(unpublished) == without_per_response_tokens(missing)
    assert MARKER not in unpublished.content.decode()


def test_an_advisory_is_not_reachable_under_another_organisations_slug(client, world):
    organisation, product, triager = world
    advisory = advisory_published(organisation, triager, product)
    other = make_organisation()
    assert client.get(advisory_url(other, advisory.identifier)).status_code == 404
    assert advisory.identifier not in client.get(reverse("public:advisories",
                                                         kwargs={"organisation": other.slug})).content.decode()


def test_staff_edits_after_publishing_stay_invisible_until_the_next_revision(client, world, frozen_clock):
    organisation, product, triager = world
    advisory = advisory_published(organisation, triager, product, title="Original title",
                                  summary="Original summary", details="Original details", severity="medium")
    frozen_clock.advance(days=1)
    advisory_update(advisory=advisory, actor=triager, title=f"{MARKER} new title", summary=f"{MARKER} new summary",
                    details=f"{MARKER} new details", severity="critical", cve_id="CVE-2026-12345",
                    references=[{"type": "FIX", "url": "https://example.org/fix"}])
    urls = public_urls(organisation, product, advisory.identifier) | {
        "page": advisory_url(organisation, advisory.identifier)}
    for name, body in crawl(client, urls).items():
        assert MARKER not in body, name
        assert "CVE-2026-12345" not in body, name
        assert "https://example.org/fix" not in body, name
    page = client.get(urls["page"]).content.decode()
    assert "Original title" in page and "Original details" in page and "Severity: Medium" in page
    # The critical filter does not find it either: severity is the published one.
    assert "Original title" not in client.get(urls["severity"]).content.decode()

    frozen_clock.advance(hours=2)
    advisory_transition(advisory=advisory, actor=triager, to=AdvisoryState.UPDATED, changelog="Severity raised")
    page = client.get(urls["page"]).content.decode()
    assert f"{MARKER} new title" in page and f"{MARKER} new details" in page and "CVE-2026-12345" in page
    assert "https://example.org/fix" in page and "Severity: Critical" in page
    assert "Original title" not in page
    assert "Revision 2" in page and "Severity raised" in page and "Revision 1" in page
    feed = client.get(urls["feed"]).content.decode()
    assert feed.count("<entry>") == 2
    assert f"{MARKER} new title (updated, revision 2)" in feed and "Original title" in feed
