"""Writes for organisations and memberships."""

from django.db import transaction

from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import Conflict
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
