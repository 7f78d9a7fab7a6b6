"""Reads for organisations and memberships."""

from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from vulndesk.accounts.models import ApiToken, User
from vulndesk.core.errors import NotFound
from vulndesk.organisations.models import Membership


def memberships_for_user(*, user) -> list[Membership]:
    return list(Membership.objects.filter(user=user).select_related("organisation").order_by("organisation__name"))


def members_of_organisation(*, member: Membership) -> list[Membership]:
    """Everyone in the acting member's organisation (for assignee pickers)."""
    return list(
        Membership.objects.filter(organisation_id=member.organisation_id)
        .exclude(role="ci_uploader")
        .select_related("user")
        .order_by("user__name", "user__email")
    )


def membership_in_organisation(*, member: Membership, membership_id: int) -> Membership:
    row = (Membership.objects.select_related("user", "organisation")
           .filter(pk=membership_id, organisation_id=member.organisation_id).first())
    if row is None:
        raise NotFound
    return row


def membership_is_invited(membership: Membership) -> bool:
    """Added, and not logged in since: for a new account and an existing one alike, so that
    nothing shown to the owner tells whether the address had an account before."""
    last_login = membership.user.last_login
    return last_login is None or last_login < membership.created_at


def memberships_for_settings(*, member: Membership) -> list[Membership]:
    return list(
        Membership.objects.filter(organisation_id=member.organisation_id)
        .select_related("user").prefetch_related("products").order_by("role", "user__email")
    )


def api_tokens_for_organisation(*, member: Membership):
    return list(ApiToken.objects.filter(organisation_id=member.organisation_id)
                .select_related("product", "created_by").order_by("-created_at"))


def api_token_in_organisation(*, member: Membership, token_id: int):
    token = ApiToken.objects.filter(pk=token_id, organisation_id=member.organisation_id).first()
    if token is None:
        raise NotFound
    return token


def products_of_organisation(*, member: Membership) -> list:
    """Products for pickers on organisation pages. Through the relation, since organisations
    must not import the products app."""
    product_model = Membership.products.field.related_model
    return list(product_model.objects.filter(organisation_id=member.organisation_id).order_by("name"))


def user_for_invitation(*, uidb64: str, token: str):
    """The invited person behind a set-password link, or None when the link is malformed,
    expired, already used, or the account can already log in (the link is an invitation, not a
    password reset: a person who has a password keeps it)."""
    if len(uidb64) > 20 or len(token) > 100:
        return None
    try:
        user_id = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or user.has_usable_password() or not default_token_generator.check_token(user, token):
        return None
    return user
