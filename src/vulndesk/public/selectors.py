"""Reads for the public site: published advisories, their revisions, products and policies.

The embargo gate: every advisory read here filters ``is_public=True`` and loads only the
published face (``public_*`` fields, ``public_document``) plus the identity fields, never the
live, possibly unpublished, edits (docs/design/disclosure.md). Revisions are those published up
to ``public_modified_at``. Products are public when they take reports or appear in a public
advisory; any other product answers 404 like a product that does not exist.
"""

from django.db.models import F, Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.http.request import split_domain_port

from vulndesk.advisories.models import Advisory, AdvisoryRevision
from vulndesk.core.errors import NotFound
from vulndesk.organisations.models import Organisation
from vulndesk.products.models import Product, SupportedVersion
from vulndesk.public.models import PublicAdvisoryProduct, PublicSite
from vulndesk.public.pagination import Cursor, Page, keyset_page

# What a public page may read of an advisory: identity, lifecycle dates and the published face.
PUBLIC_FIELDS = ("id", "organisation_id", "identifier", "is_public", "published_at", "public_title",
                 "public_summary", "public_severity", "public_modified_at", "public_product_ids")
# Django 5 compiles ``is_public=True`` to a bare ``WHERE is_public``, which SQLite cannot match to
# the ``is_public`` column of advisory_public_index: it would read every advisory of the
# organisation and sort them. ``IN (1)`` is an equality to SQLite's planner, so the index also
# gives the order (tests/public/test_index.py checks the query plan).
PUBLIC = Q(is_public__in=[True])
MAX_SEARCH_WORDS = 5
FEED_ENTRIES = 50


def organisation_public(*, slug: str) -> Organisation:
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        raise NotFound
    return organisation


def organisation_for_host(*, host: str) -> Organisation | None:
    """The organisation whose security.txt a host name serves: the one registered for the host
    (``PublicSite``), else the only organisation of a single-tenant installation, else None."""
    hostname, _port = split_domain_port(host)  # lower case, no port, no trailing dot
    site = PublicSite.objects.select_related("organisation").filter(hostname=hostname).first() if hostname else None
    if site is not None:
        return site.organisation
    only = list(Organisation.objects.order_by("pk")[:2])
    return only[0] if len(only) == 1 else None


def public_site_hostnames(*, organisation: Organisation) -> list[str]:
    return list(PublicSite.objects.filter(organisation=organisation).values_list("hostname", flat=True))


def _public_products(organisation: Organisation):
    in_advisories = PublicAdvisoryProduct.objects.filter(organisation=organisation).values("product_id")
    return Product.objects.filter(Q(accepts_reports=True) | Q(pk__in=in_advisories), organisation=organisation)


def products_public(*, organisation: Organisation) -> list[Product]:
    return list(_public_products(organisation).order_by("name"))


def product_public(*, organisation: Organisation, slug: str) -> Product:
    product = _public_products(organisation).select_related("policy", "organisation").filter(slug=slug).first()
    if product is None:
        raise NotFound
    return product


def supported_versions_public(*, product: Product) -> list[SupportedVersion]:
    return list(product.supported_versions.all())


def _search_words(query: str) -> list[str]:
    return [word for word in query.split() if word][:MAX_SEARCH_WORDS]


def _filters(query: str, severity: str, *, prefix: str = "") -> Q:
    filters = Q()
    words = _search_words(query)
    for word in words:
        filters &= Q(**{f"{prefix}public_title__icontains": word})
    if len(words) == 1:  # a pasted identifier (ACME-2026-0007) finds its advisory too
        filters |= Q(**{f"{prefix}identifier__iexact": words[0]})
    if severity:
        filters &= Q(**{f"{prefix}public_severity": severity})
    return filters


