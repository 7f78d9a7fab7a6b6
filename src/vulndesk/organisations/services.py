"""Writes for organisations and memberships."""

from django.db import transaction

from vulndesk.accounts.models import User
from vulndesk.accounts.services import user_create
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import Conflict, NotAllowed, NotFound
from vulndesk.organisations.models import Membership, Organisation, Role


@transaction.atomic
def organisation_create(
    *,
    name: str,
    slug: str,
    reference_prefix: str,
    time_zone: str = "UTC",
    holiday_country: str = "",
    holiday_subdivision: str = "",
    security_contact_email: str = "",
) -> Organisation:
    if Organisation.objects.filter(slug=slug).exists():
        raise Conflict(f"An organisation with the slug {slug!r} already exists.", field="slug")
    organisation = Organisation(
        name=name.strip(),
        slug=slug,
        reference_prefix=reference_prefix.upper(),
        time_zone=time_zone,
        holiday_country=holiday_country.upper(),
        holiday_subdivision=holiday_subdivision.upper(),
        security_contact_email=security_contact_email,
        created_at=clock.now(),
    )
    organisation.full_clean()
    organisation.save()
    audit_record(action="organisation.create", organisation_id=organisation.pk, target_type="organisation",
                 target_id=organisation.pk)
    return organisation


@transaction.atomic
def membership_add(*, organisation: Organisation, user, role: str, actor: Membership | None = None) -> Membership:
    if role not in Role.values:
        raise Conflict(f"Unknown role {role!r}.", field="role")
    if Membership.objects.filter(organisation=organisation, user=user).exists():
        raise Conflict("This user is already a member of the organisation.", field="user")
    membership = Membership(organisation=organisation, user=user, role=role, created_at=clock.now())
    membership.full_clean()
    membership.save()
    audit_record(
        action="membership.add", organisation_id=organisation.pk,
        actor_id=actor.user_id if actor else None, target_type="user", target_id=user.pk, data={"role": role},
    )
    return membership


def _require_owner(actor: Membership, organisation_id: int) -> None:
    if actor.organisation_id != organisation_id:
        raise NotFound
    if actor.role != Role.OWNER:
        raise NotAllowed("Only owners change members and roles.")


def _owners_left(organisation_id: int, excluding: Membership) -> int:
    return Membership.objects.filter(organisation_id=organisation_id, role=Role.OWNER).exclude(pk=excluding.pk).count()


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str, actor: Membership, ip_address: str | None = None) -> Membership:
    _require_owner(actor, membership.organisation_id)
    if role not in Role.values:
        raise Conflict(f"Unknown role {role!r}.", field="role")
    if membership.role == Role.OWNER and role != Role.OWNER and _owners_left(membership.organisation_id, membership) == 0:
        raise Conflict("An organisation needs at least one owner.", field="role")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(action="membership.role_change", organisation_id=membership.organisation_id, actor_id=actor.user_id,
                 actor_label=str(actor.user), target_type="user", target_id=membership.user_id, ip_address=ip_address,
                 data={"from": previous, "to": role})
    return membership


@transaction.atomic
def membership_products_set(*, membership: Membership, product_ids: list[int], actor: Membership,
                            ip_address: str | None = None) -> Membership:
    """Scope a member to some products (empty list: all products of the organisation)."""
    _require_owner(actor, membership.organisation_id)
    # The Product model through the relation: organisations must not import the products app.
    product_model = Membership.products.field.related_model
    products = list(product_model.objects.filter(organisation_id=membership.organisation_id, pk__in=product_ids))
    if len(products) != len(set(product_ids)):
        raise NotFound("No such product.")
    membership.products.set(products)
    membership.is_product_scoped = bool(products)
    membership.save(update_fields=["is_product_scoped"])
    membership.__dict__.pop("product_scope", None)
    audit_record(action="membership.products_set", organisation_id=membership.organisation_id, actor_id=actor.user_id,
                 actor_label=str(actor.user), target_type="user", target_id=membership.user_id, ip_address=ip_address,
                 data={"products": sorted(p.pk for p in products)})
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Membership, ip_address: str | None = None) -> None:
    _require_owner(actor, membership.organisation_id)
    if membership.role == Role.OWNER and _owners_left(membership.organisation_id, membership) == 0:
        raise Conflict("An organisation needs at least one owner.", field="role")
    audit_record(action="membership.remove", organisation_id=membership.organisation_id, actor_id=actor.user_id,
                 actor_label=str(actor.user), target_type="user", target_id=membership.user_id, ip_address=ip_address,
                 data={"role": membership.role})
    membership.delete()


@transaction.atomic
def member_invite(*, organisation: Organisation, email: str, name: str, role: str, actor: Membership,
                  ip_address: str | None = None) -> tuple[Membership, str | None]:
    """Add a person by e-mail: an existing user joins; a new one is created with a one-time
    password (returned, to hand over out of band). Returns (membership, password or None)."""
    _require_owner(actor, organisation.pk)
    user = User.objects.filter(email=email.strip().lower()).first()
    password = None
    if user is None:
        user, password = user_create(email=email, name=name)
    membership = membership_add(organisation=organisation, user=user, role=role, actor=actor)
    return membership, password
