"""The public advisory page reads like a good advisory (UI.md) and shows only the published
document; hostile Markdown and text render inert."""

import re
import time
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from tests.factories.core import make_product
from tests.public.conftest import advisory_published, pypi_package
from vulndesk.advisories.services import advisory_transition, advisory_update, advisory_withdraw
from vulndesk.advisories.states import AdvisoryState

CVSS3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
CVSS4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


def page_url(advisory):
    return reverse("public:advisory", kwargs={"organisation": advisory.organisation.slug,
                                              "identifier": advisory.identifier})


@pytest.fixture
def product(organisation):
    return make_product(organisation, name="Acme Web")


@pytest.fixture
def full_advisory(frozen_clock, organisation, triager, product):
    packages = [
        pypi_package(product, name="acme-web", introduced="2.0", fixed="2.4.1"),
        {"ecosystem": "npm", "package_name": "acme-widget", "product": None,
         "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"last_affected": "1.9.3"}]}],
         "versions": []},
        {"ecosystem": "GIT", "package_name": "acme-core", "product": None,
         "ranges": [{"type": "GIT", "repo": "https://git.example.org/acme-core",
                     "events": [{"introduced": "a1b2c3d4"}, {"fixed": "e5f6a7b8"}]}], "versions": []},
    ]
    return advisory_published(
        organisation, triager, product, title="SQL injection in search", summary="The q parameter reaches SQL.",
        details="The **search** endpoint concatenates `q`.\n\n1. Open /search\n2. Send `' OR 1=1`",
        workarounds="Block requests whose `q` contains a quote.", severity="critical", packages=packages,
        cvss3_vector=CVSS3, cvss4_vector=CVSS4, cwe_ids=[89], cve_id="CVE-2026-1234", ghsa_id="GHSA-abcd-efgh-ijkl",
        credits=[{"name": "Jane Doe", "type": "FINDER"}, {"name": "Acme PSIRT", "type": "COORDINATOR"}],
        references=[{"type": "FIX", "url": "https://git.example.org/acme-core/commit/e5f6a7b8"},
                    {"type": "WEB", "url": "https://example.org/blog/sqli"}])


def test_the_page_shows_every_part_of_a_good_advisory(client, full_advisory):
    response = client.get(page_url(full_advisory))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    body = response.content.decode()
    # summary, details as Markdown
    assert "SQL injection in search" in body and "The q parameter reaches SQL." in body
    assert "<strong>search</strong>" in body and "<ol>" in body
    # affected packages per ecosystem: introduced / fixed / last affected
    for text in ("acme-web", "PyPI", "2.0", "2.4.1", "acme-widget", "npm", "1.0.0", "1.9.3", "acme-core",
                 "Git commits", "a1b2c3d4", "e5f6a7b8", "https://git.example.org/acme-core"):
        assert text in body, text
    # severity with CVSS vectors and scores, CWE
    assert "Severity: Critical" in body and CVSS3 in body and CVSS4 in body and "9.8" in body
    assert 'href="https://cwe.mitre.org/data/definitions/89.html"' in body and "CWE-89" in body
    # workarounds, credits, references
    assert "Block requests whose <code>q</code> contains a quote." in body
    assert "Jane Doe" in body and "(finder)" in body and "Acme PSIRT" in body and "(coordinator)" in body
    assert ('<a href="https://example.org/blog/sqli" rel="noopener noreferrer nofollow">'
            "https://example.org/blog/sqli</a>") in body
    # identifiers and machine-readable links
    assert full_advisory.identifier in body
    assert 'href="https://www.cve.org/CVERecord?id=CVE-2026-1234"' in body
    assert 'href="https://github.com/advisories/GHSA-abcd-efgh-ijkl"' in body
    assert f'href="/api/osv/v1/vulns/x_{full_advisory.identifier}"' in body
    assert f'href="{reverse("public:feed", kwargs={"organisation": full_advisory.organisation.slug})}"' in body
    # products and revision history
    assert "Acme Web" in body
    assert "Revision 1" in body and "Initial publication" in body


def test_every_external_link_on_the_page_has_rel_noopener_noreferrer_nofollow(client, full_advisory):
    body = client.get(page_url(full_advisory)).content.decode()
    external = re.findall(r'<a href="https?://[^"]*"[^>]*>', body)
    assert len(external) >= 5
    assert all('rel="noopener noreferrer nofollow"' in anchor for anchor in external), external


