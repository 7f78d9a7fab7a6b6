"""Product pages and SECURITY.md: the published promise is the enforced policy, read from the
same rows, so changing the policy changes both."""

from datetime import date

import pytest
from django.urls import reverse
from markdown_it import MarkdownIt

from tests.factories.core import add_versions, make_member, make_organisation, make_product
from tests.public.conftest import advisory_published
from vulndesk.products.services import policy_update, product_update, supported_version_add


@pytest.fixture
def acme(frozen_clock, db):
    organisation = make_organisation(name="Acme", slug="acme", security_contact_email="security@acme.example",
                                     time_zone="Europe/Oslo", holiday_country="NO")
    product = make_product(organisation, name="Acme Web", slug="web", description="The Acme web shop.")
    add_versions(product, supported=("2.x",), unsupported=("1.x",))
    owner = make_member(organisation, role="owner")
    return organisation, product, owner


def security_md(client, product="web"):
    response = client.get(reverse("public:product_security_md", kwargs={"organisation": "acme", "product": product}),
                          secure=True)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="SECURITY.md"'
    return response.content.decode()


def test_security_md_states_the_policy_versions_and_contacts(client, acme):
    text = security_md(client)
    assert text.startswith("# Security policy for Acme Web\n")
    assert "| `2.x` | Yes | - |" in text and "| `1.x` | No | - |" in text
    assert "<https://testserver/p/acme/web/report/>" in text and "<security@acme.example>" in text
    assert "acknowledge your report within 48 hours of receiving it" in text
    assert "within 5 business days of receiving it" in text
    assert "Critical: within 72 hours" in text and "High: within 14 days" in text
    assert "Medium: within 28 days" in text and "Low: in the next planned release" in text
    assert "public advisory within 90 days of receiving the report" in text
    assert "Europe/Oslo" in text and "public holidays in NO" in text
    assert "<https://testserver/products/acme/web/advisories/>" in text
    assert "<https://testserver/feeds/acme/web.atom>" in text


def test_changing_the_policy_changes_the_published_file(client, acme):
    organisation, product, owner = acme
    before = security_md(client)
    policy_update(policy=product.policy, actor=owner, acknowledgement_hours=24, assessment_business_days=3,
                  critical_resolution_hours=48, high_resolution_days=7, low_in_next_release=False,
                  low_resolution_days=120, disclosure_days=60)
    supported_version_add(product=product, version_range="3.x", is_supported=True, end_of_support_on=date(2028, 1, 31))
    after = security_md(client)
    assert after != before
    assert "within 24 hours of receiving it" in after and "within 48 hours of receiving it" not in after
    assert "within 3 business days" in after and "Critical: within 48 hours" in after
    assert "High: within 7 days" in after and "Low: within 120 days" in after
    assert "within 60 days of receiving the report" in after
    assert "| `3.x` | Yes | 2028-01-31 |" in after
    page = client.get(reverse("public:product", kwargs={"organisation": "acme", "product": "web"})).content.decode()
    assert "within 24 hours of receiving it" in page and "within 120 days" in page


def test_staff_text_in_security_md_cannot_become_markdown_links_or_html(client, acme):
    organisation, product, owner = acme
    product_update(product=product, actor=owner, name="[click](javascript:alert(1)) <img src=x>")
    text = security_md(client)
    assert "\\[click\\](javascript:alert(1)) \\<img src=x\\>" in text
    # Rendered as a forge would (raw HTML allowed), the name is still text.
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    assert "<img" not in html and 'href="javascript' not in html
    assert "[click](javascript:alert(1)) &lt;img src=x&gt;" in html


def test_the_product_page_shows_versions_policy_report_link_and_recent_advisories(client, acme, django_assert_max_num_queries):
    organisation, product, owner = acme
    advisory_published(organisation, owner, product, title="Cart total can go negative")
    url = reverse("public:product", kwargs={"organisation": "acme", "product": "web"})
    with django_assert_max_num_queries(7):
        response = client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Acme Web" in body and "The Acme web shop." in body
    assert '<td class="mono">2.x</td>' in body and "✓ Yes" in body and "✕ No" in body
    assert 'href="/p/acme/web/report/"' in body
    assert "acknowledge reports within 48 hours of receiving it" in body
    assert "Cart total can go negative" in body
    assert 'href="/products/acme/web/SECURITY.md"' in body


def test_a_product_is_public_while_it_takes_reports_or_has_public_advisories(client, acme):
    organisation, product, owner = acme
    internal = make_product(organisation, name="Internal tool", slug="internal")
    product_update(product=internal, actor=owner, accepts_reports=False)
    for name in ("public:product", "public:product_security_md", "public:product_advisories", "public:product_feed"):
        url = reverse(name, kwargs={"organisation": "acme", "product": "internal"})
        assert client.get(url).status_code == 404, name
    listing = client.get(reverse("public:products", kwargs={"organisation": "acme"})).content.decode()
    assert "Internal tool" not in listing and "Acme Web" in listing
    advisory_published(organisation, owner, internal, title="Internal tool leaks tokens")
    page = client.get(reverse("public:product", kwargs={"organisation": "acme", "product": "internal"}))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Internal tool leaks tokens" in body and "does not take reports through the web form" in body
    assert 'href="/p/acme/internal/report/"' not in body


def test_the_product_list_and_security_txt_need_a_bounded_number_of_queries(client, acme,
                                                                             django_assert_max_num_queries):
    organisation, _, _ = acme
    for n in range(6):
        make_product(organisation, name=f"Extra {n}")
    with django_assert_max_num_queries(3):
        assert client.get(reverse("public:products", kwargs={"organisation": "acme"})).status_code == 200
    with django_assert_max_num_queries(4):
        assert client.get(reverse("public:organisation_security_txt", kwargs={"organisation": "acme"}),
                          secure=True).status_code == 200
