"""Atom feeds per organisation and per product: one entry per published revision, updated at
that revision, advisory text delivered as text."""

import xml.etree.ElementTree as ET

from django.urls import reverse

from tests.factories.core import make_product
from tests.public.conftest import advisory_published
from vulndesk.advisories.services import advisory_transition, advisory_update, advisory_withdraw
from vulndesk.advisories.states import AdvisoryState

ATOM = "{http://www.w3.org/2005/Atom}"


def entries(response):
    root = ET.fromstring(response.content)
    return root, root.findall(f"{ATOM}entry")


def test_the_organisation_feed_has_an_entry_per_published_revision(client, frozen_clock, organisation, owner):
    product = make_product(organisation)
    advisory = advisory_published(organisation, owner, product, title="Path traversal")
    frozen_clock.advance(days=1)
    advisory_update(advisory=advisory, actor=owner, summary="Also on Windows.")
    advisory_transition(advisory=advisory, actor=owner, to=AdvisoryState.UPDATED, changelog="Windows paths")
    frozen_clock.advance(days=1)
    advisory_withdraw(advisory=advisory, actor=owner, reason="Duplicate of an earlier advisory")
    response = client.get(reverse("public:feed", kwargs={"organisation": organisation.slug}))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    root, items = entries(response)
    assert root.find(f"{ATOM}title").text == f"{organisation.name}: security advisories"
    assert [item.find(f"{ATOM}title").text for item in items] == [
        f"{advisory.identifier}: Path traversal (withdrawn)",
        f"{advisory.identifier}: Path traversal (updated, revision 2)",
        f"{advisory.identifier}: Path traversal",
    ]
    assert [item.find(f"{ATOM}updated").text for item in items] == [
        "2026-11-25T09:00:00+00:00", "2026-11-24T09:00:00+00:00", "2026-11-23T09:00:00+00:00"]
    ids = [item.find(f"{ATOM}id").text for item in items]
    assert len(set(ids)) == 3
    assert all(i.startswith(f"http://testserver/advisories/{organisation.slug}/{advisory.identifier}/#revision-")
               for i in ids)
    assert items[1].find(f"{ATOM}link").get("href") == \
        f"http://testserver/advisories/{organisation.slug}/{advisory.identifier}/"
    assert "Windows paths" in items[1].find(f"{ATOM}summary").text
    assert root.find(f"{ATOM}updated").text == "2026-11-25T09:00:00+00:00"


def test_the_product_feed_lists_only_that_products_advisories(client, frozen_clock, organisation, triager):
    web, api = make_product(organisation), make_product(organisation)
    advisory_published(organisation, triager, web, title="Web bug")
    advisory_published(organisation, triager, api, title="API bug")
    response = client.get(reverse("public:product_feed", kwargs={"organisation": organisation.slug,
                                                                 "product": web.slug}))
    _, items = entries(response)
    assert [item.find(f"{ATOM}title").text.split(": ", 1)[1] for item in items] == ["Web bug"]


def test_feed_text_reaches_readers_as_text_not_html(client, frozen_clock, organisation, triager):
    advisory_published(organisation, triager, title="<script>alert(1)</script>",
                       summary="<img src=x onerror=alert(1)>")
    _, items = entries(client.get(reverse("public:feed", kwargs={"organisation": organisation.slug})))
    summary = items[0].find(f"{ATOM}summary")
    assert summary.get("type") == "html"
    # The reader decodes the XML, then renders HTML: the tag must still be escaped at that point.
    assert summary.text == "<p>&lt;img src=x onerror=alert(1)&gt;</p><p>Changes: Initial publication</p>"
    title = items[0].find(f"{ATOM}title")
    assert title.get("type") in (None, "text") and title.text.endswith("<script>alert(1)</script>")


def test_an_empty_feed_is_valid_and_an_unknown_one_is_404(client, organisation):
    response = client.get(reverse("public:feed", kwargs={"organisation": organisation.slug}))
    assert response.status_code == 200 and entries(response)[1] == []
    assert client.get(reverse("public:feed", kwargs={"organisation": "nobody"})).status_code == 404
    assert client.get(reverse("public:product_feed", kwargs={"organisation": organisation.slug,
                                                             "product": "nothing"})).status_code == 404


def test_feeds_need_a_bounded_number_of_queries(client, frozen_clock, organisation, triager,
                                                django_assert_max_num_queries):
    for n in range(5):
        advisory_published(organisation, triager, title=f"Bug {n}")
    with django_assert_max_num_queries(4):
        client.get(reverse("public:feed", kwargs={"organisation": organisation.slug}))


def test_a_control_character_in_one_advisory_does_not_break_the_feed(client, frozen_clock, organisation, triager):
    advisory_published(organisation, triager, title="Bell\x07 in title", summary="Form\x0cfeed")
    response = client.get(reverse("public:feed", kwargs={"organisation": organisation.slug}))
    assert response.status_code == 200
    _, items = entries(response)
    assert items[0].find(f"{ATOM}title").text.endswith("Bell in title")
