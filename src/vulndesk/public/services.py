"""Writes of the public site: host names for security.txt, and the per-product index of
public advisories kept by a publish hook.

Invariants: ``PublicAdvisoryProduct`` rows exist only for public advisories and are derived
from ``Advisory.public_product_ids`` (the published face, never the live edits), inside the
publishing transaction, so the product index never disagrees with what is published.
Host names are settings of an organisation: only its owners and security managers change them.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from vulndesk.advisories.models import Advisory, AdvisoryRevision
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import Conflict, DomainError, NotAllowed, NotFound
from vulndesk.organisations.models import SETTINGS_ROLES, Membership, Organisation
from vulndesk.products.models import Product
from vulndesk.public.models import PublicAdvisoryProduct, PublicSite


def _require_settings_role(actor: Membership | None, organisation_id: int) -> None:
    if actor is None:
        return  # the system (management commands, fixtures)
    if actor.organisation_id != organisation_id:
        raise NotFound
    if actor.role not in SETTINGS_ROLES:
        raise NotAllowed


@transaction.atomic
def public_site_add(*, organisation: Organisation, hostname: str, actor: Membership | None = None) -> PublicSite:
    """Serve ``organisation``'s security.txt at ``https://<hostname>/.well-known/security.txt``.
    The host must also be in ``ALLOWED_HOSTS`` and point at this installation."""
    _require_settings_role(actor, organisation.pk)
    hostname = hostname.strip().lower().rstrip(".")
    if PublicSite.objects.filter(hostname=hostname).exists():
        raise Conflict(f"The host name {hostname!r} already serves an organisation.", field="hostname")
    site = PublicSite(organisation=organisation, hostname=hostname, created_at=clock.now())
    try:
        site.full_clean()
    except ValidationError as error:
        raise DomainError(" ".join(error.message_dict.get("hostname", error.messages)), field="hostname") from None
    site.save()
    audit_record(action="public_site.add", organisation_id=organisation.pk, target_type="public_site",
                 target_id=site.pk, actor_id=actor.user_id if actor else None,
                 actor_label=str(actor.user) if actor else "system", data={"hostname": hostname})
    return site


@transaction.atomic
def public_site_remove(*, site: PublicSite, actor: Membership | None = None) -> None:
    _require_settings_role(actor, site.organisation_id)
    audit_record(action="public_site.remove", organisation_id=site.organisation_id, target_type="public_site",
                 target_id=site.pk, actor_id=actor.user_id if actor else None,
                 actor_label=str(actor.user) if actor else "system", data={"hostname": site.hostname})
    site.delete()


def advisory_products_index(advisory: Advisory, revision: AdvisoryRevision | None = None) -> None:
    """Publish hook (advisories.hooks.PUBLISH_HOOKS): mirror the published product list of
    ``advisory`` into the product index. Runs inside the publishing transaction; a revision
    may add or drop products, so the rows are replaced, not appended."""
    if not advisory.is_public or advisory.published_at is None:
        return
    product_ids = set(
        Product.objects.filter(organisation_id=advisory.organisation_id, pk__in=advisory.public_product_ids or [])
        .values_list("pk", flat=True)
    )
    existing = set(PublicAdvisoryProduct.objects.filter(advisory=advisory).values_list("product_id", flat=True))
    PublicAdvisoryProduct.objects.filter(advisory=advisory).exclude(product_id__in=product_ids).delete()
    PublicAdvisoryProduct.objects.bulk_create([
        PublicAdvisoryProduct(organisation_id=advisory.organisation_id, product_id=product_id, advisory=advisory,
                              published_at=advisory.published_at)
        for product_id in sorted(product_ids - existing)
    ])
