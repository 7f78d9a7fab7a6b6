"""Atom feeds of published advisories, per organisation and per product.

One entry per published revision (first publication, each update, a withdrawal), so a reader
sees every change; an entry's id names the revision, and its ``updated`` is the time that
revision was published. Entries read the revision's frozen snapshot only, never live fields.
"""

import re
from dataclasses import dataclass

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import format_html_join

from vulndesk.organisations.models import Organisation
from vulndesk.products.models import Product
from vulndesk.public import selectors
from vulndesk.public.presentation import parse_time

# XML 1.0 cannot carry these; Django's feed writer refuses them, which would break the whole feed
# over one stray character in one advisory.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value) -> str:
    return _NOT_XML.sub("", str(value or ""))


@dataclass(frozen=True)
class FeedSubject:
    organisation: Organisation
    product: Product | None
    base_url: str  # scheme and host of the request: entry ids and links must be absolute IRIs


class AdvisoryFeed(Feed):
    feed_type = Atom1Feed
    item_guid_is_permalink = False

    def get_object(self, request, organisation, product=None):
        organisation = selectors.organisation_public(slug=organisation)
        product = selectors.product_public(organisation=organisation, slug=product) if product else None
        return FeedSubject(organisation, product, request.build_absolute_uri("/").rstrip("/"))

    def title(self, subject):
        suffix = f" for {subject.product.name}" if subject.product else ""
        return xml_text(f"{subject.organisation.name}: security advisories{suffix}")

    def subtitle(self, subject):
        return "Every published revision of an advisory: first publication, updates and withdrawals."

    def link(self, subject):
        if subject.product:
            return reverse("public:product_advisories", kwargs={"organisation": subject.organisation.slug,
                                                                "product": subject.product.slug})
        return reverse("public:advisories", kwargs={"organisation": subject.organisation.slug})

    def author_name(self, subject):
        return xml_text(subject.organisation.name)

    def items(self, subject):
        revisions = selectors.revisions_for_feed(organisation=subject.organisation, product=subject.product)
        for revision in revisions:
            revision.page_url = subject.base_url + reverse(
                "public:advisory", kwargs={"organisation": subject.organisation.slug,
                                           "identifier": revision.advisory.identifier})
        return revisions

    def item_title(self, revision):
        snapshot = revision.snapshot or {}
        title = (snapshot.get("database_specific") or {}).get("title") or snapshot.get("summary") or ""
        if snapshot.get("withdrawn"):
            kind = "withdrawn"
        elif revision.revision > 1:
            kind = f"updated, revision {revision.revision}"
        else:
            kind = ""
        return xml_text(f"{revision.advisory.identifier}: {title}" + (f" ({kind})" if kind else ""))

    def item_description(self, revision):
        # Atom1Feed writes this as <summary type="html">: a reader decodes the XML and then renders
        # HTML, so the advisory's text is HTML-escaped first and reaches the reader as text.
        snapshot = revision.snapshot or {}
        parts = [xml_text(snapshot.get("summary")), xml_text(f"Changes: {revision.changelog}" if revision.changelog else "")]
        return format_html_join("", "<p>{}</p>", ((part,) for part in parts if part))

    def item_link(self, revision):
        return revision.page_url

    def item_guid(self, revision):
        return f"{revision.page_url}#revision-{revision.revision}"

    def item_pubdate(self, revision):
        return parse_time((revision.snapshot or {}).get("published")) or revision.published_at

    def item_updateddate(self, revision):
        return revision.published_at
