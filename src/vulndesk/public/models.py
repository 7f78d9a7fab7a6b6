"""The public site's own rows: which host name serves which organisation's security.txt, and
the per-product index of public advisories.

Neither holds anything unpublished. ``PublicAdvisoryProduct`` is derived from
``Advisory.public_product_ids`` by a publish hook (``services.advisory_products_index``), so
a product filter is an index lookup on every database: SQLite has no JSON containment lookup,
and a scan of ``public_product_ids`` would not stay fast at 100k advisories.
"""

from django.core.validators import RegexValidator
from django.db import models

from vulndesk.advisories.models import Advisory
from vulndesk.organisations.models import Organisation
from vulndesk.products.models import Product

# A DNS name in lower case (RFC 1123 labels), no port, no trailing dot.
HOSTNAME_PATTERN = r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"


class PublicSite(models.Model):
    """A host name whose ``/.well-known/security.txt`` belongs to one organisation
    (multi-tenant installations: security.acme.example -> Acme)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="public_sites")
    hostname = models.CharField(
        max_length=253, unique=True,
        validators=[RegexValidator(HOSTNAME_PATTERN, "A host name such as security.example.org (no scheme, no port).")],
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname


class PublicAdvisoryProduct(models.Model):
    """One (public advisory, product) pair, with the advisory's first publication time copied
    so that a product's advisories come newest first straight from the index."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="public_product_rows")
    published_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["advisory", "product"], name="public_advisory_product_once"),
        ]
        indexes = [
            models.Index(fields=["product", "published_at", "advisory"], name="public_product_advisories"),
        ]
