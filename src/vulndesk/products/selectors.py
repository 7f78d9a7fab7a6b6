"""Reads for products. Every selector is scoped by the acting member's organisation."""

from datetime import date

from vulndesk.accounts.models import ApiToken
from vulndesk.core.errors import NotFound
from vulndesk.organisations.models import Membership
from vulndesk.products.models import Product, Release, SupportedVersion
from vulndesk.products.versions import version_in_range


def _visible_products(member: Membership):
    products = Product.objects.filter(organisation_id=member.organisation_id)
    if member.product_scope is not None:
        products = products.filter(pk__in=member.product_scope)
    return products


def products_for_member(*, member: Membership) -> list[Product]:
    return list(_visible_products(member).order_by("name"))


def product_for_member(*, member: Membership, product_slug: str) -> Product:
    product = _visible_products(member).select_related("policy", "organisation").filter(slug=product_slug).first()
    if product is None:
        raise NotFound
    return product


def product_public(*, organisation_slug: str, product_slug: str) -> Product:
    """The product behind a public report form. Products that do not accept reports are 404."""
    product = (
        Product.objects.select_related("policy", "organisation")
        .filter(organisation__slug=organisation_slug, slug=product_slug, accepts_reports=True)
        .first()
    )
    if product is None:
        raise NotFound
    return product


def supported_versions_for_product(*, product: Product) -> list[SupportedVersion]:
    return list(product.supported_versions.all())


def version_support(*, rows: list[SupportedVersion], version: str) -> bool | None:
    """True if ``version`` falls in a supported range, False if only in unsupported ones,
    None when the table says nothing about it (or no version was given)."""
    if not version.strip():
        return None
    verdict = None
    for row in rows:
        if version_in_range(version, row.version_range):
            if row.is_supported:
                return True
            verdict = False
    return verdict


def next_planned_release(*, product_id: int, after: date) -> Release | None:
    """The first unshipped release planned on or after ``after``."""
    return (
        Release.objects.filter(product_id=product_id, shipped_on__isnull=True, planned_on__gte=after)
        .order_by("planned_on", "id")
        .first()
    )


def releases_for_product(*, product: Product) -> list[Release]:
    return list(product.releases.order_by("-planned_on", "-id"))


def api_tokens_for_product(*, product: Product) -> list:
    return list(ApiToken.objects.filter(product=product, organisation_id=product.organisation_id)
                .select_related("created_by").order_by("-created_at"))


def api_token_for_product(*, product: Product, token_id: int):
    token = ApiToken.objects.filter(pk=token_id, product=product, organisation_id=product.organisation_id).first()
    if token is None:
        raise NotFound
    return token
