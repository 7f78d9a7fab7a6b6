"""The tenant gate. Requests reach an organisation's data only through here.

"No such organisation" and "not a member" are both ``NotFound``, so slugs cannot be probed.
``member_view`` turns the URL's ``organisation`` slug into the view's ``member`` argument;
API views call ``membership_for_request``. Staff must have passed two-factor authentication
(django-otp's ``user.is_verified()``) before anything of an organisation is shown. A personal
API token becomes an unsaved, product-scoped Membership with the least role its permission
needs, so every selector and service applies the same checks to people and to CI.
"""

from collections.abc import Iterable
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from vulndesk.accounts.models import ApiToken
from vulndesk.core.errors import NotAllowed, NotFound
from vulndesk.core.prepared import PreparedSelect
from vulndesk.core.public import PUBLIC_VIEWS, public_view  # noqa: F401  (re-exported)
from vulndesk.organisations.models import READ_ROLES, SETTINGS_ROLES, TRIAGE_ROLES, Membership, Role


def is_two_factor_verified(user) -> bool:
    # OTPMiddleware sets is_verified on request.user; a user object without it (no middleware,
    # e.g. a management command) counts as unverified.
    verified = getattr(user, "is_verified", None)
    return bool(verified and verified())


def membership_for(*, user, organisation_slug: str) -> Membership:
    if user is None or not user.is_authenticated or not user.is_active:
        raise NotFound
    membership = (
        Membership.objects.select_related("organisation", "user")
        .filter(user=user, organisation__slug=organisation_slug)
        .first()
    )
    if membership is None:
        raise NotFound
    return membership


# Read on every API-token request, never cached: a creator who leaves or is downgraded stops
# their tokens on the next request. Only the compiled SQL is kept (core.prepared).
_creator_may_act = PreparedSelect(
    lambda organisation_id, user_id: Membership.objects.filter(
        organisation_id=organisation_id, user_id=user_id, role__in=SETTINGS_ROLES
    ).order_by().values("pk")[:1],
    (int, int),
)


def membership_for_api_token(*, token: ApiToken, organisation_slug: str) -> Membership:
    if token.organisation.slug != organisation_slug:
        raise NotFound
    # The token acts for its creator: when they leave or lose the right to make tokens, it stops.
    if not _creator_may_act.exists(token.organisation_id, token.created_by_id):
        raise NotFound
    role = Role.CI_UPLOADER if token.permission == ApiToken.Permission.REPORT_CREATE else Role.VIEWER
    membership = Membership(organisation=token.organisation, user=token.created_by, role=role,
                            created_at=token.created_at, is_product_scoped=True)
    membership.__dict__["product_scope"] = frozenset({token.product_id})
    membership.api_token = token
    return membership


def membership_for_request(request, *, organisation_slug: str) -> Membership:
    """The acting membership of an API request (session, JWT or API token)."""
    if isinstance(getattr(request, "auth", None), ApiToken):
        return membership_for_api_token(token=request.auth, organisation_slug=organisation_slug)
    return membership_for(user=request.user, organisation_slug=organisation_slug)


def sees_reporter_identity(member: Membership) -> bool:
    """Reporter name, e-mail and handle: coordinators only (ASVS V8.2.3)."""
    return member.role in TRIAGE_ROLES and getattr(member, "api_token", None) is None


def sees_internal_notes(member: Membership) -> bool:
    """Internal notes: the people working the report, not viewers or read-only tokens."""
    return member.role not in {Role.VIEWER, Role.CI_UPLOADER} and getattr(member, "api_token", None) is None


def require_role(member: Membership, roles: Iterable[str]) -> None:
    if member.role not in roles:
        raise NotAllowed


def member_view(*roles: str):
    """Decorator for HTML views taking ``organisation`` from the URL. Anonymous users go to the
    login page, users without a verified second factor to the 2FA page; members without one of
    ``roles`` (default: any reading role) get 403."""
    allowed = frozenset(roles) if roles else READ_ROLES

    def decorator(view):
        @wraps(view)
        def wrapper(request, organisation, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not is_two_factor_verified(request.user):
                return redirect(reverse("accounts:two_factor") + "?" + urlencode({"next": request.get_full_path()}))
            member = membership_for(user=request.user, organisation_slug=organisation)
            require_role(member, allowed - {Role.CI_UPLOADER})  # CI uploaders use the API only
            # Every time on an organisation's pages is shown in its zone, whatever the server's.
            with timezone.override(member.organisation.time_zone):
                return view(request, member, *args, **kwargs)

        wrapper.member_view_roles = allowed
        return wrapper

    return decorator
