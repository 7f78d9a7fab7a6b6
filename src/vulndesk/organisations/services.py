"""Writes for organisations and memberships."""

import logging
import smtplib
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from vulndesk.accounts.models import User
from vulndesk.accounts.services import user_for_invitation
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import Conflict, NotAllowed, NotFound
from vulndesk.organisations.mails import member_added_mail
from vulndesk.organisations.models import Membership, Organisation, Role
from vulndesk.organisations.selectors import membership_is_invited

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class MemberInvitation:
    membership: Membership
    mail_sent: bool


def member_invite(*, organisation: Organisation, email: str, name: str, role: str, actor: Membership,
                  ip_address: str | None = None) -> MemberInvitation:
    """Add a person by e-mail and mail them (``organisations.mails``).

    The result is the same whether the address already had an account, so an owner of one
    organisation cannot use this form to learn who has an account on this vulndesk (ASVS V6.3.7).
    A new person's account is created without a usable password (and without hashing anything,
    so the two paths also take about the same time); they choose one through the mailed link.
    The typed name is only a default for a new account: an existing person's name is theirs."""
    _require_owner(actor, organisation.pk)
    email = email.strip().lower()
    try:
        with transaction.atomic():
            user = user_for_invitation(email=email, name=name)
            membership = (Membership.objects.select_related("user", "organisation")
                          .filter(organisation=organisation, user=user).first())
            if membership is None:
                membership = membership_add(organisation=organisation, user=user, role=role, actor=actor)
            elif membership_is_invited(membership):
                # Added before and not logged in since (the link may have expired): mail again.
                # Decided on what the members page shows, so it tells the owner nothing new.
                audit_record(action="membership.invite_again", organisation_id=organisation.pk,
                             actor_id=actor.user_id, actor_label=str(actor.user), target_type="user",
                             target_id=user.pk, ip_address=ip_address)
            else:
                raise Conflict("This person is already a member of the organisation.", field="email")
    except IntegrityError:  # the same address added at the same moment by another request
        raise Conflict("This address was just added by someone else; reload the page.", field="email") from None
    try:
        member_added_mail(membership=membership, added_by=actor).send()
    except (smtplib.SMTPException, OSError) as error:
        # Logged by ids only: the address is personal data (and the log must not reveal which mail it was).
        logger.warning("member mail for membership %s of organisation %s not sent: %s", membership.pk,
                       organisation.pk, type(error).__name__)
        return MemberInvitation(membership=membership, mail_sent=False)
    logger.info("member mail for membership %s of organisation %s sent", membership.pk, organisation.pk)
    return MemberInvitation(membership=membership, mail_sent=True)


@transaction.atomic
def invitation_accept(*, user: User, password: str, ip_address: str | None = None) -> User:
    """The invited person chose their password (already checked against the password rules by
    the form). Setting it changes the password hash, which ends the link."""
    if user.has_usable_password():
        raise Conflict("This account already has a password; log in instead.")
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(action="auth.invitation_accept", actor_id=user.pk, actor_label=user.email, target_type="user",
                 target_id=user.pk, ip_address=ip_address)
    return user