def advisories_public_rows(*, organisation: Organisation, product: Product | None = None, query: str = "",
                           severity: str = "") -> QuerySet:
    """The filtered, unordered rows behind the index: advisories, or product-index rows (each
    with its ``advisory``) when ``product`` is given. ``advisories_public_page`` pages them."""
    if product is None:
        return (Advisory.objects.filter(PUBLIC, _filters(query, severity), organisation=organisation)
                .only(*PUBLIC_FIELDS)
                .annotate(public_withdrawn=KeyTransform("withdrawn", "public_document"),
                          public_aliases=KeyTransform("aliases", "public_document")))
    if product.organisation_id != organisation.pk:
        raise NotFound
    return (PublicAdvisoryProduct.objects
            .filter(_filters(query, severity, prefix="advisory__"), product=product,
                    advisory__organisation=organisation, advisory__is_public=True)
            .select_related("advisory")
            .only("published_at", "advisory", "product", *(f"advisory__{name}" for name in PUBLIC_FIELDS))
            .annotate(public_withdrawn=KeyTransform("withdrawn", "advisory__public_document"),
                      public_aliases=KeyTransform("aliases", "advisory__public_document")))


def advisories_public_page(*, organisation: Organisation, product: Product | None = None, query: str = "",
                           severity: str = "", after: Cursor | None = None, before: Cursor | None = None,
                           size: int = 25) -> Page:
    """Public advisories newest first (first publication), one keyset page. Every title word
    must match, case-insensitively (public data, so a plain ``icontains``; no regex, so a hostile
    term cannot make the database backtrack). Without ``product`` the query walks
    ``advisory_public_index`` (or ``advisory_public_severity``); with it, the product index.
    Withdrawal and aliases are read from the published document, not the live columns."""
    rows = advisories_public_rows(organisation=organisation, product=product, query=query, severity=severity)
    if product is None:
        return keyset_page(rows, at_field="published_at", id_field="id", after=after, before=before, size=size,
                           key=lambda advisory: Cursor(advisory.published_at, advisory.pk))
    page = keyset_page(rows, at_field="published_at", id_field="advisory_id", after=after, before=before,
                       size=size, key=lambda row: Cursor(row.published_at, row.advisory_id))
    items = []
    for row in page.items:
        row.advisory.public_withdrawn, row.advisory.public_aliases = row.public_withdrawn, row.public_aliases
        items.append(row.advisory)
    return Page(items, older=page.older, newer=page.newer)


def advisory_public(*, organisation: Organisation, identifier: str) -> Advisory:
    """One published (or withdrawn) advisory. A draft, an advisory under embargo and one that
    never existed all raise the same NotFound."""
    advisory = (Advisory.objects.filter(PUBLIC, organisation=organisation, identifier=identifier)
                .only(*PUBLIC_FIELDS, "public_document").first())
    if advisory is None or not advisory.public_document:
        raise NotFound
    return advisory


def advisory_revisions_public(*, advisory: Advisory) -> list[AdvisoryRevision]:
    """Published revisions, newest first (without their snapshots: the page shows the latest)."""
    return list(AdvisoryRevision.objects
                .filter(advisory_id=advisory.pk, advisory__is_public=True, published_at__isnull=False,
                        published_at__lte=advisory.public_modified_at)
                .only("id", "advisory_id", "revision", "published_at", "changelog")
                .order_by("-revision"))


def products_for_ids(*, organisation: Organisation, product_ids: list[int]) -> list[Product]:
    return list(Product.objects.filter(organisation=organisation, pk__in=product_ids or []).order_by("name"))


def revisions_for_feed(*, organisation: Organisation, product: Product | None = None,
                       limit: int = FEED_ENTRIES) -> list[AdvisoryRevision]:
    """The newest published revisions, one feed entry each. Each advisory's newest revision is
    at its ``public_modified_at``, so the newest ``limit`` revisions all belong to the ``limit``
    most recently revised advisories: find those first, then read only their revisions."""
    advisories = Advisory.objects.filter(PUBLIC, organisation=organisation)
    if product is not None:
        advisories = advisories.filter(public_product_rows__product=product)
    recent = list(advisories.order_by("-public_modified_at", "-id").values_list("pk", flat=True)[:limit])
    return list(AdvisoryRevision.objects
                .filter(advisory_id__in=recent, advisory__is_public=True, published_at__isnull=False,
                        published_at__lte=F("advisory__public_modified_at"))
                .select_related("advisory")
                .only("id", "revision", "published_at", "changelog", "snapshot", "advisory__id",
                      "advisory__identifier", "advisory__organisation_id", "advisory__public_modified_at")
                .order_by("-published_at", "-id")[:limit])
