"""Writes for intake addresses: which address files into which product. Owners and security
managers configure them; each change is audited."""

from django.db import IntegrityError, transaction

from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.mailintake.addresses import InvalidAddress, domain_check, local_part_check
from vulndesk.mailintake.models import IntakeAddress
from vulndesk.organisations.models import SETTINGS_ROLES, Membership
from vulndesk.products.models import Product


def _check(actor: Membership, organisation_id: int) -> None:
    if actor.organisation_id != organisation_id:
        raise NotFound
    if actor.role not in SETTINGS_ROLES:
        raise NotAllowed


def intake_address_add(*, actor: Membership, local_part: str, domain: str, product: Product,
                       accepts_product_tags: bool = True) -> IntakeAddress:
    _check(actor, product.organisation_id)
    try:
        local_part, domain = local_part_check(local_part), domain_check(domain)
    except InvalidAddress as error:
        raise DomainError(str(error), field="local_part" if "letters" in str(error) else "domain") from None
    try:
        with transaction.atomic():
            address = IntakeAddress.objects.create(
                organisation_id=product.organisation_id, local_part=local_part, domain=domain, product=product,
                accepts_product_tags=accepts_product_tags, created_at=clock.now())
            audit_record(action="mail.address_add", organisation_id=product.organisation_id, actor_id=actor.user_id,
                         actor_label=actor.user.display_name, target_type="intake_address", target_id=address.pk,
                         data={"product": product.pk})
    except IntegrityError:
        # Globally unique: the same address cannot lead to two organisations.
        raise DomainError("This address is already in use.", field="local_part") from None
    return address


@transaction.atomic
def intake_address_deactivate(*, actor: Membership, address: IntakeAddress) -> IntakeAddress:
    """Stop accepting mail at an address (RCPT answers 550). Kept, so threads still show where
    their mail came in; re-adding it is not needed to read the past."""
    _check(actor, address.organisation_id)
    address.is_active = False
    address.save(update_fields=["is_active"])
    audit_record(action="mail.address_deactivate", organisation_id=address.organisation_id, actor_id=actor.user_id,
                 actor_label=actor.user.display_name, target_type="intake_address", target_id=address.pk)
    return address
