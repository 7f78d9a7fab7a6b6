"""Writes for products, supported versions, releases and policies.

Every product gets a Policy row with the default SECURITY.md targets at creation, so the SLA
clocks always have a policy to read. Settings changes are audited.
"""

from datetime import date

from django.db import IntegrityError, transaction

from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import Conflict, DomainError, NotFound
from vulndesk.organisations.models import Membership, Organisation
from vulndesk.products.models import Policy, Product, Release, SupportedVersion
from vulndesk.products.versions import InvalidRange, validate_range


def _actor_fields(actor: Membership | None) -> dict:
    return {"actor_id": actor.user_id if actor else None, "actor_label": str(actor.user) if actor else "system"}


def _same_organisation(actor: Membership | None, product: Product) -> None:
    if actor is not None and actor.organisation_id != product.organisation_id:
        raise NotFound


@transaction.atomic
def product_create(
    *,
    organisation: Organisation,
    name: str,
    slug: str,
    repository_url: str = "",
    description: str = "",
    security_contacts: str = "",
    actor: Membership | None = None,
) -> Product:
    if actor is not None and actor.organisation_id != organisation.pk:
        raise NotFound
    if Product.objects.filter(organisation=organisation, slug=slug).exists():
        raise Conflict(f"A product with the slug {slug!r} already exists in this organisation.", field="slug")
    product = Product(
        organisation=organisation, name=name.strip(), slug=slug, repository_url=repository_url,
        description=description, security_contacts=security_contacts, created_at=clock.now(),
    )
    product.full_clean()
    product.save()
    Policy.objects.create(product=product)
    audit_record(action="product.create", organisation_id=organisation.pk, target_type="product",
                 target_id=product.pk, **_actor_fields(actor))
    return product


@transaction.atomic
def product_update(*, product: Product, actor: Membership, **fields) -> Product:
    _same_organisation(actor, product)
    allowed = {"name", "description", "repository_url", "security_contacts", "accepts_reports"}
    for name, value in fields.items():
        if name not in allowed:
            raise DomainError(f"{name} cannot be changed here.", field=name)
        setattr(product, name, value)
    product.full_clean()
    product.save()
    audit_record(action="product.update", organisation_id=product.organisation_id, target_type="product",
                 target_id=product.pk, data={"fields": sorted(fields)}, **_actor_fields(actor))
    return product


@transaction.atomic
def policy_update(*, policy: Policy, actor: Membership, **targets) -> Policy:
    _same_organisation(actor, policy.product)
    for name, value in targets.items():
        if not hasattr(policy, name) or name in {"id", "product", "product_id"}:
            raise DomainError(f"{name} is not a policy target.", field=name)
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    audit_record(action="policy.update", organisation_id=policy.product.organisation_id, target_type="product",
                 target_id=policy.product_id, data={"targets": {k: targets[k] for k in sorted(targets)}},
                 **_actor_fields(actor))
    return policy


@transaction.atomic
def supported_version_add(
    *, product: Product, version_range: str, is_supported: bool = True, end_of_support_on: date | None = None,
    actor: Membership | None = None,
) -> SupportedVersion:
    _same_organisation(actor, product)
    try:
        validate_range(version_range)
    except InvalidRange as error:
        raise DomainError(str(error), field="version_range") from None
    row = SupportedVersion(
        product=product, version_range=version_range.strip(), is_supported=is_supported,
        end_of_support_on=end_of_support_on, position=product.supported_versions.count(),
    )
    # The unique range is left to the insert below, which answers a Conflict (full_clean would raise
    # a ValidationError no caller turns into a response: a 500).
    row.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        raise Conflict(f"{version_range} is already in the table.", field="version_range") from None
    audit_record(action="supported_version.add", organisation_id=product.organisation_id, target_type="product",
                 target_id=product.pk, data={"range": row.version_range, "supported": is_supported},
                 **_actor_fields(actor))
    return row


@transaction.atomic
def supported_version_remove(*, row: SupportedVersion, actor: Membership) -> None:
    _same_organisation(actor, row.product)
    audit_record(action="supported_version.remove", organisation_id=row.product.organisation_id,
                 target_type="product", target_id=row.product_id, data={"range": row.version_range},
                 **_actor_fields(actor))
    row.delete()


@transaction.atomic
def release_plan(
    *, product: Product, version: str, planned_on: date | None, actor: Membership | None = None, notes: str = "",
) -> Release:
    _same_organisation(actor, product)
    if not version.strip():
        raise DomainError("A release needs a version.", field="version")
    if Release.objects.filter(product=product, version=version.strip()).exists():
        raise Conflict(f"Release {version} is already planned.", field="version")
    release = Release(product=product, version=version.strip(), planned_on=planned_on, notes=notes)
    release.full_clean()
    release.save()
    audit_record(action="release.plan", organisation_id=product.organisation_id, target_type="release",
                 target_id=release.pk, data={"version": release.version,
                                             "planned_on": planned_on.isoformat() if planned_on else None},
                 **_actor_fields(actor))
    return release


@transaction.atomic
def release_ship(*, release: Release, shipped_on: date, actor: Membership | None = None) -> Release:
    _same_organisation(actor, release.product)
    release.shipped_on = shipped_on
    release.save(update_fields=["shipped_on"])
    audit_record(action="release.ship", organisation_id=release.product.organisation_id, target_type="release",
                 target_id=release.pk, data={"shipped_on": shipped_on.isoformat()}, **_actor_fields(actor))
    return release