def test_the_page_needs_a_bounded_number_of_queries(client, full_advisory, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        assert client.get(page_url(full_advisory)).status_code == 200


def parsed_elements(html: str) -> list[tuple[str, list]]:
    """Every start tag a browser would build from ``html``, with its attributes."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed(html)
    return found


HOSTILE_DETAILS = """<script>alert('details')</script>

[click me](javascript:alert('link'))

<img src=x onerror=alert('img')>

![pixel](https://tracker.example/pixel.png)

<iframe src="https://evil.example"></iframe>

<a href="javascript:alert('raw')">raw anchor</a>

<b onmouseover="alert('b')">bold</b> <style>body{display:none}</style>

[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) [vb](vbscript:msgbox)
"""


def test_hostile_markdown_and_text_render_inert(client, frozen_clock, organisation, triager, product):
    advisory = advisory_published(
        organisation, triager, product, title='"><svg onload=alert(1)>', summary="</textarea>{{7*7}}<script>x</script>",
        details=HOSTILE_DETAILS, workarounds="<script>alert('workaround')</script>",
        credits=[{"name": "<img src=x onerror=alert('credit')>", "type": "FINDER"}])
    response = client.get(page_url(advisory))
    assert response.status_code == 200
    body = response.content.decode()
    main = body[body.index('<main'):body.index("</main>")]
    elements = parsed_elements(main)
    tags = {tag for tag, _ in elements}
    assert not tags & {"script", "img", "iframe", "svg", "style", "object", "embed", "form"}, tags
    for tag, attributes in elements:
        assert not [name for name, _ in attributes if name.startswith("on") or name in {"style", "src"}], tag
        for name, value in attributes:
            if name == "href":
                assert value.startswith(("https://", "http://", "/", "#", "?", "mailto:")), value
                assert "tracker.example" not in value and "evil.example" not in value
    # Hostile text stays visible as text, so readers see what was written.
    assert "&quot;&gt;&lt;svg onload=alert(1)&gt;" in main
    assert "{{7*7}}" in main and "49" not in main
    assert "&lt;img src=x onerror=alert(&#x27;credit&#x27;)&gt;" in main


def test_a_huge_markdown_table_renders_once_per_process_and_inside_a_scroll_box(client, frozen_clock, organisation,
                                                                                triager, product):
    header = "|" + "|".join(f"c{n}" for n in range(40)) + "|\n|" + "|".join("-" for _ in range(40)) + "|\n"
    row = "|" + "|".join(f"<b>{n}</b>" for n in range(40)) + "|\n"
    details = header + row * ((99_000 - len(header)) // len(row))
    assert len(details) <= 100_000  # the model's limit: the largest table staff can publish
    advisory = advisory_published(organisation, triager, product, details=details)
    first = client.get(page_url(advisory))
    assert first.status_code == 200
    body = first.content.decode()
    assert '<div class="markdown"><table>' in body
    assert "<b>" not in body and "&lt;b&gt;" in body  # raw HTML in cells stays text
    # Parsing the largest table takes seconds of CPU: later visitors get the memoised rendering.
    started = time.monotonic()
    assert client.get(page_url(advisory)).status_code == 200
    assert time.monotonic() - started < 1.5


def test_a_withdrawn_advisory_shows_a_clear_banner_with_the_reason(client, frozen_clock, organisation, owner,
                                                                    product):
    advisory = advisory_published(organisation, owner, product, title="Not really a bug")
    frozen_clock.advance(days=3)
    advisory_withdraw(advisory=advisory, actor=owner, reason="The reported behaviour is documented and intended.")
    body = client.get(page_url(advisory)).content.decode()
    assert 'class="withdrawn-banner" role="alert"' in body
    assert "This advisory was withdrawn on" in body and "26 Nov 2026" in body
    assert "Reason: The reported behaviour is documented and intended." in body
    assert "Revision 2" in body
    index = client.get(reverse("public:advisories", kwargs={"organisation": organisation.slug})).content.decode()
    assert "Withdrawn" in index and "Not really a bug" in index


def test_revision_history_lists_each_published_revision_with_its_changelog(client, frozen_clock, organisation,
                                                                           triager, product):
    advisory = advisory_published(organisation, triager, product)
    frozen_clock.advance(days=1)
    advisory_update(advisory=advisory, actor=triager, summary="Also affects the API.")
    advisory_transition(advisory=advisory, actor=triager, to=AdvisoryState.UPDATED, changelog="Added the API")
    frozen_clock.advance(days=1)
    advisory_update(advisory=advisory, actor=triager, summary="Unpublished third draft")
    body = client.get(page_url(advisory)).content.decode()
    history = body[body.index('id="history-heading"'):]
    assert history.index("Revision 2") < history.index("Revision 1")
    assert "Added the API" in history and "Initial publication" in history
    assert "Revision 3" not in body and "Unpublished third draft" not in body
